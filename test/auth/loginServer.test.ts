/**
 * The browser login's callback server inside one process, through AuthCore: every way a login ends
 * releases the listener, its sockets and its timers (asserted with the process's active resources).
 */
import { createHook } from 'node:async_hooks';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { waitFor } from 'xstate';
import { AuthCore } from '../../src/auth/core';
import { EphemeralCredentialStore } from '../../src/auth/credentials';
import { openLoginServerCount, whenLoginServersClosed } from '../../src/auth/loginServer';
import { parseConfig } from '../../src/config';
import type { AuthNotification } from '../../src/auth/core';

/** The process's active resources by kind, e.g. { TCPServerWrap: 1, Timeout: 2 }. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

const TRACKED = new Set(['TCPSERVERWRAP', 'TCPWRAP', 'Timeout']);
/** Jest's own timers (its reporter's status line runs in-band) are not ours to count. */
const JEST_INTERNAL = /node_modules\/(@jest|jest-[a-z-]+)\//;

/**
 * Records the listeners, sockets and timers created from now on and forgets each when it is closed,
 * cleared or has fired: what is left after `stop()` was leaked. (The jest worker's own resources,
 * created before, are not counted, unlike a plain count of the process's active resources.)
 */
function trackResources() {
  const live = new Map<number, string>();
  const created: Record<string, number> = {};
  const hook = createHook({
    init(asyncId, type) {
      if (!TRACKED.has(type)) return;
      if (type === 'Timeout' && JEST_INTERNAL.test(new Error().stack ?? '')) return;
      created[type] = (created[type] ?? 0) + 1;
      live.set(asyncId, type);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  return {
    created,
    stop(): string[] {
      hook.disable();
      return [...live.values()];
    },
  };
}

/** Listening and connected TCP handles among the active resources. */
function count(kinds: Record<string, number>): { TCPServerWrap: number; TCPSocketWrap: number } {
  return { TCPServerWrap: kinds.TCPServerWrap ?? 0, TCPSocketWrap: kinds.TCPSocketWrap ?? 0 };
}

/** Waits for every login server to close, then for the handles' close callbacks to run. */
async function settled(): Promise<void> {
  await whenLoginServersClosed();
  await nextTurn();
  await nextTurn();
}

async function openCore(issuer = 'http://127.0.0.1:9', extra = ''): Promise<{ core: AuthCore; notifications: AuthNotification[] }> {
  const config = await parseConfig(`[authchart]\nissuer = "${issuer}"\nlogin_port = 0\n${extra}`, '/nonexistent-codex-home', {});
  const core = await AuthCore.open({ config, store: new EphemeralCredentialStore() });
  const notifications: AuthNotification[] = [];
  core.onNotification((n) => notifications.push(n));
  return { core, notifications };
}

async function startLogin(core: AuthCore): Promise<{ loginId: string; authUrl: string; port: number; state: string }> {
  const answer = await core.command({ type: 'login.chatgpt', originator: 'test' });
  if (!answer.ok) throw new Error(answer.message);
  const { loginId, authUrl } = answer.value as { loginId: string; authUrl: string };
  const url = new URL(authUrl);
  return { loginId, authUrl, port: Number(new URL(url.searchParams.get('redirect_uri') ?? '').port), state: url.searchParams.get('state') ?? '' };
}

describe('the browser login callback server in process', () => {
  it('leaves no listener, socket or timer behind after 100 start/cancel cycles', async () => {
    const { core, notifications } = await openCore();
    try {
      // One cycle first, so the lazily loaded module and fetch machinery are in place before counting.
      const warm = await startLogin(core);
      await core.command({ type: 'login.cancel', loginId: warm.loginId });
      await settled();
      const before = resources();
      const tracked = trackResources();
      for (let i = 0; i < 100; i += 1) {
        const login = await startLogin(core);
        expect(openLoginServerCount()).toBe(1);
        expect(await core.command({ type: 'login.cancel', loginId: login.loginId })).toEqual({ ok: true, value: { status: 'canceled' } });
      }
      await settled();
      const leaked = tracked.stop();
      const after = resources();
      process.stderr.write(
        `browser login leak check (in process, 100 cycles): created ${JSON.stringify(tracked.created)}, still alive ${JSON.stringify(leaked)}; ` +
          `TCP handles before ${JSON.stringify(count(before))} after ${JSON.stringify(count(after))}\n`,
      );
      expect(leaked).toEqual([]);
      // Per cycle: the listener, the chart's login timeout, Node's connection-check interval, the forced-close fallback.
      expect(tracked.created).toEqual(expect.objectContaining({ TCPSERVERWRAP: 100, Timeout: 300 }));
      expect(count(after)).toEqual(count(before));
      expect(openLoginServerCount()).toBe(0);
      expect(notifications).toHaveLength(101);
    } finally {
      core.stop();
    }
  });

  it('closes the listener when the core stops while a login is pending', async () => {
    const { core } = await openCore();
    const login = await startLogin(core);
    expect(openLoginServerCount()).toBe(1);
    core.stop();
    await settled();
    expect(openLoginServerCount()).toBe(0);
    await expect(fetch(`http://127.0.0.1:${login.port}/cancel`)).rejects.toThrow();
  });

  it('answers and releases everything when the core stops while the login is starting', async () => {
    const { core } = await openCore();
    const answer = core.command({ type: 'login.chatgpt', originator: 'test' });
    await waitFor(core.actor, (snapshot) => snapshot.matches({ managedLogin: { active: 'starting' } }));
    core.stop();
    expect(await answer).toEqual({ ok: false, code: -32603, message: 'authchart is shutting down' });
    await import('../../src/auth/loginServer.js');
    await settled();
    expect(openLoginServerCount()).toBe(0);
  });

  it('answers the waiting browser and aborts the exchange when the login is cancelled mid-exchange', async () => {
    // An issuer whose token endpoint never answers: the login sits in `exchanging`.
    let tokenRequestClosed!: () => void;
    const aborted = new Promise<void>((resolve) => (tokenRequestClosed = resolve));
    const issuer = http.createServer((req) => req.on('close', () => tokenRequestClosed()));
    await new Promise<void>((resolve) => issuer.listen(0, '127.0.0.1', resolve));
    const { core, notifications } = await openCore(`http://127.0.0.1:${(issuer.address() as AddressInfo).port}`);
    try {
      const login = await startLogin(core);
      const browser = fetch(`http://127.0.0.1:${login.port}/auth/callback?code=c0de&state=${login.state}`);
      await new Promise<void>((resolve) => issuer.once('request', () => resolve()));
      expect(core.snapshot().matches({ managedLogin: { active: { pending: 'exchanging' } } })).toBe(true);
      expect(await core.command({ type: 'login.cancel', loginId: login.loginId })).toEqual({ ok: true, value: { status: 'canceled' } });
      const page = await browser;
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Sign-in was not completed');
      await aborted;
      await settled();
      expect(openLoginServerCount()).toBe(0);
      expect(notifications).toEqual([
        { type: 'notify.loginCompleted', loginId: login.loginId, success: false, error: 'Login server error: Login was not completed' },
      ]);
    } finally {
      core.stop();
      issuer.closeAllConnections();
      await new Promise<void>((resolve) => issuer.close(() => resolve()));
    }
  });

  it('ends the login on an OAuth error redirect (e.g. the user denied access)', async () => {
    const { core, notifications } = await openCore();
    try {
      const login = await startLogin(core);
      const page = await fetch(
        `http://127.0.0.1:${login.port}/auth/callback?state=${login.state}&error=access_denied&error_description=${encodeURIComponent('The user said no')}`,
      );
      expect(page.status).toBe(500);
      expect(await page.text()).toContain('Sign-in failed: The user said no');
      await core.whenIdle();
      expect(notifications).toEqual([
        { type: 'notify.loginCompleted', loginId: login.loginId, success: false, error: 'Login server error: Sign-in failed: The user said no' },
      ]);
    } finally {
      core.stop();
    }
  });

  it('answers unknown paths 404 and a second callback 409 while the first is being completed', async () => {
    let release!: () => void;
    const issuer = http.createServer((req, res) => {
      release = () => res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"invalid_grant"}');
    });
    await new Promise<void>((resolve) => issuer.listen(0, '127.0.0.1', resolve));
    const { core } = await openCore(`http://127.0.0.1:${(issuer.address() as AddressInfo).port}`);
    try {
      const login = await startLogin(core);
      const other = await fetch(`http://127.0.0.1:${login.port}/favicon.ico`);
      expect(other.status).toBe(404);
      const callback = `http://127.0.0.1:${login.port}/auth/callback?code=c0de&state=${login.state}`;
      const first = fetch(callback);
      await new Promise<void>((resolve) => issuer.once('request', () => resolve()));
      const second = await fetch(callback);
      expect(second.status).toBe(409);
      release();
      expect((await first).status).toBe(500);
    } finally {
      core.stop();
      issuer.closeAllConnections();
      await new Promise<void>((resolve) => issuer.close(() => resolve()));
    }
  });
});

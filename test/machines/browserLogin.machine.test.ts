/**
 * The browserLogin region of the chart, with a scripted `loginServer` actor standing in for the
 * callback server and a simulated clock for the login timeout.
 */
import { SimulatedClock, createActor, fromCallback, fromPromise } from 'xstate';
import { LOGIN_MESSAGES, MESSAGES, authMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEmitted, AuthInput, LoginServerCommand, LoginServerEvent } from '../../machines/types';
import { sessionPath } from '../../machines/views';

const account: AccountInfo = { email: 'ada@example.com', planType: 'plus', accountId: 'ws-1', userId: 'u-1' };
const tokens = { idToken: new Secret('id'), accessToken: new Secret('at'), refreshToken: new Secret('rt') };
const LOGIN_ID = '11111111-1111-4111-8111-111111111111';
const timing = { expiresAt: 1_900_000_000_000, lastRefreshAt: 1_800_000_000_000 };

function start(input: Partial<AuthInput> = {}, options: { saveFails?: boolean } = {}) {
  const servers: Array<{ send(event: LoginServerEvent): void; received: LoginServerCommand[]; stopped: boolean }> = [];
  const saved: unknown[] = [];
  const refreshSignals: AbortSignal[] = [];
  const machine = authMachine.provide({
    actors: {
      loginServer: fromCallback<LoginServerCommand, { originator: string }, LoginServerEvent>(({ sendBack, receive }) => {
        const server = { send: sendBack, received: [] as LoginServerCommand[], stopped: false };
        servers.push(server);
        receive((command) => server.received.push(command));
        return () => {
          server.stopped = true;
        };
      }),
      saveChatgptTokens: fromPromise(async ({ input }) => {
        if (options.saveFails) throw new Error('disk full');
        saved.push(input);
        return { timing };
      }),
      // A managed refresh that never finishes by itself: the test sees whether the chart abandons it.
      managedRefresh: fromPromise(({ signal }) => {
        refreshSignals.push(signal);
        return new Promise<never>(() => {});
      }),
      saveApiKey: fromPromise(async () => {}),
      clearCredentials: fromPromise(async () => {}),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: null }, restored: null, ...input },
    clock,
  });
  const emitted: AuthEmitted[] = [];
  actor.on('*', (event) => emitted.push(event as AuthEmitted));
  actor.start();
  return { actor, emitted, servers, saved, clock, refreshSignals };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const completedWith = (success: boolean, error: string | null, loginId: string | null = LOGIN_ID) => ({
  type: 'notify.loginCompleted',
  loginId,
  success,
  error,
});

/** Starts a login and lets its server report that it listens. */
function pendingLogin(started: ReturnType<typeof start>) {
  started.actor.send({ type: 'login.chatgpt', req: 1, originator: 'test' });
  expect(started.actor.getSnapshot().hasTag('busy')).toBe(true);
  started.servers.at(-1)!.send({ type: 'loginServer.listening', loginId: LOGIN_ID, authUrl: 'http://issuer/oauth/authorize?x' });
  expect(started.actor.getSnapshot().matches({ browserLogin: { active: { pending: 'waiting' } } })).toBe(true);
  started.emitted.length = 0;
}

describe('the browserLogin region', () => {
  it('answers login/start with the loginId and authUrl once the server listens', () => {
    const { actor, emitted, servers } = start();
    actor.send({ type: 'login.chatgpt', req: 7, originator: 'test' });
    expect(emitted).toEqual([]);
    servers[0].send({ type: 'loginServer.listening', loginId: LOGIN_ID, authUrl: 'http://issuer/a' });
    expect(emitted).toEqual([{ type: 'answer.done', req: 7, value: { loginId: LOGIN_ID, authUrl: 'http://issuer/a' } }]);
    expect(actor.getSnapshot().hasTag('busy')).toBe(false);
    expect(actor.getSnapshot().context.browserLogin).toEqual({ loginId: LOGIN_ID, account: null });
  });

  it('on success: persists, tells the browser, then login/completed before account/updated, and the server stops', async () => {
    const started = start({ restored: { mode: 'apiKey' } });
    pendingLogin(started);
    const server = started.servers[0];
    server.send({ type: 'loginServer.callback' });
    server.send({ type: 'loginServer.exchanged', tokens, account });
    expect(started.actor.getSnapshot().hasTag('busy')).toBe(true);
    await settle();
    expect(started.saved).toEqual([{ tokens, accountId: 'ws-1' }]);
    expect(server.received).toEqual([{ type: 'loginServer.respond', outcome: { ok: true } }]);
    expect(server.stopped).toBe(true);
    expect(started.emitted).toEqual([completedWith(true, null), { type: 'notify.accountUpdated', authMode: 'chatgpt', planType: 'plus' }]);
    expect(sessionPath(started.actor.getSnapshot())).toBe('chatgpt.ready');
    expect(started.actor.getSnapshot().context).toMatchObject({ account, timing, credentialGeneration: 1 });
    expect(started.actor.getSnapshot().matches({ browserLogin: 'idle' })).toBe(true);
    expect(started.actor.getSnapshot().context.browserLogin).toBeNull();
  });

  it('a login that succeeds during a managed refresh abandons the refresh (it saves nothing) and takes over', async () => {
    const other: AccountInfo = { ...account, email: 'old@example.com', accountId: 'ws-old' };
    const started = start({ restored: { mode: 'chatgpt', account: other } });
    started.actor.send({ type: 'refresh.requested', req: 77 });
    expect(started.actor.getSnapshot().matches({ session: { mode: { chatgpt: 'refreshing' } } })).toBe(true);
    pendingLogin(started);
    started.servers[0].send({ type: 'loginServer.callback' });
    started.servers[0].send({ type: 'loginServer.exchanged', tokens, account });
    await settle();
    expect(started.refreshSignals).toHaveLength(1);
    expect(started.refreshSignals[0].aborted).toBe(true);
    expect(sessionPath(started.actor.getSnapshot())).toBe('chatgpt.ready');
    expect(started.actor.getSnapshot().context.account).toEqual(account);
  });

  it('refuses an account outside the forced workspace: 403 for the browser, the §8 text, the session untouched', () => {
    const started = start({ policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['ws-9'] } });
    pendingLogin(started);
    started.servers[0].send({ type: 'loginServer.callback' });
    started.servers[0].send({ type: 'loginServer.exchanged', tokens, account });
    expect(started.servers[0].received).toEqual([
      { type: 'loginServer.respond', outcome: { ok: false, status: 403, message: 'Login is restricted to workspace id ws-9.' } },
    ]);
    expect(started.emitted).toEqual([completedWith(false, 'Login server error: Login is restricted to workspace id ws-9.')]);
    expect(started.servers[0].stopped).toBe(true);
    expect(sessionPath(started.actor.getSnapshot())).toBe('loggedOut');
  });

  it('reports a failed save as a failed login and leaves the session as it was', async () => {
    const started = start({}, { saveFails: true });
    pendingLogin(started);
    started.servers[0].send({ type: 'loginServer.callback' });
    started.servers[0].send({ type: 'loginServer.exchanged', tokens, account });
    await settle();
    const message = 'Sign-in completed but the credentials could not be saved: disk full';
    expect(started.servers[0].received).toEqual([{ type: 'loginServer.respond', outcome: { ok: false, status: 500, message } }]);
    expect(started.emitted).toEqual([completedWith(false, `Login server error: ${message}`)]);
    expect(sessionPath(started.actor.getSnapshot())).toBe('loggedOut');
  });

  it('times out after 10 minutes by default (simulated clock), and not a moment before', () => {
    const started = start();
    pendingLogin(started);
    started.clock.increment(599_999);
    expect(started.emitted).toEqual([]);
    started.clock.increment(1);
    expect(started.emitted).toEqual([completedWith(false, LOGIN_MESSAGES.timedOut)]);
    expect(started.servers[0].stopped).toBe(true);
  });

  it('does not time out while the tokens are being saved', async () => {
    const started = start();
    pendingLogin(started);
    started.servers[0].send({ type: 'loginServer.callback' });
    started.servers[0].send({ type: 'loginServer.exchanged', tokens, account });
    started.clock.increment(600_000);
    await settle();
    expect(started.emitted[0]).toEqual(completedWith(true, null));
  });

  it('is cancelled by an accepted external login but not by a refused one', () => {
    const started = start({ policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['ws-1'] } });
    pendingLogin(started);
    const external = { accessToken: new Secret('a'), idToken: null };
    started.actor.send({ type: 'login.externalTokens', req: 2, tokens: external, claims: { ok: false, reason: 'bad' } });
    started.actor.send({ type: 'login.externalTokens', req: 3, tokens: external, claims: { ok: true, account: { ...account, accountId: 'ws-2' } } });
    expect(started.servers[0].stopped).toBe(false);
    started.actor.send({ type: 'login.externalTokens', req: 4, tokens: external, claims: { ok: true, account } });
    expect(started.servers[0].stopped).toBe(true);
    expect(started.emitted.filter((e) => e.type === 'notify.loginCompleted')).toEqual([
      completedWith(true, null, null),
      completedWith(false, LOGIN_MESSAGES.notCompleted),
    ]);
    // Now refused while external tokens are active.
    started.actor.send({ type: 'login.chatgpt', req: 5, originator: 'test' });
    expect(started.emitted.at(-1)).toEqual({ type: 'answer.refused', req: 5, code: -32600, message: MESSAGES.externalAuthActive });
  });

  it('is not cancelled by a refused API-key login', () => {
    const started = start({ policy: { forcedLoginMethod: 'chatgpt', forcedWorkspaceIds: null } });
    pendingLogin(started);
    started.actor.send({ type: 'login.apiKey', req: 2, apiKey: new Secret('sk') });
    expect(started.emitted).toEqual([{ type: 'answer.refused', req: 2, code: -32600, message: MESSAGES.apiKeyLoginDisabled }]);
    expect(started.servers[0].stopped).toBe(false);
  });

  it('a newer login stops the first server before the next one starts, and completes the first as not completed', () => {
    const started = start();
    pendingLogin(started);
    started.actor.send({ type: 'login.chatgpt', req: 2, originator: 'test' });
    expect(started.servers).toHaveLength(2);
    expect(started.servers[0].stopped).toBe(true);
    expect(started.servers[1].stopped).toBe(false);
    expect(started.emitted).toEqual([completedWith(false, LOGIN_MESSAGES.notCompleted)]);
    expect(started.actor.getSnapshot().matches({ browserLogin: { active: 'starting' } })).toBe(true);
  });

  it('maps GET /cancel, a failed flow and a failed start to their texts', () => {
    const cancelled = start();
    pendingLogin(cancelled);
    cancelled.servers[0].send({ type: 'loginServer.cancelRequested' });
    expect(cancelled.emitted).toEqual([completedWith(false, LOGIN_MESSAGES.cancelled)]);

    const failed = start();
    pendingLogin(failed);
    failed.servers[0].send({ type: 'loginServer.failed', message: 'Sign-in failed: access_denied' });
    expect(failed.servers[0].received).toEqual([
      { type: 'loginServer.respond', outcome: { ok: false, status: 500, message: 'Sign-in failed: access_denied' } },
    ]);
    expect(failed.emitted).toEqual([completedWith(false, 'Login server error: Sign-in failed: access_denied')]);

    const busyPort = start();
    busyPort.actor.send({ type: 'login.chatgpt', req: 9, originator: 'test' });
    busyPort.servers[0].send({ type: 'loginServer.startFailed', message: 'Port 127.0.0.1:1455 is already in use' });
    expect(busyPort.emitted).toEqual([
      { type: 'answer.refused', req: 9, code: -32603, message: 'failed to start login server: Port 127.0.0.1:1455 is already in use' },
    ]);
    expect(busyPort.actor.getSnapshot().matches({ browserLogin: 'idle' })).toBe(true);
  });

  it('keeps no secret in context', async () => {
    const started = start();
    pendingLogin(started);
    started.servers[0].send({ type: 'loginServer.callback' });
    started.servers[0].send({ type: 'loginServer.exchanged', tokens, account });
    expect(JSON.stringify(started.actor.getSnapshot().context)).not.toMatch(/"(id|at|rt)"/);
    await settle();
  });
});

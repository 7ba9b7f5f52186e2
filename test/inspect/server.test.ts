/**
 * The inspector's HTTP and WebSocket server, in process, with real sockets on 127.0.0.1: the page is
 * self-contained, the feed goes to every viewer, a viewer that leaves is forgotten, requests from another
 * host or origin are refused, and close() leaves nothing open.
 */
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { createActor, fromPromise } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { Logger } from '../../src/log';
import { startInspector, type Inspector, type ViewerMessage } from '../../src/inspect';

/** A logger that keeps its lines and can wait for one. */
class LogLines {
  readonly lines: string[] = [];
  private waiters: Array<{ text: string; resolve: () => void }> = [];
  readonly logger: Logger = {
    debug: (message) => this.add(`debug: ${message}`),
    info: (message) => this.add(`info: ${message}`),
    warn: (message) => this.add(`warn: ${message}`),
    error: (message) => this.add(`error: ${message}`),
  };

  /** Resolves once a line containing `text` was logged (before or after the call). */
  waitFor(text: string): Promise<void> {
    if (this.lines.some((line) => line.includes(text))) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ text, resolve }));
  }

  private add(line: string): void {
    this.lines.push(line);
    for (const waiter of this.waiters.filter((w) => line.includes(w.text))) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** A WebSocket viewer that keeps every message and can wait for one. */
class Viewer {
  readonly messages: ViewerMessage[] = [];
  private waiters: Array<{ predicate: (m: ViewerMessage) => boolean; resolve: (m: ViewerMessage) => void }> = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;

  constructor(url: string, origin?: string) {
    this.socket = new WebSocket(url.replace('http://', 'ws://') + 'ws', origin ? { origin } : {});
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
      this.socket.once('error', reject);
    });
    this.socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as ViewerMessage;
      this.messages.push(message);
      for (const waiter of this.waiters.filter((w) => w.predicate(message))) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
  }

  next(predicate: (m: ViewerMessage) => boolean): Promise<ViewerMessage> {
    const seen = this.messages.find(predicate);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.readyState === WebSocket.CLOSED) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

const stepOf = (type: string) => (m: ViewerMessage) => m.kind === 'step' && m.step.event.type === type;

describe('inspector server', () => {
  let inspector: Inspector | undefined;
  const viewers: Viewer[] = [];
  let log = new LogLines();

  afterEach(async () => {
    await Promise.all(viewers.splice(0).map((viewer) => viewer.close()));
    await inspector?.close();
    inspector = undefined;
    log = new LogLines();
  });

  function runChart(inspect: Inspector['inspect']) {
    const machine = authMachine.provide({
      actors: { saveApiKey: fromPromise(async () => {}), clearCredentials: fromPromise(async () => {}) },
    });
    const actor = createActor(machine, { input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: null }, restored: null }, inspect });
    actor.start();
    return actor;
  }

  it('serves a self-contained page with the chart inlined and a strict CSP', async () => {
    inspector = await startInspector({ port: 0, machine: authMachine, logger: log.logger });
    expect(inspector.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(inspector.url);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(page.body).toContain('<svg');
    expect(page.body).toContain('id="state:auth.session.mode.loggedOut"');
    expect(page.body).toContain('id="active-state"');
    expect(page.body).not.toMatch(/<script[^>]+src=|<link|@import|url\(/);
    // The only absolute URLs are the SVG's XML namespaces.
    expect([...page.body.matchAll(/https?:\/\/[^"' )]+/g)].map((m) => m[0]).filter((u) => !u.startsWith('http://www.w3.org/'))).toEqual([]);
    expect((await get(`${inspector.url}nothing`)).status).toBe(404);
  });

  it('feeds every viewer, forgets one that leaves, and gives late viewers the history', async () => {
    inspector = await startInspector({ port: 0, machine: authMachine, logger: log.logger });
    const first = new Viewer(inspector.url);
    viewers.push(first);
    await first.opened;
    expect(await first.next((m) => m.kind === 'hello')).toEqual({ kind: 'hello', chart: 'auth', state: null, steps: [] });

    const actor = runChart(inspector.inspect);
    await first.next(stepOf('xstate.init'));
    const second = new Viewer(inspector.url);
    viewers.push(second);
    await second.opened;
    const hello = await second.next((m) => m.kind === 'hello');
    expect(hello.kind === 'hello' && hello.steps.map((s) => s.event.type)).toEqual(['xstate.init']);
    expect(hello.kind === 'hello' && hello.state?.text).toBe('loggedOut');
    expect(inspector.viewers()).toBe(2);

    actor.send({ type: 'login.apiKey', req: 1, apiKey: new Secret('sk-SECRET-value') });
    await first.next(stepOf('xstate.done.actor.saveApiKey'));
    await second.next(stepOf('xstate.done.actor.saveApiKey'));

    await second.close();
    await log.waitFor('viewer disconnected (1 watching)');
    expect(inspector.viewers()).toBe(1);
    actor.send({ type: 'logout', req: 2 });
    const done = await first.next(stepOf('xstate.done.actor.clearCredentials'));
    expect(done.kind === 'step' && done.state.text).toBe('loggedOut');
    actor.stop();

    const state = JSON.parse((await get(`${inspector.url}state`)).body);
    expect(state.state.text).toBe('loggedOut');
    expect(state.viewers).toBe(1);
    expect(JSON.stringify([first.messages, second.messages, state])).not.toContain('SECRET');
  });

  it('refuses another host (DNS rebinding) and another origin (a web site in the same browser)', async () => {
    inspector = await startInspector({ port: 0, machine: authMachine, logger: log.logger });
    const port = inspector.port;
    expect((await get(inspector.url, { Host: `attacker.example:${port}` })).status).toBe(421);
    expect((await get(inspector.url, { Host: `localhost:${port}` })).status).toBe(200);

    const foreign = new Viewer(inspector.url, 'http://attacker.example');
    viewers.push(foreign);
    await expect(foreign.opened).rejects.toThrow('refused with 403');
    const local = new Viewer(inspector.url, `http://localhost:${port}`);
    viewers.push(local);
    await local.opened;
    expect(inspector.viewers()).toBe(1);
    expect(log.lines.some((line) => line.startsWith('warn: inspector: refused a WebSocket connection'))).toBe(true);
  });

  it('closes every viewer and stops listening on close()', async () => {
    inspector = await startInspector({ port: 0, machine: authMachine, logger: log.logger });
    const url = inspector.url;
    const viewer = new Viewer(url);
    viewers.push(viewer);
    await viewer.opened;
    const closed = new Promise<void>((resolve) => viewer.socket.once('close', () => resolve()));
    await inspector.close();
    await closed;
    await expect(get(url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('says so when the port is taken', async () => {
    inspector = await startInspector({ port: 0, machine: authMachine, logger: log.logger });
    await expect(startInspector({ port: inspector.port, machine: authMachine, logger: log.logger })).rejects.toThrow(
      `port 127.0.0.1:${inspector.port} is already in use`,
    );
  });
});

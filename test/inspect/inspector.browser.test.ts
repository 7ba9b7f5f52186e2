/**
 * The live inspector in real headless Chromium, fed by the real `authchart app-server --inspect` over
 * real pipes: the highlighted state follows logins and logouts driven over stdio, the event log shows
 * each event (and the guard that refused one), several viewers watch at once, and canary tokens planted
 * in the logins appear nowhere: not in the DOM, not in any WebSocket frame, not on stderr.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { createActor, setup } from 'xstate';
import { startInspector, type Inspector } from '../../src/inspect';
import { silentLogger } from '../../src/log';
import { AppServerProcess, tempCodexHome } from '../support/appServer';
import { describeWithBrowser, launchBrowser, testOutputDir } from '../support/browser';
import {
  chartViewOf,
  eventLog,
  inspectorUrl,
  stderrContains,
  waitForActiveState,
  waitForHighlight,
  waitForLogRows,
} from '../support/inspector';
import { startFakeServer, type FakeServer } from '../support/httpFakes';
import { makeJwt } from '../support/jwt';

/** A JWT whose payload carries `claim` and whose signature segment is `signature` (both canaries). */
function canaryJwt(claims: Record<string, unknown>, signature: string): string {
  const [header, payload] = makeJwt(claims).split('.');
  return `${header}.${payload}.${signature}`;
}

describeWithBrowser('live inspector in Chromium (authchart app-server --inspect)', () => {
  jest.setTimeout(90000);

  const tag = randomBytes(6).toString('hex');
  const canaries = {
    apiKey: `sk-canaryApiKey${tag}`,
    idClaim: `canaryIdClaim${tag}`,
    idSignature: `canaryIdSignature${tag}`,
    accessA: `canaryAccessTokenA${tag}`,
    accessClaim: `canaryAccessClaim${tag}`,
    accessSignature: `canaryAccessSignature${tag}`,
  };
  const idToken = canaryJwt(
    {
      email: 'dev@example.com',
      canary: canaries.idClaim,
      'https://api.openai.com/auth': { chatgpt_plan_type: 'plus', chatgpt_account_id: 'acct-visible', chatgpt_user_id: 'user-visible' },
    },
    canaries.idSignature,
  );
  const accessTokenB = canaryJwt(
    { email: 'dev@example.com', 'https://api.openai.com/auth': { chatgpt_plan_type: 'pro', secret_note: canaries.accessClaim } },
    canaries.accessSignature,
  );
  /** Everything that must never leave the process through the inspector or the logs. */
  const forbidden = [...Object.values(canaries), idToken, accessTokenB, idToken.split('.')[1], accessTokenB.split('.')[1]];

  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  // The ChatGPT backend on 127.0.0.1: a ChatGPT login's workspace discovery is held there for the whole
  // test (the story the page follows is the session's; the workspace region stays `discovering`), and
  // nothing reaches the real chatgpt.com.
  let backend: FakeServer;
  let releaseDiscovery: () => void = () => undefined;

  beforeEach(async () => {
    const held = new Promise<void>((resolve) => (releaseDiscovery = resolve));
    backend = await startFakeServer(async () => {
      await held;
      return { status: 503 };
    });
    home = tempCodexHome(`chatgpt_base_url = "${backend.origin}/backend-api/"\n`);
  });
  afterEach(async () => {
    await browser?.close();
    browser = undefined;
    server?.kill();
    server = undefined;
    releaseDiscovery();
    await backend.close();
    home.cleanup();
  });

  it('follows logins and logouts live, names the refusing guard, and leaks no token', async () => {
    server = AppServerProcess.spawn({ codexHome: home.dir, args: ['--inspect'] });
    const url = await inspectorUrl(server);
    browser = await launchBrowser();

    const frames: string[] = [];
    const requests: string[] = [];
    const pageErrors: string[] = [];
    const watch = (page: Page) => {
      page.on('websocket', (socket) => {
        socket.on('framereceived', (frame) => frames.push(String(frame.payload)));
        socket.on('framesent', (frame) => frames.push(String(frame.payload)));
      });
      page.on('request', (request) => requests.push(request.url()));
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') pageErrors.push(message.text());
      });
    };

    const page = await browser.context.newPage();
    watch(page);
    await page.goto(url);
    // The chart starts after the handshake: until then the page says what it waits for.
    await waitForActiveState(page, 'waiting for the handshake: the chart starts when the parent sends initialize');
    mkdirSync(testOutputDir(), { recursive: true });
    await page.screenshot({ path: path.join(testOutputDir(), 'inspector-waiting.png') });
    await server.initialize();
    await waitForActiveState(page, 'loggedOut');
    await waitForHighlight(page, 'auth.session.mode.loggedOut');
    // Readable without zooming: at the default zoom the chart's labels are drawn at their own size
    // (they were ~3 px tall when the whole chart was squeezed into the page's width), and the active
    // state is inside the chart's scrolling box.
    const start = await chartViewOf(page, 'auth.session.mode.loggedOut');
    expect(start.smallestLabelPx).toBeGreaterThanOrEqual(11);
    expect(start.stateVisible).toBe(true);
    expect(start.boxHeight).toBeLessThanOrEqual(900);

    // Generation A external tokens: loggedOut → externalTokens.
    expect(await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken: canaries.accessA })).toEqual({
      id: expect.any(Number),
      result: { type: 'chatgptAuthTokens' },
    });
    await waitForActiveState(page, 'externalTokens.ready');
    await waitForHighlight(page, 'auth.session.mode.externalTokens.ready');
    await waitForHighlight(page, 'auth.session.mode.externalTokens');
    await waitForHighlight(page, 'auth.session.mode.loggedOut', false);
    // The chart box scrolled (if it had to) to the state just entered.
    expect((await chartViewOf(page, 'auth.session.mode.externalTokens.ready')).stateVisible).toBe(true);

    // A second viewer arrives late and still sees the story so far.
    const second = await browser.context.newPage();
    watch(second);
    await second.goto(url);
    await waitForActiveState(second, 'externalTokens.ready');
    expect(withoutDiscovery(await eventLog(second)).map((row) => row.event)).toEqual(['xstate.init', 'login.externalTokens']);

    // An API key login while external auth is active is refused by the chart's `externalActive` guard.
    const refused = await server.request('account/login/start', { type: 'apiKey', apiKey: canaries.apiKey });
    expect(refused.error).toEqual({
      code: -32600,
      message: 'External auth is active. Use account/login/start (chatgptAuthTokens) to update it or account/logout to clear it.',
    });
    // Generation B replaces the tokens; the state stays externalTokens.ready.
    const loginB = await server.request('account/login/start', { type: 'chatgptAuthTokens', accessToken: accessTokenB, chatgptAccountId: 'acct-visible' });
    expect(loginB.result).toEqual({ type: 'chatgptAuthTokens' });
    await waitForLogRows(page, 4);
    await waitForLogRows(second, 4);
    await waitForActiveState(second, 'externalTokens.ready');

    mkdirSync(testOutputDir(), { recursive: true });
    await page.screenshot({ path: path.join(testOutputDir(), 'inspector.png'), fullPage: true });

    // The whole chart can be fitted to the page's width (and shown at its actual size again).
    await second.click('#chart-size');
    expect(await second.getAttribute('#chart', 'class')).toBe('fit');
    expect(await second.textContent('#chart-size')).toBe('actual size');
    await second.screenshot({ path: path.join(testOutputDir(), 'inspector-fit.png'), fullPage: true });
    await second.click('#chart-size');
    expect(await second.textContent('#chart-size')).toBe('fit to width');

    // One viewer leaves; the other keeps watching, and the app-server does not notice.
    await second.close();
    await stderrContains(server, 'viewer disconnected (1 watching)');

    expect((await server.request('account/logout')).result).toEqual({});
    await waitForActiveState(page, 'loggedOut');
    await waitForHighlight(page, 'auth.session.mode.loggedOut');
    await waitForHighlight(page, 'auth.session.mode.externalTokens', false);

    // An API key login and logout: loggedOut → apiKey → loggedOut.
    expect((await server.request('account/login/start', { type: 'apiKey', apiKey: canaries.apiKey })).result).toEqual({ type: 'apiKey' });
    await waitForActiveState(page, 'apiKey');
    expect((await server.request('account/logout')).result).toEqual({});
    await waitForActiveState(page, 'loggedOut');
    await waitForLogRows(page, 10);

    const log = withoutDiscovery(await eventLog(page));
    expect(log.map(({ event, before, after, guard, refused: wasRefused }) => ({ event, before, after, guard, refused: wasRefused }))).toEqual([
      { event: 'xstate.init', before: '', after: 'loggedOut', guard: '', refused: false },
      { event: 'login.externalTokens', before: 'loggedOut', after: 'externalTokens.ready', guard: '', refused: false },
      { event: 'login.apiKey', before: 'externalTokens.ready', after: 'externalTokens.ready', guard: 'externalActive', refused: true },
      { event: 'login.externalTokens', before: 'externalTokens.ready', after: 'externalTokens.ready', guard: '', refused: false },
      { event: 'logout', before: 'externalTokens.ready', after: 'loggingOut', guard: '', refused: false },
      { event: 'xstate.done.actor.clearCredentials', before: 'loggingOut', after: 'loggedOut', guard: '', refused: false },
      { event: 'login.apiKey', before: 'loggedOut', after: 'savingApiKey', guard: '', refused: false },
      { event: 'xstate.done.actor.saveApiKey', before: 'savingApiKey', after: 'apiKey', guard: '', refused: false },
      { event: 'logout', before: 'apiKey', after: 'loggingOut', guard: '', refused: false },
      { event: 'xstate.done.actor.clearCredentials', before: 'loggingOut', after: 'loggedOut', guard: '', refused: false },
    ]);
    expect(log[2].outcome).toBe(
      'refused by [externalActive]: External auth is active. Use account/login/start (chatgptAuthTokens) to update it or account/logout to clear it.',
    );

    // Events carry no internal request counter (`req`) in their fields; a command shows the JSON-RPC id
    // of the request the parent sent.
    expect(await page.textContent('#event-log')).not.toContain('"req"');
    const wireIds = (
      await page.$$eval('#event-log tbody tr', (trs) =>
        trs.map((tr) => [(tr as unknown as { dataset: { event: string } }).dataset.event, tr.querySelector('.rpc-id')?.textContent]),
      )
    ).filter(([event]) => !isDiscoveryEvent(event ?? ''));
    expect(wireIds.reverse().slice(0, 3)).toEqual([
      ['xstate.init', ''],
      ['login.externalTokens', expect.stringMatching(/^\d+$/)],
      ['login.apiKey', String(refused.id)],
    ]);

    // Personal data (email, account id) is shown; the context is there, redacted.
    const context = await page.textContent('#context');
    expect(JSON.parse(context ?? 'null')).toMatchObject({ account: null, pending: null, restored: null });
    expect(await page.textContent('#event-log')).toContain('acct-visible');

    // The protocol on stdout was untouched: every line parsed (the harness throws otherwise), in order.
    expect(server.messages.filter((m) => m.method === 'account/updated').map((m) => m.params.authMode)).toEqual([
      'chatgptAuthTokens',
      'chatgptAuthTokens',
      null,
      'apikey',
      null,
    ]);

    // No external request: the page and its socket only ever talked to the inspector itself.
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) expect(request.startsWith(url)).toBe(true);
    expect(pageErrors).toEqual([]);
    expect(frames.length).toBeGreaterThan(10);

    const dom = await page.content();
    expect(await server.close()).toEqual({ code: 0, signal: null });
    for (const secret of forbidden) {
      expect({ where: 'DOM', found: dom.includes(secret) }).toEqual({ where: 'DOM', found: false });
      expect({ where: 'WebSocket frames', found: frames.some((frame) => frame.includes(secret)) }).toEqual({ where: 'WebSocket frames', found: false });
      expect({ where: 'stderr', found: server.stderr.includes(secret) }).toEqual({ where: 'stderr', found: false });
    }
  });

  it('shows the JSON-RPC id the parent sent with a command (event.rpcId), never the internal counter', async () => {
    // Synthetic command events into a small chart, inspected by the real inspector server.
    const machine = setup({ types: { events: {} as { type: 'login.apiKey'; req: number; rpcId?: string | number } | { type: 'tick' } } }).createMachine({
      id: 'wire',
      initial: 'idle',
      states: { idle: { on: { 'login.apiKey': 'busy' } }, busy: { on: { tick: 'idle' } } },
    });
    let inspector: Inspector | undefined;
    try {
      inspector = await startInspector({ port: 0, machine, logger: silentLogger });
      const actor = createActor(machine, { inspect: inspector.inspect }).start();
      actor.send({ type: 'login.apiKey', req: 3, rpcId: 4 });
      actor.send({ type: 'tick' });
      actor.send({ type: 'login.apiKey', req: 4, rpcId: 'abc-7' });
      browser = await launchBrowser();
      const page = await browser.context.newPage();
      await page.goto(inspector.url);
      await waitForLogRows(page, 4);
      const rows = await page.$$eval('#event-log tbody tr', (trs) =>
        trs.map((tr) => [(tr as unknown as { dataset: { event: string } }).dataset.event, tr.querySelector('.rpc-id')?.textContent, tr.querySelector('.fields')?.textContent]),
      );
      expect(rows.reverse()).toEqual([
        ['xstate.init', '', expect.any(String)],
        ['login.apiKey', '4', ''],
        ['tick', '', ''],
        ['login.apiKey', '"abc-7"', ''],
      ]);
      expect(await page.textContent('#event-log thead')).toContain('request id');
      actor.stop();
    } finally {
      await inspector?.close();
    }
  });
});

/**
 * The background workspace discovery after each ChatGPT login (its backend call, its result) shows in the
 * log too, at times the test does not order: the story checked here is the requests'.
 */
function isDiscoveryEvent(event: string): boolean {
  return event === 'backend.call' || event.endsWith('.actor.discoverWorkspace');
}
function withoutDiscovery<T extends { event: string }>(rows: T[]): T[] {
  return rows.filter((row) => !isDiscoveryEvent(row.event));
}

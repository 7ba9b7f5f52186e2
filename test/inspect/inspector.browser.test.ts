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
import { AppServerProcess, tempCodexHome } from '../support/appServer';
import { describeWithBrowser, launchBrowser, testOutputDir } from '../support/browser';
import {
  eventLog,
  inspectorUrl,
  stderrContains,
  waitForActiveState,
  waitForHighlight,
  waitForLogRows,
} from '../support/inspector';
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

  beforeEach(() => {
    home = tempCodexHome();
  });
  afterEach(async () => {
    await browser?.close();
    browser = undefined;
    server?.kill();
    server = undefined;
    home.cleanup();
  });

  it('follows logins and logouts live, names the refusing guard, and leaks no token', async () => {
    server = AppServerProcess.spawn({ codexHome: home.dir, args: ['--inspect'] });
    const url = await inspectorUrl(server);
    await server.initialize();
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
    await waitForActiveState(page, 'loggedOut');
    await waitForHighlight(page, 'auth.session.mode.loggedOut');

    // Generation A external tokens: loggedOut → externalTokens.
    expect(await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken: canaries.accessA })).toEqual({
      id: expect.any(Number),
      result: { type: 'chatgptAuthTokens' },
    });
    await waitForActiveState(page, 'externalTokens.ready');
    await waitForHighlight(page, 'auth.session.mode.externalTokens.ready');
    await waitForHighlight(page, 'auth.session.mode.externalTokens');
    await waitForHighlight(page, 'auth.session.mode.loggedOut', false);

    // A second viewer arrives late and still sees the story so far.
    const second = await browser.context.newPage();
    watch(second);
    await second.goto(url);
    await waitForActiveState(second, 'externalTokens.ready');
    expect((await eventLog(second)).map((row) => row.event)).toEqual(['xstate.init', 'login.externalTokens']);

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

    // A wide chart can be seen at its actual size (and fitted back).
    await second.click('#chart-size');
    expect(await second.getAttribute('#chart', 'class')).toBe('actual-size');
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

    const log = await eventLog(page);
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
});

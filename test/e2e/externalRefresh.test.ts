/**
 * External mode (docs/protocol.md §6): a 401 from the backend makes authchart ask the parent for new tokens
 * with account/chatgptAuthTokens/refresh, then retry once. Real bin over pipes, parent = authchart/client,
 * a real HTTP server on 127.0.0.1 as the ChatGPT backend.
 */
import type { ExternalTokens, RefreshTokensHandler } from '../../src/client';
import { configToml, rpcFailure as failure, startParent, type TestParent } from '../support/client';
import { USAGE_READ_RESULT, bearerOf, startChatgptBackend, type FakeServer } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const OLD = chatgptJwt({ email: 'ada@example.com', plan: 'plus', accountId: 'acct-1', extra: { n: 'old' } });
const NEW = chatgptJwt({ email: 'ada@example.com', plan: 'pro', accountId: 'acct-1', extra: { n: 'new' } });
const LOGIN_B: ExternalTokens = { accessToken: OLD, chatgptAccountId: 'acct-1', chatgptPlanType: 'plus' };
const ANSWER_B: ExternalTokens = { accessToken: NEW, chatgptAccountId: 'acct-1', chatgptPlanType: 'pro' };

describe('external token refresh (docs/protocol.md §6, chatgptAuthTokens)', () => {
  const own = trackResources();
  let backend: FakeServer & { usageCalls(): FakeServer['seen'] };

  async function setUp(options: {
    accepts: (token: string | null, call: number) => boolean;
    refreshTokens?: RefreshTokensHandler;
    forcedWorkspace?: string;
    /** Only the timeout test shortens it: elsewhere a slow, busy machine must not turn answers into timeouts. */
    externalRefreshTimeoutMs?: number;
  }) {
    let calls = 0;
    backend = own.server(await startChatgptBackend((token) => options.accepts(token, ++calls)));
    const home = own.home(
      configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, externalRefreshTimeoutMs: options.externalRefreshTimeoutMs, forcedWorkspace: options.forcedWorkspace }),
    );
    return own.parent(await startParent(home.dir, { refreshTokens: options.refreshTokens }));
  }

  const bearers = () => backend.usageCalls().map(bearerOf);
  async function tokenInUse(p: TestParent) {
    return (await p.client.getAuthStatus({ includeToken: true })).authToken;
  }

  it('asks the parent on a 401 and retries with its generation B answer', async () => {
    const asked: unknown[] = [];
    const { client, serverRequests } = await setUp({
      accepts: (token) => token === NEW,
      refreshTokens: (params) => {
        asked.push(params);
        return ANSWER_B;
      },
    });
    await client.loginWithTokens(LOGIN_B);
    expect(await client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(asked).toEqual([{ reason: 'unauthorized', previousAccountId: 'acct-1' }]);
    expect(serverRequests()).toEqual([
      { id: 0, method: 'account/chatgptAuthTokens/refresh', params: { reason: 'unauthorized', previousAccountId: 'acct-1' } },
    ]);
    expect(bearers()).toEqual([OLD, NEW]);
    expect(backend.usageCalls().map((call) => call.headers['chatgpt-account-id'])).toEqual(['acct-1', 'acct-1']);
    expect(await client.readAccount()).toEqual({ account: { type: 'chatgpt', email: 'ada@example.com', planType: 'pro', workspaceName: null }, userId: null, requiresOpenaiAuth: true, workspaceRouting: null });
  });

  it('accepts a generation A answer ({idToken, accessToken}) and counts request ids from 0', async () => {
    const idToken = (plan: string) => chatgptJwt({ email: 'grace@example.com', plan, accountId: 'acct-9' });
    let current = 'token-a1';
    const { client, serverRequests } = await setUp({
      accepts: (token) => token === current,
      refreshTokens: () => ({ idToken: idToken('team'), accessToken: current }),
    });
    await client.loginWithTokens({ idToken: idToken('plus'), accessToken: 'token-a0' });
    await client.readRateLimits();
    current = 'token-a2'; // the backend now refuses a1: a second refresh
    await client.readRateLimits();
    expect(serverRequests().map((m) => [m.id, m.params])).toEqual([
      [0, { reason: 'unauthorized', previousAccountId: 'acct-9' }],
      [1, { reason: 'unauthorized', previousAccountId: 'acct-9' }],
    ]);
    expect(bearers()).toEqual(['token-a0', 'token-a1', 'token-a1', 'token-a2']);
    expect((await client.readAccount()).account).toEqual({ type: 'chatgpt', email: 'grace@example.com', planType: 'team', workspaceName: null });
  });

  it('times out a parent that does not answer, keeps the old tokens, and ignores the late answer', async () => {
    let answerLate!: (tokens: ExternalTokens) => void;
    const p = await setUp({
      accepts: (token, call) => token === OLD && call > 1, // one 401, then the old token is fine again
      refreshTokens: () => new Promise<ExternalTokens>((resolve) => (answerLate = resolve)),
      externalRefreshTimeoutMs: 300,
    });
    await p.client.loginWithTokens(LOGIN_B);
    expect(await failure(p.client.readRateLimits())).toEqual({ code: -32603, message: 'auth refresh request timed out after 0.3s' });
    answerLate(ANSWER_B); // arrives after the timeout: must change nothing
    expect(await p.client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(bearers()).toEqual([OLD, OLD]);
    expect(await tokenInUse(p)).toBe(OLD);
    expect(p.serverRequests()).toHaveLength(1);
    // The chart abandoned the request at the timeout, so the connection no longer knows its id.
    expect(p.stderr()).toContain('ignored a response to an unknown or abandoned request (id 0)');
    expect(p.stderr()).not.toContain('external token refresh failed');
    expect(p.stderr()).not.toMatch(/authchart error/);
  });

  it('reports a JSON-RPC error from the parent and asks again on the next 401', async () => {
    let refusals = 1;
    const p = await setUp({
      accepts: (token) => token === NEW,
      refreshTokens: () => {
        if (refusals-- > 0) throw { code: -32000, message: 'the user must sign in again' };
        return ANSWER_B;
      },
    });
    await p.client.loginWithTokens(LOGIN_B);
    expect(await failure(p.client.readRateLimits())).toEqual({
      code: -32603,
      message: 'auth refresh request failed: code=-32000 message=the user must sign in again',
    });
    expect(await tokenInUse(p)).toBe(OLD);
    expect(await p.client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(p.serverRequests().map((m) => m.id)).toEqual([0, 1]);
  });

  it.each([
    ['an answer of the wrong shape', { accessToken: 42 }, 'invalid auth refresh response: idToken: Invalid input: expected string, received undefined; accessToken: Invalid input: expected string, received number'],
    ['an unparsable token', { accessToken: 'not-a-jwt', chatgptAccountId: 'acct-1' }, 'external auth refresh returned an invalid token: token must have three dot-separated segments, found 1'],
    ['a workspace outside the forced one', { accessToken: NEW, chatgptAccountId: 'acct-2' }, 'external auth refresh returned workspace "acct-2", expected "acct-1"'],
  ])('fails the call on %s and keeps the previous tokens', async (_what, answer, message) => {
    const p = await setUp({ accepts: (token) => token === NEW, refreshTokens: () => answer as ExternalTokens, forcedWorkspace: 'acct-1' });
    await p.client.loginWithTokens(LOGIN_B);
    expect(await failure(p.client.readRateLimits())).toEqual({ code: -32603, message });
    expect(await tokenInUse(p)).toBe(OLD);
    expect((await p.client.readAccount()).account).toEqual({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null });
    expect(bearers()).toEqual([OLD]);
  });

  it('never asks the parent for account/read {"refreshToken":true}', async () => {
    const p = await setUp({ accepts: () => true, refreshTokens: () => ANSWER_B });
    await p.client.loginWithTokens(LOGIN_B);
    expect((await p.client.readAccount({ refreshToken: true })).account).toEqual({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null });
    expect(p.serverRequests()).toEqual([]);
  });

  it('refuses rate limits when logged out or logged in with an API key, without a backend call', async () => {
    const p = await setUp({ accepts: () => true });
    expect(await failure(p.client.readRateLimits())).toEqual({ code: -32600, message: 'codex account authentication required to read rate limits' });
    await p.client.loginWithApiKey('sk-test-0123456789');
    expect(await failure(p.client.readRateLimits())).toEqual({ code: -32600, message: 'chatgpt authentication required to read rate limits' });
    expect(backend.usageCalls()).toHaveLength(0);
  });
});

/**
 * Managed mode (docs/protocol.md §6, chatgpt): authchart refreshes its own tokens through the token endpoint,
 * re-reading auth.json first, persisting the merged result atomically, classifying failures exactly.
 * Real bin over pipes, real files in a temp CODEX_HOME, real HTTP servers on 127.0.0.1.
 */
import { mkdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import * as path from 'node:path';
import { configToml, readAuthJson, rpcFailure as failure, startParent, writeAuthJson } from '../support/client';
import { USAGE_READ_RESULT, bearerOf, issuedTokens, startChatgptBackend, startTokenServer, type FakeServer, type TokenServer } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const T0 = issuedTokens(0);
const T1 = issuedTokens(1);

describe('managed token refresh (docs/protocol.md §6, chatgpt)', () => {
  const own = trackResources();
  let home: { dir: string };
  let backend: FakeServer & { usageCalls(): FakeServer['seen'] };
  let tokens: TokenServer;

  async function setUp(options: { accepts?: (token: string | null) => boolean; auth?: Parameters<typeof writeAuthJson>[1]; lastRefresh?: string; omitIdToken?: boolean } = {}) {
    backend = own.server(await startChatgptBackend(options.accepts ?? ((token) => token !== T0.accessToken)));
    tokens = own.server(await startTokenServer({ omitIdToken: options.omitIdToken }));
    home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, tokenUrl: `${tokens.origin}/oauth/token` }));
    writeAuthJson(home.dir, options.auth ?? T0, { lastRefresh: options.lastRefresh });
    return own.parent(await startParent(home.dir));
  }

  const bearers = () => backend.usageCalls().map(bearerOf);
  const authFile = () => path.join(home.dir, 'auth.json');

  it('POSTs the refresh token on a 401, retries, and saves the merged auth.json with mode 0600', async () => {
    const { client } = await setUp({ omitIdToken: true });
    const before = Date.now();
    expect(await client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(tokens.posts().map((post) => JSON.parse(post.body))).toEqual([
      { client_id: 'app_EMoamEEZ73f0CkXaXp7hrann', grant_type: 'refresh_token', refresh_token: T0.refreshToken },
    ]);
    expect(tokens.posts()[0].headers['content-type']).toBe('application/json');
    expect(bearers()).toEqual([T0.accessToken, T1.accessToken]);
    const saved = readAuthJson(home.dir);
    // No id_token in the answer: the old one is kept; the rest is replaced.
    expect(saved).toEqual({
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: { id_token: T0.idToken, access_token: T1.accessToken, refresh_token: T1.refreshToken, account_id: 'acct-1' },
      last_refresh: expect.any(String),
    });
    expect(Date.parse(saved.last_refresh)).toBeGreaterThanOrEqual(before - 1000);
    expect(statSync(authFile()).mode & 0o777).toBe(0o600);
    expect(statSync(home.dir).mode & 0o777).toBe(0o700);
  });

  it('adopts the tokens another process already saved, without a POST', async () => {
    const elsewhere = { ...T0, accessToken: chatgptJwt({ accountId: 'acct-1', exp: 4102444800, extra: { by: 'another process' } }) };
    const { client } = await setUp();
    // The auth core reads auth.json right after the handshake; once it has (any account call), another
    // authchart (or Codex) refreshes meanwhile.
    await client.readAccount();
    writeAuthJson(home.dir, elsewhere);
    expect(await client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(tokens.posts()).toHaveLength(0);
    expect(bearers()).toEqual([T0.accessToken, elsewhere.accessToken]);
  });

  it.each([
    ['refresh_token_expired', { error: { code: 'refresh_token_expired' } }, 'Your access token could not be refreshed because your refresh token has expired. Please log out and sign in again.'],
    ['refresh_token_reused', { error: { code: 'refresh_token_reused' } }, 'Your access token could not be refreshed because your refresh token was already used. Please log out and sign in again.'],
    ['refresh_token_invalidated', { code: 'refresh_token_invalidated' }, 'Your access token could not be refreshed because your refresh token was revoked. Please log out and sign in again.'],
    ['any other 401', { error: 'invalid_grant' }, 'Your access token could not be refreshed. Please log out and sign in again.'],
  ])('fails permanently on %s, then fails fast with no network call until logout', async (_code, body, message) => {
    const { client } = await setUp();
    tokens.override({ status: 401, body });
    const savedBefore = readFileSync(authFile(), 'utf8');
    expect(await failure(client.readRateLimits())).toEqual({ code: -32603, message });
    expect(await failure(client.readRateLimits())).toEqual({ code: -32603, message });
    await client.readAccount({ refreshToken: true });
    expect(tokens.posts()).toHaveLength(1);
    expect(backend.usageCalls()).toHaveLength(1);
    expect(readFileSync(authFile(), 'utf8')).toBe(savedBefore); // credentials are not deleted
    expect((await client.readAccount()).account).toEqual({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null });
    await client.logout();
    expect(await failure(client.readRateLimits())).toEqual({ code: -32600, message: 'codex account authentication required to read rate limits' });
  });

  it.each([
    [503, 'Service Unavailable'],
    [429, 'Too Many Requests'],
  ])('treats %i from the token endpoint as transient: credentials kept, the next call refreshes', async (status, text) => {
    const { client } = await setUp();
    tokens.override({ status, body: { error: 'try later' } });
    const savedBefore = readFileSync(authFile(), 'utf8');
    expect(await failure(client.readRateLimits())).toEqual({
      code: -32603,
      message: `could not refresh the ChatGPT access token: the token endpoint answered ${status} ${text} (${tokens.origin}/oauth/token). The saved credentials were kept; the next request tries again.`,
    });
    expect(readFileSync(authFile(), 'utf8')).toBe(savedBefore);
    tokens.override(null);
    expect(await client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(tokens.posts()).toHaveLength(2);
    expect(readAuthJson(home.dir).tokens.refresh_token).toBe(T1.refreshToken);
  });

  it('refreshes proactively when the access token expires within the skew', async () => {
    const expiring = { ...T0, accessToken: chatgptJwt({ accountId: 'acct-1', exp: Math.floor(Date.now() / 1000) + 60 }) };
    const { client } = await setUp({ auth: expiring, accepts: () => true });
    expect(await client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(tokens.posts()).toHaveLength(1);
    expect(bearers()).toEqual([T1.accessToken]); // the backend never saw the expiring token
  });

  it('refreshes proactively without exp when last_refresh is older than 8 days', async () => {
    const opaque = { ...T0, accessToken: 'opaque-access-token-0' };
    const { client } = await setUp({ auth: opaque, accepts: () => true, lastRefresh: new Date(Date.now() - 9 * 24 * 3600 * 1000).toISOString() });
    await client.readRateLimits();
    expect(tokens.posts()).toHaveLength(1);
    expect(bearers()).toEqual([T1.accessToken]);
  });

  it('keeps using the still-valid token when a proactive refresh fails', async () => {
    const expiring = { ...T0, accessToken: chatgptJwt({ accountId: 'acct-1', exp: Math.floor(Date.now() / 1000) + 60 }) };
    const { client } = await setUp({ auth: expiring, accepts: () => true });
    tokens.override({ status: 500, body: {} });
    expect(await client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(bearers()).toEqual([expiring.accessToken]);
    expect(tokens.posts()).toHaveLength(1);
  });

  it('forces a refresh for account/read {"refreshToken":true} and still answers the read', async () => {
    const { client } = await setUp();
    expect(await client.readAccount({ refreshToken: true })).toEqual({
      account: { type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null },
      userId: null, requiresOpenaiAuth: true, workspaceRouting: null,
    });
    expect(tokens.posts()).toHaveLength(1);
    expect(readAuthJson(home.dir).tokens.access_token).toBe(T1.accessToken);
    tokens.override({ status: 502 });
    expect((await client.readAccount({ refreshToken: true })).account).toEqual({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null });
  });

  it('takes over the lock left by a dead process', async () => {
    const { client } = await setUp();
    const lock = `${authFile()}.lock`;
    mkdirSync(lock);
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, longAgo, longAgo);
    expect(await client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    expect(tokens.posts()).toHaveLength(1);
  });
});

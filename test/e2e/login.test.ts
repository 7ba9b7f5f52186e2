import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess, loopbackBackend, type tempCodexHome, type Msg } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const track = trackResources();

const EXTERNAL_ACTIVE =
  'External auth is active. Use account/login/start (chatgptAuthTokens) to update it or account/logout to clear it.';

/** The messages a request produced: its response and the notifications that followed it. */
async function exchange(server: AppServerProcess, method: string, params?: unknown, notifications = 0): Promise<Msg[]> {
  const from = server.messages.length;
  const response = await server.request(method, params);
  if (notifications > 0) {
    await server.waitFor(() => server.since(from).filter((m) => !('id' in m)).length >= notifications, `${notifications} notifications`);
  }
  return server.since(from).map((m) => (m === response ? { ...m, id: '<id>' } : m));
}

const completed = { method: 'account/login/completed', params: { loginId: null, success: true, error: null } };
const updated = (authMode: string | null, planType: string | null) => ({ method: 'account/updated', params: { authMode, planType, reason: null } });

describe('logins, logout and the notification order (docs/protocol.md §4, §5)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;

  async function start(configToml?: string): Promise<AppServerProcess> {
    home = track.home(loopbackBackend(configToml));
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    return server;
  }

  it('logs in with an API key: response, login/completed, updated; persisted to auth.json 0600', async () => {
    await start();
    expect(await exchange(server, 'account/login/start', { type: 'apiKey', apiKey: 'sk-live-123' }, 2)).toEqual([
      { id: '<id>', result: { type: 'apiKey' } },
      completed,
      updated('apikey', null),
    ]);
    expect((await server.request('account/read', {})).result).toEqual({ account: { type: 'apiKey' }, userId: null, requiresOpenaiAuth: true, workspaceRouting: null });
    const file = path.join(home.dir, 'auth.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-live-123' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(home.dir).mode & 0o777).toBe(0o700);
    expect((await server.request('getAuthStatus', { includeToken: true })).result).toEqual({
      authMethod: 'apikey',
      authToken: 'sk-live-123',
      requiresOpenaiAuth: true,
    });
    expect((await server.request('getAuthStatus', {})).result).toEqual({ authMethod: 'apikey', authToken: null, requiresOpenaiAuth: true });
  });

  it('logs in with generation A external tokens: claims from the id token, nothing on disk', async () => {
    await start();
    const idToken = chatgptJwt({ email: 'ada@example.com', plan: 'Plus', accountId: 'ws-1' });
    expect(await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken: 'opaque-access' }, 2)).toEqual([
      { id: '<id>', result: { type: 'chatgptAuthTokens' } },
      completed,
      updated('chatgptAuthTokens', 'plus'),
    ]);
    expect((await server.request('account/read', {})).result).toEqual({
      account: { type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null },
      userId: null, requiresOpenaiAuth: true, workspaceRouting: null,
    });
    expect((await server.request('getAuthStatus', { includeToken: true, refreshToken: null })).result).toEqual({
      authMethod: 'chatgptAuthTokens',
      authToken: 'opaque-access',
      requiresOpenaiAuth: true,
    });
    expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
  });

  it('logs in with generation B external tokens: account id and plan from params, email from the access token', async () => {
    await start();
    const accessToken = chatgptJwt({ email: 'grace@example.com', plan: 'pro', accountId: 'ignored' });
    expect(
      await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', accessToken, chatgptAccountId: 'ws-2', chatgptPlanType: 'education' }, 2),
    ).toEqual([{ id: '<id>', result: { type: 'chatgptAuthTokens' } }, completed, updated('chatgptAuthTokens', 'edu')]);
    expect((await server.request('account/read', {})).result.account).toEqual({ type: 'chatgpt', email: 'grace@example.com', planType: 'edu', workspaceName: null });
  });

  it('takes the plan from the access token claim when chatgptPlanType is absent, and unknown when neither has one', async () => {
    await start();
    await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', accessToken: chatgptJwt({ plan: 'team' }), chatgptAccountId: 'ws' }, 2);
    expect((await server.request('account/read', {})).result.account).toEqual({ type: 'chatgpt', email: null, planType: 'team', workspaceName: null });
    const replaced = await exchange(
      server,
      'account/login/start',
      { type: 'chatgptAuthTokens', accessToken: chatgptJwt({ plan: 'galaxy-brain' }), chatgptAccountId: 'ws', chatgptPlanType: null },
      2,
    );
    expect(replaced[2]).toEqual(updated('chatgptAuthTokens', 'unknown'));
  });

  it('replaces active external tokens with a new external login', async () => {
    await start();
    await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', idToken: chatgptJwt({ email: 'one@example.com' }), accessToken: 'a1' }, 2);
    await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', idToken: chatgptJwt({ email: 'two@example.com' }), accessToken: 'a2' }, 2);
    expect((await server.request('account/read', {})).result.account.email).toBe('two@example.com');
    expect((await server.request('getAuthStatus', { includeToken: true })).result.authToken).toBe('a2');
  });

  it('refuses API-key and ChatGPT logins while external tokens are active, and sends nothing else', async () => {
    await start();
    await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', idToken: chatgptJwt({}), accessToken: 'a' }, 2);
    expect(await exchange(server, 'account/login/start', { type: 'apiKey', apiKey: 'sk-x' })).toEqual([
      { id: '<id>', error: { code: -32600, message: EXTERNAL_ACTIVE } },
    ]);
    expect(await exchange(server, 'account/login/start', { type: 'chatgpt' })).toEqual([
      { id: '<id>', error: { code: -32600, message: EXTERNAL_ACTIVE } },
    ]);
    expect((await server.request('account/read', {})).result.account.type).toBe('chatgpt');
  });

  it('shadows an API key with external tokens and keeps auth.json until logout', async () => {
    await start();
    await exchange(server, 'account/login/start', { type: 'apiKey', apiKey: 'sk-keep' }, 2);
    const before = readFileSync(path.join(home.dir, 'auth.json'), 'utf8');
    await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', idToken: chatgptJwt({}), accessToken: 'a' }, 2);
    expect(readFileSync(path.join(home.dir, 'auth.json'), 'utf8')).toBe(before);
    expect((await server.request('getAuthStatus', {})).result.authMethod).toBe('chatgptAuthTokens');
    expect(await exchange(server, 'account/logout', undefined, 1)).toEqual([{ id: '<id>', result: {} }, updated(null, null)]);
    expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
    expect((await server.request('account/read', {})).result).toEqual({ account: null, userId: null, requiresOpenaiAuth: true, workspaceRouting: null });
  });

  it('logs out with params {} or none, even when nobody was logged in, always followed by account/updated', async () => {
    await start();
    expect(await exchange(server, 'account/logout', {}, 1)).toEqual([{ id: '<id>', result: {} }, updated(null, null)]);
    expect(await exchange(server, 'account/logout', undefined, 1)).toEqual([{ id: '<id>', result: {} }, updated(null, null)]);
  });

  it('clears external tokens from memory at logout', async () => {
    await start();
    await exchange(server, 'account/login/start', { type: 'chatgptAuthTokens', idToken: chatgptJwt({}), accessToken: 'secret-access' }, 2);
    await exchange(server, 'account/logout', undefined, 1);
    expect((await server.request('getAuthStatus', { includeToken: true })).result).toEqual({
      authMethod: null,
      authToken: null,
      requiresOpenaiAuth: true,
    });
    // Once cleared, an API-key login is allowed again.
    expect((await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-after' })).result).toEqual({ type: 'apiKey' });
  });

  it('answers account/login/cancel with notFound when no browser login is pending, and rejects a non-UUID id', async () => {
    await start();
    expect((await server.request('account/login/cancel', { loginId: '0b6f1a52-4f3b-4c4a-9d55-0cb0e7f0f7a1' })).result).toEqual({ status: 'notFound' });
    expect(await server.request('account/login/cancel', { loginId: 'nope' }, 'c')).toEqual({
      id: 'c',
      error: { code: -32600, message: 'invalid login id: nope' },
    });
  });
});

describe('login policy (docs/protocol.md §7)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;

  async function start(configToml: string): Promise<AppServerProcess> {
    home = track.home(configToml);
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    return server;
  }

  const refusal = async (params: unknown) => {
    const from = server.messages.length;
    const response = await server.request('account/login/start', params, 'p');
    // A refused request sends only its error response: the next response arrives before any notification.
    await server.request('account/read', {}, 'fence');
    expect(server.since(from).filter((m) => !('id' in m))).toEqual([]);
    return response.error;
  };

  it('forced_login_method = "chatgpt" refuses API keys', async () => {
    await start('forced_login_method = "chatgpt"\n');
    expect(await refusal({ type: 'apiKey', apiKey: 'sk-1' })).toEqual({ code: -32600, message: 'API key login is disabled. Use ChatGPT login instead.' });
  });

  it('forced_login_method = "api" refuses ChatGPT and external logins, before looking at the token', async () => {
    await start('forced_login_method = "api"\n');
    expect(await refusal({ type: 'chatgpt' })).toEqual({ code: -32600, message: 'ChatGPT login is disabled. Use API key login instead.' });
    expect(await refusal({ type: 'chatgptAuthTokens', idToken: 'not-a-jwt', accessToken: 'a' })).toEqual({
      code: -32600,
      message: 'External ChatGPT auth is disabled. Use API key login instead.',
    });
    expect((await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-ok' })).result).toEqual({ type: 'apiKey' });
  });

  it.each([
    ['two segments', 'aaa.bbb', 'invalid id token: token must have three dot-separated segments, found 2'],
    ['an empty segment', 'aaa..ccc', 'invalid id token: segment 2 of the token is empty'],
    ['a payload that is not JSON', `eyJhbGciOiJub25lIn0.${Buffer.from('not json').toString('base64url')}.sig`, 'invalid id token: the token payload is not valid JSON'],
    ['a payload that is not an object', `eyJhbGciOiJub25lIn0.${Buffer.from('[1]').toString('base64url')}.sig`, 'invalid id token: the token payload is not a JSON object'],
    ['a claim of the wrong type', `eyJhbGciOiJub25lIn0.${Buffer.from('{"email":5}').toString('base64url')}.sig`, 'invalid id token: claim email must be a string'],
    ['characters outside base64url', 'a+b.c/d.e=f', 'invalid id token: segment 1 of the token is not base64url'],
  ])('refuses an external login whose token has %s', async (_what, token, message) => {
    await start('');
    expect(await refusal({ type: 'chatgptAuthTokens', idToken: token, accessToken: 'a' })).toEqual({ code: -32600, message });
    expect(await refusal({ type: 'chatgptAuthTokens', accessToken: token, chatgptAccountId: 'ws' })).toEqual({ code: -32600, message });
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });

  it('forced_chatgpt_workspace_id as a string: other or missing workspaces are refused', async () => {
    await start('forced_chatgpt_workspace_id = "ws-allowed"\n');
    expect(await refusal({ type: 'chatgptAuthTokens', idToken: chatgptJwt({ accountId: 'ws-other' }), accessToken: 'a' })).toEqual({
      code: -32600,
      message: 'External auth must use workspace ws-allowed, but received "ws-other".',
    });
    expect(await refusal({ type: 'chatgptAuthTokens', idToken: chatgptJwt({}), accessToken: 'a' })).toEqual({
      code: -32600,
      message: 'External auth must use workspace ws-allowed, but received "".',
    });
    expect(await refusal({ type: 'chatgptAuthTokens', accessToken: chatgptJwt({ accountId: 'ws-allowed' }), chatgptAccountId: 'ws-b' })).toEqual({
      code: -32600,
      message: 'External auth must use workspace ws-allowed, but received "ws-b".',
    });
    expect((await server.request('account/login/start', { type: 'chatgptAuthTokens', accessToken: chatgptJwt({}), chatgptAccountId: 'ws-allowed' })).result).toEqual({
      type: 'chatgptAuthTokens',
    });
  });

  it('forced_chatgpt_workspace_id as a list: any listed workspace is accepted', async () => {
    await start('forced_chatgpt_workspace_id = ["ws-a", "ws-b"]\n');
    expect(await refusal({ type: 'chatgptAuthTokens', idToken: chatgptJwt({ accountId: 'ws-c' }), accessToken: 'a' })).toEqual({
      code: -32600,
      message: 'External auth must use one of workspace(s) ["ws-a","ws-b"], but received "ws-c".',
    });
    expect((await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken: chatgptJwt({ accountId: 'ws-b' }), accessToken: 'a' })).result).toEqual({
      type: 'chatgptAuthTokens',
    });
  });
});

/**
 * Device-code login (docs/protocol.md §13.1) and revoke (§13.2) over the real bin and pipes, against the
 * loopback mock issuer: every outcome of a device login, end to end, with its exact texts and order, and
 * the revokes of a logout and of a replaced login (exact bodies; the logout answered while the issuer
 * still holds the revoke open).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess, loopbackBackend, type tempCodexHome, type Msg } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { CLIENT_ID, DEVICE_AUTH_ID, MockIssuer, REFRESH_TOKEN, USER_CODE } from '../support/mockIssuer';
import { trackResources } from '../support/resources';

const track = trackResources();

/** Resolves once `condition` holds (checked every 20 ms; the test's own timeout bounds it). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const NOT_ENABLED = 'device code login is not enabled for this Codex server. Use the browser login or verify the server URL.';
const completed = (loginId: string | null, success: boolean, error: string | null) => ({
  method: 'account/login/completed',
  params: { loginId, success, error },
});
const updated = (authMode: string | null, planType: string | null) => ({ method: 'account/updated', params: { authMode, planType, reason: null } });

/** A managed ChatGPT login already saved in auth.json, with a refresh token the tests recognise. */
const OLD_REFRESH = 'rt_old_managed_login';
function savedManagedLogin(dir: string): void {
  const idToken = chatgptJwt({ email: 'old@example.com', plan: 'plus', accountId: 'ws-1' });
  const auth = { auth_mode: 'chatgpt', OPENAI_API_KEY: null, tokens: { id_token: idToken, access_token: 'at_old_managed', refresh_token: OLD_REFRESH, account_id: 'ws-1' }, last_refresh: new Date().toISOString() };
  writeFileSync(path.join(dir, 'auth.json'), JSON.stringify(auth), { mode: 0o600 });
}

describe('device-code login over the real bin (docs/protocol.md §13.1)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;
  let issuer: MockIssuer;

  beforeEach(async () => {
    issuer = track.server(await MockIssuer.start());
  });

  async function start(options: { top?: string; authchart?: string; managed?: boolean } = {}): Promise<AppServerProcess> {
    home = track.home(`${loopbackBackend(options.top)}[authchart]\nissuer = "${issuer.url}"\nlogin_port = 0\n${options.authchart ?? ''}`);
    if (options.managed) savedManagedLogin(home.dir);
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    return server;
  }

  function since(from: number): Msg[] {
    return server.since(from).map((m) => ('id' in m ? { ...m, id: '<id>' } : m));
  }

  async function startDeviceLogin(): Promise<{ loginId: string; verificationUrl: string; userCode: string }> {
    const response = await server.request('account/login/start', { type: 'chatgptDeviceCode' });
    expect(response.error).toBeUndefined();
    return response.result;
  }

  const authJson = () => JSON.parse(readFileSync(path.join(home.dir, 'auth.json'), 'utf8'));

  it('signs in: the user code, then login/completed and account/updated; tokens saved; exchange as §8 with the device redirect', async () => {
    issuer.behaviour.device = { pendingPolls: 0 };
    await start();
    const from = server.messages.length;
    const login = await startDeviceLogin();
    expect(login).toEqual({ type: 'chatgptDeviceCode', loginId: expect.stringMatching(UUID_V4), verificationUrl: `${issuer.url}/codex/device`, userCode: USER_CODE });
    await server.notification('account/updated', from);
    expect(since(from)).toEqual([{ id: '<id>', result: login }, completed(login.loginId, true, null), updated('chatgpt', 'plus')]);
    expect(issuer.usercodeRequests[0].body).toEqual({ client_id: CLIENT_ID });
    expect(issuer.pollRequests[0].body).toEqual({ device_auth_id: DEVICE_AUTH_ID, user_code: USER_CODE });
    expect(issuer.tokenRequests[0].form.get('redirect_uri')).toBe(`${issuer.url}/deviceauth/callback`);
    expect(authJson().tokens).toEqual({ id_token: issuer.issued[0], access_token: issuer.issued[1], refresh_token: REFRESH_TOKEN, account_id: 'ws-1' });
    expect((await server.request('account/read', {})).result.account).toEqual({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null });
    expect(server.stderr).not.toContain(REFRESH_TOKEN);
  });

  it('polls at the interval the issuer gives while the code is pending (403, then 404), then succeeds', async () => {
    issuer.behaviour.device = { pendingPolls: 2, interval: ' 1 ' };
    await start();
    const from = server.messages.length;
    const login = await startDeviceLogin();
    await server.notification('account/updated', from);
    expect(since(from).slice(1)).toEqual([completed(login.loginId, true, null), updated('chatgpt', 'plus')]);
    expect(issuer.pollRequests).toHaveLength(3);
    // The first poll at once, each next one an interval (1 s) after the one before.
    const gaps = issuer.pollRequests.slice(1).map((poll, i) => poll.receivedAt - issuer.pollRequests[i].receivedAt);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(950);
  });

  it('a 404 at the user-code endpoint: -32600 with Codex text, no notification', async () => {
    issuer.behaviour.device = { usercodeReply: { status: 404, body: '' } };
    await start();
    const from = server.messages.length;
    const response = await server.request('account/login/start', { type: 'chatgptDeviceCode' });
    expect(response.error).toEqual({ code: -32600, message: NOT_ENABLED });
    expect((await server.request('account/read', {})).result.account).toBeNull();
    expect(server.since(from).filter((m) => 'method' in m)).toEqual([]);
  });

  it('a 500 at the user-code endpoint: -32603', async () => {
    issuer.behaviour.device = { usercodeReply: { status: 500, body: '' } };
    await start();
    const response = await server.request('account/login/start', { type: 'chatgptDeviceCode' });
    expect(response.error).toEqual({ code: -32603, message: 'failed to request device code: device code request failed with status 500 Internal Server Error' });
  });

  it.each([
    ['a poll error', { tokenReply: { status: 500, body: '' } }, 'device auth failed with status 500 Internal Server Error'],
    ['a bad body', { tokenReply: { status: 200, body: '{"nope":true}' } }, 'error decoding response body'],
  ])('%s ends the login with the exact text (no prefix), nothing saved', async (_what, device, error) => {
    issuer.behaviour.device = device;
    await start();
    const from = server.messages.length;
    const login = await startDeviceLogin();
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([{ id: '<id>', result: login }, completed(login.loginId, false, error)]);
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });

  it('an exchange refusal ends the login with the token endpoint text', async () => {
    issuer.behaviour.tokenError = { status: 400, body: '{"error":"invalid_grant","error_description":"code expired"}' };
    await start();
    const from = server.messages.length;
    const login = await startDeviceLogin();
    await server.notification('account/login/completed', from);
    expect(since(from)[1]).toEqual(completed(login.loginId, false, 'device code exchange failed: token endpoint returned status 400 Bad Request: code expired'));
  });

  it('a workspace outside forced_chatgpt_workspace_id: the §13.1 text, nothing saved', async () => {
    await start({ top: 'forced_chatgpt_workspace_id = ["ws-9", "ws-8"]\n' });
    const from = server.messages.length;
    const login = await startDeviceLogin();
    await server.notification('account/login/completed', from);
    expect(since(from)[1]).toEqual(completed(login.loginId, false, 'Login is restricted to workspace id(s) ws-9, ws-8.'));
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });

  it('is refused as a browser login is (§7)', async () => {
    await start({ top: 'forced_login_method = "api"\n' });
    expect((await server.request('account/login/start', { type: 'chatgptDeviceCode' })).error).toEqual({
      code: -32600,
      message: 'ChatGPT login is disabled. Use API key login instead.',
    });
    expect(issuer.usercodeRequests).toHaveLength(0);
  });

  describe('while the code is pending', () => {
    beforeEach(() => {
      issuer.behaviour.device = { pendingPolls: 1_000_000, interval: '1' };
    });

    it('cancel: canceled, then "Login was not completed"; polling stops', async () => {
      await start();
      const login = await startDeviceLogin();
      const from = server.messages.length;
      expect((await server.request('account/login/cancel', { loginId: login.loginId })).result).toEqual({ status: 'canceled' });
      await server.notification('account/login/completed', from);
      expect(since(from)).toEqual([{ id: '<id>', result: { status: 'canceled' } }, completed(login.loginId, false, 'Login was not completed')]);
      const polls = issuer.pollRequests.length;
      // Anything polled after the cancel would have arrived by the next read of a second (the interval).
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(issuer.pollRequests.length).toBe(polls);
    });

    it('a newer login (browser) ends it first, then answers', async () => {
      await start();
      const login = await startDeviceLogin();
      const from = server.messages.length;
      const browser = await server.request('account/login/start', { type: 'chatgpt' });
      expect(since(from)).toEqual([completed(login.loginId, false, 'Login was not completed'), { id: '<id>', result: browser.result }]);
    });

    it('a newer device login ends it first, then answers with a new code', async () => {
      await start();
      const login = await startDeviceLogin();
      const from = server.messages.length;
      const next = await startDeviceLogin();
      expect(next.loginId).not.toBe(login.loginId);
      expect(since(from)).toEqual([completed(login.loginId, false, 'Login was not completed'), { id: '<id>', result: next }]);
    });

    it('logout ends it: login/completed, the logout response, account/updated', async () => {
      await start();
      const login = await startDeviceLogin();
      const from = server.messages.length;
      await server.request('account/logout', {});
      await server.notification('account/updated', from);
      expect(since(from)).toEqual([completed(login.loginId, false, 'Login was not completed'), { id: '<id>', result: {} }, updated(null, null)]);
    });

    it('times out after [authchart] device_login_timeout_ms, said as configured', async () => {
      await start({ authchart: 'device_login_timeout_ms = 1500\n' });
      const from = server.messages.length;
      const login = await startDeviceLogin();
      await server.notification('account/login/completed', from);
      expect(since(from)).toEqual([{ id: '<id>', result: login }, completed(login.loginId, false, 'device auth timed out after 1.5s')]);
      expect(server.since(from).some((m) => m.method === 'account/updated')).toBe(false);
    });
  });
});

describe('revoke on logout and on replacement over the real bin (docs/protocol.md §13.2)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;
  let issuer: MockIssuer;

  beforeEach(async () => {
    issuer = track.server(await MockIssuer.start());
  });

  async function start(options: { managed?: boolean; authchart?: string } = {}): Promise<AppServerProcess> {
    home = track.home(`${loopbackBackend()}[authchart]\nissuer = "${issuer.url}"\nlogin_port = 0\n${options.authchart ?? ''}`);
    if (options.managed ?? true) savedManagedLogin(home.dir);
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    return server;
  }

  it('logout is answered (and auth.json gone) while the issuer still holds the revoke open; the body is exact', async () => {
    issuer.behaviour.revoke = 'hang';
    await start();
    const from = server.messages.length;
    const arrived = issuer.revokesArrived(1);
    await server.request('account/logout', {});
    await server.notification('account/updated', from);
    // The order: the response and account/updated are out, and only then does the test release the revoke.
    const [revoke] = await arrived;
    expect(() => readFileSync(path.join(home.dir, 'auth.json'))).toThrow();
    issuer.releaseRevokes();
    expect(revoke.contentType).toBe('application/json');
    expect(JSON.stringify(revoke.body)).toBe(JSON.stringify({ token: OLD_REFRESH, token_type_hint: 'refresh_token', client_id: CLIENT_ID }));
  });

  it('a failing revoke endpoint still logs out; the failure is logged without the token', async () => {
    issuer.behaviour.revoke = { status: 503, body: '{"error":"down"}' };
    await start();
    expect((await server.request('account/logout', {})).result).toEqual({});
    await issuer.revokesArrived(1);
    await until(() => /could not revoke the refresh token .*503 Service Unavailable/.test(server.stderr));
    expect((await server.request('account/read', {})).result.account).toBeNull();
    expect(server.stderr).not.toContain(OLD_REFRESH);
  });

  it('an exiting process lets a revoke in flight finish: stdin closed while the issuer holds it, released, then exit 0', async () => {
    issuer.behaviour.revoke = 'hang';
    await start();
    await server.request('account/logout', {});
    const exit = server.close();
    await issuer.revokesArrived(1);
    issuer.releaseRevokes();
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(server.stderr).toMatch(/revoked the refresh token at http:\/\/127\.0\.0\.1:\d+\/oauth\/revoke/);
  });

  it('an exiting process does not wait long for a revoke that hangs: it exits 0 all the same', async () => {
    issuer.behaviour.revoke = 'hang';
    await start();
    await server.request('account/logout', {});
    const exit = server.close();
    await issuer.revokesArrived(1);
    expect(await exit).toEqual({ code: 0, signal: null });
    issuer.releaseRevokes();
  });

  it('an API key or external tokens are never sent anywhere', async () => {
    await start({ managed: false });
    await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-never-revoked' });
    await server.request('account/logout', {});
    const idToken = chatgptJwt({ email: 'ext@example.com', plan: 'pro', accountId: 'ws-2' });
    await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken: 'at-external-never-revoked' });
    await server.request('account/logout', {});
    // A later managed logout's revoke marks the point where earlier ones would have arrived.
    issuer.behaviour.device = {};
    const from = server.messages.length;
    await server.request('account/login/start', { type: 'chatgptDeviceCode' });
    await server.notification('account/updated', from);
    await server.request('account/logout', {});
    const revokes = await issuer.revokesArrived(1);
    expect(revokes.map((r) => r.body.token)).toEqual([REFRESH_TOKEN]);
    expect(issuer.revokeRequests).toHaveLength(1);
  });

  it('a login that replaces managed tokens revokes the old refresh token once, after the new ones are saved', async () => {
    issuer.behaviour.device = {};
    await start();
    const from = server.messages.length;
    await server.request('account/login/start', { type: 'chatgptDeviceCode' });
    await server.notification('account/updated', from);
    const [revoke] = await issuer.revokesArrived(1);
    expect(revoke.body).toEqual({ token: OLD_REFRESH, token_type_hint: 'refresh_token', client_id: CLIENT_ID });
    expect(JSON.parse(readFileSync(path.join(home.dir, 'auth.json'), 'utf8')).tokens.refresh_token).toBe(REFRESH_TOKEN);
    // An API key replacing the new login revokes that one, and nothing is revoked twice.
    await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-replaces' });
    const revokes = await issuer.revokesArrived(2);
    expect(revokes.map((r) => r.body.token)).toEqual([OLD_REFRESH, REFRESH_TOKEN]);
    await server.request('account/logout', {});
    expect((await server.request('account/read', {})).result.account).toBeNull();
    expect(issuer.revokeRequests).toHaveLength(2);
  });
});

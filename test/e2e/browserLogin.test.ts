/**
 * Browser login end to end (docs/protocol.md §4, §5, §7, §8, §10): the real bin over real pipes, a mock
 * OAuth issuer on 127.0.0.1, real files in a temp CODEX_HOME, and one run in real headless Chromium.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { AppServerProcess, loopbackBackend, type tempCodexHome, type Msg } from '../support/appServer';
import { describeWithBrowser, launchBrowser } from '../support/browser';
import { chatgptJwt } from '../support/jwt';
import { USAGE_READ_RESULT, bearerOf, startChatgptBackend } from '../support/httpFakes';
import { CLIENT_ID, MockIssuer, REFRESH_TOKEN } from '../support/mockIssuer';
import { trackResources } from '../support/resources';

const track = trackResources();

const NOT_COMPLETED = 'Login server error: Login was not completed';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const completed = (loginId: string | null, success: boolean, error: string | null) => ({
  method: 'account/login/completed',
  params: { loginId, success, error },
});
const updated = (authMode: string | null, planType: string | null) => ({ method: 'account/updated', params: { authMode, planType, reason: null } });

/** A started browser login, with the pieces of its authUrl. */
interface Login {
  loginId: string;
  authUrl: string;
  url: URL;
  port: number;
  state: string;
}

/** Resolves true when nothing accepts connections on 127.0.0.1:port. */
function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A port that was free a moment ago (bound and released). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('browser login (managed ChatGPT, OAuth code + PKCE)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;
  let issuer: MockIssuer;

  beforeEach(async () => {
    issuer = track.server(await MockIssuer.start());
  });

  /** Starts the app-server with the issuer configured; `top` goes before the [authchart] table. */
  async function start(options: { top?: string; authchart?: string } = {}): Promise<AppServerProcess> {
    const toml = `${loopbackBackend(options.top)}[authchart]\nissuer = "${issuer.url}"\nlogin_port = 0\n${options.authchart ?? ''}`;
    home = track.home(toml);
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    return server;
  }

  async function startLogin(): Promise<Login> {
    const response = await server.request('account/login/start', { type: 'chatgpt' });
    expect(response.error).toBeUndefined();
    const { loginId, authUrl } = response.result;
    const url = new URL(authUrl);
    const redirect = new URL(url.searchParams.get('redirect_uri') ?? '');
    return { loginId, authUrl, url, port: Number(redirect.port), state: url.searchParams.get('state') ?? '' };
  }

  /** The messages from index `from` on, with response ids replaced so they compare. */
  function since(from: number): Msg[] {
    return server.since(from).map((m) => ('id' in m ? { ...m, id: '<id>' } : m));
  }

  const authJson = () => path.join(home.dir, 'auth.json');

  describeWithBrowser('in real headless Chromium', () => {
    it(
      'signs in: success page, login/completed then account/updated, a 0600 auth.json',
      async () => {
        await start();
        const from = server.messages.length;
        const login = await startLogin();
        expect(login.loginId).toMatch(UUID_V4);
        const browser = await launchBrowser();
        try {
          const page = await browser.context.newPage();
          const response = await page.goto(login.authUrl);
          expect(response?.status()).toBe(200);
          expect(page.url()).toMatch(new RegExp(`^http://localhost:${login.port}/auth/callback\\?code=`));
          expect(await page.textContent('h1')).toBe('Signed in to ChatGPT');
          expect(await page.title()).toBe('Signed in - authchart');
        } finally {
          await browser.close();
        }
        await server.notification('account/updated', from);
        expect(since(from)).toEqual([
          { id: '<id>', result: { type: 'chatgpt', loginId: login.loginId, authUrl: login.authUrl } },
          completed(login.loginId, true, null),
          updated('chatgpt', 'plus'),
        ]);

        // The exchange the issuer saw: form-encoded, with the verifier of the challenge (checked by the mock).
        expect(issuer.tokenRequests).toHaveLength(1);
        expect(issuer.tokenRequests[0].contentType).toBe('application/x-www-form-urlencoded');
        expect([...issuer.tokenRequests[0].form.keys()].sort()).toEqual(['client_id', 'code', 'code_verifier', 'grant_type', 'redirect_uri']);

        const file = authJson();
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(statSync(home.dir).mode & 0o777).toBe(0o700);
        const saved = JSON.parse(readFileSync(file, 'utf8'));
        expect(saved).toEqual({
          auth_mode: 'chatgpt',
          OPENAI_API_KEY: null,
          tokens: { id_token: issuer.issued[0], access_token: issuer.issued[1], refresh_token: REFRESH_TOKEN, account_id: 'ws-1' },
          last_refresh: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        });
        expect((await server.request('account/read', {})).result).toEqual({
          account: { type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null },
          userId: 'user-1', requiresOpenaiAuth: true, workspaceRouting: null,
        });
        expect((await server.request('getAuthStatus', { includeToken: true })).result.authToken).toBe(issuer.issued[1]);
        expect(await portClosed(login.port)).toBe(true);
        // Neither the code, the tokens nor the verifier reach the logs.
        const verifier = issuer.tokenRequests[0].form.get('code_verifier') ?? '';
        const code = issuer.tokenRequests[0].form.get('code') ?? '';
        for (const secret of [...issuer.issued, verifier, code]) expect(server.stderr).not.toContain(secret);
      },
      60_000,
    );
  });

  it('builds the exact authUrl of §8, with allowed_workspace_id when a workspace is forced', async () => {
    await start({ top: 'forced_chatgpt_workspace_id = "ws-1"\n' });
    const login = await startLogin();
    expect(login.authUrl).toMatch(
      new RegExp(
        `^${issuer.url}/oauth/authorize\\?response_type=code&client_id=${CLIENT_ID}` +
          `&redirect_uri=http%3A%2F%2Flocalhost%3A${login.port}%2Fauth%2Fcallback` +
          '&scope=openid%20profile%20email%20offline_access&code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256' +
          '&id_token_add_organizations=true&codex_cli_simplified_flow=true&state=[A-Za-z0-9_-]{43}&originator=test_client' +
          '&allowed_workspace_id=ws-1$',
      ),
    );
    // And the login completes under the forced workspace when the account matches.
    const from = server.messages.length;
    const page = await fetch(login.authUrl);
    expect(page.status).toBe(200);
    await server.notification('account/updated', from);
    expect(since(from)).toEqual([completed(login.loginId, true, null), updated('chatgpt', 'plus')]);
  });

  it('answers a callback with the wrong state 400 "State mismatch" and keeps the login pending', async () => {
    await start();
    const login = await startLogin();
    const from = server.messages.length;
    const forged = await fetch(`http://127.0.0.1:${login.port}/auth/callback?code=forged&state=not-the-state`);
    expect(forged.status).toBe(400);
    expect(await forged.text()).toBe('State mismatch');
    expect(issuer.tokenRequests).toHaveLength(0);
    // The real redirect still completes the same login.
    expect((await fetch(login.authUrl)).status).toBe(200);
    await server.notification('account/updated', from);
    expect(since(from)).toEqual([completed(login.loginId, true, null), updated('chatgpt', 'plus')]);
  });

  it('answers a callback without a code 400 "Missing authorization code" and keeps the login pending', async () => {
    await start();
    const login = await startLogin();
    const from = server.messages.length;
    const res = await fetch(`http://127.0.0.1:${login.port}/auth/callback?state=${login.state}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('Missing authorization code');
    expect(await server.request('account/login/cancel', { loginId: login.loginId }, 'c')).toEqual({ id: 'c', result: { status: 'canceled' } });
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([{ id: '<id>', result: { status: 'canceled' } }, completed(login.loginId, false, NOT_COMPLETED)]);
  });

  it('ends the login when the token endpoint fails: error page, the exact completion text, no account/updated, nothing saved', async () => {
    await start();
    issuer.behaviour.tokenError = { status: 400, body: JSON.stringify({ error: 'invalid_grant', error_description: 'Code expired' }) };
    const login = await startLogin();
    const from = server.messages.length;
    const page = await fetch(login.authUrl);
    expect(page.status).toBe(500);
    expect(await page.text()).toContain('Token exchange failed: token endpoint returned status 400 Bad Request: Code expired');
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([
      completed(login.loginId, false, 'Login server error: Token exchange failed: token endpoint returned status 400 Bad Request: Code expired'),
    ]);
    expect(existsSync(authJson())).toBe(false);
    expect((await server.request('account/read', {})).result.account).toBeNull();
    expect(await portClosed(login.port)).toBe(true);
  });

  it('refuses an account outside forced_chatgpt_workspace_id: 403 page, the exact completion text, nothing saved', async () => {
    await start({ top: 'forced_chatgpt_workspace_id = "ws-allowed"\n' });
    issuer.behaviour.claims = { email: 'eve@example.com', plan: 'team', accountId: 'ws-other' };
    const login = await startLogin();
    const from = server.messages.length;
    const page = await fetch(login.authUrl);
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('Login is restricted to workspace id ws-allowed.');
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([completed(login.loginId, false, 'Login server error: Login is restricted to workspace id ws-allowed.')]);
    expect(existsSync(authJson())).toBe(false);
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });

  it('backend calls after a browser login carry its access token and account id (the 401 recovery sees the new login)', async () => {
    const backend = await startChatgptBackend((token) => token === issuer.issued[1]);
    try {
      await start({ top: `chatgpt_base_url = "${backend.origin}/backend-api/"\n` });
      const login = await startLogin();
      const from = server.messages.length;
      expect((await fetch(login.authUrl)).status).toBe(200);
      await server.notification('account/updated', from);
      expect((await server.request('account/rateLimits/read')).result).toEqual(USAGE_READ_RESULT);
      expect(backend.usageCalls().map((call) => [bearerOf(call), call.headers['chatgpt-account-id']])).toEqual([[issuer.issued[1], 'ws-1']]);
    } finally {
      await backend.close();
    }
  });

  it('reports tokens that cannot be saved as a failed login naming the file, and stays logged out', async () => {
    await start();
    mkdirSync(authJson()); // a directory where auth.json should be: the atomic rename fails
    const login = await startLogin();
    const from = server.messages.length;
    const page = await fetch(login.authUrl);
    expect(page.status).toBe(500);
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([
      completed(
        login.loginId,
        false,
        expect.stringMatching(
          new RegExp(`^Login server error: Sign-in completed but the credentials could not be saved: could not write ${authJson()} \\(E[A-Z]+\\); check that`),
        ),
      ),
    ]);
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });

  it('cancels with account/login/cancel: canceled, then login/completed; the listener is gone; later cancels are notFound', async () => {
    await start();
    const login = await startLogin();
    const from = server.messages.length;
    await server.request('account/login/cancel', { loginId: login.loginId });
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([{ id: '<id>', result: { status: 'canceled' } }, completed(login.loginId, false, NOT_COMPLETED)]);
    expect((await server.request('account/login/cancel', { loginId: login.loginId })).result).toEqual({ status: 'notFound' });
    expect(await server.request('account/login/cancel', { loginId: 'not-a-uuid' }, 'x')).toEqual({
      id: 'x',
      error: { code: -32600, message: 'invalid login id: not-a-uuid' },
    });
    expect(await portClosed(login.port)).toBe(true);
    // The login is over: its callback no longer reaches anything, and no account/updated was sent.
    expect(server.since(from).some((m) => m.method === 'account/updated')).toBe(false);
  });

  it('answers notFound to a cancel naming another login, and leaves the pending one running', async () => {
    await start();
    const login = await startLogin();
    expect((await server.request('account/login/cancel', { loginId: '0b6f1a52-4f3b-4c4a-9d55-0cb0e7f0f7a1' })).result).toEqual({
      status: 'notFound',
    });
    expect(await portClosed(login.port)).toBe(false);
    expect((await server.request('account/login/cancel', { loginId: login.loginId })).result).toEqual({ status: 'canceled' });
  });

  it('cancels with GET /cancel on the callback server: "Login cancelled"', async () => {
    await start();
    const login = await startLogin();
    const from = server.messages.length;
    const res = await fetch(`http://127.0.0.1:${login.port}/cancel`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Login cancelled');
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([completed(login.loginId, false, 'Login server error: Login cancelled')]);
    expect((await server.request('account/login/cancel', { loginId: login.loginId })).result).toEqual({ status: 'notFound' });
    expect(await portClosed(login.port)).toBe(true);
  });

  it('a second browser login cancels the first and takes over the same port; the first ends first, as in Codex', async () => {
    const port = await freePort();
    home = track.home(`[authchart]\nissuer = "${issuer.url}"\nlogin_port = ${port}\n`);
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    const first = await startLogin();
    expect(first.port).toBe(port);
    const from = server.messages.length;
    const second = await startLogin();
    await server.notification('account/login/completed', from);
    expect(second.loginId).not.toBe(first.loginId);
    expect(second.port).toBe(port);
    // Codex 0.98 and 0.169: the old login's completion ("Login cancelled": its port was taken over)
    // arrives before the new login's response.
    expect(since(from)).toEqual([
      completed(first.loginId, false, 'Login server error: Login cancelled'),
      { id: '<id>', result: { type: 'chatgpt', loginId: second.loginId, authUrl: second.authUrl } },
    ]);
    // The first login's state no longer opens anything; the second completes.
    const stale = await fetch(`http://127.0.0.1:${port}/auth/callback?code=x&state=${first.state}`);
    expect(stale.status).toBe(400);
    const next = server.messages.length;
    expect((await fetch(second.authUrl)).status).toBe(200);
    await server.notification('account/updated', next);
    expect(since(next)).toEqual([completed(second.loginId, true, null), updated('chatgpt', 'plus')]);
  });

  it('a chatgptAuthTokens login cancels a pending browser login; a refused one leaves it running', async () => {
    await start();
    const login = await startLogin();
    // Refused (not a JWT): the browser login survives.
    const refused = await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken: 'abc', accessToken: 'def' });
    expect(refused.error).toEqual({ code: -32600, message: 'invalid id token: token must have three dot-separated segments, found 1' });
    expect(await portClosed(login.port)).toBe(false);

    const from = server.messages.length;
    const idToken = chatgptJwt({ email: 'ext@example.com', plan: 'pro', accountId: 'ws-ext' });
    await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken: chatgptJwt({}) });
    await server.waitFor(() => server.since(from).filter((m) => m.method === 'account/login/completed').length === 2, 'two completions');
    // The pending login ends first (§4: "it cancels that login first"), then the external login is answered.
    expect(since(from)).toEqual([
      completed(login.loginId, false, NOT_COMPLETED),
      { id: '<id>', result: { type: 'chatgptAuthTokens' } },
      completed(null, true, null),
      updated('chatgptAuthTokens', 'pro'),
    ]);
    expect(await portClosed(login.port)).toBe(true);
    expect((await server.request('account/login/cancel', { loginId: login.loginId })).result).toEqual({ status: 'notFound' });
    // And while external tokens are active, a browser login is refused (§7).
    expect((await server.request('account/login/start', { type: 'chatgpt' })).error).toEqual({
      code: -32600,
      message: 'External auth is active. Use account/login/start (chatgptAuthTokens) to update it or account/logout to clear it.',
    });
  });

  it('logout cancels a pending browser login: login/completed, response, account/updated with nulls', async () => {
    await start();
    const login = await startLogin();
    const from = server.messages.length;
    await server.request('account/logout');
    await server.notification('account/updated', from);
    // The login ends first (the chart ends it as the logout starts), then the logout is answered.
    expect(since(from)).toEqual([completed(login.loginId, false, NOT_COMPLETED), { id: '<id>', result: {} }, updated(null, null)]);
    expect(await portClosed(login.port)).toBe(true);
  });

  it('runs beside an active API key; an accepted API-key login cancels a pending one (as Codex does)', async () => {
    await start();
    await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-first-key' });
    const first = await startLogin();
    expect((await server.request('account/read', {})).result.account).toEqual({ type: 'apiKey' });
    const from = server.messages.length;
    await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-second-key' });
    await server.notification('account/updated', from);
    // The pending login ends as the key is accepted, before the key is saved and answered.
    expect(since(from)).toEqual([
      completed(first.loginId, false, NOT_COMPLETED),
      { id: '<id>', result: { type: 'apiKey' } },
      completed(null, true, null),
      updated('apikey', null),
    ]);
    // A browser login started over the API key replaces it on success.
    const second = await startLogin();
    const next = server.messages.length;
    expect((await fetch(second.authUrl)).status).toBe(200);
    await server.notification('account/updated', next);
    expect(since(next)).toEqual([completed(second.loginId, true, null), updated('chatgpt', 'plus')]);
    expect(JSON.parse(readFileSync(authJson(), 'utf8')).auth_mode).toBe('chatgpt');
  });

  it('times out after [authchart] login_timeout_ms: "Login timed out", no account/updated, the listener closed', async () => {
    await start({ authchart: 'login_timeout_ms = 300\n' });
    const login = await startLogin();
    const from = server.messages.length;
    await server.notification('account/login/completed', from);
    expect(since(from)).toEqual([completed(login.loginId, false, 'Login timed out')]);
    await server.request('account/read', {});
    expect(await portClosed(login.port)).toBe(true);
    expect(server.since(from).some((m) => m.method === 'account/updated')).toBe(false);
  });

  it('refuses with -32603 when the port is in use (after asking its owner to cancel, as Codex does)', async () => {
    const cancelRequests: string[] = [];
    const squatter = http.createServer((req, res) => {
      cancelRequests.push(req.url ?? '');
      res.writeHead(404).end('not a login server');
    });
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as net.AddressInfo;
    try {
      home = track.home(`[authchart]\nissuer = "${issuer.url}"\nlogin_port = ${port}\n`);
      server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
      const from = server.messages.length;
      const response = await server.request('account/login/start', { type: 'chatgpt' }, 'busy-port');
      expect(response).toEqual({
        id: 'busy-port',
        error: { code: -32603, message: `failed to start login server: Port 127.0.0.1:${port} is already in use` },
      });
      expect(cancelRequests).toEqual(['/cancel']);
      expect(server.since(from).filter((m) => !('id' in m))).toEqual([]);
      // The chart is idle again: a cancel finds nothing, other requests work.
      expect((await server.request('account/read', {})).result.account).toBeNull();
    } finally {
      squatter.closeAllConnections();
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  it('loads the callback server, its pages and the OAuth code only when a browser login starts', () => {
    const dist = path.resolve(__dirname, '../../dist/src');
    const script = `
      const { AuthCore } = require(${JSON.stringify(`${dist}/auth/core.js`)});
      const { EphemeralCredentialStore } = require(${JSON.stringify(`${dist}/auth/credentials.js`)});
      const { parseConfig } = require(${JSON.stringify(`${dist}/config.js`)});
      require(${JSON.stringify(`${dist}/cli.js`)});
      const loaded = () => Object.keys(require.cache).filter((k) => /[/](loginServer|loginPages|oauth)[.]js$/.test(k)).map((k) => k.split('/').pop()).sort();
      (async () => {
        const config = await parseConfig('[authchart]\\nlogin_port = 0\\n', '/nonexistent', {});
        const core = await AuthCore.open({ config, store: new EphemeralCredentialStore() });
        const atStart = loaded();
        await core.command({ type: 'login.chatgpt', originator: 'test' });
        process.stdout.write(JSON.stringify({ atStart, afterLogin: loaded() }));
        core.stop();
      })();`;
    expect(JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))).toEqual({
      atStart: [],
      afterLogin: ['loginPages.js', 'loginServer.js', 'oauth.js'],
    });
  });

  it('leaks no listener, socket or timer over 100 start/cancel cycles (socket fds of the real process)', async () => {
    await start({ authchart: 'login_timeout_ms = 1500\n' });
    const pid = server.child.pid as number;
    const sockets = () =>
      readdirSync(`/proc/${pid}/fd`).filter((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
        } catch {
          return false; // the fd closed while listing
        }
      }).length;
    await server.request('account/read', {});
    const before = sockets();
    const from = server.messages.length;
    for (let i = 0; i < 100; i += 1) {
      const login = await startLogin();
      expect((await server.request('account/login/cancel', { loginId: login.loginId })).result).toEqual({ status: 'canceled' });
    }
    await server.request('account/read', {});
    const after = sockets();
    expect({ before, after }).toEqual({ before, after: before });
    // Timers: had any cancelled login's timeout survived, it would fire before this last login's.
    const last = await startLogin();
    await server.waitFor((m) => m.method === 'account/login/completed' && m.params.error === 'Login timed out', 'the last login to time out');
    const timeouts = server.since(from).filter((m) => m.method === 'account/login/completed' && m.params.error === 'Login timed out');
    expect(timeouts.map((m) => m.params.loginId)).toEqual([last.loginId]);
    const completions = server.since(from).filter((m) => m.method === 'account/login/completed');
    expect(completions).toHaveLength(101);
    process.stderr.write(`browser login leak check (app-server pid ${pid}): socket fds before=${before} after=${after} over 100 cycles\n`);
  }, 60_000);
});

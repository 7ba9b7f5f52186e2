/**
 * Workspace discovery and switching over the real bin (docs/protocol.md §12.1, §12.4): discovery runs in
 * the background and `account/read` never waits for it (shown by the order of messages while the
 * backend holds `accounts/check`), each §12.1 failure is logged with Codex's text and retried on the next
 * backend call, and `accountSession/list` / `accountSession/switch` answer Codex's shapes and texts, the
 * switch saving its tokens and announcing itself before its response. Real files in a temp CODEX_HOME,
 * the loopback ChatGPT backend.
 */
import { execFile } from 'node:child_process';
import { AppServerProcess, BIN, type Msg } from '../support/appServer';
import { accountsCheckBody, discoveryFailures, startFakeChatgptBackend, switchedTokens, workspaceEntry, type ChatgptBackendOptions } from '../support/chatgptBackend';
import { readAuthJson, writeAuthJson } from '../support/client';
import { bearerOf } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

/** A managed login of user-1 in workspace acct-1. */
const LOGIN = {
  idToken: chatgptJwt({ email: 'ada@example.com', plan: 'pro', accountId: 'acct-1', userId: 'user-1' }),
  accessToken: chatgptJwt({ accountId: 'acct-1', userId: 'user-1', exp: 4102444800 }),
  refreshToken: 'rt_workspaces_xxxxxxxx',
};
const TWO_WORKSPACES = accountsCheckBody([
  workspaceEntry('acct-1', 'Personal', { structure: 'personal', plan_type: 'pro' }),
  workspaceEntry('acct-2', 'Team Two', { account_routing_override: 'us' }),
]);
const ROUTING_1 = { chatgptAccountId: 'acct-1', backendOrigin: 'https://chatgpt.com', accountRoutingOverride: 'NO_CONSTRAINT' };
const ROUTING_2 = { chatgptAccountId: 'acct-2', backendOrigin: 'https://chatgpt.com', accountRoutingOverride: 'us' };
const PERSONAL = { type: 'chatgpt', email: 'ada@example.com', planType: 'pro' };

describe('workspace discovery and switching (docs/protocol.md §12.1, §12.4)', () => {
  const own = trackResources();

  function config(backendOrigin: string, extra: string[] = [], authchart: string[] = []): string {
    return [...extra, `chatgpt_base_url = "${backendOrigin}/backend-api/"`, '[authchart]', 'login_port = 0', ...authchart, ''].join('\n');
  }

  async function managed(options: ChatgptBackendOptions, extraConfig: string[] = []) {
    const backend = own.server(await startFakeChatgptBackend(options));
    const home = own.home(config(backend.origin, extraConfig, [`issuer = "${backend.origin}"`]));
    writeAuthJson(home.dir, LOGIN, { accountId: 'acct-1' });
    const server = own.process(await AppServerProcess.started({ codexHome: home.dir }));
    return { backend, home, server };
  }

  const routingReady = (m: Msg) => m.method === 'account/updated' && m.params.reason === 'workspaceRoutingReady';

  it('answers account/read while accounts/check hangs at start-up; the routing arrives later with workspaceRoutingReady', async () => {
    const { backend, server } = await managed({ accountsCheck: 'hang' });
    await backend.held();
    const read = await server.request('account/read', {});
    const status = await server.request('getAuthStatus', {});
    expect(read.result).toEqual({ account: { ...PERSONAL, workspaceName: null }, userId: 'user-1', requiresOpenaiAuth: true, workspaceRouting: null });
    expect(status.result).toEqual({ authMethod: 'chatgpt', authToken: null, requiresOpenaiAuth: true });
    // Both answers are on the wire while the backend still holds the discovery: nothing waited for it.
    const answeredBeforeRelease = server.messages.length;
    expect(server.messages.some(routingReady)).toBe(false);
    backend.release({ status: 200, body: TWO_WORKSPACES });
    const ready = await server.waitFor(routingReady, 'workspaceRoutingReady', 15000, answeredBeforeRelease);
    expect(ready.params).toEqual({ authMode: 'chatgpt', planType: 'pro', reason: 'workspaceRoutingReady' });
    expect((await server.request('account/read', {})).result).toEqual({
      account: { ...PERSONAL, workspaceName: 'Personal' },
      userId: 'user-1',
      requiresOpenaiAuth: true,
      workspaceRouting: ROUTING_1,
    });
    // The discovery carried the login's credentials.
    expect(backend.calls('/wham/accounts/check').map((r) => [bearerOf(r), r.headers['chatgpt-account-id']])).toEqual([[LOGIN.accessToken, 'acct-1']]);
  });

  it('discovers after an external login, which completes at once as in §5', async () => {
    const backend = own.server(await startFakeChatgptBackend({ accountsCheck: { body: accountsCheckBody([workspaceEntry('acct-9', 'Nine')]) } }));
    const home = own.home(config(backend.origin));
    const server = own.process(await AppServerProcess.started({ codexHome: home.dir }));
    const from = server.messages.length;
    const accessToken = chatgptJwt({ email: 'bob@example.com', userId: 'user-9' });
    await server.request('account/login/start', { type: 'chatgptAuthTokens', accessToken, chatgptAccountId: 'acct-9', chatgptPlanType: 'team' });
    const ready = await server.waitFor(routingReady, 'workspaceRoutingReady', 15000, from);
    const methods = server.since(from).map((m) => m.method ?? 'response');
    expect(methods).toEqual(['response', 'account/login/completed', 'account/updated', 'account/updated']);
    expect(server.since(from)[2].params).toEqual({ authMode: 'chatgptAuthTokens', planType: 'team', reason: null });
    expect(ready.params).toEqual({ authMode: 'chatgptAuthTokens', planType: 'team', reason: 'workspaceRoutingReady' });
    expect((await server.request('account/read', {})).result.workspaceRouting).toEqual({ ...ROUTING_1, chatgptAccountId: 'acct-9' });
  });

  for (const [name, failure] of Object.entries(discoveryFailures('acct-1'))) {
    it(`logs a failed discovery (${name}) with Codex's text and retries it on the next backend call`, async () => {
      const { backend, server } = await managed({ accountsCheck: failure.behaviour });
      await waitForStderr(server, `workspace discovery failed: ${failure.message}`);
      expect((await server.request('account/read', {})).result.workspaceRouting).toBeNull();
      const checks = backend.calls('/wham/accounts/check').length;
      backend.options.accountsCheck = { body: TWO_WORKSPACES };
      const from = server.messages.length;
      await server.request('account/rateLimits/read');
      await server.waitFor(routingReady, 'workspaceRoutingReady after the retry', 15000, from);
      expect(backend.calls('/wham/accounts/check').length).toBe(checks + 1);
      expect((await server.request('account/read', {})).result.workspaceRouting).toEqual(ROUTING_1);
    });
  }

  it('lists no session when logged out, one when managed (the selected workspace, or all with refreshWorkspaceMetadata)', async () => {
    const backend = own.server(await startFakeChatgptBackend({ accountsCheck: { body: TWO_WORKSPACES } }));
    const loggedOut = own.process(await AppServerProcess.started({ codexHome: own.home(config(backend.origin)).dir }));
    expect((await loggedOut.request('accountSession/list', {})).result).toEqual({ activeSessionId: null, sessions: [] });

    const { server } = await managed({ accountsCheck: { body: TWO_WORKSPACES } });
    await server.waitFor(routingReady, 'workspaceRoutingReady');
    const session = { sessionId: 'user-1', email: 'ada@example.com', userId: 'user-1', displayName: null, imageUrl: null, isActive: true, selectedWorkspaceAccountId: 'acct-1' };
    const plain = (await server.request('accountSession/list', {})).result;
    expect(plain).toEqual({
      activeSessionId: 'user-1',
      sessions: [{ ...session, lastUsedAt: expect.any(Number), workspaces: [{ accountId: 'acct-1', name: null, imageUrl: null, kind: null }] }],
    });
    expect((await server.request('accountSession/list', { refreshWorkspaceMetadata: true })).result.sessions[0].workspaces).toEqual([
      { accountId: 'acct-1', name: 'Personal', imageUrl: null, kind: 'personal' },
      { accountId: 'acct-2', name: 'Team Two', imageUrl: null, kind: 'workspace' },
    ]);
  });

  it('refuses switches in Codex’s order and words; switching to the current workspace does nothing', async () => {
    const backend = own.server(await startFakeChatgptBackend({ accountsCheck: { body: TWO_WORKSPACES } }));
    const loggedOut = own.process(await AppServerProcess.started({ codexHome: own.home(config(backend.origin)).dir }));
    const refusal = async (server: AppServerProcess, params: unknown) => (await server.request('accountSession/switch', params)).error;
    expect(await refusal(loggedOut, { sessionId: 'user-1', accountId: 'acct-2' })).toEqual({ code: -32600, message: 'Workspace switching requires a managed ChatGPT login' });

    const { server } = await managed({ accountsCheck: { body: TWO_WORKSPACES } });
    await server.waitFor(routingReady, 'workspaceRoutingReady');
    expect(await refusal(server, { sessionId: 'user-2', accountId: '' })).toEqual({ code: -32600, message: 'Only the active managed account session can be switched' });
    expect(await refusal(server, { sessionId: 'user-1', accountId: '' })).toEqual({ code: -32600, message: 'accountId must not be empty' });
    expect(await refusal(server, { sessionId: 'user-1', accountId: 'acct-7' })).toEqual({ code: -32600, message: 'The selected workspace is unavailable' });
    const from = server.messages.length;
    const same = await server.request('accountSession/switch', { sessionId: 'user-1', accountId: 'acct-1' });
    expect(same.result.sessions[0].selectedWorkspaceAccountId).toBe('acct-1');
    expect(server.since(from).filter((m) => 'method' in m)).toEqual([]);
    expect(backend.calls('/accounts/switch-workspace-token')).toEqual([]);
  });

  it('refuses a workspace outside forced_chatgpt_workspace_id without a network call', async () => {
    const { backend, server } = await managed({ accountsCheck: { body: TWO_WORKSPACES } }, ['forced_chatgpt_workspace_id = ["acct-1", "acct-3"]']);
    await server.waitFor(routingReady, 'workspaceRoutingReady');
    expect((await server.request('accountSession/switch', { sessionId: 'user-1', accountId: 'acct-2' })).error).toEqual({
      code: -32600,
      message: 'Login is restricted to workspace id(s) acct-1, acct-3.',
    });
    expect(backend.calls('/accounts/switch-workspace-token')).toEqual([]);
  });

  it('switches: account/updated before the response, tokens saved (they survive a restart), discovery again, new credentials on later calls', async () => {
    const { backend, home, server } = await managed({ accountsCheck: { body: TWO_WORKSPACES } });
    await server.waitFor(routingReady, 'workspaceRoutingReady');
    const from = server.messages.length;
    const switched = await server.request('accountSession/switch', { sessionId: 'user-1', accountId: 'acct-2' });
    const after = server.since(from);
    const responseAt = after.findIndex((m) => m.id === switched.id);
    expect(after.slice(0, responseAt).map((m) => [m.method, m.params])).toEqual([['account/updated', { authMode: 'chatgpt', planType: 'team', reason: null }]]);
    expect(switched.result.sessions[0]).toMatchObject({ sessionId: 'user-1', selectedWorkspaceAccountId: 'acct-2' });
    // The exchange carried the old bearer and named the workspace in its body.
    const [exchange] = backend.calls('/accounts/switch-workspace-token');
    expect([bearerOf(exchange), JSON.parse(exchange.body)]).toEqual([LOGIN.accessToken, { workspace_id: 'acct-2' }]);
    const tokens = switchedTokens('acct-2');
    expect(readAuthJson(home.dir).tokens).toEqual({ id_token: tokens.id_token, access_token: tokens.access_token, refresh_token: tokens.refresh_token, account_id: 'acct-2' });
    await server.waitFor(routingReady, 'workspaceRoutingReady after the switch', 15000, from);
    expect((await server.request('account/read', {})).result).toMatchObject({ account: { workspaceName: 'Team Two', planType: 'team' }, workspaceRouting: ROUTING_2 });
    await server.request('account/rateLimits/read');
    expect(backend.calls('/wham/usage').map((r) => [bearerOf(r), r.headers['chatgpt-account-id']])).toEqual([[tokens.access_token, 'acct-2']]);

    server.kill();
    const again = own.process(await AppServerProcess.started({ codexHome: home.dir }));
    await again.request('account/rateLimits/read');
    expect(backend.calls('/wham/usage').map((r) => [bearerOf(r), r.headers['chatgpt-account-id']]).at(-1)).toEqual([tokens.access_token, 'acct-2']);
  });

  it('keeps the workspace of tokens.account_id when the exchange returns no id_token', async () => {
    const tokens = switchedTokens('acct-2');
    const { backend, home, server } = await managed({ accountsCheck: { body: TWO_WORKSPACES }, switchReply: { status: 200, body: { access_token: tokens.access_token, refresh_token: tokens.refresh_token } } });
    await server.waitFor(routingReady, 'workspaceRoutingReady');
    await server.request('accountSession/switch', { sessionId: 'user-1', accountId: 'acct-2' });
    expect(readAuthJson(home.dir).tokens).toMatchObject({ id_token: LOGIN.idToken, account_id: 'acct-2', access_token: tokens.access_token });
    server.kill();
    const again = own.process(await AppServerProcess.started({ codexHome: home.dir }));
    await again.request('account/rateLimits/read');
    expect(backend.calls('/wham/usage').at(-1)!.headers['chatgpt-account-id']).toBe('acct-2');
  });

  it('answers a refused exchange with Codex’s text, or starts the browser login when allowBrowserLogin is set', async () => {
    const { backend, home, server } = await managed({ accountsCheck: { body: TWO_WORKSPACES }, switchReply: { status: 403, body: { detail: 'sso required' } } });
    await server.waitFor(routingReady, 'workspaceRoutingReady');
    const before = readAuthJson(home.dir);
    expect((await server.request('accountSession/switch', { sessionId: 'user-1', accountId: 'acct-2' })).error).toEqual({
      code: -32600,
      message: 'Workspace switch was rejected (HTTP 403 Forbidden)',
    });
    expect(readAuthJson(home.dir)).toEqual(before);
    const browser = await server.request('accountSession/switch', { sessionId: 'user-1', accountId: 'acct-2', allowBrowserLogin: true });
    expect(browser.result).toEqual({ loginId: expect.stringMatching(/^[0-9a-f-]{36}$/), authUrl: expect.stringContaining(`${backend.origin}/oauth/authorize?`) });
    expect((await server.request('account/login/cancel', { loginId: browser.result.loginId })).result).toEqual({ status: 'canceled' });
  });
});

/** Resolves once the server's stderr holds `text` (waits for the server's own words, not for time). */
async function waitForStderr(server: AppServerProcess, text: string): Promise<void> {
  if (server.stderr.includes(text)) return;
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (!server.stderr.includes(text)) return;
      server.child.stderr.off('data', onData);
      resolve();
    };
    server.child.stderr.on('data', onData);
    void server.exited.then(() => reject(new Error(`the server exited before logging ${JSON.stringify(text)}:\n${server.stderr}`)));
  });
}

describe('authchart status names the workspace (issue 14)', () => {
  const own = trackResources();

  it('shows the workspace name when discovery answers, in text and in --json', async () => {
    const backend = own.server(await startFakeChatgptBackend({ accountsCheck: { body: TWO_WORKSPACES } }));
    const home = own.home(`chatgpt_base_url = "${backend.origin}/backend-api/"\n`);
    writeAuthJson(home.dir, LOGIN, { accountId: 'acct-1' });
    const text = await runCli(['status', '--codex-home', home.dir]);
    expect(text.stdout).toContain('  account id: acct-1\n  workspace:  Personal\n');
    const json = JSON.parse((await runCli(['status', '--json', '--codex-home', home.dir])).stdout);
    expect(json).toMatchObject({ authMode: 'chatgpt', accountId: 'acct-1', workspaceName: 'Personal' });
  });
});

/** Runs the real bin with `args`; resolves with its exit code and output. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }));
  });
}

/**
 * Workspace discovery (docs/protocol.md §12.1) against a loopback backend: the routing of the login's
 * workspace, every failure in Codex's words, the 5xx retry, timeouts and the 401 recovery. An in-process
 * core logged in with external tokens, the test answering the refreshes as the parent would.
 */
import { AuthCallError, AuthCore } from '../../src/auth/core';
import { EphemeralCredentialStore } from '../../src/auth/credentials';
import { decodeExternalTokens } from '../../src/auth/externalTokens';
import { WorkspaceDiscoveryError, accountsCheckUrl, discoverWorkspace, resolveWorkspaceRouting } from '../../src/auth/workspaces';
import { parseConfig } from '../../src/config';
import { accountsCheckBody, discoveryFailures, startFakeChatgptBackend, workspaceEntry, type FakeChatgptBackend } from '../support/chatgptBackend';
import { bearerOf, startFakeServer } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const OLD = chatgptJwt({ accountId: 'ws-2', userId: 'user-1', extra: { n: 'old' } });
const NEW = chatgptJwt({ accountId: 'ws-2', userId: 'user-1', extra: { n: 'new' } });
const BASE = 'https://chatgpt.com/backend-api/';

const PERSONAL = workspaceEntry('ws-1', 'Ada', { structure: 'personal', plan_type: 'plus' });
const TEAM = workspaceEntry('ws-2', 'Analytical Engines', { workspace_backend_origin: 'https://eu.chatgpt.com', account_routing_override: 'us' });
const LAB = workspaceEntry('ws-3', 'Lab', { structure: null, name: null });

/** The WorkspaceDiscoveryError `run` throws (or undefined). */
function thrown(run: () => unknown): WorkspaceDiscoveryError | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof WorkspaceDiscoveryError) return error;
    throw error;
  }
  return undefined;
}

describe('workspace discovery: validation (pure)', () => {
  it('resolves the routing and name of the login’s workspace and lists every workspace in account_ordering order', () => {
    const body = { ...accountsCheckBody([PERSONAL, TEAM, LAB]), account_ordering: ['ws-3', 'ws-1'] };
    expect(resolveWorkspaceRouting(body, 'ws-2', BASE)).toEqual({
      routing: { chatgptAccountId: 'ws-2', backendOrigin: 'https://eu.chatgpt.com', accountRoutingOverride: 'us' },
      workspaceName: 'Analytical Engines',
      workspaces: [
        { accountId: 'ws-3', name: null, planType: 'team', kind: null },
        { accountId: 'ws-1', name: 'Ada', planType: 'plus', kind: 'personal' },
        { accountId: 'ws-2', name: 'Analytical Engines', planType: 'team', kind: 'workspace' },
      ],
    });
  });

  it('routes a workspace without a backend of its own to the configured backend’s origin', () => {
    const body = accountsCheckBody([workspaceEntry('ws-1', 'Ada', { workspace_backend_origin: 'NO_CONSTRAINT', account_routing_override: 'us_cr' })]);
    expect(resolveWorkspaceRouting(body, 'ws-1', BASE).routing).toEqual({ chatgptAccountId: 'ws-1', backendOrigin: 'https://chatgpt.com', accountRoutingOverride: 'us_cr' });
  });

  it.each([
    ['the workspace is not listed', [PERSONAL], 'selected workspace missing from routing discovery'],
    ['the workspace is listed twice', [TEAM, TEAM], 'duplicate workspace in routing discovery'],
    ['it has no backend origin', [{ ...TEAM, workspace_backend_origin: null }], 'workspace routing discovery missing backend origin'],
    ['its backend is plain http', [{ ...TEAM, workspace_backend_origin: 'http://eu.chatgpt.com' }], 'workspace backend must use an HTTPS origin without credentials'],
    ['its backend carries credentials', [{ ...TEAM, workspace_backend_origin: 'https://ada:pw@eu.chatgpt.com' }], 'workspace backend must use an HTTPS origin without credentials'],
    ['its backend has a path', [{ ...TEAM, workspace_backend_origin: 'https://eu.chatgpt.com/backend-api' }], 'workspace routing discovery must return an origin'],
    ['its backend is not a URL', [{ ...TEAM, workspace_backend_origin: 'eu.chatgpt.com' }], 'invalid workspace backend URL'],
    ['its routing override is unknown', [{ ...TEAM, account_routing_override: 'eu' }], 'workspace routing discovery has invalid account routing override'],
    ['its routing override is missing', [{ ...TEAM, account_routing_override: undefined }], 'workspace routing discovery has invalid account routing override'],
  ])('fails in Codex’s words when %s', (_what, entries, message) => {
    expect(thrown(() => resolveWorkspaceRouting(accountsCheckBody(entries), 'ws-2', BASE))?.message).toBe(message);
  });

  it('fails for a body of the wrong shape and for a login without an account id, naming what is wrong in the detail', () => {
    expect(thrown(() => resolveWorkspaceRouting({ accounts: 'none' }, 'ws-2', BASE))).toMatchObject({
      message: 'workspace routing discovery failed',
      detail: expect.stringMatching(/^the backend answered an unexpected body \(accounts: /),
    });
    expect(thrown(() => resolveWorkspaceRouting(accountsCheckBody([TEAM]), null, BASE))?.message).toBe('workspace routing requires a ChatGPT account id');
  });

  it('asks at /wham/accounts/check, or /api/codex/accounts/check for a Codex API base URL', () => {
    expect(accountsCheckUrl(BASE)).toBe('https://chatgpt.com/backend-api/wham/accounts/check');
    expect(accountsCheckUrl('http://127.0.0.1:9/')).toBe('http://127.0.0.1:9/api/codex/accounts/check');
  });
});

describe('workspace discovery: the backend call', () => {
  const own = trackResources();
  let core: AuthCore | undefined;
  let refreshes = 0;
  afterEach(() => core?.stop());

  async function setUp(backendOptions: Parameters<typeof startFakeChatgptBackend>[0]): Promise<{ backend: FakeChatgptBackend; base: string; c: AuthCore }> {
    const backend = own.server(await startFakeChatgptBackend(backendOptions));
    // The login's own background discovery goes to a backend of its own (and fails there, unobserved):
    // the calls these tests count are the ones they make.
    const configured = own.server(await startFakeServer(() => ({ status: 404 })));
    const config = await parseConfig(`chatgpt_base_url = "${configured.origin}/backend-api/"\n`, '/nonexistent-codex-home', {});
    refreshes = 0;
    core = await AuthCore.open({
      config,
      store: new EphemeralCredentialStore(),
      requestParent: async () => {
        refreshes += 1;
        return { accessToken: NEW, chatgptAccountId: 'ws-2' };
      },
    });
    const decoded = decodeExternalTokens({ accessToken: OLD, chatgptAccountId: 'ws-2' });
    if (!decoded.ok) throw new Error(decoded.issues);
    await core.command({ type: 'login.externalTokens', tokens: decoded.tokens, claims: decoded.claims });
    return { backend, base: `${backend.origin}/backend-api/`, c: core };
  }

  const failureOf = (promise: Promise<unknown>) => promise.then(() => null, (error: Error & { detail?: string }) => ({ name: error.name, message: error.message, detail: error.detail }));

  it('GETs accounts/check with the login’s bearer and account id and resolves its workspace', async () => {
    const { backend, base, c } = await setUp({ accountsCheck: { body: accountsCheckBody([PERSONAL, TEAM]) } });
    const discovery = await discoverWorkspace(c, base, 'ws-2');
    expect(discovery.routing).toEqual({ chatgptAccountId: 'ws-2', backendOrigin: 'https://eu.chatgpt.com', accountRoutingOverride: 'us' });
    expect(discovery.workspaceName).toBe('Analytical Engines');
    expect(backend.calls('accounts/check').map((r) => [r.method, r.path, bearerOf(r), r.headers['chatgpt-account-id']])).toEqual([
      ['GET', '/backend-api/wham/accounts/check', OLD, 'ws-2'],
    ]);
  });

  it.each(Object.entries(discoveryFailures('ws-2')))('fails over the wire with Codex’s text when the backend gives %s', async (_what, { behaviour, message }) => {
    const { base, c } = await setUp({ accountsCheck: behaviour });
    expect(await failureOf(discoverWorkspace(c, base, 'ws-2'))).toMatchObject({ name: 'WorkspaceDiscoveryError', message });
  });

  it('retries a 5xx once and takes the second answer', async () => {
    const { backend, base, c } = await setUp({ accountsCheck: { statuses: [503, 200], body: accountsCheckBody([TEAM]) } });
    expect((await discoverWorkspace(c, base, 'ws-2')).workspaceName).toBe('Analytical Engines');
    expect(backend.calls('accounts/check')).toHaveLength(2);
  });

  it('fails after a second 5xx', async () => {
    const { backend, base, c } = await setUp({ accountsCheck: { statuses: [502] } });
    expect(await failureOf(discoverWorkspace(c, base, 'ws-2'))).toMatchObject({ message: 'workspace routing discovery failed', detail: expect.stringMatching(/answered 502 twice$/) });
    expect(backend.calls('accounts/check')).toHaveLength(2);
  });

  it('does not retry a 4xx', async () => {
    const { backend, base, c } = await setUp({ accountsCheck: { statuses: [404] } });
    expect(await failureOf(discoverWorkspace(c, base, 'ws-2'))).toMatchObject({ message: 'workspace routing discovery failed', detail: expect.stringMatching(/answered 404$/) });
    expect(backend.calls('accounts/check')).toHaveLength(1);
  });

  it('recovers a 401 through the parent’s refresh and retries with the new token', async () => {
    const { backend, base, c } = await setUp({ accepts: (token) => token === NEW, accountsCheck: { body: accountsCheckBody([TEAM]) } });
    expect((await discoverWorkspace(c, base, 'ws-2')).workspaceName).toBe('Analytical Engines');
    expect(backend.calls('accounts/check').map(bearerOf)).toEqual([OLD, NEW]);
    expect(refreshes).toBe(1);
  });

  it('fails as unauthorized when the refreshed token is refused too', async () => {
    const { base, c } = await setUp({ accepts: () => false });
    expect(await failureOf(discoverWorkspace(c, base, 'ws-2'))).toMatchObject({ message: 'workspace routing discovery unauthorized (401)' });
  });

  it('times out on a backend that hangs, and ends when its signal aborts', async () => {
    const { backend, base, c } = await setUp({ accountsCheck: 'hang' });
    expect(await failureOf(discoverWorkspace(c, base, 'ws-2', { timeoutMs: 50 }))).toMatchObject({ message: 'workspace routing discovery timed out' });
    const controller = new AbortController();
    const pending = failureOf(discoverWorkspace(c, base, 'ws-2', { signal: controller.signal }));
    await backend.held();
    controller.abort();
    expect(await pending).toMatchObject({ name: 'WorkspaceDiscoveryError', message: 'workspace routing discovery timed out' });
  });

  it('passes on the chart’s refusal when nobody is logged in', async () => {
    const { base, c } = await setUp({});
    await c.command({ type: 'logout' });
    const error = await discoverWorkspace(c, base, 'ws-2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthCallError);
    expect(error).toMatchObject({ code: -32600, message: 'codex account authentication required to discover the workspace' });
  });
});

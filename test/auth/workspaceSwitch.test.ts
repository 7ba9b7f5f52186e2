/**
 * Workspace switching, the effect side (issue 14; §12.4 of the shared spec): the token exchange against a loopback
 * backend that accepts only listed workspaces, the validation of its answer, and the pure builders of
 * the `accountSession/list` result.
 */
import {
  NO_SESSIONS,
  WorkspaceSwitchError,
  buildSessionList,
  exchangeWorkspaceTokenWith,
  parseSwitchResponse,
  switchWorkspaceTokenUrl,
  switchedCredentials,
  type AccountSessionList,
} from '../../src/auth/workspaceSwitch';
import { resolveWorkspaceRouting } from '../../src/auth/workspaces';
import { Secret } from '../../machines/secret';
import { workspaceListed } from '../../machines/policy';
import { AccountSessionListResultSchema, type AccountSessionListResult } from '../../src/rpc/schemas';
import { accountsCheckBody, startFakeChatgptBackend, switchedTokens, workspaceEntry, type ChatgptBackendOptions } from '../support/chatgptBackend';
import { bearerOf } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const PERSONAL = workspaceEntry('ws-1', 'Ada', { structure: 'personal' });
const TEAM = workspaceEntry('ws-2', 'Analytical Engines');
const DISCOVERY = resolveWorkspaceRouting(accountsCheckBody([PERSONAL, TEAM]), 'ws-1', 'https://chatgpt.com/backend-api/');
const ACCOUNT = { email: 'ada@example.com', planType: 'plus' as const, accountId: 'ws-1', userId: 'user-1' };

// The builders' types and the wire schema describe the same shape.
const sameShape: AccountSessionListResult = NO_SESSIONS satisfies AccountSessionList;
void sameShape;

const failureOf = (promise: Promise<unknown>) => promise.then(() => null, (error: Error & { code?: number }) => ({ name: error.name, code: error.code, message: error.message }));

describe('workspace switch: the answer of the exchange (pure)', () => {
  it('takes the account from the id token, and the tokens as secrets', () => {
    const answer = switchedTokens('ws-2');
    const switched = parseSwitchResponse(answer, 'ws-2');
    expect(switched.account).toEqual({ email: 'ada@example.com', planType: 'team', accountId: 'ws-2', userId: 'user-1' });
    expect([switched.tokens.idToken?.reveal(), switched.tokens.accessToken.reveal(), switched.tokens.refreshToken.reveal()]).toEqual([
      answer.id_token,
      answer.access_token,
      answer.refresh_token,
    ]);
    expect(JSON.stringify(switched)).not.toContain(answer.refresh_token);
  });

  it('reads the account from the access token when there is no id token', () => {
    const { id_token: _none, ...answer } = switchedTokens('ws-2');
    const switched = parseSwitchResponse(answer, 'ws-2');
    expect(switched.tokens.idToken).toBeNull();
    expect(switched.account).toMatchObject({ accountId: 'ws-2', userId: 'user-1' });
  });

  it.each([
    ['no refresh token', { access_token: switchedTokens('ws-2').access_token }, 'Workspace switch returned an invalid response: refresh_token must be a non-empty string'],
    ['an access token that is not a JWT', { access_token: 'opaque', refresh_token: 'rt' }, 'Workspace switch returned an invalid response: token must have three dot-separated segments, found 1'],
    ['tokens of another workspace', { ...switchedTokens('ws-3') }, 'Workspace switch returned workspace "ws-3", expected "ws-2"'],
    ['a body that is not an object', ['tokens'], 'Workspace switch returned an invalid response: not a JSON object'],
  ])('refuses an answer with %s (-32603)', (_what, body, message) => {
    let error: unknown;
    try {
      parseSwitchResponse(body, 'ws-2');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(WorkspaceSwitchError);
    expect(error).toMatchObject({ code: -32603, message });
  });

  it('makes the switched login: new tokens, the workspace as account_id, a fresh last_refresh, the API key kept', () => {
    const current = {
      tokens: { idToken: new Secret('old-id'), accessToken: new Secret('old-at'), refreshToken: new Secret('old-rt'), accountId: 'ws-1' },
      lastRefresh: '2026-01-01T00:00:00.000Z',
      apiKey: new Secret('sk-kept'),
    };
    const answer = switchedTokens('ws-2');
    const merged = switchedCredentials(current, parseSwitchResponse(answer, 'ws-2'), new Date(Date.UTC(2026, 5, 1)));
    expect([merged.tokens.idToken.reveal(), merged.tokens.accessToken.reveal(), merged.tokens.refreshToken.reveal(), merged.tokens.accountId]).toEqual([
      answer.id_token,
      answer.access_token,
      answer.refresh_token,
      'ws-2',
    ]);
    expect([merged.lastRefresh, merged.apiKey?.reveal()]).toEqual(['2026-06-01T00:00:00.000Z', 'sk-kept']);
    const { id_token: _none, ...withoutId } = answer;
    expect(switchedCredentials(current, parseSwitchResponse(withoutId, 'ws-2'), new Date()).tokens.idToken.reveal()).toBe('old-id');
  });

  it('posts to {chatgpt_base_url}/accounts/switch-workspace-token', () => {
    expect(switchWorkspaceTokenUrl('https://chatgpt.com/backend-api/')).toBe('https://chatgpt.com/backend-api/accounts/switch-workspace-token');
    expect(switchWorkspaceTokenUrl('https://chatgpt.com')).toBe('https://chatgpt.com/backend-api/accounts/switch-workspace-token');
  });
});

describe('workspace switch: the exchange over the loopback backend (as the chart\'s switchWorkspace effect makes it)', () => {
  const own = trackResources();
  const OLD = chatgptJwt({ accountId: 'ws-1', userId: 'user-1', extra: { n: 'old' } });

  async function setUp(options: ChatgptBackendOptions) {
    const backend = own.server(await startFakeChatgptBackend({ accountsCheck: { body: accountsCheckBody([PERSONAL, TEAM]) }, ...options }));
    return { backend, base: `${backend.origin}/backend-api/` };
  }
  const exchange = (base: string, workspaceId: string) => exchangeWorkspaceTokenWith(new Secret(OLD), base, workspaceId);

  it('exchanges the bearer in use (no account header, as Codex) for tokens of a listed workspace', async () => {
    const { backend, base } = await setUp({});
    const switched = await exchange(base, 'ws-2');
    expect(switched.account.accountId).toBe('ws-2');
    expect(switched.tokens.accessToken.reveal()).toBe(switchedTokens('ws-2').access_token);
    expect(backend.calls('switch-workspace-token').map((r) => [r.method, r.path, bearerOf(r), r.headers['chatgpt-account-id'], r.headers['content-type'], JSON.parse(r.body)])).toEqual([
      ['POST', '/backend-api/accounts/switch-workspace-token', OLD, undefined, 'application/json', { workspace_id: 'ws-2' }],
    ]);
  });

  it('answers -32600 "Workspace switch was rejected (HTTP 403 Forbidden)" when the backend refuses the workspace', async () => {
    const { base } = await setUp({});
    expect(await failureOf(exchange(base, 'ws-9'))).toEqual({ name: 'WorkspaceSwitchError', code: -32600, message: 'Workspace switch was rejected (HTTP 403 Forbidden)' });
  });

  it('answers a backend failure as a rejection too, as Codex 0.169 does', async () => {
    const { base } = await setUp({ switchReply: { status: 502, body: { detail: 'bad gateway' } } });
    expect(await failureOf(exchange(base, 'ws-2'))).toEqual({ name: 'WorkspaceSwitchError', code: -32600, message: 'Workspace switch was rejected (HTTP 502 Bad Gateway)' });
  });

  it('answers -32603 when the backend cannot be reached', async () => {
    const { backend, base } = await setUp({});
    await backend.close();
    expect(await failureOf(exchange(base, 'ws-2'))).toEqual({ name: 'WorkspaceSwitchError', code: -32603, message: 'Workspace switch failed: ECONNREFUSED' });
  });

  it('answers a 401 as a rejection without refreshing in the middle of the switch (the next ordinary call recovers)', async () => {
    const { backend, base } = await setUp({ accepts: (token) => token !== OLD });
    expect(await failureOf(exchange(base, 'ws-2'))).toEqual({ name: 'WorkspaceSwitchError', code: -32600, message: 'Workspace switch was rejected (HTTP 401 Unauthorized)' });
    expect(backend.calls('switch-workspace-token').map(bearerOf)).toEqual([OLD]);
  });
});

describe('accountSession/list (pure)', () => {
  const list = (input: Partial<Parameters<typeof buildSessionList>[0]>) =>
    buildSessionList({ account: ACCOUNT, discovery: DISCOVERY, allWorkspaces: false, lastUsedAt: 1767225600, ...input });

  it('lists no session outside managed mode or for a login without a user id', () => {
    expect(list({ account: null })).toEqual({ activeSessionId: null, sessions: [] });
    expect(list({ account: { ...ACCOUNT, userId: null } })).toEqual(NO_SESSIONS);
  });

  it('lists one session keyed by the user id, with the selected workspace only and no metadata (as Codex 0.169)', () => {
    const result = list({});
    expect(result).toEqual({
      activeSessionId: 'user-1',
      sessions: [
        {
          sessionId: 'user-1',
          email: 'ada@example.com',
          userId: 'user-1',
          displayName: null,
          imageUrl: null,
          lastUsedAt: 1767225600,
          isActive: true,
          selectedWorkspaceAccountId: 'ws-1',
          workspaces: [{ accountId: 'ws-1', name: null, imageUrl: null, kind: null }],
        },
      ],
    });
    expect(AccountSessionListResultSchema.safeParse(result).success).toBe(true);
  });

  it('lists every discovered workspace with refreshWorkspaceMetadata, structure as kind', () => {
    expect(list({ allWorkspaces: true }).sessions[0].workspaces).toEqual([
      { accountId: 'ws-1', name: 'Ada', imageUrl: null, kind: 'personal' },
      { accountId: 'ws-2', name: 'Analytical Engines', imageUrl: null, kind: 'workspace' },
    ]);
  });

  it('still lists the selected workspace when no discovery succeeded yet', () => {
    expect(list({ discovery: null, allWorkspaces: true }).sessions[0].workspaces).toEqual([{ accountId: 'ws-1', name: null, imageUrl: null, kind: null }]);
  });

  it('tells whether a workspace may be selected: the one in use, or one the last discovery listed (the chart\'s rule)', () => {
    const listed = DISCOVERY.workspaces;
    expect([workspaceListed('ws-1', listed, 'ws-2'), workspaceListed('ws-1', listed, 'ws-9'), workspaceListed('ws-1', null, 'ws-1'), workspaceListed('ws-1', null, 'ws-2')]).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });
});

/**
 * The chart inputs the suite walks (fixtures), each with the CODEX_HOME and config.toml that give the
 * real app-server the same input, and which requests and environment choices each one replays.
 */
import type { AccountInfo, AuthPolicy } from '../../machines/types';
import type { AuthSnapshot } from '../../machines/views';
import { issuedTokens } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { DEVICE_CODE_ISSUED, FAR_EXP, LOGIN_LISTENS, LOGIN_PORT_TAKEN, LOGIN_TIMES_OUT, PAST_EXP, isTimer, type Fixture } from './vocabulary';

const POLICY: AuthPolicy = {
  forcedLoginMethod: null,
  forcedWorkspaceIds: null,
  externalRefreshTimeoutMs: 10_000,
  proactiveRefreshSkewSeconds: 300,
  loginTimeoutMs: 600_000,
};
const policy = (over: Partial<AuthPolicy> = {}): AuthPolicy => ({ ...POLICY, ...over });

/**
 * The event-level exploration of the logged-out fixtures leaves a discovery running once a ChatGPT login
 * is in: discovery's outcomes (and what follows them: known, stale, retried) are explored from the
 * restored managed login, where the workspace region starts discovering. Without this the product of the
 * workspace region with every managed-login step multiplies the graph by ~4 (11 421 states for `fresh`).
 */
const discoveryRunsOn = (label: string) => label !== 'workspace discovered' && label !== 'workspace discovery fails';
/**
 * Discovery's outcomes, and what they open (a known or stale routing, switches to a listed workspace),
 * are explored and replayed from a restored managed login of their own with the requests that meet the
 * workspace region: backend calls (a stale discovery is retried), logout (it is forgotten), a browser
 * login in the same workspace (it is rediscovered), and the switches. Other logins are explored from `fresh`.
 */
const workspaceStory = (label: string) =>
  !/^(login\.(deviceCode|externalTokens|apiKey|cancel)|account\/rateLimits\/read ×2|issuer signs in another workspace)/.test(label);
/**
 * An external login's workspace: its discovery's outcomes, then 401s the parent answers with tokens of the
 * same workspace (the routing stays known) or of another one (it is discovered again), explored from a
 * logged-out start with nothing else (the managed login's story is `restored chatgpt, workspaces`).
 */
const externalWorkspaceStory = (label: string) =>
  /^(login\.externalTokens\(A: ada, plus, acct-A\)|workspace discover|account\/rateLimits\/read$|backend(\.call| 200| 401)$|parent refreshes|logout$|cleared$)/.test(label);
/** A managed login started (`start`, then `started`) and left to time out: nothing else while it is pending. */
const onlyTheTimeout =
  (start: string, started: string) =>
  (label: string, snapshot: AuthSnapshot): boolean =>
    snapshot.matches({ managedLogin: 'active' }) ? ['login times out', LOGIN_TIMES_OUT].includes(label) : [start, started].includes(label);
/** The requests replayed by default: everything but timers and a taken login port (they need a fixture of their own). */
const byDefault = (label: string) => !isTimer(label) && label !== LOGIN_PORT_TAKEN;
/** The same split for requests: discovery is released only from the restored managed login. */
const discoveryHeld = (label: string) => byDefault(label) && label !== 'workspace discovery ends';

/** The managed login the `restored chatgpt` fixtures start with (the token endpoint's round 0 refresh token). */
const RESTORED_ACCOUNT: AccountInfo = { email: 'rita@example.com', planType: 'pro', accountId: 'acct-R', userId: 'user-rita' };
const RESTORED_LAST_REFRESH = '2026-01-29T23:46:04.123Z';

function restoredChatgpt(exp: number): Pick<Fixture, 'input' | 'authJson'> {
  return {
    input: {
      policy: policy(),
      restored: { mode: 'chatgpt', account: RESTORED_ACCOUNT, timing: { expiresAt: exp * 1000, lastRefreshAt: Date.parse(RESTORED_LAST_REFRESH) } },
    },
    authJson: {
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: {
        id_token: chatgptJwt({ email: 'rita@example.com', plan: 'pro', accountId: 'acct-R', userId: 'user-rita' }),
        access_token: chatgptJwt({ accountId: 'acct-R', exp, extra: { restored: true } }),
        refresh_token: issuedTokens(0).refreshToken,
        account_id: 'acct-R',
      },
      last_refresh: RESTORED_LAST_REFRESH,
    },
  };
}


/** The chart inputs the suite walks, each with the CODEX_HOME that produces it. */
export const FIXTURES: Fixture[] = [
  { name: 'fresh', input: { policy: policy(), restored: null }, explores: discoveryRunsOn, allows: discoveryHeld },
  {
    name: 'restored apiKey',
    input: { policy: policy(), restored: { mode: 'apiKey' } },
    authJson: { auth_mode: 'apikey', OPENAI_API_KEY: 'sk-restored-model' },
    explores: discoveryRunsOn,
    allows: discoveryHeld,
  },
  { name: 'restored chatgpt', ...restoredChatgpt(FAR_EXP), simplePaths: false, explores: discoveryRunsOn, allows: discoveryHeld },
  {
    name: 'restored chatgpt, workspaces',
    ...restoredChatgpt(FAR_EXP),
    simplePaths: false,
    // Into a switch under way every command is tried (each is refused as busy: model-only, AuthCore waits).
    explores: (label, snapshot) => workspaceStory(label) || snapshot.matches({ session: 'switchingWorkspace' }),
    allows: (label) => byDefault(label) && workspaceStory(label),
  },
  {
    name: 'external tokens, workspaces',
    input: { policy: policy(), restored: null },
    simplePaths: false,
    explores: externalWorkspaceStory,
    allows: (label) => byDefault(label) && externalWorkspaceStory(label),
  },
  {
    // Only what a token already expired at start-up changes: backend calls refresh first.
    name: 'restored chatgpt, token expired',
    ...restoredChatgpt(PAST_EXP),
    simplePaths: false,
    exploreEvents: false,
    // Its discovery stays held: the start-up discovery's call may reach the chart before or after the first
    // request's refresh (a race the model does not pick), and discovery's outcomes are replayed above.
    allows: (label) => !isTimer(label) && !/^(login\.(externalTokens|chatgpt|cancel)|workspace discovery ends|accountSession\/switch)/.test(label),
  },
  {
    name: 'forced chatgpt login',
    input: { policy: policy({ forcedLoginMethod: 'chatgpt' }), restored: null },
    config: { top: ['forced_login_method = "chatgpt"'] },
    explores: discoveryRunsOn,
    allows: discoveryHeld,
  },
  {
    name: 'forced api login',
    input: { policy: policy({ forcedLoginMethod: 'api' }), restored: null },
    config: { top: ['forced_login_method = "api"'] },
  },
  {
    name: 'forced workspace',
    input: { policy: policy({ forcedWorkspaceIds: ['acct-A'] }), restored: null },
    config: { top: ['forced_chatgpt_workspace_id = "acct-A"'] },
    explores: discoveryRunsOn,
    allows: discoveryHeld,
  },
  {
    name: 'forced workspaces',
    input: { policy: policy({ forcedWorkspaceIds: ['acct-A', 'acct-B'] }), restored: null },
    config: { top: ['forced_chatgpt_workspace_id = ["acct-A", "acct-B"]'] },
    explores: discoveryRunsOn,
    allows: discoveryHeld,
  },
  // --- workspaces (issue 14) ---
  {
    // A managed login inside `forced_chatgpt_workspace_id`: a switch elsewhere meets the forced-workspace rule.
    name: 'restored chatgpt, forced workspace',
    ...restoredChatgpt(FAR_EXP),
    input: { ...restoredChatgpt(FAR_EXP).input, policy: policy({ forcedWorkspaceIds: ['acct-R'] }) },
    config: { top: ['forced_chatgpt_workspace_id = "acct-R"'] },
    simplePaths: false,
    exploreEvents: false,
    allows: (label) => /^(accountSession|workspace)/.test(label),
  },
  {
    // A browser that never comes back: only here, with a short timeout, and nothing else while it runs.
    // Long enough that the request starting the login is answered and read back well before it runs out.
    name: 'slow browser',
    input: { policy: policy({ loginTimeoutMs: 1500 }), restored: null },
    exploreEvents: false,
    config: { authchart: ['login_timeout_ms = 1500'] },
    allows: onlyTheTimeout('login.chatgpt', LOGIN_LISTENS),
  },
  {
    // A device code nobody enters: only here, with a short timeout, and nothing else while it runs.
    name: 'slow device',
    input: { policy: policy({ deviceLoginTimeoutMs: 1500 }), restored: null },
    exploreEvents: false,
    config: { authchart: ['device_login_timeout_ms = 1500'] },
    allows: onlyTheTimeout('login.deviceCode', DEVICE_CODE_ISSUED),
  },
  {
    // The login port is taken (by the test, for that request): only here, where the port is fixed.
    name: 'login port taken',
    input: { policy: policy(), restored: null },
    exploreEvents: false,
    fixedLoginPort: true,
    allows: (label) => ['login.chatgpt', LOGIN_PORT_TAKEN].includes(label),
  },
  {
    // A parent that never answers: only here, with a short timeout, so the rest of the suite never waits.
    name: 'slow parent',
    input: { policy: policy({ externalRefreshTimeoutMs: 300 }), restored: null },
    exploreEvents: false,
    config: { authchart: ['external_refresh_timeout_ms = 300'] },
    allows: (label) =>
      ['login.externalTokens(A: ada, plus, acct-A)', 'logout', 'cleared', 'account/rateLimits/read', 'backend 200', 'backend 401', 'timeout externalRefreshTimeout'].includes(label),
    simplePaths: false,
  },
];

/** Whether a fixture replays a wire action or environment choice from `snapshot`. */
export function fixtureAllows(fixture: Fixture, label: string, snapshot: AuthSnapshot): boolean {
  return fixture.allows ? fixture.allows(label, snapshot) : byDefault(label);
}

/** config.toml for a fixture, pointing the backend and the issuer at the fakes. */
export function configToml(fixture: Fixture, env: { backend: string; issuer: string; loginPort: number }): string {
  return [
    ...(fixture.config?.top ?? []),
    `chatgpt_base_url = ${JSON.stringify(`${env.backend}/backend-api/`)}`,
    '[authchart]',
    `issuer = ${JSON.stringify(env.issuer)}`,
    `token_url = ${JSON.stringify(`${env.issuer}/oauth/token`)}`,
    `login_port = ${fixture.fixedLoginPort ? env.loginPort : 0}`,
    // The model holds a discovery as long as a path needs (it has no discovery timeout): a long walk on a
    // loaded machine outlasted the 15 s default and the discovery ended on its own (stale) under the replay.
    'discovery_timeout_ms = 2147483647',
    ...(fixture.config?.authchart ?? []),
    '',
  ].join('\n');
}

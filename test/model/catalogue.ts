/**
 * The one catalogue the model-based tests are driven by. Two layers:
 *
 *   Stimuli: everything the chart can receive, generated from the snapshot at hand: COMMANDS (event
 *   generators keyed by event type, internal events included), ACTOR_RESULTS (keyed by invoke id) and
 *   TIMERS (keyed by delay). Each says where it can happen and how the real environment is made to
 *   produce it (a save that fails, a token endpoint that refuses, a parent that never answers).
 *
 *   Wire actions: the JSON-RPC requests a parent sends, each with a script that mirrors what the
 *   adapter makes the chart receive for it (a rate-limit read is a backend call, maybe a 401, a refresh,
 *   a retry) and the response the model prescribes. Where the environment decides (does the save fail?
 *   does the backend answer 401?), the script offers a choice and every option becomes its own path.
 *
 * When the chart grows, COMMANDS (keyed by AuthEvent['type']), ACTOR_RESULTS (keyed by the machine's
 * actor names) and TIMERS (keyed by its delays) stop compiling until the new things have generators,
 * and `catalogueGaps` names any descriptor, invoke or delay the catalogue cannot produce.
 */
import { createServer as createNetServer } from 'node:net';
import type { AnyEventObject } from 'xstate';
import type { AuthMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEmitted, AuthEvent, AuthInput, AuthPolicy } from '../../machines/types';
import { accountViewOf, type AuthSnapshot } from '../../machines/views';
import { USAGE_RESULT, issuedTokens } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { chartShape, descriptorMatches } from './chart';
import { blockCredentialFile, type ReplayEnv } from './env';
import { answerTo, type ModelStep } from './model';

export type { ReplayEnv } from './env';

/** Undoes an environment arrangement once the request it served is over. */
export type Undo = () => Promise<void>;

/** What kind of thing a stimulus is: it decides where replay can produce it. */
export type StimulusKind = 'command' | 'internal' | 'result' | 'timer';

/** One thing the chart can receive. */
export interface Stimulus {
  /** Short name used in path descriptions (test names). */
  label: string;
  kind: StimulusKind;
  /** The event's type. */
  type: string;
  /** The request key, for commands (the chart answers it). */
  req?: number;
  /** The event, for the snapshot it is sent in (a 401 names the credential generation in use). */
  event(snapshot: AuthSnapshot): AnyEventObject;
  /** Where it can happen at all: an actor's result while the actor runs, a timer while it is armed. */
  available(snapshot: AuthSnapshot): boolean;
  /** Makes the real environment produce it during the request that holds it; returns the undo. */
  arrange?(env: ReplayEnv): Promise<Undo>;
  /** Token bytes it hands the server, which must never be found on disk. */
  secrets?: string[];
  /** Set when no real environment can produce it (then it is tried by the model only), with why. */
  unrealizable?: string;
  /** For an actor's result or message: the invoke id of the actor it comes from. */
  actor?: string;
}

/** One step of a path: the stimulus and what the model did with it. */
export interface PathStep {
  stimulus: Stimulus;
  model: ModelStep;
}

/** What the environment may do at a decision point of a wire action's script. */
export interface Choice {
  label: string;
  /** The stimulus the chart then receives; none when the choice is the quiet one (the backend answers 200). */
  stimulus?: Stimulus;
}

/** A wire action's script runs against this: the model at hand and the environment's choices. */
export interface Script {
  readonly snapshot: AuthSnapshot;
  send(stimulus: Stimulus): ModelStep;
  /**
   * The environment picks one option. With a `key`, a later choice under the same key repeats the first
   * one: the environment is arranged once per request (a token endpoint that refuses refuses every time).
   */
  choose(options: Choice[], key?: string): Choice;
  /** The action means nothing from here (e.g. two overlapping calls where no refresh can start). */
  skip(): never;
}

/** A response without its id. */
export type WireResponse = { result: unknown } | { error: { code: number; message: string } };

/** A request from the parent (or something the browser does), mapped to the chart. */
export interface WireAction {
  label: string;
  /** The JSON-RPC method; absent for a trigger (the environment acts and the server only notifies). */
  method?: string;
  params?: unknown;
  /** What the environment does instead of a request (the browser follows the authorize URL…). */
  trigger?(env: ReplayEnv): Promise<void>;
  /** Offered only in these states (the browser acts, or a login is cancelled, only while one is pending). */
  onlyIf?(snapshot: AuthSnapshot): boolean;
  /** The server runs it beside later requests (backend calls): read-backs must wait for its response. */
  concurrent?: boolean;
  /** Token bytes in the request, never to be found on disk. */
  secrets?: string[];
  /** What the adapter makes the chart receive for this request, from a settled snapshot. */
  script(run: Script): void;
  /** The response the model prescribes for the steps the script took; null when the model never answers. */
  response(steps: readonly PathStep[]): WireResponse | null;
  /**
   * A second request sent while the first one's refresh is held in flight (the refresh is released once
   * the chart has taken the second request's first event, `fenceAfter`).
   */
  overlap?: { method: string; params?: unknown; fenceAfter: Stimulus; response(steps: readonly PathStep[]): WireResponse | null };
}

/** A chart input and how to give the real app-server the same input. */
export interface Fixture {
  name: string;
  input: AuthInput;
  /** Top-level lines and `[authchart]` lines of config.toml, besides the fakes' URLs. */
  config?: { top?: string[]; authchart?: string[] };
  /** Content of `$CODEX_HOME/auth.json`; absent = no file. */
  authJson?: Record<string, unknown>;
  /**
   * Labels of wire actions and environment choices this fixture replays, in a settled state (default:
   * everything but timers and a login port taken, which need a short timeout or a fixed port).
   */
  allows?(label: string, snapshot: AuthSnapshot): boolean;
  /** A fixed browser-login port (chosen free when the session starts) instead of any free port. */
  fixedLoginPort?: boolean;
  /**
   * False for fixtures that replay a narrow slice (a timeout, a taken port): their events are tried in
   * every state by the broader fixtures already, so only their requests are walked.
   */
  exploreEvents?: boolean;
  /**
   * False where the start state is left for good (a restored managed login cannot be recreated without a
   * restart), so every simple path would need a process of its own; shortest paths and walks still take
   * every request from there.
   */
  simplePaths?: boolean;
}

/**
 * Text the environment supplies (an OS error, a URL with a port). A model message holding it matches any
 * non-empty text there; everything the chart puts around it is compared exactly.
 */
export const ENVIRONMENT_TEXT = '<environment text>';

/** The clock the model's backend calls carry; fixtures keep every expiry far from it and from the real one. */
export const MODEL_NOW = Date.parse('2026-06-01T00:00:00Z');
const FAR_EXP = 4102444800; // 2100
const PAST_EXP = 1000000000; // 2001

const POLICY: AuthPolicy = {
  forcedLoginMethod: null,
  forcedWorkspaceIds: null,
  externalRefreshTimeoutMs: 10_000,
  proactiveRefreshSkewSeconds: 300,
  loginTimeoutMs: 600_000,
};
const policy = (over: Partial<AuthPolicy> = {}): AuthPolicy => ({ ...POLICY, ...over });

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

const isTimer = (label: string) => label.startsWith('timeout');

/** Labels the fixtures refer to. */
const LOGIN_PORT_TAKEN = 'login port taken';
const LOGIN_LISTENS = 'login server listens';
const LOGIN_TIMES_OUT = 'timeout loginTimeout';

/** The chart inputs the suite walks, each with the CODEX_HOME that produces it. */
export const FIXTURES: Fixture[] = [
  { name: 'fresh', input: { policy: policy(), restored: null } },
  {
    name: 'restored apiKey',
    input: { policy: policy(), restored: { mode: 'apiKey' } },
    authJson: { auth_mode: 'apikey', OPENAI_API_KEY: 'sk-restored-model' },
  },
  { name: 'restored chatgpt', ...restoredChatgpt(FAR_EXP), simplePaths: false },
  {
    // Only what a token already expired at start-up changes: backend calls refresh first.
    name: 'restored chatgpt, token expired',
    ...restoredChatgpt(PAST_EXP),
    simplePaths: false,
    exploreEvents: false,
    allows: (label) => !isTimer(label) && !/^login\.(externalTokens|chatgpt|cancel)/.test(label),
  },
  {
    name: 'forced chatgpt login',
    input: { policy: policy({ forcedLoginMethod: 'chatgpt' }), restored: null },
    config: { top: ['forced_login_method = "chatgpt"'] },
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
  },
  {
    name: 'forced workspaces',
    input: { policy: policy({ forcedWorkspaceIds: ['acct-A', 'acct-B'] }), restored: null },
    config: { top: ['forced_chatgpt_workspace_id = ["acct-A", "acct-B"]'] },
  },
  {
    // A browser that never comes back: only here, with a short timeout, and nothing else while it runs.
    name: 'slow browser',
    input: { policy: policy({ loginTimeoutMs: 300 }), restored: null },
    exploreEvents: false,
    config: { authchart: ['login_timeout_ms = 300'] },
    allows: (label, snapshot) =>
      snapshot.matches({ browserLogin: 'active' }) ? ['login times out', LOGIN_TIMES_OUT].includes(label) : ['login.chatgpt', LOGIN_LISTENS].includes(label),
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
  return fixture.allows ? fixture.allows(label, snapshot) : !isTimer(label) && label !== LOGIN_PORT_TAKEN;
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
    ...(fixture.config?.authchart ?? []),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Stimuli

const always = () => true;

/** A stimulus with a constant event. */
function constant(label: string, kind: StimulusKind, event: AnyEventObject, extra: Partial<Stimulus> = {}): Stimulus {
  return { label, kind, type: event.type, event: () => event, available: always, ...extra };
}

let nextReq = 1;
/** A command; each variant gets its own request key, so answers and pending requests are unambiguous. */
function command<T extends AuthEvent['type']>(label: string, event: Omit<Extract<AuthEvent, { type: T }>, 'req'>, extra: Partial<Stimulus> = {}): Stimulus {
  const req = nextReq++;
  const full: AnyEventObject = { ...event, req };
  return { label, kind: 'command', type: full.type, req, event: () => full, available: always, ...extra };
}

/** The wire params of an external login, with the tokens that must never reach the disk. */
interface ExternalLogin {
  stimulus: Stimulus;
  params: Record<string, unknown>;
}

/** An external-token login of generation A (`{idToken, accessToken}`) for an account. */
function externalA(label: string, account: AccountInfo, plan: string): ExternalLogin {
  const idToken = chatgptJwt({ email: account.email ?? undefined, plan, accountId: account.accountId ?? undefined, userId: account.userId ?? undefined });
  const accessToken = `access-${account.accountId}-model-secret`;
  const event = { type: 'login.externalTokens' as const, tokens: { accessToken: new Secret(accessToken), idToken: new Secret(idToken) }, claims: { ok: true as const, account } };
  return {
    stimulus: command<'login.externalTokens'>(label, event, { secrets: [idToken, accessToken] }),
    params: { type: 'chatgptAuthTokens', idToken, accessToken },
  };
}

/** An external-token login of generation B (`{accessToken, chatgptAccountId, chatgptPlanType}`). */
function externalB(label: string, account: AccountInfo & { accountId: string }): ExternalLogin {
  const accessToken = chatgptJwt({ email: account.email ?? undefined, userId: account.userId ?? undefined });
  const event = { type: 'login.externalTokens' as const, tokens: { accessToken: new Secret(accessToken), idToken: null }, claims: { ok: true as const, account } };
  return {
    stimulus: command<'login.externalTokens'>(label, event, { secrets: [accessToken] }),
    params: { type: 'chatgptAuthTokens', accessToken, chatgptAccountId: account.accountId, chatgptPlanType: account.planType },
  };
}

const EXTERNAL_LOGINS: ExternalLogin[] = [
  externalA('login.externalTokens(A: ada, plus, acct-A)', { email: 'ada@example.com', planType: 'plus', accountId: 'acct-A', userId: 'user-ada' }, 'plus'),
  externalB('login.externalTokens(B: bob, team, acct-B)', { email: 'bob@example.com', planType: 'team', accountId: 'acct-B', userId: 'user-bob' }),
  externalA('login.externalTokens(A: zed, free, acct-Z)', { email: 'zed@example.com', planType: 'free', accountId: 'acct-Z', userId: 'user-zed' }, 'free'),
  {
    stimulus: command<'login.externalTokens'>(
      'login.externalTokens(unreadable token)',
      {
        type: 'login.externalTokens',
        tokens: { accessToken: new Secret('access-unreadable-model-secret'), idToken: new Secret('not-a-jwt') },
        claims: { ok: false, reason: 'token must have three dot-separated segments, found 1' },
      },
      { secrets: ['access-unreadable-model-secret'] },
    ),
    params: { type: 'chatgptAuthTokens', idToken: 'not-a-jwt', accessToken: 'access-unreadable-model-secret' },
  },
];

const LOGIN_API_KEY = command<'login.apiKey'>('login.apiKey', { type: 'login.apiKey', apiKey: new Secret('sk-model-key') });
/** The client name the replay's handshake sends: the `originator` of a browser login. */
const CLIENT_NAME = 'test_client';
const LOGIN_CHATGPT = command<'login.chatgpt'>('login.chatgpt', { type: 'login.chatgpt', originator: CLIENT_NAME });
const LOGIN_CANCEL = command<'login.cancel'>('login.cancel(unknown id)', { type: 'login.cancel', loginId: '6f1c1e0e-2d55-4a8e-9a44-6b0f3f1d2c11' });

/**
 * Values the server chooses (a browser login's id and authorize URL). The model carries these
 * placeholders; the replay binds each to the value the server answers `account/login/start` with, and
 * from then on expects that value wherever the model has the placeholder (and sends it in requests).
 */
export const PLACEHOLDERS: Record<string, RegExp> = {
  '00000000-0000-4000-8000-00000000000b': /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  '<authUrl of the browser login>': /^http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?/,
};
const LOGIN_ID = '00000000-0000-4000-8000-00000000000b';
const AUTH_URL = '<authUrl of the browser login>';
const LOGIN_CANCEL_PENDING = command<'login.cancel'>('login.cancel(the pending login)', { type: 'login.cancel', loginId: LOGIN_ID });
const LOGOUT = command<'logout'>('logout', { type: 'logout' });

/** The purpose the adapter names in a rate-limit read's backend call. */
const RATE_LIMITS_PURPOSE = 'read rate limits';
const BACKEND_CALL = command<'backend.call'>('backend.call', { type: 'backend.call', purpose: RATE_LIMITS_PURPOSE, now: MODEL_NOW });
/** The retry after a proactive refresh: the adapter asks again without a clock, so no second refresh starts. */
const BACKEND_CALL_NO_CLOCK = command<'backend.call'>('backend.call(no clock)', { type: 'backend.call', purpose: RATE_LIMITS_PURPOSE, now: null });

/** The backend calls of a second, overlapping rate-limit read (its own request keys). */
const SECOND_BACKEND_CALL = command<'backend.call'>('backend.call (second request)', { type: 'backend.call', purpose: RATE_LIMITS_PURPOSE, now: MODEL_NOW });
const SECOND_BACKEND_CALL_NO_CLOCK = command<'backend.call'>('backend.call(no clock) (second request)', { type: 'backend.call', purpose: RATE_LIMITS_PURPOSE, now: null });

/** A 401 from the backend to the bearer in use (realized by the fake backend refusing the next call). */
const UNAUTHORIZED: Stimulus = {
  label: 'backend 401',
  kind: 'internal',
  type: 'auth.unauthorized',
  event: (snapshot) => ({ type: 'auth.unauthorized', generation: snapshot.context.credentialGeneration }),
  available: always,
  arrange: async (env) => {
    env.backend.rejectNext();
    return async () => {};
  },
};
const REFRESH_REQUESTED = constant('refresh.requested', 'internal', { type: 'refresh.requested' });

/** Where the login flow is: the callback server sends each event only in its phase. */
const inLogin = (state: 'starting' | 'waiting' | 'exchanging') => (snapshot: AuthSnapshot) =>
  state === 'starting'
    ? snapshot.matches({ browserLogin: { active: 'starting' } })
    : snapshot.matches({ browserLogin: { active: { pending: state } } });

/** The account the issuer signs in by default, and one from another workspace. */
const SIGNED_IN: AccountInfo = { email: 'ada@example.com', planType: 'plus', accountId: 'acct-R', userId: null };
const SIGNED_IN_ELSEWHERE: AccountInfo = { email: 'wes@example.com', planType: 'team', accountId: 'acct-W', userId: null };
const LOGIN_TOKENS = { idToken: new Secret('(issued)'), accessToken: new Secret('(issued)'), refreshToken: new Secret('(issued)') };

/** Takes the fixed login port for the length of one request (the test listens there). */
async function takeLoginPort(env: ReplayEnv): Promise<Undo> {
  const blocker = createNetServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    blocker.once('error', reject);
    blocker.listen({ host: '127.0.0.1', port: env.loginPort, exclusive: true }, resolve);
  });
  return () => new Promise<void>((resolve) => blocker.close(() => resolve()));
}

const LOGIN_SERVER_EVENTS = {
  listening: {
    label: LOGIN_LISTENS,
    kind: 'result' as const,
    actor: 'loginServer',
    type: 'loginServer.listening',
    event: () => LISTENING_EVENT,
    available: inLogin('starting'),
  },
  startFailed: {
    label: LOGIN_PORT_TAKEN,
    kind: 'result' as const,
    actor: 'loginServer',
    type: 'loginServer.startFailed',
    event: () => ({ type: 'loginServer.startFailed', message: `Port 127.0.0.1:${ENVIRONMENT_TEXT} is already in use` }),
    available: inLogin('starting'),
    arrange: takeLoginPort,
  },
  callback: constant('browser returns with a code', 'result', { type: 'loginServer.callback' }, { available: inLogin('waiting'), actor: 'loginServer' }),
  exchanged: constant(
    'issuer signs in (acct-R)',
    'result',
    { type: 'loginServer.exchanged', tokens: LOGIN_TOKENS, account: SIGNED_IN },
    {
      available: inLogin('exchanging'),
      actor: 'loginServer',
      arrange: async (env) => {
        env.tokens.signIn({ email: SIGNED_IN.email!, plan: SIGNED_IN.planType, accountId: SIGNED_IN.accountId! });
        return async () => {};
      },
    },
  ),
  exchangedElsewhere: constant(
    'issuer signs in another workspace (acct-W)',
    'result',
    { type: 'loginServer.exchanged', tokens: LOGIN_TOKENS, account: SIGNED_IN_ELSEWHERE },
    {
      available: inLogin('exchanging'),
      actor: 'loginServer',
      arrange: async (env) => {
        env.tokens.signIn({ email: SIGNED_IN_ELSEWHERE.email!, plan: SIGNED_IN_ELSEWHERE.planType, accountId: SIGNED_IN_ELSEWHERE.accountId! });
        return async () => env.tokens.signIn({ email: SIGNED_IN.email!, plan: SIGNED_IN.planType, accountId: SIGNED_IN.accountId! });
      },
    },
  ),
  exchangeFailed: constant(
    'issuer refuses the code',
    'result',
    { type: 'loginServer.failed', message: `Token exchange failed: ${ENVIRONMENT_TEXT}` },
    {
      available: inLogin('exchanging'),
      actor: 'loginServer',
      arrange: async (env) => {
        env.tokens.override({ status: 400, body: { error: 'invalid_grant', error_description: 'the code was already used' } });
        return async () => env.tokens.override(null);
      },
    },
  ),
  oauthError: constant('browser returns access_denied', 'result', { type: 'loginServer.failed', message: 'Sign-in failed: access_denied' }, { available: inLogin('waiting'), actor: 'loginServer' }),
  cancelRequested: constant('browser opens /cancel', 'result', { type: 'loginServer.cancelRequested' }, {
    available: (snapshot) => inLogin('waiting')(snapshot) || inLogin('exchanging')(snapshot),
    actor: 'loginServer',
  }),
};
const LISTENING_EVENT = { type: 'loginServer.listening', loginId: LOGIN_ID, authUrl: AUTH_URL };

/** Event generators keyed by event type: every event the chart accepts, in the variants its guards distinguish. */
export const COMMANDS: { [T in AuthEvent['type']]: Stimulus[] } = {
  'login.apiKey': [LOGIN_API_KEY],
  'login.chatgpt': [LOGIN_CHATGPT],
  'login.externalTokens': EXTERNAL_LOGINS.map((l) => l.stimulus),
  'login.cancel': [LOGIN_CANCEL, LOGIN_CANCEL_PENDING],
  logout: [LOGOUT],
  'loginServer.listening': [LOGIN_SERVER_EVENTS.listening],
  'loginServer.startFailed': [LOGIN_SERVER_EVENTS.startFailed],
  'loginServer.callback': [LOGIN_SERVER_EVENTS.callback],
  'loginServer.exchanged': [LOGIN_SERVER_EVENTS.exchanged, LOGIN_SERVER_EVENTS.exchangedElsewhere],
  'loginServer.failed': [LOGIN_SERVER_EVENTS.exchangeFailed, LOGIN_SERVER_EVENTS.oauthError],
  'loginServer.cancelRequested': [LOGIN_SERVER_EVENTS.cancelRequested],
  // Raised by the chart itself when a browser login's tokens are saved: nothing outside sends it.
  'browserLogin.succeeded': [
    constant('browserLogin.succeeded', 'internal', { type: 'browserLogin.succeeded' }, {
      available: () => false,
      unrealizable: 'raised by the chart itself (persisting.onDone); covered through the browser sign-in',
    }),
  ],
  'backend.call': [BACKEND_CALL, BACKEND_CALL_NO_CLOCK, SECOND_BACKEND_CALL, SECOND_BACKEND_CALL_NO_CLOCK],
  'auth.unauthorized': [UNAUTHORIZED],
  'refresh.requested': [REFRESH_REQUESTED],
};

/** An actor's result, offered while the actor runs. */
function result(invoke: string, label: string, event: AnyEventObject, arrange?: Stimulus['arrange'], secrets?: string[]): Stimulus {
  return { label, kind: 'result', type: event.type, actor: invoke, event: () => event, available: (snapshot) => invoke in snapshot.children, arrange, secrets };
}

const nothingToArrange = async (): Promise<Undo> => async () => {};

/** New external tokens the parent answers a refresh with, and the account they describe. */
function parentTokens(name: string, account: AccountInfo & { accountId: string }) {
  const idToken = chatgptJwt({ email: account.email ?? undefined, plan: account.planType, accountId: account.accountId, userId: account.userId ?? undefined });
  const accessToken = `access-refreshed-${name}-model-secret`;
  return {
    answer: { idToken, accessToken },
    output: { tokens: { accessToken: new Secret(accessToken), idToken: new Secret(idToken) }, account },
  };
}
const REFRESHED_ADA = parentTokens('ada', { email: 'ada@example.com', planType: 'pro', accountId: 'acct-A', userId: 'user-ada' });
const REFRESHED_ZED = parentTokens('zed', { email: 'zed@example.com', planType: 'team', accountId: 'acct-Z', userId: 'user-zed' });
const PARENT_ERROR = { code: -32001, message: 'the parent could not refresh' };

/** What the token endpoint's round-1 tokens say (the fake rotates; every round has these claims). */
const MANAGED_REFRESHED_ACCOUNT: AccountInfo = { email: 'ada@example.com', planType: 'plus', accountId: 'acct-R', userId: null };

/** The machine's actor names; ACTOR_RESULTS must have an entry for each. */
type ActorName = keyof AuthMachine['implementations']['actors'];

/** Actor-result generators keyed by invoke id (every invoke's id is its actor's name). */
export const ACTOR_RESULTS: Record<ActorName, Stimulus[]> = {
  saveApiKey: [
    result('saveApiKey', 'saved', { type: 'xstate.done.actor.saveApiKey', output: undefined }, nothingToArrange),
    result('saveApiKey', 'save failed', { type: 'xstate.error.actor.saveApiKey', error: new Error(ENVIRONMENT_TEXT) }, blockCredentialFile),
  ],
  clearCredentials: [
    result('clearCredentials', 'cleared', { type: 'xstate.done.actor.clearCredentials', output: undefined }, nothingToArrange),
    result('clearCredentials', 'clear failed', { type: 'xstate.error.actor.clearCredentials', error: new Error(ENVIRONMENT_TEXT) }, blockCredentialFile),
  ],
  managedRefresh: [
    result(
      'managedRefresh',
      'token endpoint refreshes',
      {
        type: 'xstate.done.actor.managedRefresh',
        output: {
          credentials: { tokens: { idToken: new Secret('(new)'), accessToken: new Secret('(new)'), refreshToken: new Secret('(new)'), accountId: 'acct-R' }, lastRefresh: null, apiKey: null },
          account: MANAGED_REFRESHED_ACCOUNT,
          timing: { expiresAt: FAR_EXP * 1000, lastRefreshAt: MODEL_NOW },
          source: 'refreshed',
        },
      },
      async (env) => {
        env.tokens.override(null);
        return async () => {};
      },
    ),
    result(
      'managedRefresh',
      'token endpoint refuses (expired)',
      {
        type: 'xstate.error.actor.managedRefresh',
        error: { kind: 'permanent', message: 'Your access token could not be refreshed because your refresh token has expired. Please log out and sign in again.' },
      },
      async (env) => {
        env.tokens.override({ status: 401, body: { error: { code: 'refresh_token_expired' } } });
        return async () => env.tokens.override(null);
      },
    ),
    result(
      'managedRefresh',
      'token endpoint unavailable',
      {
        type: 'xstate.error.actor.managedRefresh',
        error: {
          kind: 'transient',
          message: `could not refresh the ChatGPT access token: the token endpoint answered 503 Service Unavailable (${ENVIRONMENT_TEXT}). The saved credentials were kept; the next request tries again.`,
        },
      },
      async (env) => {
        env.tokens.override({ status: 503, body: { error: 'try later' } });
        return async () => env.tokens.override(null);
      },
    ),
  ],
  loginServer: [
    {
      ...result('loginServer', 'login server crashes', { type: 'xstate.error.actor.loginServer', error: new Error('the callback server crashed') }),
      unrealizable: 'the real loginServer actor never throws: it reports a failed start as loginServer.startFailed',
    },
  ],
  saveChatgptTokens: [
    result('saveChatgptTokens', 'tokens saved', { type: 'xstate.done.actor.saveChatgptTokens', output: { timing: { expiresAt: FAR_EXP * 1000, lastRefreshAt: MODEL_NOW } } }, nothingToArrange),
    result('saveChatgptTokens', 'tokens save failed', { type: 'xstate.error.actor.saveChatgptTokens', error: new Error(ENVIRONMENT_TEXT) }, blockCredentialFile),
  ],
  externalRefresh: [
    result('externalRefresh', 'parent refreshes (ada)', { type: 'xstate.done.actor.externalRefresh', output: REFRESHED_ADA.output }, async (env) =>
      env.parent.arrange({ kind: 'tokens', result: REFRESHED_ADA.answer }),
    ),
    result('externalRefresh', 'parent refreshes (zed)', { type: 'xstate.done.actor.externalRefresh', output: REFRESHED_ZED.output }, async (env) =>
      env.parent.arrange({ kind: 'tokens', result: REFRESHED_ZED.answer }),
    ),
    result(
      'externalRefresh',
      'parent refuses',
      { type: 'xstate.error.actor.externalRefresh', error: new Error(`auth refresh request failed: code=${PARENT_ERROR.code} message=${PARENT_ERROR.message}`) },
      async (env) => env.parent.arrange({ kind: 'error', ...PARENT_ERROR }),
    ),
  ],
};

/** The machine's named delays; TIMERS must say how the environment lets each run out. */
type DelayName = keyof AuthMachine['implementations']['delays'];

/** How the environment lets a timer run out for real (the model gets the synthetic `xstate.after.*` event). */
export const TIMERS: Record<DelayName, { arrange(env: ReplayEnv): Promise<Undo> }> = {
  // The parent holds its answer (and gives it late, after the request is over: it must be ignored).
  externalRefreshTimeout: { arrange: async (env) => env.parent.arrange({ kind: 'hold' }) },
  // The browser never comes back; the fixture's short login timeout runs out by itself.
  loginTimeout: { arrange: nothingToArrange },
};

/** The timer stimuli of the chart: one per delayed transition, offered while its state is active. */
function timerStimuli(machine: AuthMachine): Stimulus[] {
  return chartShape(machine).delayedEvents.map((type) => {
    const delay = type.split('.')[2] as DelayName;
    return {
      label: `timeout ${delay}`,
      kind: 'timer' as const,
      type,
      event: () => ({ type }),
      available: (snapshot: AuthSnapshot) => snapshot._nodes.some((node) => node.after.some((t) => t.eventType === type)),
      arrange: TIMERS[delay]?.arrange,
    };
  });
}

const registry = new WeakMap<object, Stimulus>();
const timerCache = new WeakMap<AuthMachine, Stimulus[]>();

/** Every stimulus template of the catalogue (timers as the machine declares them). */
export function allStimuli(machine: AuthMachine): Stimulus[] {
  let timers = timerCache.get(machine);
  if (!timers) timerCache.set(machine, (timers = timerStimuli(machine)));
  return [...Object.values(COMMANDS).flat(), ...Object.values(ACTOR_RESULTS).flat(), ...timers];
}

/** The stimuli that can happen in `snapshot`, each with its event for this snapshot. */
export function stimuliFor(snapshot: AuthSnapshot): Stimulus[] {
  return allStimuli(snapshot.machine as unknown as AuthMachine).filter((s) => s.available(snapshot));
}

/** The events of `stimuliFor(snapshot)`, remembered so `stimulusOfEvent` can find their stimulus again. */
export function eventsFor(snapshot: AuthSnapshot): AnyEventObject[] {
  return stimuliFor(snapshot).map((stimulus) => {
    const event = stimulus.event(snapshot);
    registry.set(event, stimulus);
    return event;
  });
}

/** The stimulus an event object of `eventsFor` came from. */
export function stimulusOfEvent(event: AnyEventObject): Stimulus {
  const stimulus = registry.get(event);
  if (!stimulus) throw new Error(`no catalogue stimulus produced event ${event.type}`);
  return stimulus;
}

/** Descriptors, invokes and delays of the chart that the catalogue cannot produce (empty = complete). */
export function catalogueGaps(machine: AuthMachine): string[] {
  const shape = chartShape(machine);
  const types = allStimuli(machine).map((s) => s.type);
  const gaps: string[] = [];
  for (const descriptor of shape.eventDescriptors) {
    // XState raises `xstate.done.state.*` itself when a compound state reaches a final child.
    if (descriptor.startsWith('xstate.done.state.')) continue;
    if (!types.some((type) => descriptorMatches(descriptor, type))) gaps.push(`event ${descriptor} has no generator`);
  }
  for (const invoke of shape.invokes) {
    if (!(invoke.id in ACTOR_RESULTS)) gaps.push(`invoke ${invoke.id} (in ${invoke.source}) has no actor-result generator`);
  }
  for (const delayed of shape.delayedEvents) {
    if (!(delayed.split('.')[2] in TIMERS)) gaps.push(`timer ${delayed} has no arrangement`);
  }
  for (const action of WIRE_ACTIONS) if (!action.label) gaps.push('a wire action has no label');
  return gaps;
}

// ---------------------------------------------------------------------------------------------------
// Wire actions

/** Tags the adapter waits out before it answers a request: an effect under way, a refresh under way. */
export const SETTLING_TAGS = ['busy', 'refreshing'];

/** True when no effect and no refresh is under way: where requests start and end. */
export function isSettled(snapshot: AuthSnapshot): boolean {
  return !SETTLING_TAGS.some((tag) => snapshot.hasTag(tag));
}

/** Lets the running effects end, the way the environment chooses (each way is a path of its own). */
function settle(run: Script): void {
  for (let i = 0; !isSettled(run.snapshot); i += 1) {
    if (i >= 8) throw new Error('the chart did not settle after 8 actor results');
    const endings = stimuliFor(run.snapshot).filter((s) => (s.kind === 'result' || s.kind === 'timer') && !s.unrealizable);
    if (endings.length === 0) throw new Error('the chart is busy with nothing the catalogue can end');
    // Keyed by what is running: two refreshes in one request end the same way (one arrangement).
    const key = Object.keys(run.snapshot.children).sort().join('+');
    run.send(run.choose(endings.map((s) => ({ label: s.label, stimulus: s })), key).stimulus!);
  }
}

function reqOf(stimulus: Stimulus): number {
  if (stimulus.req === undefined) throw new Error(`${stimulus.label} is not a command`);
  return stimulus.req;
}

/** The response encoding the chart's answer to the command that opened the steps. */
function commandResponse(encode: (value: unknown) => unknown) {
  return (steps: readonly PathStep[]): WireResponse | null => {
    const answer = answerTo(
      steps.flatMap((s) => s.model.emitted),
      reqOf(steps[0].stimulus),
    );
    if (!answer) return null;
    return answer.type === 'answer.done' ? { result: encode(answer.value) } : { error: { code: answer.code, message: answer.message } };
  };
}

/** A command request: the command, then whatever ends the effect it started. */
function commandAction(stimulus: Stimulus, method: string, params: unknown, encode: (value: unknown) => unknown): WireAction {
  return {
    label: stimulus.label,
    method,
    params,
    secrets: stimulus.secrets,
    script: (run) => {
      run.send(stimulus);
      settle(run);
    },
    response: commandResponse(encode),
  };
}

/**
 * AuthCore.beginBackendCall: ask the chart; while it refreshes (one it started now, or one under way),
 * wait for the refresh and ask again without a clock. A chart that refreshes on every call keeps the
 * adapter asking forever: after a few rounds the script stops, and the request is never answered.
 */
function beginBackendCall(run: Script, first: Stimulus, again: Stimulus): 'allowed' | 'refused' | 'waiting' {
  let call = first;
  for (let i = 0; i < 4; i += 1) {
    const step = run.send(call);
    if (answerTo(step.emitted, reqOf(call))?.type === 'answer.refused') return 'refused';
    if (!run.snapshot.hasTag('refreshing')) return 'allowed';
    settle(run);
    call = again;
  }
  return 'waiting';
}

/**
 * `account/rateLimits/read`, as authorizedFetch runs it: ask the chart (waiting out a refresh it starts
 * and asking again without a clock), call the backend; on a 401 report it, wait for the refresh, and
 * retry once if the credentials changed, else fail with the refresh's message.
 */
const RATE_LIMITS_READ: WireAction = {
  label: 'account/rateLimits/read',
  method: 'account/rateLimits/read',
  concurrent: true,
  script(run) {
    const begin = () => beginBackendCall(run, BACKEND_CALL, BACKEND_CALL_NO_CLOCK) === 'allowed';
    if (!begin()) return;
    const generation = run.snapshot.context.credentialGeneration;
    const backend = run.choose([{ label: 'backend 200' }, { label: UNAUTHORIZED.label, stimulus: UNAUTHORIZED }]);
    if (!backend.stimulus) return;
    run.send(backend.stimulus);
    settle(run);
    if (run.snapshot.context.credentialGeneration !== generation) begin();
  },
  response(steps) {
    const calls = steps.filter((s) => s.stimulus === BACKEND_CALL || s.stimulus === BACKEND_CALL_NO_CLOCK);
    const last = calls[calls.length - 1];
    const answer = answerTo(last.model.emitted, reqOf(last.stimulus));
    // Still refreshing after its last call: the adapter would still be waiting.
    if (!answer || (answer.type === 'answer.done' && last.model.after.hasTag('refreshing'))) return null;
    if (answer.type === 'answer.refused') return { error: { code: answer.code, message: answer.message } };
    const unauthorized = steps.findIndex((s) => s.stimulus === UNAUTHORIZED);
    if (unauthorized !== -1 && steps.indexOf(last) < unauthorized) {
      // No retry: the refresh failed. The chart's state says why.
      const after = steps[steps.length - 1].model.after;
      if (after.matches({ session: { mode: 'failed' } })) return { error: { code: -32603, message: after.context.failure ?? 'authentication failed' } };
      return {
        error: { code: -32603, message: after.context.lastRefreshError ?? 'the ChatGPT backend refused the access token (401) and it could not be refreshed' },
      };
    }
    return { result: { rateLimits: USAGE_RESULT } };
  },
};

/**
 * Two rate-limit reads, the second sent while the refresh the first one's 401 started is in flight:
 * the chart lets the second call wait for that one refresh (single flight), then both go on with its
 * result. Offered only where a 401 starts a refresh.
 */
const RATE_LIMITS_DURING_REFRESH: WireAction = {
  label: 'account/rateLimits/read ×2 (the second during the refresh)',
  method: 'account/rateLimits/read',
  concurrent: true,
  script(run) {
    const first = run.send(BACKEND_CALL);
    if (answerTo(first.emitted, reqOf(BACKEND_CALL))?.type !== 'answer.done' || run.snapshot.hasTag('refreshing')) run.skip();
    const generation = run.snapshot.context.credentialGeneration;
    run.send(UNAUTHORIZED);
    if (!run.snapshot.hasTag('refreshing')) run.skip();
    run.send(SECOND_BACKEND_CALL);
    settle(run);
    // The first retries if the credentials changed; the second asks again without a clock.
    if (run.snapshot.context.credentialGeneration !== generation) {
      if (beginBackendCall(run, BACKEND_CALL, BACKEND_CALL_NO_CLOCK) === 'waiting') return;
    }
    beginBackendCall(run, SECOND_BACKEND_CALL_NO_CLOCK, SECOND_BACKEND_CALL_NO_CLOCK);
  },
  response: (steps) => RATE_LIMITS_READ.response(steps),
  overlap: {
    method: 'account/rateLimits/read',
    fenceAfter: SECOND_BACKEND_CALL,
    response(steps) {
      const last = steps.filter((s) => s.stimulus === SECOND_BACKEND_CALL_NO_CLOCK).at(-1);
      const answer = last && answerTo(last.model.emitted, reqOf(SECOND_BACKEND_CALL_NO_CLOCK));
      if (!answer || (answer.type === 'answer.done' && last.model.after.hasTag('refreshing'))) return null;
      return answer.type === 'answer.refused' ? { error: { code: answer.code, message: answer.message } } : { result: { rateLimits: USAGE_RESULT } };
    },
  },
};

/** `account/read {"refreshToken":true}`: a forced managed refresh, then the account. */
const ACCOUNT_READ_REFRESH: WireAction = {
  label: 'account/read(refreshToken)',
  method: 'account/read',
  params: { refreshToken: true },
  script(run) {
    run.send(REFRESH_REQUESTED);
    settle(run);
  },
  response: (steps) => ({ result: { account: accountViewOf(steps[steps.length - 1].model.after), requiresOpenaiAuth: true } }),
};

/** True while a browser login waits for the browser (where the browser and the cancel of that login act). */
function inBrowserLogin(snapshot: AuthSnapshot): boolean {
  return snapshot.matches({ browserLogin: { active: 'pending' } });
}

/** The callback URL and state of the bound authorize URL. */
function callbackOf(env: ReplayEnv): { redirectUri: URL; state: string } {
  const authUrl = env.bindings.get(AUTH_URL);
  if (!authUrl) throw new Error('no browser login has been started on this server');
  const url = new URL(authUrl);
  return { redirectUri: new URL(url.searchParams.get('redirect_uri') ?? ''), state: url.searchParams.get('state') ?? '' };
}

/** GET with no redirect following; resolves with the status and Location. */
async function browserGet(url: string): Promise<{ status: number; location: string | null }> {
  const response = await fetch(url.replace('//localhost:', '//127.0.0.1:'), { redirect: 'manual' });
  await response.text();
  return { status: response.status, location: response.headers.get('location') };
}

/** A trigger: the browser does something, the chart takes the events that follow, the server notifies. */
function trigger(label: string, first: Stimulus, perform: (env: ReplayEnv) => Promise<void>, then?: (run: Script) => void): WireAction {
  return {
    label,
    trigger: perform,
    onlyIf: inBrowserLogin,
    script(run) {
      if (!first.available(run.snapshot)) run.skip();
      run.send(first);
      then?.(run);
      settle(run);
    },
    response: () => null,
  };
}

/** The browser follows the authorize URL; the issuer sends it back with a code; the server exchanges it. */
const BROWSER_SIGNS_IN = trigger(
  'browser signs in',
  LOGIN_SERVER_EVENTS.callback,
  async (env) => {
    const authorize = await browserGet(env.bindings.get(AUTH_URL)!);
    if (authorize.status !== 302 || !authorize.location) throw new Error(`the issuer did not redirect (${authorize.status})`);
    await browserGet(authorize.location); // answered once the chart has its verdict
  },
  (run) => {
    const outcomes = [LOGIN_SERVER_EVENTS.exchanged, LOGIN_SERVER_EVENTS.exchangedElsewhere, LOGIN_SERVER_EVENTS.exchangeFailed];
    run.send(run.choose(outcomes.map((s) => ({ label: s.label, stimulus: s }))).stimulus!);
  },
);

/** The issuer sends the browser back with `error=access_denied`. */
const BROWSER_RETURNS_AN_ERROR = trigger('browser returns access_denied', LOGIN_SERVER_EVENTS.oauthError, async (env) => {
  const { redirectUri, state } = callbackOf(env);
  await browserGet(`${redirectUri}?${new URLSearchParams({ error: 'access_denied', state })}`);
});

/** The user opens the callback server's /cancel. */
const BROWSER_CANCELS = trigger('browser opens /cancel', LOGIN_SERVER_EVENTS.cancelRequested, async (env) => {
  const { redirectUri } = callbackOf(env);
  await browserGet(`${redirectUri.origin}/cancel`);
});

/** Nobody comes back: the login times out (only where the timeout is short). */
const LOGIN_TIMES_OUT_ACTION: WireAction = {
  label: 'login times out',
  trigger: async () => {},
  onlyIf: inBrowserLogin,
  script(run) {
    const timer = stimuliFor(run.snapshot).find((s) => s.label === LOGIN_TIMES_OUT);
    if (!timer) return run.skip();
    run.send(run.choose([{ label: timer.label, stimulus: timer }]).stimulus!);
    settle(run);
  },
  response: () => null,
};

/** Every request the suite sends, each mapped to the chart by its script. */
export const WIRE_ACTIONS: WireAction[] = [
  commandAction(LOGIN_API_KEY, 'account/login/start', { type: 'apiKey', apiKey: 'sk-model-key' }, () => ({ type: 'apiKey' })),
  commandAction(LOGIN_CHATGPT, 'account/login/start', { type: 'chatgpt' }, (value) => ({ type: 'chatgpt', ...(value as object) })),
  ...EXTERNAL_LOGINS.map((login) => commandAction(login.stimulus, 'account/login/start', login.params, () => ({ type: 'chatgptAuthTokens' }))),
  commandAction(LOGIN_CANCEL, 'account/login/cancel', { loginId: '6f1c1e0e-2d55-4a8e-9a44-6b0f3f1d2c11' }, (value) => value),
  { ...commandAction(LOGIN_CANCEL_PENDING, 'account/login/cancel', { loginId: LOGIN_ID }, (value) => value), onlyIf: inBrowserLogin },
  BROWSER_SIGNS_IN,
  BROWSER_RETURNS_AN_ERROR,
  BROWSER_CANCELS,
  LOGIN_TIMES_OUT_ACTION,
  commandAction(LOGOUT, 'account/logout', undefined, () => ({})),
  RATE_LIMITS_READ,
  RATE_LIMITS_DURING_REFRESH,
  ACCOUNT_READ_REFRESH,
];

/** Token bytes any stimulus or wire action of the catalogue hands over. */
export const CATALOGUE_SECRETS: string[] = [
  ...new Set([
    ...Object.values(COMMANDS).flatMap((list) => list.flatMap((s) => s.secrets ?? [])),
    ...WIRE_ACTIONS.flatMap((a) => a.secrets ?? []),
    REFRESHED_ADA.answer.accessToken,
    REFRESHED_ADA.answer.idToken,
    REFRESHED_ZED.answer.accessToken,
    REFRESHED_ZED.answer.idToken,
  ]),
];

/** The wire form of a notification the chart emits (PROTOCOL.md §5). */
export function wireNotification(event: Extract<AuthEmitted, { type: `notify.${string}` }>): { method: string; params: unknown } {
  switch (event.type) {
    case 'notify.loginCompleted':
      return { method: 'account/login/completed', params: { loginId: event.loginId, success: event.success, error: event.error } };
    case 'notify.accountUpdated':
      return { method: 'account/updated', params: { authMode: event.authMode, planType: event.planType } };
  }
}

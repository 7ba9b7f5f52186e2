/**
 * The stimuli of the catalogue: every event the chart can receive, generated from the snapshot at hand,
 * keyed by event type (COMMANDS), by invoke id (ACTOR_RESULTS) and by delay (TIMERS), each saying where
 * it can happen and how the real environment is made to produce it.
 */
import { createServer as createNetServer } from 'node:net';
import type { AnyEventObject } from 'xstate';
import type { AuthMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEvent } from '../../machines/types';
import type { AuthSnapshot } from '../../machines/views';
import { chatgptJwt } from '../support/jwt';
import { chartShape } from './chart';
import { resolveWorkspaceRouting } from '../../src/auth/workspaces';
import { DEVICE_USER_CODE, SECOND_WORKSPACE, SWITCH_USER, blockCredentialFile, discoveryBody, type DeviceState, type ReplayEnv } from './env';
import { DEVICE_CODE_ISSUED, ENVIRONMENT_TEXT, FAR_EXP, LOGIN_LISTENS, LOGIN_PORT_TAKEN, MODEL_NOW, type Stimulus, type StimulusKind, type Undo } from './vocabulary';

const always = () => true;

/**
 * A request key is not sent again while it waits on a refresh (AuthCore gives every command a key of its
 * own, so the same request never waits twice), and at most two calls wait at once: every transition a
 * waiting call can take is reached with two, and each further one would multiply the explored states by
 * the orders the list can hold.
 */
const notHeld = (req: number) => (snapshot: AuthSnapshot) =>
  snapshot.context.waiting.length < 2 && !snapshot.context.waiting.some((call) => call.req === req);

/** A stimulus with a constant event. */
function constant(label: string, kind: StimulusKind, event: AnyEventObject, extra: Partial<Stimulus> = {}): Stimulus {
  return { label, kind, type: event.type, event: () => event, available: always, ...extra };
}

let nextReq = 1;
/** A command; each variant gets its own request key, so answers and pending requests are unambiguous. */
function command<T extends AuthEvent['type']>(label: string, event: Omit<Extract<AuthEvent, { type: T }>, 'req'>, extra: Partial<Stimulus> = {}): Stimulus {
  const req = nextReq++;
  const full: AnyEventObject = { ...event, req };
  const waits = full.type === 'backend.call' || full.type === 'refresh.requested';
  return { label, kind: 'command', type: full.type, req, event: () => full, available: waits ? notHeld(req) : always, ...extra };
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

export const EXTERNAL_LOGINS: ExternalLogin[] = [
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

export const LOGIN_API_KEY = command<'login.apiKey'>('login.apiKey', { type: 'login.apiKey', apiKey: new Secret('sk-model-key') });
/** The client name the replay's handshake sends: the `originator` of a browser login. */
const CLIENT_NAME = 'test_client';
export const LOGIN_CHATGPT = command<'login.chatgpt'>('login.chatgpt', { type: 'login.chatgpt', originator: CLIENT_NAME });
export const LOGIN_DEVICE_CODE = command<'login.deviceCode'>('login.deviceCode', { type: 'login.deviceCode' });
export const LOGIN_CANCEL = command<'login.cancel'>('login.cancel(unknown id)', { type: 'login.cancel', loginId: '6f1c1e0e-2d55-4a8e-9a44-6b0f3f1d2c11' });

/**
 * Values the server chooses (a browser login's id and authorize URL). The model carries these
 * placeholders; the replay binds each to the value the server answers `account/login/start` with, and
 * from then on expects that value wherever the model has the placeholder (and sends it in requests).
 */
export const PLACEHOLDERS: Record<string, RegExp> = {
  '00000000-0000-4000-8000-00000000000b': /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  '<authUrl of the browser login>': /^http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?/,
  '<verificationUrl of the device login>': /^http:\/\/127\.0\.0\.1:\d+\/codex\/device$/,
};
export const LOGIN_ID = '00000000-0000-4000-8000-00000000000b';
export const AUTH_URL = '<authUrl of the browser login>';
export const VERIFICATION_URL = '<verificationUrl of the device login>';
export const LOGIN_CANCEL_PENDING = command<'login.cancel'>('login.cancel(the pending login)', { type: 'login.cancel', loginId: LOGIN_ID });
export const LOGOUT = command<'logout'>('logout', { type: 'logout' });

/** The purpose the adapter names in a rate-limit read's backend call. */
const RATE_LIMITS_PURPOSE = 'read rate limits';
export const BACKEND_CALL = command<'backend.call'>('backend.call', { type: 'backend.call', purpose: RATE_LIMITS_PURPOSE, now: MODEL_NOW });

/** The backend calls of a second, overlapping rate-limit read (its own request key). */
export const SECOND_BACKEND_CALL = command<'backend.call'>('backend.call (second request)', { type: 'backend.call', purpose: RATE_LIMITS_PURPOSE, now: MODEL_NOW });

/**
 * A 401 reported by a backend call, with a request key of its own; `staleBy` generations older than the
 * bearer in use (0: the bearer in use).
 */
function unauthorized(label: string, staleBy: number, available: (snapshot: AuthSnapshot, req: number) => boolean, extra: Partial<Stimulus> = {}): Stimulus {
  const req = nextReq++;
  return {
    label,
    kind: 'internal',
    type: 'auth.unauthorized',
    req,
    event: (snapshot) => ({ type: 'auth.unauthorized', req, generation: snapshot.context.credentialGeneration - staleBy }),
    available: (snapshot) => available(snapshot, req),
    ...extra,
  };
}

/** A 401 from the backend to the bearer in use (realized by the fake backend refusing the next call). */
export const UNAUTHORIZED = unauthorized(
  'backend 401',
  0,
  (snapshot, req) => callsAllowed(snapshot) && !snapshot.hasTag('refreshing') && notHeld(req)(snapshot),
  {
    arrange: async (env) => {
      env.backend.rejectNext();
      return async () => {};
    },
  },
);
export const REFRESH_REQUESTED = command<'refresh.requested'>('refresh.requested', { type: 'refresh.requested' }, { kind: 'internal', available: (snapshot) => !snapshot.hasTag('refreshing') });

/** Where a refresh is under way (a call the backend answered before it started may meet it). */
const refreshing = (snapshot: AuthSnapshot) => snapshot.hasTag('refreshing');
/** Where the adapter can have made a backend call: a mode that lets calls go ahead. */
const callsAllowed = (snapshot: AuthSnapshot) =>
  snapshot.matches({ session: { mode: 'chatgpt' } }) || snapshot.matches({ session: { mode: 'externalTokens' } });

/** Commands the wire cannot time: a response crossing a refresh or a mode change, a second request into a refresh. */
const CROSSING = 'a response that crosses a refresh or a mode change; the replay cannot time one on the wire';
const INTO_REFRESH = 'a second request meeting a refresh in flight; the replay overlaps only two rate-limit reads (RATE_LIMITS_DURING_REFRESH)';

/** A 401 to a call made with a bearer a refresh (or a logout, a login) already replaced. */
export const STALE_UNAUTHORIZED = unauthorized('backend 401 (an older token)', 1, (snapshot, req) => notHeld(req)(snapshot), { unrealizable: CROSSING });
/** A second call's 401 for the bearer in use, reported while the refresh the first one started runs. */
export const SECOND_UNAUTHORIZED = unauthorized('backend 401 (second request)', 0, (snapshot, req) => refreshing(snapshot) && notHeld(req)(snapshot), {
  unrealizable: INTO_REFRESH,
});
/** `account/read {"refreshToken":true}` arriving while a refresh runs. */
export const REFRESH_REQUESTED_DURING_REFRESH = command<'refresh.requested'>('refresh.requested (during a refresh)', { type: 'refresh.requested' }, {
  kind: 'internal',
  unrealizable: INTO_REFRESH,
});
REFRESH_REQUESTED_DURING_REFRESH.available = (snapshot) => refreshing(snapshot) && notHeld(REFRESH_REQUESTED_DURING_REFRESH.req!)(snapshot);

/** Where the login flow is: the flow sends each event only in its phase (and, when given, for its kind of login). */
export const inLogin =
  (state: 'starting' | 'waiting' | 'exchanging', kind?: 'browser' | 'device') =>
  (snapshot: AuthSnapshot): boolean =>
    (kind === undefined || snapshot.context.managedLogin?.kind === kind) &&
    (state === 'starting'
      ? snapshot.matches({ managedLogin: { active: 'starting' } })
      : snapshot.matches({ managedLogin: { active: { pending: state } } }));

/** Sets the fake issuer's device-code endpoints for one request; the undo puts them back to "pending". */
const deviceIssuer =
  (state: DeviceState) =>
  async (env: ReplayEnv): Promise<Undo> => {
    env.tokens.device(state);
    return async () => env.tokens.device('pending');
  };

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

export const LOGIN_SERVER_EVENTS = {
  listening: {
    label: LOGIN_LISTENS,
    kind: 'result' as const,
    actor: 'loginFlow',
    type: 'loginFlow.started',
    event: () => LISTENING_EVENT,
    available: inLogin('starting', 'browser'),
  },
  startFailed: {
    label: LOGIN_PORT_TAKEN,
    kind: 'result' as const,
    actor: 'loginFlow',
    type: 'loginFlow.startFailed',
    event: () => ({ type: 'loginFlow.startFailed', message: `Port 127.0.0.1:${ENVIRONMENT_TEXT} is already in use` }),
    available: inLogin('starting', 'browser'),
    arrange: takeLoginPort,
  },
  /** The issuer gives no user code: it does not offer device-code login (a 404). */
  deviceNotEnabled: constant(
    'issuer has no device-code login',
    'result',
    {
      type: 'loginFlow.startFailed',
      notEnabled: true,
      message: 'device code login is not enabled for this Codex server. Use the browser login or verify the server URL.',
    },
    { available: inLogin('starting', 'device'), actor: 'loginFlow', arrange: deviceIssuer('off') },
  ),
  deviceCodeIssued: constant(
    DEVICE_CODE_ISSUED,
    'result',
    { type: 'loginFlow.started', start: { loginId: LOGIN_ID, verificationUrl: VERIFICATION_URL, userCode: DEVICE_USER_CODE } },
    { available: inLogin('starting', 'device'), actor: 'loginFlow' },
  ),
  deviceCodeEntered: constant('user enters the device code', 'result', { type: 'loginFlow.authorized' }, {
    available: inLogin('waiting', 'device'),
    actor: 'loginFlow',
    arrange: deviceIssuer('granted'),
  }),
  devicePollRefused: constant(
    'issuer refuses the device polling',
    'result',
    { type: 'loginFlow.failed', message: 'device auth failed with status 500 Internal Server Error' },
    { available: inLogin('waiting', 'device'), actor: 'loginFlow', arrange: deviceIssuer('refused') },
  ),
  callback: constant('browser returns with a code', 'result', { type: 'loginFlow.authorized' }, { available: inLogin('waiting', 'browser'), actor: 'loginFlow' }),
  exchanged: constant(
    'issuer signs in (acct-R)',
    'result',
    { type: 'loginFlow.exchanged', tokens: LOGIN_TOKENS, account: SIGNED_IN },
    {
      available: inLogin('exchanging'),
      actor: 'loginFlow',
      arrange: async (env) => {
        env.tokens.signIn({ email: SIGNED_IN.email!, plan: SIGNED_IN.planType, accountId: SIGNED_IN.accountId! });
        return async () => {};
      },
    },
  ),
  exchangedElsewhere: constant(
    'issuer signs in another workspace (acct-W)',
    'result',
    { type: 'loginFlow.exchanged', tokens: LOGIN_TOKENS, account: SIGNED_IN_ELSEWHERE },
    {
      available: inLogin('exchanging'),
      actor: 'loginFlow',
      arrange: async (env) => {
        env.tokens.signIn({ email: SIGNED_IN_ELSEWHERE.email!, plan: SIGNED_IN_ELSEWHERE.planType, accountId: SIGNED_IN_ELSEWHERE.accountId! });
        return async () => env.tokens.signIn({ email: SIGNED_IN.email!, plan: SIGNED_IN.planType, accountId: SIGNED_IN.accountId! });
      },
    },
  ),
  exchangeFailed: {
    ...constant('issuer refuses the code', 'result', { type: 'loginFlow.failed' }),
    // Each flow words the token endpoint's refusal its own way (§8, §13.1).
    event: (snapshot: AuthSnapshot) => ({
      type: 'loginFlow.failed',
      message:
        snapshot.context.managedLogin?.kind === 'device'
          ? `device code exchange failed: token endpoint returned status 400 Bad Request: ${ENVIRONMENT_TEXT}`
          : `Token exchange failed: ${ENVIRONMENT_TEXT}`,
    }),
    available: inLogin('exchanging'),
    actor: 'loginFlow',
    arrange: async (env: ReplayEnv) => {
      env.tokens.override({ status: 400, body: { error: 'invalid_grant', error_description: 'the code was already used' } });
      return async () => env.tokens.override(null);
    },
  },
  oauthError: constant('browser returns access_denied', 'result', { type: 'loginFlow.failed', message: 'Sign-in failed: access_denied' }, { available: inLogin('waiting', 'browser'), actor: 'loginFlow' }),
  cancelRequested: constant('browser opens /cancel', 'result', { type: 'loginFlow.cancelRequested' }, {
    available: (snapshot) => inLogin('waiting', 'browser')(snapshot) || inLogin('exchanging', 'browser')(snapshot),
    actor: 'loginFlow',
  }),
};
const LISTENING_EVENT = { type: 'loginFlow.started', start: { loginId: LOGIN_ID, authUrl: AUTH_URL } };

// --- workspaces (issue 14): accountSession/list and /switch, the workspace region's internal events ---

/** `accountSession/list`, without and with `refreshWorkspaceMetadata` (the same command; the adapter lists differently). */
export const SESSION_LIST = command<'accountSession.list'>('accountSession/list', { type: 'accountSession.list' });
export const SESSION_LIST_ALL = command<'accountSession.list'>('accountSession/list(refreshWorkspaceMetadata)', { type: 'accountSession.list' });

/** A switch of the restored managed login's session (user-rita) to `accountId`. */
function sessionSwitch(label: string, params: { sessionId: string; accountId: string; allowBrowserLogin?: boolean }) {
  const event = { type: 'accountSession.switch' as const, sessionId: params.sessionId, accountId: params.accountId, allowBrowserLogin: params.allowBrowserLogin === true, originator: CLIENT_NAME };
  return { stimulus: command<'accountSession.switch'>(label, event), params };
}
/** A managed ChatGPT login (or its dead refresh token): where a session exists and a switch is decided further. */
const managedSession = (snapshot: AuthSnapshot) => snapshot.matches({ session: { mode: 'chatgpt' } }) || snapshot.matches({ session: { mode: 'failed' } });

/** The switches the catalogue sends, each meeting one of the chart's refusals or outcomes. */
export const SESSION_SWITCHES = {
  otherSession: sessionSwitch('accountSession/switch(another session)', { sessionId: 'user-nobody', accountId: SECOND_WORKSPACE.accountId }),
  emptyAccountId: sessionSwitch('accountSession/switch(empty accountId)', { sessionId: SWITCH_USER.userId, accountId: '' }),
  unlisted: sessionSwitch('accountSession/switch(unlisted acct-U)', { sessionId: SWITCH_USER.userId, accountId: 'acct-U' }),
  toRestored: sessionSwitch('accountSession/switch(acct-R)', { sessionId: SWITCH_USER.userId, accountId: 'acct-R' }),
  toSecond: sessionSwitch('accountSession/switch(acct-S)', { sessionId: SWITCH_USER.userId, accountId: SECOND_WORKSPACE.accountId }),
  toSecondOrBrowser: sessionSwitch('accountSession/switch(acct-S, allowBrowserLogin)', { sessionId: SWITCH_USER.userId, accountId: SECOND_WORKSPACE.accountId, allowBrowserLogin: true }),
};

// A switch that meets a refresh waits for it (like a backend call): on the wire only through a request
// sent into a refresh in flight, which the replay does not time; one variant stands for them all there.
for (const { stimulus } of Object.values(SESSION_SWITCHES)) {
  stimulus.available = stimulus === SESSION_SWITCHES.otherSession.stimulus ? (snapshot) => !snapshot.hasTag('refreshing') : (snapshot) => managedSession(snapshot) && !snapshot.hasTag('refreshing');
}
export const SWITCH_DURING_REFRESH = command<'accountSession.switch'>(
  'accountSession/switch(acct-S, during a refresh)',
  { type: 'accountSession.switch', sessionId: SWITCH_USER.userId, accountId: SECOND_WORKSPACE.accountId, allowBrowserLogin: false, originator: CLIENT_NAME },
  { unrealizable: INTO_REFRESH },
);
SWITCH_DURING_REFRESH.available = (snapshot) => refreshing(snapshot) && notHeld(SWITCH_DURING_REFRESH.req!)(snapshot);
// The chart answers both lists alike; the second differs only in the adapter's rendering of a managed session.
SESSION_LIST_ALL.available = managedSession;

/** A command the chart raises itself (nothing outside sends it). */
function raisedByChart(type: string, where: string): Stimulus {
  return constant(type, 'internal', { type }, { available: () => false, unrealizable: `raised by the chart itself (${where}); covered through it` });
}

/** Event generators keyed by event type: every event the chart accepts, in the variants its guards distinguish. */
export const COMMANDS: { [T in AuthEvent['type']]: Stimulus[] } = {
  'login.apiKey': [LOGIN_API_KEY],
  'login.chatgpt': [LOGIN_CHATGPT],
  'login.deviceCode': [LOGIN_DEVICE_CODE],
  'login.externalTokens': EXTERNAL_LOGINS.map((l) => l.stimulus),
  'login.cancel': [LOGIN_CANCEL, LOGIN_CANCEL_PENDING],
  logout: [LOGOUT],
  'loginFlow.started': [LOGIN_SERVER_EVENTS.listening, LOGIN_SERVER_EVENTS.deviceCodeIssued],
  'loginFlow.startFailed': [LOGIN_SERVER_EVENTS.startFailed, LOGIN_SERVER_EVENTS.deviceNotEnabled],
  'loginFlow.authorized': [LOGIN_SERVER_EVENTS.callback, LOGIN_SERVER_EVENTS.deviceCodeEntered],
  'loginFlow.exchanged': [LOGIN_SERVER_EVENTS.exchanged, LOGIN_SERVER_EVENTS.exchangedElsewhere],
  'loginFlow.failed': [LOGIN_SERVER_EVENTS.exchangeFailed, LOGIN_SERVER_EVENTS.oauthError, LOGIN_SERVER_EVENTS.devicePollRefused],
  'loginFlow.cancelRequested': [LOGIN_SERVER_EVENTS.cancelRequested],
  // Raised by the chart itself when a browser login's tokens are saved: nothing outside sends it.
  'managedLogin.succeeded': [
    constant('managedLogin.succeeded', 'internal', { type: 'managedLogin.succeeded' }, {
      available: () => false,
      unrealizable: 'raised by the chart itself (persisting.onDone); covered through the browser sign-in',
    }),
  ],
  // Raised by the session region when it accepts an API-key or external login: nothing outside sends it.
  'login.accepted': [
    constant('login.accepted', 'internal', { type: 'login.accepted' }, {
      available: () => false,
      unrealizable: 'raised by the chart itself (an accepted API-key or external login); covered through those logins',
    }),
  ],
  // Raised by the session region after login.accepted for an external login: nothing outside sends it.
  'externalLogin.announce': [
    constant('externalLogin.announce', 'internal', { type: 'externalLogin.announce' }, {
      available: () => false,
      unrealizable: 'raised by the chart itself (an accepted external login); covered through those logins',
    }),
  ],
  'backend.call': [BACKEND_CALL, SECOND_BACKEND_CALL],
  'auth.unauthorized': [UNAUTHORIZED, STALE_UNAUTHORIZED, SECOND_UNAUTHORIZED],
  'refresh.requested': [REFRESH_REQUESTED, REFRESH_REQUESTED_DURING_REFRESH],
  // --- workspaces (issue 14) ---
  'accountSession.list': [SESSION_LIST, SESSION_LIST_ALL],
  // Outside a managed login every switch is refused alike (one variant tries it there); the others where they differ.
  'accountSession.switch': [...Object.values(SESSION_SWITCHES).map((s) => s.stimulus), SWITCH_DURING_REFRESH],
  'workspace.discover': [raisedByChart('workspace.discover', 'a ChatGPT login, a switch')],
  'workspace.forget': [raisedByChart('workspace.forget', 'a logout, an API key saved')],
  'workspace.retry': [raisedByChart('workspace.retry', 'a backend call going ahead')],
};

/** An actor's result, offered while the actor runs. */
function result(invoke: string, label: string, event: AnyEventObject, arrange?: Stimulus['arrange'], secrets?: string[]): Stimulus {
  return { label, kind: 'result', type: event.type, actor: invoke, event: () => event, available: (snapshot) => invoke in snapshot.children, arrange, secrets };
}

const nothingToArrange = async (): Promise<Undo> => async () => {};

/** Where a switch's exchange can end: it runs, and no browser login is binding or saving beside it. */
const switchEnds = (snapshot: AuthSnapshot) =>
  'switchWorkspace' in snapshot.children && !snapshot.matches({ managedLogin: { active: 'starting' } }) && !snapshot.matches({ managedLogin: { active: 'persisting' } });
/** A stimulus offered only where `available` says. */
function withAvailability(available: Stimulus['available'], stimulus: Stimulus): Stimulus {
  return { ...stimulus, available };
}

/** New external tokens the parent answers a refresh with, and the account they describe. */
function parentTokens(name: string, account: AccountInfo & { accountId: string }) {
  const idToken = chatgptJwt({ email: account.email ?? undefined, plan: account.planType, accountId: account.accountId, userId: account.userId ?? undefined });
  const accessToken = `access-refreshed-${name}-model-secret`;
  return {
    answer: { idToken, accessToken },
    output: { tokens: { accessToken: new Secret(accessToken), idToken: new Secret(idToken) }, account },
  };
}
export const REFRESHED_ADA = parentTokens('ada', { email: 'ada@example.com', planType: 'pro', accountId: 'acct-A', userId: 'user-ada' });
export const REFRESHED_ZED = parentTokens('zed', { email: 'zed@example.com', planType: 'team', accountId: 'acct-Z', userId: 'user-zed' });
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
    {
      ...result('managedRefresh', 'token endpoint refreshes', { type: 'xstate.done.actor.managedRefresh' }, async (env) => {
        env.tokens.override(null);
        return async () => {};
      }),
      // The new id token's claims, in the workspace of the saved `tokens.account_id` (a refresh keeps it).
      event: (snapshot: AuthSnapshot) => {
        const accountId = snapshot.context.account?.accountId ?? MANAGED_REFRESHED_ACCOUNT.accountId;
        return {
          type: 'xstate.done.actor.managedRefresh',
          output: {
            credentials: { tokens: { idToken: new Secret('(new)'), accessToken: new Secret('(new)'), refreshToken: new Secret('(new)'), accountId }, lastRefresh: null, apiKey: null },
            account: { ...MANAGED_REFRESHED_ACCOUNT, accountId },
            timing: { expiresAt: FAR_EXP * 1000, lastRefreshAt: MODEL_NOW },
            source: 'refreshed',
          },
        };
      },
    },
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
  // Its results are events of its own (LOGIN_SERVER_EVENTS); it reports failures as events and never throws.
  loginFlow: [],
  saveChatgptTokens: [
    result('saveChatgptTokens', 'tokens saved', { type: 'xstate.done.actor.saveChatgptTokens', output: { timing: { expiresAt: FAR_EXP * 1000, lastRefreshAt: MODEL_NOW } } }, nothingToArrange),
    result('saveChatgptTokens', 'tokens save failed', { type: 'xstate.error.actor.saveChatgptTokens', error: new Error(ENVIRONMENT_TEXT) }, blockCredentialFile),
  ],
  // --- workspaces (issue 14) ---
  // Discovery runs in the background: its results are taken only by "workspace discovery ends", which
  // releases the discovery the fake backend holds (listing the login's workspace, or not).
  discoverWorkspace: [
    {
      label: 'workspace discovered',
      kind: 'result',
      actor: 'discoverWorkspace',
      background: true,
      type: 'xstate.done.actor.discoverWorkspace',
      event: (snapshot) => {
        const accountId = snapshot.context.account?.accountId ?? '';
        return { type: 'xstate.done.actor.discoverWorkspace', output: resolveWorkspaceRouting(discoveryBody(accountId), accountId, 'https://chatgpt.com/backend-api/') };
      },
      available: (snapshot) => 'discoverWorkspace' in snapshot.children && !!snapshot.context.account?.accountId,
      arrange: async (env) => {
        env.backend.arrangeDiscovery('listed');
        return async () => {};
      },
    },
    {
      label: 'workspace discovery fails',
      kind: 'result',
      actor: 'discoverWorkspace',
      background: true,
      type: 'xstate.error.actor.discoverWorkspace',
      event: () => ({ type: 'xstate.error.actor.discoverWorkspace', error: new Error('selected workspace missing from routing discovery') }),
      available: (snapshot) => 'discoverWorkspace' in snapshot.children && !!snapshot.context.account?.accountId,
      arrange: async (env) => {
        env.backend.arrangeDiscovery('unlisted');
        return async () => env.backend.arrangeDiscovery('listed');
      },
    },
  ],
  // A switch's results are not offered where a browser login is also binding or saving: only a command sent
  // into the busy switch (never on the wire: AuthCore waits for idle) gets the chart there.
  switchWorkspace: [
    {
      label: 'workspace switched',
      kind: 'result',
      actor: 'switchWorkspace',
      type: 'xstate.done.actor.switchWorkspace',
      event: (snapshot) => ({
        type: 'xstate.done.actor.switchWorkspace',
        output: {
          account: { email: SWITCH_USER.email, planType: SECOND_WORKSPACE.planType, accountId: snapshot.context.switching?.accountId ?? null, userId: SWITCH_USER.userId },
          timing: { expiresAt: FAR_EXP * 1000, lastRefreshAt: MODEL_NOW },
        },
      }),
      available: switchEnds,
      arrange: nothingToArrange,
    },
    withAvailability(switchEnds, result(
      'switchWorkspace',
      'workspace switch refused',
      { type: 'xstate.error.actor.switchWorkspace', error: { kind: 'rejected', code: -32600, message: 'Workspace switch was rejected (HTTP 403 Forbidden)' } },
      async (env) => {
        env.backend.refuseSwitch(true);
        return async () => env.backend.refuseSwitch(false);
      },
    )),
    withAvailability(switchEnds, result(
      'switchWorkspace',
      'workspace switch save failed',
      { type: 'xstate.error.actor.switchWorkspace', error: new Error(`failed to save the switched workspace's credentials: ${ENVIRONMENT_TEXT}`) },
      blockCredentialFile,
    )),
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

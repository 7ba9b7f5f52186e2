/**
 * The wire actions of the catalogue: the requests a parent sends (and what the browser does), each with
 * a script that mirrors what the adapter makes the chart receive for it and the response the model
 * prescribes. Where the environment decides, the script offers a choice; every option is a path of its own.
 */
import type { AuthEmitted, SessionSnapshot } from '../../machines/types';
import { NO_SESSIONS, buildSessionList } from '../../src/auth/workspaceSwitch';
import { accountViewOf, userIdOf, workspaceRoutingOf, type AuthSnapshot } from '../../machines/views';
import { USAGE_READ_RESULT } from '../support/httpFakes';
import { answerTo } from './model';
import { stderrCount, waitForStderrCount, type ReplayEnv } from './env';
import {
  AUTH_URL,
  BACKEND_CALL,
  COMMANDS,
  EXTERNAL_LOGINS,
  LOGIN_API_KEY,
  LOGIN_CANCEL,
  LOGIN_CANCEL_PENDING,
  LOGIN_CHATGPT,
  LOGIN_DEVICE_CODE,
  LOGIN_ID,
  LOGIN_SERVER_EVENTS,
  LOGOUT,
  REFRESHED_ADA,
  REFRESHED_ZED,
  REFRESH_REQUESTED,
  SECOND_BACKEND_CALL,
  SESSION_LIST,
  SESSION_LIST_ALL,
  SESSION_SWITCHES,
  UNAUTHORIZED,
  stimuliFor,
} from './stimuli';
import { LOGIN_TIMES_OUT, type PathStep, type Script, type Stimulus, type WireAction, type WireResponse } from './vocabulary';

/** Tags the adapter waits out before it answers a request: an effect under way, a refresh under way. */
export const SETTLING_TAGS = ['busy', 'refreshing'];

/** True when no effect and no refresh is under way: where requests start and end. */
export function isSettled(snapshot: AuthSnapshot): boolean {
  return !SETTLING_TAGS.some((tag) => snapshot.hasTag(tag));
}

/**
 * Lets the running effects end, the way the environment chooses (each way is a path of its own);
 * returns what the chart emitted meanwhile.
 */
function settle(run: Script): AuthEmitted[] {
  const emitted: AuthEmitted[] = [];
  for (let i = 0; !isSettled(run.snapshot); i += 1) {
    if (i >= 8) throw new Error('the chart did not settle after 8 actor results');
    const endings = stimuliFor(run.snapshot).filter((s) => (s.kind === 'result' || s.kind === 'timer') && !s.unrealizable && !s.background);
    if (endings.length === 0) throw new Error('the chart is busy with nothing the catalogue can end');
    // Keyed by what is running: two refreshes in one request end the same way (one arrangement).
    const key = Object.keys(run.snapshot.children).sort().join('+');
    emitted.push(...run.send(run.choose(endings.map((s) => ({ label: s.label, stimulus: s })), key).stimulus!).emitted);
  }
  return emitted;
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
 * Sends a command and lets what it started settle: its answer, whether the chart gives it at once or when
 * the refresh it waits for ends (null when the chart still holds it).
 */
function ask(run: Script, command: Stimulus): AuthEmitted | null {
  const emitted = [...run.send(command).emitted];
  if (!answerTo(emitted, reqOf(command))) emitted.push(...settle(run));
  return answerTo(emitted, reqOf(command));
}

/**
 * AuthCore.beginBackendCall: ask the chart; `again` (the mode changed while the call waited) asks again.
 * A chart that keeps answering `again` keeps the adapter asking: after a few rounds the script stops,
 * and the request is never answered.
 */
function beginBackendCall(run: Script, call: Stimulus): 'allowed' | 'refused' | 'waiting' {
  for (let i = 0; i < 4; i += 1) {
    const answer = ask(run, call);
    if (!answer) return 'waiting';
    if (answer.type === 'answer.refused') return 'refused';
    if (answer.type === 'answer.done' && answer.value !== 'again') return 'allowed';
  }
  return 'waiting';
}

/** The answers to the given commands, in the order the chart emitted them. */
function answersTo(steps: readonly PathStep[], commands: readonly Stimulus[]) {
  const reqs = new Set(commands.map(reqOf));
  return steps
    .flatMap((s) => s.model.emitted)
    .filter((e): e is Extract<AuthEmitted, { type: 'answer.done' | 'answer.refused' }> => (e.type === 'answer.done' || e.type === 'answer.refused') && reqs.has(e.req));
}

/**
 * The response of a rate-limit read from the chart's answers to its calls: the last one decides (a
 * refusal is the error; a `proceed` to a backend call means the backend was called and answered 200);
 * anything else means the adapter would still be waiting.
 */
function rateLimitsResponse(answers: ReturnType<typeof answersTo>, call: Stimulus): WireResponse | null {
  const last = answers.at(-1);
  if (!last) return null;
  if (last.type === 'answer.refused') return { error: { code: last.code, message: last.message } };
  return last.req === reqOf(call) && last.value === 'proceed' ? { result: USAGE_READ_RESULT } : null;
}

/**
 * `account/rateLimits/read`, as authorizedFetch runs it: ask the chart, call the backend; on a 401 report
 * it and let the chart decide: retry (ask again and call once more) or fail with its refusal.
 */
const RATE_LIMITS_READ: WireAction = {
  label: 'account/rateLimits/read',
  method: 'account/rateLimits/read',
  concurrent: true,
  script(run) {
    if (beginBackendCall(run, BACKEND_CALL) !== 'allowed') return;
    const backend = run.choose([{ label: 'backend 200' }, { label: UNAUTHORIZED.label, stimulus: UNAUTHORIZED }]);
    if (!backend.stimulus) return;
    if (ask(run, UNAUTHORIZED)?.type === 'answer.done') beginBackendCall(run, BACKEND_CALL);
  },
  response: (steps) => rateLimitsResponse(answersTo(steps, [BACKEND_CALL, UNAUTHORIZED]), BACKEND_CALL),
};

/**
 * Two rate-limit reads, the second sent while the refresh the first one's 401 started is in flight:
 * the chart holds the second call until that one refresh settles (single flight), then both go on with
 * its result. Offered only where a 401 starts a refresh.
 */
const RATE_LIMITS_DURING_REFRESH: WireAction = {
  label: 'account/rateLimits/read ×2 (the second during the refresh)',
  method: 'account/rateLimits/read',
  concurrent: true,
  script(run) {
    const first = answerTo(run.send(BACKEND_CALL).emitted, reqOf(BACKEND_CALL));
    if (first?.type !== 'answer.done' || first.value !== 'proceed') run.skip();
    run.send(UNAUTHORIZED);
    if (!run.snapshot.hasTag('refreshing')) run.skip();
    const emitted = [...run.send(SECOND_BACKEND_CALL).emitted, ...settle(run)];
    // The first retries when the chart says so; the second goes ahead, or asks again if told to.
    if (answerTo(emitted, reqOf(UNAUTHORIZED))?.type === 'answer.done' && beginBackendCall(run, BACKEND_CALL) === 'waiting') return;
    const second = answerTo(emitted, reqOf(SECOND_BACKEND_CALL));
    if (second?.type === 'answer.done' && second.value === 'again') beginBackendCall(run, SECOND_BACKEND_CALL);
  },
  response: (steps) => rateLimitsResponse(answersTo(steps, [BACKEND_CALL, UNAUTHORIZED]), BACKEND_CALL),
  overlap: {
    method: 'account/rateLimits/read',
    fenceAfter: SECOND_BACKEND_CALL,
    response: (steps) => rateLimitsResponse(answersTo(steps, [SECOND_BACKEND_CALL]), SECOND_BACKEND_CALL),
  },
};

/** `account/read {"refreshToken":true}`: a forced managed refresh, then the account. */
const ACCOUNT_READ_REFRESH: WireAction = {
  label: 'account/read(refreshToken)',
  method: 'account/read',
  params: { refreshToken: true },
  script(run) {
    ask(run, REFRESH_REQUESTED);
  },
  response: (steps) => {
    const after = steps[steps.length - 1].model.after;
    return { result: { account: accountViewOf(after), userId: userIdOf(after), requiresOpenaiAuth: true, workspaceRouting: workspaceRoutingOf(after) } };
  },
};

/** True while a browser login waits for the browser (where the browser and the cancel of that login act). */
function inBrowserLogin(snapshot: AuthSnapshot): boolean {
  return snapshot.matches({ managedLogin: { active: 'pending' } });
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

/**
 * The user enters the device code: the issuer (arranged by the stimulus) grants the next poll, which comes
 * at the interval; the server exchanges the code it got, as a browser login's.
 */
const DEVICE_CODE_ENTERED = trigger(
  'user enters the device code',
  LOGIN_SERVER_EVENTS.deviceCodeEntered,
  async () => {},
  (run) => {
    const outcomes = [LOGIN_SERVER_EVENTS.exchanged, LOGIN_SERVER_EVENTS.exchangedElsewhere, LOGIN_SERVER_EVENTS.exchangeFailed];
    run.send(run.choose(outcomes.map((s) => ({ label: s.label, stimulus: s }))).stimulus!);
  },
);

/** The issuer answers a device poll with an error (arranged by the stimulus). */
const DEVICE_POLL_REFUSED = trigger('issuer refuses the device polling', LOGIN_SERVER_EVENTS.devicePollRefused, async () => {});

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

// --- workspaces (issue 14) ---

/** The `accountSession/*` result the adapter builds from the chart's answer (the time of last use is the server's). */
export function sessionListOf(value: unknown, allWorkspaces: boolean): unknown {
  const snapshot = value as SessionSnapshot | null;
  if (!snapshot) return NO_SESSIONS;
  const list = buildSessionList({ account: snapshot.account, discovery: snapshot.workspace, allWorkspaces, lastUsedAt: 0 });
  return { ...list, sessions: list.sessions.map((session) => ({ ...session, lastUsedAt: expect.any(Number) })) };
}

/** A switch's result: the browser login it became, or the list after it. */
export function switchResultOf(value: unknown): unknown {
  return value && typeof value === 'object' && 'loginId' in value ? value : sessionListOf(value, true);
}

/** Where a workspace discovery is under way (held by the fake backend until this action releases it). */
const discovering = (snapshot: AuthSnapshot) => 'discoverWorkspace' in snapshot.children;

/** The backend answers the discovery it holds: the login's workspace listed (routing known) or not (a failure, logged). */
const DISCOVERY_ENDS: WireAction = {
  label: 'workspace discovery ends',
  onlyIf: discovering,
  trigger: async (env) => {
    const failing = env.backend.discoveryOutcome === 'unlisted';
    const failures = stderrCount(env.server, 'workspace discovery failed');
    await env.backend.releaseDiscovery();
    // A failure sends nothing: its log line says the server has taken it.
    if (failing) await waitForStderrCount(env.server, 'workspace discovery failed', failures + 1);
  },
  script(run) {
    const endings = stimuliFor(run.snapshot).filter((s) => s.actor === 'discoverWorkspace');
    if (endings.length === 0) run.skip();
    run.send(run.choose(endings.map((s) => ({ label: s.label, stimulus: s }))).stimulus!);
    settle(run);
  },
  response: () => null,
};

const WORKSPACE_ACTIONS: WireAction[] = [
  commandAction(SESSION_LIST, 'accountSession/list', {}, (value) => sessionListOf(value, false)),
  commandAction(SESSION_LIST_ALL, 'accountSession/list', { refreshWorkspaceMetadata: true }, (value) => sessionListOf(value, true)),
  ...Object.values(SESSION_SWITCHES).map(({ stimulus, params }) => ({ ...commandAction(stimulus, 'accountSession/switch', params, switchResultOf) })),
  DISCOVERY_ENDS,
];

/** Every request the suite sends, each mapped to the chart by its script. */
export const WIRE_ACTIONS: WireAction[] = [
  commandAction(LOGIN_API_KEY, 'account/login/start', { type: 'apiKey', apiKey: 'sk-model-key' }, () => ({ type: 'apiKey' })),
  commandAction(LOGIN_CHATGPT, 'account/login/start', { type: 'chatgpt' }, (value) => ({ type: 'chatgpt', ...(value as object) })),
  commandAction(LOGIN_DEVICE_CODE, 'account/login/start', { type: 'chatgptDeviceCode' }, (value) => ({ type: 'chatgptDeviceCode', ...(value as object) })),
  ...EXTERNAL_LOGINS.map((login) => commandAction(login.stimulus, 'account/login/start', login.params, () => ({ type: 'chatgptAuthTokens' }))),
  commandAction(LOGIN_CANCEL, 'account/login/cancel', { loginId: '6f1c1e0e-2d55-4a8e-9a44-6b0f3f1d2c11' }, (value) => value),
  { ...commandAction(LOGIN_CANCEL_PENDING, 'account/login/cancel', { loginId: LOGIN_ID }, (value) => value), onlyIf: inBrowserLogin },
  BROWSER_SIGNS_IN,
  BROWSER_RETURNS_AN_ERROR,
  BROWSER_CANCELS,
  DEVICE_CODE_ENTERED,
  DEVICE_POLL_REFUSED,
  LOGIN_TIMES_OUT_ACTION,
  commandAction(LOGOUT, 'account/logout', undefined, () => ({})),
  RATE_LIMITS_READ,
  RATE_LIMITS_DURING_REFRESH,
  ACCOUNT_READ_REFRESH,
  ...WORKSPACE_ACTIONS,
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

/** The wire form of a notification the chart emits (docs/protocol.md §5). */
export function wireNotification(event: Extract<AuthEmitted, { type: `notify.${string}` }>): { method: string; params: unknown } {
  switch (event.type) {
    case 'notify.loginCompleted':
      return { method: 'account/login/completed', params: { loginId: event.loginId, success: event.success, error: event.error } };
    case 'notify.accountUpdated':
      return { method: 'account/updated', params: { authMode: event.authMode, planType: event.planType, reason: event.reason ?? null } };
  }
}

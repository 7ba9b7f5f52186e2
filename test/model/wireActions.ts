/**
 * The wire actions of the catalogue: the requests a parent sends (and what the browser does), each with
 * a script that mirrors what the adapter makes the chart receive for it and the response the model
 * prescribes. Where the environment decides, the script offers a choice; every option is a path of its own.
 */
import type { AuthEmitted } from '../../machines/types';
import { accountViewOf, type AuthSnapshot } from '../../machines/views';
import { USAGE_READ_RESULT } from '../support/httpFakes';
import { answerTo } from './model';
import type { ReplayEnv } from './env';
import {
  AUTH_URL,
  BACKEND_CALL,
  BACKEND_CALL_NO_CLOCK,
  COMMANDS,
  EXTERNAL_LOGINS,
  LOGIN_API_KEY,
  LOGIN_CANCEL,
  LOGIN_CANCEL_PENDING,
  LOGIN_CHATGPT,
  LOGIN_ID,
  LOGIN_SERVER_EVENTS,
  LOGOUT,
  REFRESHED_ADA,
  REFRESHED_ZED,
  REFRESH_REQUESTED,
  SECOND_BACKEND_CALL,
  SECOND_BACKEND_CALL_NO_CLOCK,
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
    return { result: USAGE_READ_RESULT };
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
      return answer.type === 'answer.refused' ? { error: { code: answer.code, message: answer.message } } : { result: USAGE_READ_RESULT };
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

/**
 * The auth statechart: the whole auth policy of authchart in one visible place.
 *
 *   session.mode:  loggedOut → apiKey | chatgpt{ready ⇄ refreshing} | externalTokens{ready ⇄ refreshing} | failed
 *   session:       mode, or an effect under way (savingApiKey, loggingOut) that returns to mode's history
 *   browserLogin:  idle → active { starting → pending { waiting → exchanging } → persisting → finished } → idle
 *
 * Pure: effects are named actors and actions declared here with inert defaults and supplied by src/
 * through `.provide()`. Guards decide every refusal of PROTOCOL.md §7, in the order of that table, and
 * the 401 recovery of §6: one `refreshing` state per mode is what makes a refresh single-flight.
 */
import { and, assign, emit, fromCallback, fromPromise, not, or, raise, sendTo, setup, stateIn } from 'xstate';
import type { Secret } from './secret';
import {
  DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS,
  DEFAULT_PROACTIVE_REFRESH_SKEW_SECONDS,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  STALE_REFRESH_AGE_MS,
  type AccountInfo,
  type AuthContext,
  type AuthEmitted,
  type AuthEvent,
  type AuthInput,
  type ExternalRefreshInput,
  type ExternalRefreshOutput,
  type ExternalTokens,
  type ManagedRefreshOutput,
  type RefreshReason,
  type BrowserOutcome,
  type LoginServerCommand,
  type LoginServerEvent,
  type LoginTokens,
  type RequestKey,
  type SavedLoginOutput,
  type TokenTiming,
} from './types';

/** Exact refusal messages of PROTOCOL.md §7. */
export const MESSAGES = {
  externalAuthActive:
    'External auth is active. Use account/login/start (chatgptAuthTokens) to update it or account/logout to clear it.',
  apiKeyLoginDisabled: 'API key login is disabled. Use ChatGPT login instead.',
  chatgptLoginDisabled: 'ChatGPT login is disabled. Use API key login instead.',
  externalLoginDisabled: 'External ChatGPT auth is disabled. Use API key login instead.',
  busy: 'Another account request is still being processed; retry when it has finished.',
} as const;

/** Exact `account/login/completed` errors of a browser login (PROTOCOL.md §8). */
export const LOGIN_MESSAGES = {
  /** Cancelled by `account/login/cancel`, a newer login, an accepted login of another kind, or a logout. */
  notCompleted: 'Login server error: Login was not completed',
  /** `GET /cancel` on the callback server. */
  cancelled: 'Login server error: Login cancelled',
  timedOut: 'Login timed out',
} as const;

/** Default browser-login timeout (PROTOCOL.md §8: 10 minutes); AuthCore provides the configured one. */
export const DEFAULT_LOGIN_TIMEOUT_MS = 600_000;

/** Why a browser login's account is refused by `forced_chatgpt_workspace_id` (Codex's wording). */
export function loginWorkspaceMessage(allowed: readonly string[], got: string | null): string {
  if (got === null) {
    return 'Login is restricted to a specific workspace, but the token did not include an chatgpt_account_id claim.';
  }
  return `Login is restricted to workspace id ${allowed.join(', ')}.`;
}

/** The message for an external login whose workspace is not the forced one. */
export function workspaceMismatchMessage(allowed: readonly string[], got: string | null): string {
  const want = allowed.length === 1 ? `workspace ${allowed[0]}` : `one of workspace(s) ${JSON.stringify(allowed)}`;
  return `External auth must use ${want}, but received ${JSON.stringify(got ?? '')}.`;
}

/** Refusal of a backend call while nobody is logged in (PROTOCOL.md §4, `purpose` e.g. "read rate limits"). */
export function authRequiredMessage(purpose: string): string {
  return `codex account authentication required to ${purpose}`;
}

/** Refusal of a backend call made with an API key, which has no ChatGPT credentials. */
export function chatgptRequiredMessage(purpose: string): string {
  return `chatgpt authentication required to ${purpose}`;
}

/** A duration for a message: whole seconds as `10s`, anything else in decimal seconds (`0.3s`, `1.25s`). */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/** The failure of an external refresh the parent did not answer in time (PROTOCOL.md §6). */
export function refreshTimedOutMessage(timeoutMs: number): string {
  return `auth refresh request timed out after ${formatSeconds(timeoutMs)}`;
}

/** The failure of an external refresh that answered with a workspace outside the forced one(s). */
export function refreshWorkspaceMessage(allowed: readonly string[], got: string | null): string {
  const want = allowed.length === 1 ? JSON.stringify(allowed[0]) : `one of ${JSON.stringify(allowed)}`;
  return `external auth refresh returned workspace ${JSON.stringify(got ?? '')}, expected ${want}`;
}

/** True when a managed token should be refreshed before use at `now` (ms): near `exp`, or old without one. */
export function refreshDue(timing: TokenTiming | null, now: number, skewSeconds: number): boolean {
  if (!timing) return false;
  if (timing.expiresAt !== null) return timing.expiresAt - now <= skewSeconds * 1000;
  return timing.lastRefreshAt !== null && now - timing.lastRefreshAt > STALE_REFRESH_AGE_MS;
}

/** True when a refresh error is a permanent failure (the token endpoint refused the refresh token). */
export function isPermanentFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { kind?: unknown }).kind === 'permanent';
}

/** True when `accountId` satisfies the forced-workspace policy. */
export function workspaceAllowed(allowed: readonly string[] | null, accountId: string | null): boolean {
  return allowed === null || (accountId !== null && allowed.includes(accountId));
}

type Ev<T extends AuthEvent['type']> = Extract<AuthEvent, { type: T }>;

function reqOf(event: { type: string }): RequestKey | null {
  const req = (event as { req?: unknown }).req;
  return typeof req === 'number' ? req : null;
}

function refreshReasonOf(event: { type: string }): RefreshReason {
  if (event.type === 'backend.call') return 'proactive';
  if (event.type === 'refresh.requested') return 'forced';
  return 'unauthorized';
}

function outputOf<T>(event: { type: string }): T {
  return (event as unknown as { output: T }).output;
}

/** The chart's building blocks. Actors and side-effect actions here are inert until src/ provides them. */
export const authSetup = setup({
  types: {
    context: {} as AuthContext,
    events: {} as AuthEvent,
    input: {} as AuthInput,
    emitted: {} as AuthEmitted,
  },
  actors: {
    /** Persists an API key to the credential store (auth.json, memory…). */
    saveApiKey: fromPromise<void, { apiKey: Secret }>(async () => {
      throw new Error('saveApiKey is not provided');
    }),
    /** Removes persisted credentials (auth.json / keyring) at logout. */
    clearCredentials: fromPromise<void, void>(async () => {
      throw new Error('clearCredentials is not provided');
    }),
    /**
     * Refreshes the managed ChatGPT tokens (§6): under the store lock, reload the store, adopt newer tokens
     * found there or POST the refresh token, persist. Rejects with a RefreshFailure-shaped error.
     */
    managedRefresh: fromPromise<ManagedRefreshOutput, { reason: RefreshReason }>(async () => {
      throw new Error('managedRefresh is not provided');
    }),
    /** Asks the parent for new external tokens (`account/chatgptAuthTokens/refresh`) and decodes its answer. */
    externalRefresh: fromPromise<ExternalRefreshOutput, ExternalRefreshInput>(async () => {
      throw new Error('externalRefresh is not provided');
    }),
    /**
     * The browser login's callback server, alive exactly as long as `browserLogin.active`: binds
     * 127.0.0.1, reports `loginServer.*` events, answers the browser when told `loginServer.respond`,
     * and closes its listener when stopped, whatever ended the login.
     */
    loginServer: fromCallback<LoginServerCommand, { originator: string }, LoginServerEvent>(({ sendBack }) => {
      sendBack({ type: 'loginServer.startFailed', message: 'the browser login server is not provided' });
    }),
    /** Persists the tokens of a successful browser login (auth.json, memory…), under the store lock. */
    saveChatgptTokens: fromPromise<SavedLoginOutput, { tokens: LoginTokens; accountId: string | null }>(async () => {
      throw new Error('saveChatgptTokens is not provided');
    }),
  },
  delays: {
    /** How long the parent may take to answer a refresh request; enforced here, not by the transport. */
    externalRefreshTimeout: ({ context }) => context.policy.externalRefreshTimeoutMs ?? DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS,
    /** How long a browser login may wait for the browser (and the code exchange). */
    loginTimeout: ({ context }) => context.policy.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS,
  },
  actions: {
    /** Puts external tokens (from a login or a refresh) into the in-memory vault. */
    storeExternalTokens: (_, _params: { tokens: ExternalTokens; account: AccountInfo }) => {},
    /** Forgets the in-memory external tokens. */
    clearExternalTokens: () => {},
    /** Makes refreshed managed credentials (already persisted by the refresh) the ones in use. */
    adoptManagedCredentials: (_, _params: { output: ManagedRefreshOutput }) => {},
    /** Answers the command in `params.req` (or the current event's) successfully. */
    answer: emit((_, params: { req: RequestKey | null; value?: unknown }) => ({
      type: 'answer.done' as const,
      req: params.req ?? -1,
      value: params.value,
    })),
    /** Answers the current command with an error. */
    refuse: emit(({ event }, params: { code: number; message: string }) => ({
      type: 'answer.refused' as const,
      req: reqOf(event) ?? -1,
      code: params.code,
      message: params.message,
    })),
    /** Answers the command waiting on a failed effect with -32603 `<failure>: <reason>`. */
    refusePending: emit(({ context, event }, params: { failure: string }) => ({
      type: 'answer.refused' as const,
      req: context.pending ?? -1,
      code: INTERNAL_ERROR,
      message: `${params.failure}: ${errorText((event as { error?: unknown }).error)}`,
    })),
    rememberRequest: assign({ pending: ({ event }) => reqOf(event) }),
    forgetRequest: assign({ pending: null }),
    notifyLoginSucceeded: emit({ type: 'notify.loginCompleted' as const, loginId: null, success: true, error: null }),
    notifyApiKeyMode: emit({ type: 'notify.accountUpdated' as const, authMode: 'apikey' as const, planType: null }),
    notifyExternalMode: emit(({ context }) => ({
      type: 'notify.accountUpdated' as const,
      authMode: 'chatgptAuthTokens' as const,
      planType: context.account?.planType ?? null,
    })),
    notifyLoggedOut: emit({ type: 'notify.accountUpdated' as const, authMode: null, planType: null }),
    notifyChatgptMode: emit(({ context }) => ({
      type: 'notify.accountUpdated' as const,
      authMode: 'chatgpt' as const,
      planType: context.account?.planType ?? null,
    })),
    setAccount: assign({ account: (_, params: { account: AccountInfo | null }) => params.account }),
    setTiming: assign({ timing: (_, params: { timing: TokenTiming | null }) => params.timing }),
    /** The bearer changed: 401s reported for older generations no longer start a refresh. */
    tokensChanged: assign({ credentialGeneration: ({ context }) => context.credentialGeneration + 1, lastRefreshError: null }),
    recordRefreshError: assign({ lastRefreshError: (_, params: { message: string }) => params.message }),
    /** The managed login is dead (permanent refresh failure): calls are refused with this message. */
    recordFailure: assign({ failure: (_, params: { message: string }) => params.message }),
    clearFailure: assign({ failure: null }),
    /** Lets a backend call go ahead (the caller then reads the bearer, waiting out a refresh under way). */
    allowCall: emit(({ event }) => ({ type: 'answer.done' as const, req: reqOf(event) ?? -1 })),
    /** `account/login/completed` for the browser login under way. */
    notifyBrowserLoginCompleted: emit(({ context }, params: { success: boolean; error: string | null }) => ({
      type: 'notify.loginCompleted' as const,
      loginId: context.browserLogin?.loginId ?? null,
      success: params.success,
      error: params.error,
    })),
    startBrowserLogin: assign({ browserLogin: ({ event }) => {
      const { loginId } = event as Extract<LoginServerEvent, { type: 'loginServer.listening' }>;
      return { loginId, account: null };
    } }),
    setBrowserLoginAccount: assign({ browserLogin: ({ context, event }) =>
      context.browserLogin && { ...context.browserLogin, account: (event as Extract<LoginServerEvent, { type: 'loginServer.exchanged' }>).account },
    }),
    forgetBrowserLogin: assign({ browserLogin: null }),
    /** Tells the callback server how to answer the browser's pending callback request. */
    respondToBrowser: sendTo('loginServer', (_, params: { outcome: BrowserOutcome }) => ({
      type: 'loginServer.respond' as const,
      outcome: params.outcome,
    })),
  },
  guards: {
    externalActive: stateIn({ session: { mode: 'externalTokens' } }),
    apiKeyLoginDisabled: ({ context }) => context.policy.forcedLoginMethod === 'chatgpt',
    chatgptLoginDisabled: ({ context }) => context.policy.forcedLoginMethod === 'api',
    externalLoginDisabled: ({ context }) => context.policy.forcedLoginMethod === 'api',
    tokenInvalid: ({ event }) => event.type === 'login.externalTokens' && !event.claims.ok,
    workspaceRefused: ({ context, event }) =>
      event.type === 'login.externalTokens' &&
      event.claims.ok &&
      !workspaceAllowed(context.policy.forcedWorkspaceIds, event.claims.account.accountId),
    restoredApiKey: ({ context }) => context.restored === 'apiKey',
    restoredChatgpt: ({ context }) => context.restored === 'chatgpt',
    /** The 401 was answered to the bearer in use now (not to one a refresh already replaced). */
    unauthorizedCurrent: ({ context, event }) => event.type === 'auth.unauthorized' && event.generation === context.credentialGeneration,
    proactiveRefreshDue: ({ context, event }) =>
      event.type === 'backend.call' &&
      event.now !== null &&
      refreshDue(context.timing, event.now, context.policy.proactiveRefreshSkewSeconds ?? DEFAULT_PROACTIVE_REFRESH_SKEW_SECONDS),
    permanentRefreshFailure: ({ event }) => isPermanentFailure((event as { error?: unknown }).error),
    refreshedWorkspaceRefused: ({ context, event }) =>
      !workspaceAllowed(context.policy.forcedWorkspaceIds, outputOf<ExternalRefreshOutput>(event).account.accountId),
    /** The session region accepts this `login.apiKey` (the same checks, in the same order). */
    apiKeyLoginAccepted: and([not('externalActive'), not('apiKeyLoginDisabled')]),
    /** The session region accepts this `login.externalTokens` (the same checks, in the same order). */
    externalLoginAccepted: and([not('externalLoginDisabled'), not('tokenInvalid'), not('workspaceRefused')]),
    /** An effect of the session region (saving, clearing credentials) is under way. */
    sessionBusy: or([stateIn({ session: 'savingApiKey' }), stateIn({ session: 'loggingOut' })]),
    /** The browser login is binding its server or saving its tokens (neither may be interrupted). */
    browserLoginBusy: or([stateIn({ browserLogin: { active: 'starting' } }), stateIn({ browserLogin: { active: 'persisting' } })]),
    /** The browser login is still binding its callback server (a failure answers the login/start request). */
    loginStarting: stateIn({ browserLogin: { active: 'starting' } }),
    loginIdMatches: ({ context, event }) => event.type === 'login.cancel' && context.browserLogin?.loginId === event.loginId,
    loginWorkspaceRefused: ({ context, event }) =>
      event.type === 'loginServer.exchanged' && !workspaceAllowed(context.policy.forcedWorkspaceIds, event.account.accountId),
  },
});

function purposeOf(event: AuthEvent): string {
  return event.type === 'backend.call' ? event.purpose : 'call the ChatGPT backend';
}

/** A transition that ends the browser login under way with `account/login/completed {success:false}`. */
function endLogin(error: string) {
  return {
    target: '#auth.browserLogin.idle',
    actions: { type: 'notifyBrowserLoginCompleted', params: { success: false, error } },
  } as const;
}

/** Refusals of `login.chatgpt` (PROTOCOL.md §7, in table order). */
const chatgptLoginRefusals = [
  { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
  { guard: 'chatgptLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.chatgptLoginDisabled } } },
] as const;

function claimsAccount(event: AuthEvent): AccountInfo | null {
  return event.type === 'login.externalTokens' && event.claims.ok ? event.claims.account : null;
}

const allowCall = { actions: 'allowCall' } as const;

/**
 * The refusal of a command that arrives while an effect is under way. AuthCore never sends one then (it
 * waits for the chart to be idle); the chart still answers it, exactly once, so that the chart alone is
 * a complete specification. Each command is answered by one region: logins with an API key or external
 * tokens and logouts by `session`, browser logins and cancels by `browserLogin`.
 */
const refuseBusy = { actions: { type: 'refuse', params: { code: INTERNAL_ERROR, message: MESSAGES.busy } } } as const;

/** The session region's commands, refused while one of its effects runs. */
const refuseWhileBusy = {
  'login.apiKey': refuseBusy,
  'login.externalTokens': refuseBusy,
  logout: refuseBusy,
} as const;

/** The auth statechart. */
export const authMachine = authSetup.createMachine({
  id: 'auth',
  type: 'parallel',
  context: ({ input }) => ({
    policy: input.policy,
    account: input.restored?.mode === 'chatgpt' ? input.restored.account : null,
    pending: null,
    failure: null,
    restored: input.restored?.mode ?? null,
    credentialGeneration: 0,
    lastRefreshError: null,
    timing: input.restored?.mode === 'chatgpt' ? (input.restored.timing ?? null) : null,
    browserLogin: null,
  }),
  states: {
    session: {
      initial: 'mode',
      states: {
        /**
         * The auth mode. Effects (saving, clearing credentials) are siblings of `mode`, so entering one
         * exits `mode` and its history remembers where to return if the effect fails.
         */
        mode: {
          initial: 'restoring',
          states: {
            /** Start-up: enter the mode the credential store was left in. */
            restoring: {
              always: [
                { guard: 'restoredApiKey', target: 'apiKey' },
                { guard: 'restoredChatgpt', target: 'chatgpt' },
                { target: 'loggedOut' },
              ],
            },
            loggedOut: {
              on: {
                'backend.call': {
                  actions: { type: 'refuse', params: ({ event }) => ({ code: INVALID_REQUEST, message: authRequiredMessage(purposeOf(event)) }) },
                },
              },
            },
            apiKey: {
              tags: ['authenticated', 'managed'],
              on: {
                'backend.call': {
                  actions: { type: 'refuse', params: ({ event }) => ({ code: INVALID_REQUEST, message: chatgptRequiredMessage(purposeOf(event)) }) },
                },
              },
            },
            /** Managed ChatGPT tokens (auth.json), refreshed by authchart itself through the token endpoint. */
            chatgpt: {
              tags: ['authenticated', 'managed'],
              initial: 'ready',
              states: {
                ready: {
                  on: {
                    'backend.call': [{ guard: 'proactiveRefreshDue', target: 'refreshing', actions: 'allowCall' }, allowCall],
                    'auth.unauthorized': { guard: 'unauthorizedCurrent', target: 'refreshing' },
                    'refresh.requested': { target: 'refreshing' },
                  },
                },
                // No 'busy' tag: logout and logins interrupt a refresh (its effect is then discarded).
                refreshing: {
                  tags: ['refreshing'],
                  invoke: {
                    id: 'managedRefresh',
                    src: 'managedRefresh',
                    input: ({ event }) => ({ reason: refreshReasonOf(event) }),
                    onDone: {
                      target: 'ready',
                      actions: [
                        { type: 'adoptManagedCredentials', params: ({ event }) => ({ output: event.output }) },
                        { type: 'setAccount', params: ({ event }) => ({ account: event.output.account }) },
                        { type: 'setTiming', params: ({ event }) => ({ timing: event.output.timing }) },
                        'tokensChanged',
                      ],
                    },
                    onError: [
                      {
                        guard: 'permanentRefreshFailure',
                        target: '#auth.session.mode.failed',
                        actions: { type: 'recordFailure', params: ({ event }) => ({ message: errorText(event.error) }) },
                      },
                      { target: 'ready', actions: { type: 'recordRefreshError', params: ({ event }) => ({ message: errorText(event.error) }) } },
                    ],
                  },
                  on: { 'backend.call': allowCall },
                },
              },
            },
            /** External tokens handed in by the parent, which is asked for new ones on a 401. */
            externalTokens: {
              tags: ['authenticated', 'external'],
              initial: 'ready',
              states: {
                ready: {
                  on: {
                    'backend.call': allowCall,
                    'auth.unauthorized': { guard: 'unauthorizedCurrent', target: 'refreshing' },
                  },
                },
                refreshing: {
                  tags: ['refreshing'],
                  invoke: {
                    id: 'externalRefresh',
                    src: 'externalRefresh',
                    input: ({ context }) => ({ reason: 'unauthorized' as const, previousAccountId: context.account?.accountId ?? null }),
                    onDone: [
                      {
                        guard: 'refreshedWorkspaceRefused',
                        target: 'ready',
                        actions: {
                          type: 'recordRefreshError',
                          params: ({ context, event }) => ({
                            message: refreshWorkspaceMessage(context.policy.forcedWorkspaceIds ?? [], event.output.account.accountId),
                          }),
                        },
                      },
                      {
                        target: 'ready',
                        actions: [
                          { type: 'storeExternalTokens', params: ({ event }) => event.output },
                          { type: 'setAccount', params: ({ event }) => ({ account: event.output.account }) },
                          'tokensChanged',
                        ],
                      },
                    ],
                    onError: { target: 'ready', actions: { type: 'recordRefreshError', params: ({ event }) => ({ message: errorText(event.error) }) } },
                  },
                  // Leaving the state stops the request's actor: an answer arriving later is ignored.
                  after: {
                    externalRefreshTimeout: {
                      target: 'ready',
                      actions: {
                        type: 'recordRefreshError',
                        params: ({ context }) => ({
                          message: refreshTimedOutMessage(context.policy.externalRefreshTimeoutMs ?? DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS),
                        }),
                      },
                    },
                  },
                  on: { 'backend.call': allowCall },
                },
              },
            },
            /**
             * A managed refresh failed permanently (the refresh token is dead): calls fail fast with
             * `context.failure` and touch no network until a login or a logout leaves this state.
             */
            failed: {
              tags: ['managed'],
              exit: 'clearFailure',
              on: {
                'backend.call': {
                  actions: { type: 'refuse', params: ({ context }) => ({ code: INTERNAL_ERROR, message: context.failure ?? 'authentication failed' }) },
                },
              },
            },
            /**
             * Where a failed effect returns: the mode the session was in before it started. Shallow, so a
             * refresh the effect interrupted is not restarted: the mode comes back `ready`.
             */
            previous: { type: 'history', history: 'shallow', target: 'loggedOut' },
          },
          on: {
            'login.apiKey': [
              { guard: 'browserLoginBusy', ...refuseBusy },
              { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
              { guard: 'apiKeyLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.apiKeyLoginDisabled } } },
              { target: '#auth.session.savingApiKey', actions: 'rememberRequest' },
            ],
            'login.externalTokens': [
              { guard: 'browserLoginBusy', ...refuseBusy },
              { guard: 'externalLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalLoginDisabled } } },
              {
                guard: 'tokenInvalid',
                actions: {
                  type: 'refuse',
                  params: ({ event }) => ({
                    code: INVALID_REQUEST,
                    message: `invalid id token: ${event.type === 'login.externalTokens' && !event.claims.ok ? event.claims.reason : ''}`,
                  }),
                },
              },
              {
                guard: 'workspaceRefused',
                actions: {
                  type: 'refuse',
                  params: ({ context, event }) => ({
                    code: INVALID_REQUEST,
                    message: workspaceMismatchMessage(context.policy.forcedWorkspaceIds ?? [], claimsAccount(event)?.accountId ?? null),
                  }),
                },
              },
              {
                target: '.externalTokens',
                reenter: true,
                actions: [
                  {
                    type: 'storeExternalTokens',
                    params: ({ event }) => ({ tokens: (event as Ev<'login.externalTokens'>).tokens, account: claimsAccount(event)! }),
                  },
                  { type: 'setAccount', params: ({ event }) => ({ account: claimsAccount(event) }) },
                  { type: 'setTiming', params: { timing: null } },
                  'tokensChanged',
                  { type: 'answer', params: ({ event }) => ({ req: reqOf(event) }) },
                  'notifyLoginSucceeded',
                  'notifyExternalMode',
                ],
              },
            ],
            logout: [
              { guard: 'browserLoginBusy', ...refuseBusy },
              { target: '#auth.session.loggingOut', actions: 'rememberRequest' },
            ],
            /** Raised by browserLogin once the tokens are saved; answers nothing, announces the new mode. */
            'browserLogin.succeeded': {
              target: '.chatgpt',
              reenter: true,
              actions: [
                { type: 'setAccount', params: ({ event }) => ({ account: event.account }) },
                { type: 'setTiming', params: ({ event }) => ({ timing: event.timing }) },
                'tokensChanged',
                'notifyChatgptMode',
              ],
            },
          },
        },
        savingApiKey: {
          tags: ['busy'],
          invoke: {
            id: 'saveApiKey',
            src: 'saveApiKey',
            input: ({ event }) => ({ apiKey: (event as Ev<'login.apiKey'>).apiKey }),
            onDone: {
              target: 'mode.apiKey',
              actions: [
                { type: 'setAccount', params: { account: null } },
                { type: 'setTiming', params: { timing: null } },
                'tokensChanged',
                { type: 'answer', params: ({ context }) => ({ req: context.pending }) },
                'forgetRequest',
                'notifyLoginSucceeded',
                'notifyApiKeyMode',
              ],
            },
            onError: {
              target: 'mode.previous',
              actions: [
                { type: 'refusePending', params: { failure: 'failed to save the API key' } },
                'forgetRequest',
              ],
            },
          },
          on: refuseWhileBusy,
        },
        loggingOut: {
          tags: ['busy'],
          invoke: {
            id: 'clearCredentials',
            src: 'clearCredentials',
            onDone: {
              target: 'mode.loggedOut',
              actions: [
                'clearExternalTokens',
                { type: 'setAccount', params: { account: null } },
                { type: 'setTiming', params: { timing: null } },
                'tokensChanged',
                { type: 'answer', params: ({ context }) => ({ req: context.pending }) },
                'forgetRequest',
                'notifyLoggedOut',
              ],
            },
            onError: {
              target: 'mode.previous',
              actions: [
                { type: 'refusePending', params: { failure: 'failed to remove the saved credentials' } },
                'forgetRequest',
              ],
            },
          },
          on: refuseWhileBusy,
        },
      },
    },
    /**
     * Managed ChatGPT login in a browser (OAuth code + PKCE, PROTOCOL.md §8). Its own region: it may run
     * while an API key is active. One `loginServer` actor owns the callback listener for the whole of
     * `active`, so leaving `active` for any reason (success, cancel, timeout, failure, a newer login,
     * the chart stopping) stops it and closes the listener.
     */
    browserLogin: {
      initial: 'idle',
      states: {
        idle: {
          entry: 'forgetBrowserLogin',
          on: {
            'login.chatgpt': [{ guard: 'sessionBusy', ...refuseBusy }, ...chatgptLoginRefusals, { target: 'active', actions: 'rememberRequest' }],
            'login.cancel': {
              actions: { type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: { status: 'notFound' } }) },
            },
          },
        },
        active: {
          entry: 'forgetBrowserLogin',
          invoke: {
            id: 'loginServer',
            src: 'loginServer',
            input: ({ event }) => ({ originator: (event as Ev<'login.chatgpt'>).originator }),
            onError: [
              {
                guard: 'loginStarting',
                target: 'idle',
                actions: [{ type: 'refusePending', params: { failure: 'failed to start login server' } }, 'forgetRequest'],
              },
              {
                target: 'idle',
                actions: {
                  type: 'notifyBrowserLoginCompleted',
                  params: ({ event }) => ({ success: false, error: `Login server error: ${errorText(event.error)}` }),
                },
              },
            ],
          },
          initial: 'starting',
          states: {
            /** Binding the callback server; the `login/start` request waits for the authUrl. */
            starting: {
              tags: ['busy'],
              on: {
                'login.chatgpt': refuseBusy,
                'login.cancel': refuseBusy,
                'loginServer.listening': {
                  target: 'pending',
                  actions: [
                    'startBrowserLogin',
                    {
                      type: 'answer',
                      params: ({ context, event }) => ({ req: context.pending, value: { loginId: event.loginId, authUrl: event.authUrl } }),
                    },
                    'forgetRequest',
                  ],
                },
                'loginServer.startFailed': {
                  target: '#auth.browserLogin.idle',
                  actions: [
                    emit(({ context, event }) => ({
                      type: 'answer.refused' as const,
                      req: context.pending ?? -1,
                      code: INTERNAL_ERROR,
                      message: `failed to start login server: ${event.message}`,
                    })),
                    'forgetRequest',
                  ],
                },
              },
            },
            /** Waiting for the browser, then for the issuer; the login timeout runs here. */
            pending: {
              initial: 'waiting',
              after: { loginTimeout: endLogin(LOGIN_MESSAGES.timedOut) },
              states: {
                waiting: { on: { 'loginServer.callback': 'exchanging' } },
                exchanging: {
                  on: {
                    'loginServer.exchanged': [
                      {
                        guard: 'loginWorkspaceRefused',
                        target: '#auth.browserLogin.active.finished',
                        actions: [
                          {
                            type: 'respondToBrowser',
                            params: ({ context, event }) => ({
                              outcome: {
                                ok: false,
                                status: 403,
                                message: loginWorkspaceMessage(context.policy.forcedWorkspaceIds ?? [], event.account.accountId),
                              },
                            }),
                          },
                          {
                            type: 'notifyBrowserLoginCompleted',
                            params: ({ context, event }) => ({
                              success: false,
                              error: `Login server error: ${loginWorkspaceMessage(context.policy.forcedWorkspaceIds ?? [], event.account.accountId)}`,
                            }),
                          },
                        ],
                      },
                      { target: '#auth.browserLogin.active.persisting', actions: 'setBrowserLoginAccount' },
                    ],
                  },
                },
              },
              on: {
                'loginServer.failed': {
                  target: '#auth.browserLogin.active.finished',
                  actions: [
                    { type: 'respondToBrowser', params: ({ event }) => ({ outcome: { ok: false, status: 500, message: event.message } }) },
                    {
                      type: 'notifyBrowserLoginCompleted',
                      params: ({ event }) => ({ success: false, error: `Login server error: ${event.message}` }),
                    },
                  ],
                },
                'loginServer.cancelRequested': endLogin(LOGIN_MESSAGES.cancelled),
                'login.cancel': [
                  {
                    guard: 'loginIdMatches',
                    target: '#auth.browserLogin.idle',
                    actions: [
                      { type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: { status: 'canceled' } }) },
                      { type: 'notifyBrowserLoginCompleted', params: { success: false, error: LOGIN_MESSAGES.notCompleted } },
                    ],
                  },
                  { actions: { type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: { status: 'notFound' } }) } },
                ],
                // A newer browser login replaces this one (the new server starts after this one closed).
                'login.chatgpt': [
                  ...chatgptLoginRefusals,
                  {
                    target: '#auth.browserLogin.active',
                    reenter: true,
                    actions: [
                      { type: 'notifyBrowserLoginCompleted', params: { success: false, error: LOGIN_MESSAGES.notCompleted } },
                      'rememberRequest',
                    ],
                  },
                ],
                // Logins the session region accepts, and logouts, drop this one (as Codex does); refused ones do not.
                'login.apiKey': { guard: 'apiKeyLoginAccepted', ...endLogin(LOGIN_MESSAGES.notCompleted) },
                'login.externalTokens': { guard: 'externalLoginAccepted', ...endLogin(LOGIN_MESSAGES.notCompleted) },
                logout: endLogin(LOGIN_MESSAGES.notCompleted),
              },
            },
            /** Saving the tokens; not interruptible (tagged busy, so no request is handled meanwhile). */
            persisting: {
              tags: ['busy'],
              on: { 'login.chatgpt': refuseBusy, 'login.cancel': refuseBusy },
              invoke: {
                id: 'saveChatgptTokens',
                src: 'saveChatgptTokens',
                input: ({ event }) => {
                  const exchanged = event as Extract<LoginServerEvent, { type: 'loginServer.exchanged' }>;
                  return { tokens: exchanged.tokens, accountId: exchanged.account.accountId };
                },
                onDone: {
                  target: 'finished',
                  actions: [
                    { type: 'respondToBrowser', params: { outcome: { ok: true } } },
                    { type: 'notifyBrowserLoginCompleted', params: { success: true, error: null } },
                    raise(({ context, event }) => ({
                      type: 'browserLogin.succeeded' as const,
                      account: context.browserLogin!.account!,
                      timing: event.output.timing,
                    })),
                  ],
                },
                onError: {
                  target: 'finished',
                  actions: [
                    {
                      type: 'respondToBrowser',
                      params: ({ event }) => ({
                        outcome: { ok: false, status: 500, message: `Sign-in completed but the credentials could not be saved: ${errorText(event.error)}` },
                      }),
                    },
                    {
                      type: 'notifyBrowserLoginCompleted',
                      params: ({ event }) => ({
                        success: false,
                        error: `Login server error: Sign-in completed but the credentials could not be saved: ${errorText(event.error)}`,
                      }),
                    },
                  ],
                },
              },
            },
            /** The browser has been told the outcome; leaving `active` closes the server. */
            finished: { type: 'final' },
          },
          onDone: 'idle',
        },
      },
    },
  },
});

/** The machine's type, for code that provides implementations or inspects snapshots. */
export type AuthMachine = typeof authMachine;

/** The message of an effect's error: an Error, or any object with a string `message` (a RefreshFailure). */
function errorText(error: unknown): string {
  const message = typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(error);
}

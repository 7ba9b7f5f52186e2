/**
 * The chart's building blocks: its types, and every actor, action, guard and delay by name. Actors and
 * side-effect actions are inert here; src/ supplies them with `.provide()`.
 */
import { and, assign, emit, fromCallback, fromPromise, not, or, sendTo, setup, stateIn } from 'xstate';
import type { Secret } from './secret';
import {
  DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS,
  DEFAULT_PROACTIVE_REFRESH_SKEW_SECONDS,
  INTERNAL_ERROR,
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
import { DEFAULT_LOGIN_TIMEOUT_MS, MESSAGES, errorText, isPermanentFailure, refreshDue, workspaceAllowed } from './policy';

/** The event of a given type. */
export type Ev<T extends AuthEvent['type']> = Extract<AuthEvent, { type: T }>;

/** The correlation key of a command event. */
export function reqOf(event: { type: string }): RequestKey | null {
  const req = (event as { req?: unknown }).req;
  return typeof req === 'number' ? req : null;
}

export function refreshReasonOf(event: { type: string }): RefreshReason {
  if (event.type === 'backend.call') return 'proactive';
  if (event.type === 'refresh.requested') return 'forced';
  return 'unauthorized';
}

export function outputOf<T>(event: { type: string }): T {
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
    /**
     * The bearer changed: 401s reported for older generations no longer start a refresh, and a dead
     * refresh token's failure no longer applies. (Not on leaving `failed`: an effect that fails returns there.)
     */
    tokensChanged: assign({ credentialGeneration: ({ context }) => context.credentialGeneration + 1, lastRefreshError: null, failure: null }),
    recordRefreshError: assign({ lastRefreshError: (_, params: { message: string }) => params.message }),
    /** The managed login is dead (permanent refresh failure): calls are refused with this message. */
    recordFailure: assign({ failure: (_, params: { message: string }) => params.message }),
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

/**
 * The refusal of a command that arrives while an effect is under way. AuthCore never sends one then (it
 * waits for the chart to be idle); the chart still answers it, exactly once, so that the chart alone is
 * a complete specification. Each command is answered by one region: logins with an API key or external
 * tokens and logouts by `session`, browser logins and cancels by `browserLogin`.
 */
export const refuseBusy = { actions: { type: 'refuse', params: { code: INTERNAL_ERROR, message: MESSAGES.busy } } } as const;

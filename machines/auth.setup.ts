/**
 * The chart's building blocks: its types, and every actor, action, guard and delay by name. Actors and
 * side-effect actions are inert here; src/ supplies them with `.provide()`.
 */
import { assertEvent, assign, emit, enqueueActions, fromCallback, fromPromise, or, raise, sendTo, setup, stateIn } from 'xstate';
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
  type CallVerdict,
  type ExternalRefreshInput,
  type ExternalRefreshOutput,
  type ExternalTokens,
  type ManagedRefreshOutput,
  type RefreshReason,
  type BrowserOutcome,
  type LoginFlowCommand,
  type LoginFlowEvent,
  type LoginFlowInput,
  type LoginTokens,
  type ManagedLoginKind,
  type RequestKey,
  type SavedLoginOutput,
  type TokenTiming,
  type WaitingCall,
  type SessionSnapshot,
  type SwitchedOutput,
  type WorkspaceKnowledge,
} from './types';
import { MESSAGES, isPermanentFailure, isSwitchRejection, loginStartRefusal, loginTimeoutOf, refreshDue, workspaceAllowed, workspaceListed } from './policy';

/** The correlation key of a command event, or null for events that are not commands. */
export function reqOf(event: { type: string }): RequestKey | null {
  const req = (event as { req?: unknown }).req;
  return typeof req === 'number' ? req : null;
}

/** Why a refresh starts, from the event that starts it. */
export function refreshReasonOf(event: AuthEvent): RefreshReason {
  if (event.type === 'backend.call') return 'proactive';
  if (event.type === 'refresh.requested') return 'forced';
  return 'unauthorized';
}

/** An action that can emit several answers (enqueueActions typed for this chart: emits, assigns, nothing else). */
function batch<TParams extends Record<string, unknown> | undefined>(
  collect: Parameters<typeof enqueueActions<AuthContext, AuthEvent, TParams, AuthEvent, never, never, never, never, AuthEmitted>>[0],
) {
  return enqueueActions<AuthContext, AuthEvent, TParams, AuthEvent, never, never, never, never, AuthEmitted>(collect);
}

/** Answers every call waiting on the refresh with `verdict` (done with a value, or refused), and forgets them. */
function answerWaitingWith(verdict: (call: WaitingCall) => { value: CallVerdict } | { code: number; message: string }) {
  return batch<undefined>(({ context, enqueue }) => {
    for (const call of context.waiting) {
      const answer = verdict(call);
      enqueue.emit('value' in answer ? { type: 'answer.done', req: call.req, value: answer.value } : { type: 'answer.refused', req: call.req, ...answer });
    }
    enqueue.assign({ waiting: [] });
  });
}

const refreshFailed = batch<{ message: string }>(({ context, enqueue }, params) => {
  for (const call of context.waiting) {
    enqueue.emit(
      call.kind === 'call'
        ? { type: 'answer.done', req: call.req, value: 'proceed' }
        : { type: 'answer.refused', req: call.req, code: INTERNAL_ERROR, message: params.message },
    );
  }
  enqueue.assign({ waiting: [], lastRefreshError: params.message });
});

const refuseLoginStart = batch<undefined>(({ context, event, enqueue }) => {
  assertEvent(event, 'loginFlow.startFailed');
  enqueue.emit({ type: 'answer.refused', req: context.pending ?? -1, ...loginStartRefusal(context.managedLogin?.kind ?? 'browser', event) });
  enqueue.assign({ pending: null });
});

/** The kind of managed login a command starts. */
export function loginKindOf(event: AuthEvent): ManagedLoginKind {
  return event.type === 'login.deviceCode' ? 'device' : 'browser';
}

/** What `accountSession.*` is answered with in a managed login: the account and its workspaces, never a token. */
export function sessionSnapshotOf(context: AuthContext): SessionSnapshot | null {
  return context.account && { account: context.account, workspace: context.workspace, lastRefreshAt: context.timing?.lastRefreshAt ?? null };
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
     * A managed login's flow, alive exactly as long as `managedLogin.active`: the browser's callback
     * server on 127.0.0.1 (which answers the browser when told `loginFlow.respond`), or the device-code
     * request and polling. It reports `loginFlow.*` events (a failure to start included: it never
     * throws) and, when stopped, whatever ended the login, closes its listener or stops polling.
     */
    loginFlow: fromCallback<LoginFlowCommand, LoginFlowInput, LoginFlowEvent>(({ sendBack }) => {
      sendBack({ type: 'loginFlow.startFailed', message: 'the login flow is not provided' });
    }),
    /** Persists the tokens of a successful managed login (auth.json, keyring, memory…), under the store lock. */
    saveChatgptTokens: fromPromise<SavedLoginOutput, { tokens: LoginTokens; accountId: string | null }>(async () => {
      throw new Error('saveChatgptTokens is not provided');
    }),
    // --- workspaces (issue 14) ---
    /**
     * Workspace discovery (`GET …/accounts/check` through the 401 recovery): the routing, name and
     * workspaces of the login's account. Rejects with Codex's text of the failure (already logged).
     */
    discoverWorkspace: fromPromise<WorkspaceKnowledge, { accountId: string | null }>(async () => {
      throw new Error('discoverWorkspace is not provided');
    }),
    /**
     * Exchanges the managed bearer for tokens of workspace `accountId` and saves them under the store lock.
     * Rejects with `{kind:'rejected', code, message}` when the backend refuses the workspace.
     */
    switchWorkspace: fromPromise<SwitchedOutput, { accountId: string }>(async () => {
      throw new Error('switchWorkspace is not provided');
    }),
  },
  delays: {
    /** How long the parent may take to answer a refresh request; enforced here, not by the transport. */
    externalRefreshTimeout: ({ context }) => context.policy.externalRefreshTimeoutMs ?? DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS,
    /** How long a managed login may wait for the user (and the code exchange): its kind's timeout. */
    loginTimeout: ({ context }) => loginTimeoutOf(context.policy, context.managedLogin?.kind ?? 'browser'),
  },
  actions: {
    /** Puts external tokens (from a login or a refresh) into the in-memory vault. */
    storeExternalTokens: (_, _params: { tokens: ExternalTokens }) => {},
    /** Forgets the in-memory external tokens. */
    clearExternalTokens: () => {},
    /** Makes refreshed managed credentials (already persisted by the refresh) the ones in use. */
    adoptManagedCredentials: (_, _params: { output: ManagedRefreshOutput }) => {},
    /**
     * Managed ChatGPT tokens were just removed from the store or replaced in it (a logout, a newer login):
     * revoke them at the issuer in the background (docs/protocol.md §13.2). Never waits, never fails the
     * transition; API keys and external tokens are never sent anywhere.
     */
    revokeDisplacedTokens: () => {},
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
    refusePending: emit(({ context }, params: { message: string }) => ({
      type: 'answer.refused' as const,
      req: context.pending ?? -1,
      code: INTERNAL_ERROR,
      message: params.message,
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
    /** The managed login is dead (permanent refresh failure): calls are refused with this message. */
    recordFailure: assign({ failure: (_, params: { message: string }) => params.message }),
    /** Answers a backend call: go ahead with the credentials in use now (`proceed`), or ask again (`again`). */
    answerCall: emit(({ event }, params: { verdict: CallVerdict }) => ({
      type: 'answer.done' as const,
      req: reqOf(event) ?? -1,
      value: params.verdict,
    })),
    /** Holds the current command until the refresh under way settles (see WaitingCall). */
    waitForRefresh: assign({
      waiting: ({ context, event }, params: { kind: WaitingCall['kind'] }) => [...context.waiting, { req: reqOf(event) ?? -1, kind: params.kind }],
    }),
    /** The refresh produced new credentials: every waiting call goes ahead (a refused one is retried). */
    releaseWaiting: answerWaitingWith(() => ({ value: 'proceed' })),
    /**
     * A refresh failed and the tokens in use were kept: its reason is recorded, calls that were only
     * waiting go ahead with those tokens, calls the backend already refused fail with the reason (-32603).
     */
    refreshFailed: refreshFailed,
    /**
     * The mode is left while calls wait (logout, another login, a dead refresh token): each asks again
     * and the new mode decides (`failed` and `loggedOut` refuse with their own texts).
     */
    requeueWaiting: answerWaitingWith(() => ({ value: 'again' })),
    /** `account/login/completed` for the managed login under way. */
    notifyManagedLoginCompleted: emit(({ context }, params: { success: boolean; error: string | null }) => ({
      type: 'notify.loginCompleted' as const,
      loginId: context.managedLogin?.loginId ?? null,
      success: params.success,
      error: params.error,
    })),
    /** Refuses the `login/start` waiting for the login flow, which could not start. */
    refuseLoginStart: refuseLoginStart,
    /** A managed login of the command's kind begins (no id until its flow has started). */
    beginManagedLogin: assign({ managedLogin: ({ event }) => ({ kind: loginKindOf(event), loginId: null, account: null }) }),
    loginStarted: assign({
      managedLogin: ({ context, event }) => {
        assertEvent(event, 'loginFlow.started');
        return context.managedLogin && { ...context.managedLogin, loginId: event.start.loginId };
      },
    }),
    setLoginAccount: assign({
      managedLogin: ({ context, event }) => {
        assertEvent(event, 'loginFlow.exchanged');
        return context.managedLogin && { ...context.managedLogin, account: event.account };
      },
    }),
    forgetManagedLogin: assign({ managedLogin: null }),
    // --- workspaces (issue 14) ---
    /** The discovery of the login in use succeeded: its routing, name and workspaces (no token). */
    setWorkspace: assign({ workspace: (_, params: { workspace: WorkspaceKnowledge }) => params.workspace }),
    /** A new login, a switch, a logout: what was discovered no longer applies. */
    forgetWorkspace: assign({ workspace: null, discoveryMode: null }),
    /** Which mode the discovery about to run is for (its `account/updated` names it). */
    setDiscoveryMode: assign({ discoveryMode: (_, params: { authMode: 'chatgpt' | 'chatgptAuthTokens' }) => params.authMode }),
    /** `account/updated {reason:"workspaceRoutingReady"}` (docs/protocol.md §12.1). */
    notifyRoutingReady: emit(({ context }) => ({
      type: 'notify.accountUpdated' as const,
      authMode: context.discoveryMode,
      planType: context.account?.planType ?? null,
      reason: 'workspaceRoutingReady' as const,
    })),
    /** Remembers the switch under way (target, browser fallback, originator). */
    rememberSwitch: assign({
      switching: ({ event }) => {
        assertEvent(event, 'accountSession.switch');
        return { accountId: event.accountId, allowBrowserLogin: event.allowBrowserLogin, originator: event.originator };
      },
    }),
    forgetSwitch: assign({ switching: null }),
    /** Tells the workspace region that a ChatGPT login (or a new workspace) is in use: discover it. */
    discoverWorkspace: raise((_, params: { authMode: 'chatgpt' | 'chatgptAuthTokens' }) => ({ type: 'workspace.discover' as const, authMode: params.authMode })),
    /** Tells the workspace region there is no ChatGPT login any more. */
    forgetDiscovery: raise({ type: 'workspace.forget' as const }),
    /** Tells the workspace region a backend call went ahead: a failed discovery is tried again. */
    retryDiscovery: raise({ type: 'workspace.retry' as const }),
    /** Answers an `accountSession.*` command with the managed session's snapshot (the list is built from it). */
    answerSession: emit(({ context, event }, params: { req: RequestKey | null }) => ({
      type: 'answer.done' as const,
      req: params.req ?? reqOf(event) ?? -1,
      value: sessionSnapshotOf(context),
    })),
    /** Answers the switch that failed with the failure's own code (-32600 for a refused exchange) and text. */
    refuseSwitch: emit(({ context }, params: { code: number; message: string }) => ({
      type: 'answer.refused' as const,
      req: context.pending ?? -1,
      code: params.code,
      message: params.message,
    })),
    /** Tells a browser login's callback server how to answer the browser (a device flow ignores it). */
    respondToBrowser: sendTo('loginFlow', (_, params: { outcome: BrowserOutcome }) => ({
      type: 'loginFlow.respond' as const,
      outcome: params.outcome,
    })),
  },
  guards: {
    externalActive: stateIn({ session: { mode: 'externalTokens' } }),
    apiKeyLoginDisabled: ({ context }) => context.policy.forcedLoginMethod === 'chatgpt',
    chatgptLoginDisabled: ({ context }) => context.policy.forcedLoginMethod === 'api',
    externalLoginDisabled: ({ context }) => context.policy.forcedLoginMethod === 'api',
    tokenInvalid: ({ event }) => {
      assertEvent(event, 'login.externalTokens');
      return !event.claims.ok;
    },
    /**
     * The account is outside `forced_chatgpt_workspace_id`: one rule for an external login, an external
     * refresh and a browser login (each passes the account id it got).
     */
    workspaceRefused: ({ context }, params: { accountId: string | null }) => !workspaceAllowed(context.policy.forcedWorkspaceIds, params.accountId),
    restoredApiKey: ({ context }) => context.restored === 'apiKey',
    restoredChatgpt: ({ context }) => context.restored === 'chatgpt',
    /** The 401 was answered to the bearer in use now (not to one a refresh already replaced). */
    unauthorizedCurrent: ({ context, event }) => {
      assertEvent(event, 'auth.unauthorized');
      return event.generation === context.credentialGeneration;
    },
    proactiveRefreshDue: ({ context, event }) => {
      assertEvent(event, 'backend.call');
      // A background call (workspace discovery) never spends the refresh token early: a 401 still recovers.
      return event.background !== true && refreshDue(context.timing, event.now, context.policy.proactiveRefreshSkewSeconds ?? DEFAULT_PROACTIVE_REFRESH_SKEW_SECONDS);
    },
    permanentRefreshFailure: (_, params: { error: unknown }) => isPermanentFailure(params.error),
    /** An effect of the session region (saving, clearing credentials) is under way. */
    sessionBusy: or([stateIn({ session: 'savingApiKey' }), stateIn({ session: 'loggingOut' }), stateIn({ session: 'switchingWorkspace' })]),
    /** The managed login is starting its flow or saving its tokens (neither may be interrupted). */
    managedLoginBusy: or([stateIn({ managedLogin: { active: 'starting' } }), stateIn({ managedLogin: { active: 'persisting' } })]),
    loginIdMatches: ({ context, event }) => {
      assertEvent(event, 'login.cancel');
      return context.managedLogin?.loginId === event.loginId;
    },
    // --- workspaces (issue 14: docs/protocol.md §12.4, the switch's refusals in Codex's order) ---
    /** New credentials name another workspace than the login in use (the parent handed over another workspace's tokens). */
    accountChanged: ({ context }, params: { accountId: string | null }) => params.accountId !== (context.account?.accountId ?? null),
    /** The switch names a session other than the managed login's (its user id). */
    otherSession: ({ context, event }) => {
      assertEvent(event, 'accountSession.switch');
      return event.sessionId !== (context.account?.userId ?? null);
    },
    emptyAccountId: ({ event }) => {
      assertEvent(event, 'accountSession.switch');
      return event.accountId === '';
    },
    /** Neither the workspace in use nor one the last discovery listed. */
    workspaceUnlisted: ({ context, event }) => {
      assertEvent(event, 'accountSession.switch');
      return !workspaceListed(context.account?.accountId ?? null, context.workspace?.workspaces ?? null, event.accountId);
    },
    /** The switch names the workspace in use: nothing to do. */
    sameWorkspace: ({ context, event }) => {
      assertEvent(event, 'accountSession.switch');
      return event.accountId === context.account?.accountId;
    },
    /** The exchange was refused and the parent allowed a browser sign-in instead. */
    switchNeedsBrowser: ({ context }, params: { error: unknown }) => isSwitchRejection(params.error) && context.switching?.allowBrowserLogin === true,
  },
});

/**
 * The refusal of a command that arrives while an effect is under way. AuthCore never sends one then (it
 * queues commands until the chart is idle); the chart still answers it, exactly once, so that the chart
 * alone is a complete specification. Each command is answered by one region: logins with an API key or
 * external tokens, logouts and backend calls by `session`, managed logins and cancels by `managedLogin`.
 */
export const refuseBusy = { actions: { type: 'refuse', params: { code: INTERNAL_ERROR, message: MESSAGES.busy } } } as const;

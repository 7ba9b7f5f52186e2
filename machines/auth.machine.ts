/**
 * The auth statechart: the whole auth policy of authchart in one visible place.
 *
 *   session.mode:  loggedOut → apiKey | chatgpt | externalTokens  (→ refreshing → failed: refresh issue)
 *   session:       mode, or an effect under way (savingApiKey, loggingOut) that returns to mode's history
 *   browserLogin:  idle (→ pending: browser-login issue)
 *
 * Pure: effects are named actors and actions declared here with inert defaults and supplied by src/
 * through `.provide()`. Guards decide every refusal of PROTOCOL.md §7, in the order of that table.
 */
import { assign, emit, fromPromise, setup, stateIn } from 'xstate';
import type { Secret } from './secret';
import {
  INTERNAL_ERROR,
  INVALID_REQUEST,
  type AccountInfo,
  type AuthContext,
  type AuthEmitted,
  type AuthEvent,
  type AuthInput,
  type RequestKey,
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

/** The message for an external login whose workspace is not the forced one. */
export function workspaceMismatchMessage(allowed: readonly string[], got: string | null): string {
  const want = allowed.length === 1 ? `workspace ${allowed[0]}` : `one of workspace(s) ${JSON.stringify(allowed)}`;
  return `External auth must use ${want}, but received ${JSON.stringify(got ?? '')}.`;
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
  },
  actions: {
    /** Puts the external tokens of a `login.externalTokens` event into the in-memory vault. */
    storeExternalTokens: (_, _params: { event: Ev<'login.externalTokens'> }) => {},
    /** Forgets the in-memory external tokens. */
    clearExternalTokens: () => {},
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
    setAccount: assign({ account: (_, params: { account: AccountInfo | null }) => params.account }),
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
  },
});

function claimsAccount(event: AuthEvent): AccountInfo | null {
  return event.type === 'login.externalTokens' && event.claims.ok ? event.claims.account : null;
}

/** Commands refused while an effect (saving, clearing credentials) is under way. */
const refuseWhileBusy = {
  'login.*': { actions: { type: 'refuse', params: { code: INTERNAL_ERROR, message: MESSAGES.busy } } },
  logout: { actions: { type: 'refuse', params: { code: INTERNAL_ERROR, message: MESSAGES.busy } } },
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
  }),
  states: {
    session: {
      initial: 'mode',
      states: {
        /**
         * The auth mode. Effects (saving, clearing credentials) are siblings of `mode`, so entering one
         * exits `mode` and its deep history remembers where to return if the effect fails.
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
            loggedOut: {},
            apiKey: { tags: ['authenticated', 'managed'] },
            chatgpt: {
              tags: ['authenticated', 'managed'],
              initial: 'ready',
              states: { ready: {} },
            },
            externalTokens: {
              tags: ['authenticated', 'external'],
              initial: 'ready',
              states: { ready: {} },
            },
            /** Where a failed effect returns: the mode the session was in before it started. */
            previous: { type: 'history', history: 'deep', target: 'loggedOut' },
          },
          on: {
            'login.apiKey': [
              { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
              { guard: 'apiKeyLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.apiKeyLoginDisabled } } },
              { target: '#auth.session.savingApiKey', actions: 'rememberRequest' },
            ],
            'login.externalTokens': [
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
                  { type: 'storeExternalTokens', params: ({ event }) => ({ event: event as Ev<'login.externalTokens'> }) },
                  { type: 'setAccount', params: ({ event }) => ({ account: claimsAccount(event) }) },
                  { type: 'answer', params: ({ event }) => ({ req: reqOf(event) }) },
                  'notifyLoginSucceeded',
                  'notifyExternalMode',
                ],
              },
            ],
            logout: { target: '#auth.session.loggingOut', actions: 'rememberRequest' },
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
    browserLogin: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            'login.chatgpt': [
              { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
              { guard: 'chatgptLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.chatgptLoginDisabled } } },
              {
                actions: {
                  type: 'refuse',
                  params: { code: INTERNAL_ERROR, message: 'ChatGPT browser login is not available in this build.' },
                },
              },
            ],
            'login.cancel': {
              actions: { type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: { status: 'notFound' } }) },
            },
          },
        },
      },
    },
  },
});

/** The machine's type, for code that provides implementations or inspects snapshots. */
export type AuthMachine = typeof authMachine;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

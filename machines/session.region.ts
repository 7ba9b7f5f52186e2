/**
 * The `session` region: the auth mode (loggedOut, apiKey, chatgpt, externalTokens, failed) with its
 * 401 recovery, and the effects that change it (saving an API key, logging out).
 */
import { assertEvent, raise } from 'xstate';
import {
  DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  type AccountInfo,
  type AuthEvent,
} from './types';
import { authSetup, refreshReasonOf, refuseBusy, reqOf } from './auth.setup';
import {
  MESSAGES,
  authRequiredMessage,
  chatgptRequiredMessage,
  errorText,
  refreshTimedOutMessage,
  refreshWorkspaceMessage,
  workspaceMismatchMessage,
} from './policy';

function purposeOf(event: AuthEvent): string {
  return event.type === 'backend.call' ? event.purpose : 'call the ChatGPT backend';
}

function claimsAccount(event: AuthEvent): AccountInfo | null {
  return event.type === 'login.externalTokens' && event.claims.ok ? event.claims.account : null;
}

/** A backend call goes ahead with the credentials in use now. */
const proceed = { actions: { type: 'answerCall', params: { verdict: 'proceed' } } } as const;
/** A 401 for credentials already replaced (or a mode without a refresh): retry, the next call decides. */
const retry = { actions: { type: 'answer', params: ({ event }: { event: AuthEvent }) => ({ req: reqOf(event) }) } } as const;

/** The session region's commands, refused while one of its effects runs. */
const refuseWhileBusy = {
  'login.apiKey': refuseBusy,
  'login.externalTokens': refuseBusy,
  logout: refuseBusy,
  'backend.call': refuseBusy,
  'auth.unauthorized': refuseBusy,
  'refresh.requested': refuseBusy,
} as const;

/** In `refreshing`: a backend call, a 401 of the bearer being replaced or a forced refresh waits for it. */
const waitForRefresh = {
  'backend.call': { actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
  'refresh.requested': { actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
  'auth.unauthorized': [
    { guard: 'unauthorizedCurrent', actions: { type: 'waitForRefresh', params: { kind: 'retry' } } },
    { actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
  ],
} as const;

/** The session region. */
export const sessionRegion = authSetup.createStateConfig({
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
          tags: ['authenticated'],
          on: {
            'backend.call': {
              actions: { type: 'refuse', params: ({ event }) => ({ code: INVALID_REQUEST, message: chatgptRequiredMessage(purposeOf(event)) }) },
            },
          },
        },
        /** Managed ChatGPT tokens (auth.json), refreshed by authchart itself through the token endpoint. */
        chatgpt: {
          tags: ['authenticated'],
          initial: 'ready',
          // Calls still waiting when the mode is left ask again: the new mode answers them.
          exit: 'requeueWaiting',
          states: {
            ready: {
              on: {
                'backend.call': [
                  { guard: 'proactiveRefreshDue', target: 'refreshing', actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
                  proceed,
                ],
                'auth.unauthorized': [
                  { guard: 'unauthorizedCurrent', target: 'refreshing', actions: { type: 'waitForRefresh', params: { kind: 'retry' } } },
                  retry,
                ],
                'refresh.requested': { target: 'refreshing', actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
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
                    'releaseWaiting',
                  ],
                },
                onError: [
                  {
                    // Leaving `chatgpt` requeues the waiting calls: `failed` refuses them with this message.
                    guard: { type: 'permanentRefreshFailure', params: ({ event }) => ({ error: event.error }) },
                    target: '#auth.session.mode.failed',
                    actions: { type: 'recordFailure', params: ({ event }) => ({ message: errorText(event.error) }) },
                  },
                  {
                    target: 'ready',
                    actions: [
                      { type: 'refreshFailed', params: ({ event }) => ({ message: errorText(event.error) }) },
                    ],
                  },
                ],
              },
              on: waitForRefresh,
            },
          },
        },
        /** External tokens handed in by the parent, which is asked for new ones on a 401. */
        externalTokens: {
          tags: ['authenticated'],
          initial: 'ready',
          exit: 'requeueWaiting',
          states: {
            ready: {
              on: {
                'backend.call': proceed,
                'auth.unauthorized': [
                  { guard: 'unauthorizedCurrent', target: 'refreshing', actions: { type: 'waitForRefresh', params: { kind: 'retry' } } },
                  retry,
                ],
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
                    guard: { type: 'workspaceRefused', params: ({ event }) => ({ accountId: event.output.account.accountId }) },
                    target: 'ready',
                    actions: [
                      { type: 'refreshFailed', params: ({ context, event }) => ({ message: refreshWorkspaceMessage(context.policy.forcedWorkspaceIds ?? [], event.output.account.accountId) }) },
                    ],
                  },
                  {
                    target: 'ready',
                    actions: [
                      { type: 'storeExternalTokens', params: ({ event }) => event.output },
                      { type: 'setAccount', params: ({ event }) => ({ account: event.output.account }) },
                      'tokensChanged',
                      'releaseWaiting',
                    ],
                  },
                ],
                onError: {
                  target: 'ready',
                  actions: [
                    { type: 'refreshFailed', params: ({ event }) => ({ message: errorText(event.error) }) },
                  ],
                },
              },
              // Leaving the state stops the request's actor: an answer arriving later is ignored.
              after: {
                externalRefreshTimeout: {
                  target: 'ready',
                  actions: [
                    { type: 'refreshFailed', params: ({ context }) => ({ message: refreshTimedOutMessage(context.policy.externalRefreshTimeoutMs ?? DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS) }) },
                  ],
                },
              },
              // The parent is never asked for a refresh it did not need: a forced refresh is managed only.
              on: { ...waitForRefresh, 'refresh.requested': retry },
            },
          },
        },
        /**
         * A managed refresh failed permanently (the refresh token is dead): calls fail fast with
         * `context.failure` and touch no network until a login or a logout leaves this state.
         */
        failed: {
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
        // Outside a refreshable mode a 401 (from a call made before a logout, say) is retried, and the
        // retry's backend.call gets this mode's verdict; a forced refresh has nothing to refresh.
        'auth.unauthorized': retry,
        'refresh.requested': retry,
        'login.apiKey': [
          { guard: 'browserLoginBusy', ...refuseBusy },
          { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
          { guard: 'apiKeyLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.apiKeyLoginDisabled } } },
          { target: '#auth.session.savingApiKey', actions: ['rememberRequest', raise({ type: 'login.accepted' })] },
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
            guard: { type: 'workspaceRefused', params: ({ event }) => ({ accountId: claimsAccount(event)?.accountId ?? null }) },
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
                params: ({ event }) => {
                  assertEvent(event, 'login.externalTokens');
                  if (!event.claims.ok) throw new Error('unreachable: tokenInvalid refuses unreadable tokens');
                  return { tokens: event.tokens, account: event.claims.account };
                },
              },
              { type: 'setAccount', params: ({ event }) => ({ account: claimsAccount(event) }) },
              { type: 'setTiming', params: { timing: null } },
              'tokensChanged',
              { type: 'answer', params: ({ event }) => ({ req: reqOf(event) }) },
              'notifyLoginSucceeded',
              'notifyExternalMode',
              raise({ type: 'login.accepted' }),
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
        input: ({ event }) => {
          assertEvent(event, 'login.apiKey');
          return { apiKey: event.apiKey };
        },
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
            { type: 'refusePending', params: ({ event }) => ({ message: `failed to save the API key: ${errorText(event.error)}` }) },
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
            { type: 'refusePending', params: ({ event }) => ({ message: `failed to remove the saved credentials: ${errorText(event.error)}` }) },
            'forgetRequest',
          ],
        },
      },
      on: refuseWhileBusy,
    },
  },
});

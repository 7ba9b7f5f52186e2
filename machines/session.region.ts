/**
 * The `session` region: the auth mode (loggedOut, apiKey, chatgpt, externalTokens, failed) with its
 * 401 recovery, and the effects that change it (saving an API key, logging out).
 */
import { assertEvent, raise } from 'xstate';
import {
  INTERNAL_ERROR,
  INVALID_REQUEST,
  type AccountInfo,
  type AuthEvent,
} from './types';
import { authSetup, refuseBusy } from './auth.setup';
import { chatgptMode, externalTokensMode, retry } from './refresh.states';
import {
  MESSAGES,
  apiKeySaveFailedMessage,
  invalidTokenMessage,
  logoutFailedMessage,
  authRequiredMessage,
  chatgptRequiredMessage,
  errorText,
  workspaceMismatchMessage,
} from './policy';

function purposeOf(event: AuthEvent): string {
  return event.type === 'backend.call' ? event.purpose : 'call the ChatGPT backend';
}

function claimsAccount(event: AuthEvent): AccountInfo | null {
  return event.type === 'login.externalTokens' && event.claims.ok ? event.claims.account : null;
}

/** The session region's commands, refused while one of its effects runs. */
const refuseWhileBusy = {
  'login.apiKey': refuseBusy,
  'login.externalTokens': refuseBusy,
  logout: refuseBusy,
  'backend.call': refuseBusy,
  'auth.unauthorized': refuseBusy,
  'refresh.requested': refuseBusy,
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
          on: {
            'backend.call': {
              actions: { type: 'refuse', params: ({ event }) => ({ code: INVALID_REQUEST, message: chatgptRequiredMessage(purposeOf(event)) }) },
            },
          },
        },
        /** Managed ChatGPT tokens (auth.json), refreshed by authchart itself through the token endpoint. */
        chatgpt: chatgptMode,
        /** External tokens handed in by the parent, which is asked for new ones on a 401. */
        externalTokens: externalTokensMode,
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
          { guard: 'managedLoginBusy', ...refuseBusy },
          { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
          { guard: 'apiKeyLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.apiKeyLoginDisabled } } },
          { target: '#auth.session.savingApiKey', actions: ['rememberRequest', raise({ type: 'login.accepted' })] },
        ],
        'login.externalTokens': [
          { guard: 'managedLoginBusy', ...refuseBusy },
          { guard: 'externalLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalLoginDisabled } } },
          {
            guard: 'tokenInvalid',
            actions: {
              type: 'refuse',
              params: ({ event }) => ({
                code: INVALID_REQUEST,
                message: invalidTokenMessage(event.type === 'login.externalTokens' && !event.claims.ok ? event.claims.reason : ''),
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
                  return { tokens: event.tokens };
                },
              },
              { type: 'setAccount', params: ({ event }) => ({ account: claimsAccount(event) }) },
              { type: 'setTiming', params: { timing: null } },
              'tokensChanged',
              'rememberRequest',
              // A pending managed login ends first (on login.accepted), then this login is answered and
              // announced (on externalLogin.announce): the parent hears of the old login's end first.
              raise({ type: 'login.accepted' }),
              raise({ type: 'externalLogin.announce' }),
            ],
          },
        ],
        logout: [
          { guard: 'managedLoginBusy', ...refuseBusy },
          { target: '#auth.session.loggingOut', actions: 'rememberRequest' },
        ],
        /** Raised right after an external login was accepted (and a pending managed login ended): answer, announce. */
        'externalLogin.announce': {
          actions: [
            { type: 'answer', params: ({ context }) => ({ req: context.pending }) },
            'forgetRequest',
            'notifyLoginSucceeded',
            'notifyExternalMode',
          ],
        },
        /** Raised by managedLogin once the tokens are saved; answers nothing, announces the new mode. */
        'managedLogin.succeeded': {
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
            // Managed ChatGPT tokens the key replaced in the store are revoked (§13.2).
            'revokeDisplacedTokens',
          ],
        },
        onError: {
          target: 'mode.previous',
          actions: [
            { type: 'refusePending', params: ({ event }) => ({ message: apiKeySaveFailedMessage(errorText(event.error)) }) },
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
            // After the answer: the logout never waits for the issuer (§13.2).
            'revokeDisplacedTokens',
          ],
        },
        onError: {
          target: 'mode.previous',
          actions: [
            { type: 'refusePending', params: ({ event }) => ({ message: logoutFailedMessage(errorText(event.error)) }) },
            'forgetRequest',
          ],
        },
      },
      on: refuseWhileBusy,
    },
  },
});

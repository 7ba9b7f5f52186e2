/**
 * The `session` region: the auth mode (loggedOut, apiKey, chatgpt, externalTokens, failed) with its
 * 401 recovery, and the effects that change it (saving an API key, logging out).
 */
import { assertEvent, raise } from 'xstate';
import {
  INTERNAL_ERROR,
  INVALID_REQUEST,
  type AccountInfo,
  type AuthContext,
  type AuthEvent,
} from './types';
import { authSetup, refuseBusy, reqOf } from './auth.setup';
import { chatgptMode, discoverWorkspace, externalTokensMode, retry } from './refresh.states';
import {
  MESSAGES,
  apiKeySaveFailedMessage,
  invalidTokenMessage,
  logoutFailedMessage,
  authRequiredMessage,
  chatgptRequiredMessage,
  errorText,
  workspaceMismatchMessage,
  SWITCH_MESSAGES,
  switchFailureCode,
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
  // --- workspaces (issue 14) ---
  'accountSession.list': refuseBusy,
  'accountSession.switch': refuseBusy,
} as const;

/** In `failed`: refused with the permanent refresh failure's own text, without touching the network. */
const refuseWithFailure = {
  actions: { type: 'refuse', params: ({ context }: { context: AuthContext }) => ({ code: INTERNAL_ERROR, message: context.failure ?? 'authentication failed' }) },
} as const;

// --- workspaces (issue 14): what the session region raises for the workspace region ---
/** No ChatGPT login any more: nothing discovered applies. */
const forgetWorkspace = 'forgetDiscovery';

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
            'backend.call': refuseWithFailure,
            // --- workspaces (issue 14): still the managed session, but no exchange with a dead refresh token ---
            'accountSession.list': { actions: { type: 'answerSession', params: { req: null } } },
            'accountSession.switch': refuseWithFailure,
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
              discoverWorkspace('chatgptAuthTokens'),
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
            discoverWorkspace('chatgpt'),
          ],
        },
        // --- workspaces (issue 14): outside a managed ChatGPT login there is no session to list or switch ---
        'accountSession.list': { actions: { type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: null }) } },
        'accountSession.switch': { actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: SWITCH_MESSAGES.notManaged } } },
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
            forgetWorkspace,
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
            forgetWorkspace,
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
    // --- workspaces (issue 14: docs/protocol.md §12.4) ---
    /**
     * The token exchange of a workspace switch and the save of its tokens (under the store lock). Busy like
     * the other effects: nothing else reaches the chart meanwhile, so no refresh or login can change the
     * tokens under the exchange, and calls queued behind it go out with the new workspace's token.
     */
    switchingWorkspace: {
      tags: ['busy'],
      invoke: {
        id: 'switchWorkspace',
        src: 'switchWorkspace',
        input: ({ context }) => ({ accountId: context.switching?.accountId ?? '' }),
        onDone: {
          target: 'mode.chatgpt',
          actions: [
            { type: 'setAccount', params: ({ event }) => ({ account: event.output.account }) },
            { type: 'setTiming', params: ({ event }) => ({ timing: event.output.timing }) },
            'tokensChanged',
            // Codex's order: `account/updated` (reason null), then the switch's response.
            'notifyChatgptMode',
            { type: 'answerSession', params: ({ context }) => ({ req: context.pending }) },
            'forgetRequest',
            'forgetSwitch',
            discoverWorkspace('chatgpt'),
          ],
        },
        onError: [
          {
            // The backend refused the workspace for this bearer and the parent allows a browser sign-in:
            // the browser login of §8 starts, and answers the switch with its loginId and authUrl.
            guard: { type: 'switchNeedsBrowser', params: ({ event }) => ({ error: event.error }) },
            target: 'mode.chatgpt',
            actions: [
              raise(({ context }) => ({ type: 'login.chatgpt' as const, originator: context.switching?.originator ?? 'authchart', req: context.pending ?? -1 })),
              'forgetRequest',
              'forgetSwitch',
            ],
          },
          {
            target: 'mode.chatgpt',
            actions: [
              { type: 'refuseSwitch', params: ({ event }) => ({ code: switchFailureCode(event.error), message: errorText(event.error) }) },
              'forgetRequest',
              'forgetSwitch',
            ],
          },
        ],
      },
      on: refuseWhileBusy,
    },
  },
});

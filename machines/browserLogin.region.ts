/**
 * The `browserLogin` region: a managed ChatGPT login in a browser, from login/start to saved tokens.
 */
import { assertEvent, raise } from 'xstate';

import { INVALID_REQUEST } from './types';
import { authSetup, refuseBusy, reqOf } from './auth.setup';
import { LOGIN_MESSAGES, MESSAGES, errorText, loginSaveFailedMessage, loginServerError, loginWorkspaceMessage } from './policy';

/** A transition that ends the browser login under way with `account/login/completed {success:false}`. */
function endLogin(error: string) {
  return {
    target: '#auth.browserLogin.idle',
    actions: { type: 'notifyBrowserLoginCompleted', params: { success: false, error } },
  } as const;
}

/** Refusals of `login.chatgpt` (docs/protocol.md §7, in table order). */
const chatgptLoginRefusals = [
  { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
  { guard: 'chatgptLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.chatgptLoginDisabled } } },
] as const;

/**
 * Managed ChatGPT login in a browser (OAuth code + PKCE, docs/protocol.md §8). Its own region: it may run
 * while an API key is active. One `loginServer` actor owns the callback listener for the whole of
 * `active`, so leaving `active` for any reason (success, cancel, timeout, failure, a newer login,
 * the chart stopping) stops it and closes the listener.
 */
export const browserLoginRegion = authSetup.createStateConfig({
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
      // The actor reports every failure, a failed start included, as an event: it has no error to handle.
      invoke: {
        id: 'loginServer',
        src: 'loginServer',
        input: ({ event }) => {
          assertEvent(event, 'login.chatgpt');
          return { originator: event.originator };
        },
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
            'loginServer.startFailed': { target: '#auth.browserLogin.idle', actions: 'refuseLoginStart' },
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
                    guard: { type: 'workspaceRefused', params: ({ event }) => ({ accountId: event.account.accountId }) },
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
                          error: loginServerError(loginWorkspaceMessage(context.policy.forcedWorkspaceIds ?? [], event.account.accountId)),
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
                  params: ({ event }) => ({ success: false, error: loginServerError(event.message) }),
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
            // A newer browser login replaces this one (the new server starts after this one closed). No
            // refusals here: a login pending means ChatGPT login is allowed (the policy is fixed) and no
            // external tokens are active (an accepted external login ends this one, below).
            'login.chatgpt': {
              target: '#auth.browserLogin.active',
              reenter: true,
              actions: [
                { type: 'notifyBrowserLoginCompleted', params: { success: false, error: LOGIN_MESSAGES.notCompleted } },
                'rememberRequest',
              ],
            },
            // A login the session region accepts (it raises login.accepted), and a logout, drop this one (as
            // Codex does); a refused login does not.
            'login.accepted': endLogin(LOGIN_MESSAGES.notCompleted),
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
              assertEvent(event, 'loginServer.exchanged');
              return { tokens: event.tokens, accountId: event.account.accountId };
            },
            onDone: {
              target: 'finished',
              actions: [
                { type: 'respondToBrowser', params: { outcome: { ok: true } } },
                { type: 'notifyBrowserLoginCompleted', params: { success: true, error: null } },
                raise(({ context, event }) => {
                  const account = context.browserLogin?.account;
                  if (!account) throw new Error('unreachable: persisting is entered with the exchanged account');
                  return { type: 'browserLogin.succeeded' as const, account, timing: event.output.timing };
                }),
              ],
            },
            onError: {
              target: 'finished',
              actions: [
                {
                  type: 'respondToBrowser',
                  params: ({ event }) => ({
                    outcome: { ok: false, status: 500, message: loginSaveFailedMessage(errorText(event.error)) },
                  }),
                },
                {
                  type: 'notifyBrowserLoginCompleted',
                  params: ({ event }) => ({
                    success: false,
                    error: loginServerError(loginSaveFailedMessage(errorText(event.error))),
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
});

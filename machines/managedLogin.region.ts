/**
 * The `managedLogin` region: a managed ChatGPT login, in a browser (§8) or with a device code (§13.1),
 * from login/start to saved tokens. One region for both kinds: they share every rule (one pending managed
 * login at a time, the refusals, cancel, the timeout, what ends them, the forced workspace, saving) and
 * differ only in their flow (the `loginFlow` actor) and in their words (machines/policy.ts).
 */
import { assertEvent, raise } from 'xstate';

import { INVALID_REQUEST, type AuthContext, type ManagedLoginKind } from './types';
import { authSetup, loginKindOf, refuseBusy, reqOf } from './auth.setup';
import {
  LOGIN_MESSAGES,
  MESSAGES,
  errorText,
  loginEndedMessage,
  loginSaveFailedMessage,
  loginTimedOutMessage,
  loginTimeoutOf,
  loginWorkspaceMessage,
  replacedLoginMessage,
} from './policy';

/** The kind of the managed login under way (set when it begins, so every later state has it). */
function kindOf(context: AuthContext): ManagedLoginKind {
  return context.managedLogin?.kind ?? 'browser';
}

/** A transition that ends the managed login under way with `account/login/completed {success:false}`. */
function endLogin(error: (context: AuthContext) => string) {
  return {
    target: '#auth.managedLogin.idle',
    actions: { type: 'notifyManagedLoginCompleted', params: ({ context }: { context: AuthContext }) => ({ success: false, error: error(context) }) },
  } as const;
}

/** Ends the login with "not completed" in its kind's words. */
const notCompleted = endLogin((context) => loginEndedMessage(kindOf(context), LOGIN_MESSAGES.notCompleted));

/** Refusals of a managed login (docs/protocol.md §7, in table order; §13.1: the same for a device login). */
const managedLoginRefusals = [
  { guard: 'externalActive', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.externalAuthActive } } },
  { guard: 'chatgptLoginDisabled', actions: { type: 'refuse', params: { code: INVALID_REQUEST, message: MESSAGES.chatgptLoginDisabled } } },
] as const;

/** A managed login starts (from idle): refused while the session region is busy or by the policy. */
const startLogin = [
  { guard: 'sessionBusy', ...refuseBusy },
  ...managedLoginRefusals,
  { target: 'active', actions: ['rememberRequest', 'beginManagedLogin'] },
] as const;

/**
 * A newer managed login replaces the pending one: the old one's completion is emitted first (so it reaches
 * the parent before the new login's response, as Codex's does), then the new flow starts once the old one
 * is stopped. Only a busy session refuses it: a login pending means ChatGPT login is allowed (the policy is
 * fixed) and no external tokens are active (an accepted external login ends this one, below).
 */
const replaceLogin = {
  target: '#auth.managedLogin.active',
  reenter: true,
  actions: [
    {
      type: 'notifyManagedLoginCompleted',
      params: ({ context, event }: { context: AuthContext; event: { type: string } }) => ({
        success: false,
        error: replacedLoginMessage(kindOf(context), loginKindOf(event as never)),
      }),
    },
    'rememberRequest',
    'beginManagedLogin',
  ],
} as const;

/**
 * Managed ChatGPT login. Its own region: it may run while an API key is active. One `loginFlow` actor
 * (the browser's callback server, or the device-code polling) lives for the whole of `active`, so leaving
 * `active` for any reason (success, cancel, timeout, failure, a newer login, the chart stopping) stops it:
 * the listener closes, the polling ends.
 */
export const managedLoginRegion = authSetup.createStateConfig({
  initial: 'idle',
  states: {
    idle: {
      entry: 'forgetManagedLogin',
      on: {
        'login.chatgpt': startLogin,
        'login.deviceCode': startLogin,
        'login.cancel': {
          actions: { type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: { status: 'notFound' } }) },
        },
      },
    },
    active: {
      // The actor reports every failure, a failed start included, as an event: it has no error to handle.
      invoke: {
        id: 'loginFlow',
        src: 'loginFlow',
        input: ({ event }) => ({ kind: loginKindOf(event), originator: event.type === 'login.chatgpt' ? event.originator : '' }),
      },
      initial: 'starting',
      states: {
        /** Binding the callback server, or asking the issuer for a user code; the `login/start` request waits. */
        starting: {
          tags: ['busy'],
          on: {
            'login.chatgpt': refuseBusy,
            'login.deviceCode': refuseBusy,
            'login.cancel': refuseBusy,
            'loginFlow.started': {
              target: 'pending',
              actions: [
                'loginStarted',
                { type: 'answer', params: ({ context, event }) => ({ req: context.pending, value: event.start }) },
                'forgetRequest',
              ],
            },
            'loginFlow.startFailed': { target: '#auth.managedLogin.idle', actions: 'refuseLoginStart' },
          },
        },
        /** Waiting for the user, then for the issuer; the login's timeout runs here. */
        pending: {
          initial: 'waiting',
          after: { loginTimeout: endLogin((context) => loginTimedOutMessage(kindOf(context), loginTimeoutOf(context.policy, kindOf(context)))) },
          states: {
            waiting: { on: { 'loginFlow.authorized': 'exchanging' } },
            exchanging: {
              on: {
                'loginFlow.exchanged': [
                  {
                    guard: { type: 'workspaceRefused', params: ({ event }) => ({ accountId: event.account.accountId }) },
                    target: '#auth.managedLogin.active.finished',
                    actions: [
                      {
                        type: 'respondToBrowser',
                        params: ({ context, event }) => ({
                          outcome: {
                            ok: false,
                            status: 403,
                            message: loginWorkspaceMessage(kindOf(context), context.policy.forcedWorkspaceIds ?? [], event.account.accountId),
                          },
                        }),
                      },
                      {
                        type: 'notifyManagedLoginCompleted',
                        params: ({ context, event }) => ({
                          success: false,
                          error: loginEndedMessage(
                            kindOf(context),
                            loginWorkspaceMessage(kindOf(context), context.policy.forcedWorkspaceIds ?? [], event.account.accountId),
                          ),
                        }),
                      },
                    ],
                  },
                  { target: '#auth.managedLogin.active.persisting', actions: 'setLoginAccount' },
                ],
              },
            },
          },
          on: {
            'loginFlow.failed': {
              target: '#auth.managedLogin.active.finished',
              actions: [
                { type: 'respondToBrowser', params: ({ event }) => ({ outcome: { ok: false, status: 500, message: event.message } }) },
                {
                  type: 'notifyManagedLoginCompleted',
                  params: ({ context, event }) => ({ success: false, error: loginEndedMessage(kindOf(context), event.message) }),
                },
              ],
            },
            'loginFlow.cancelRequested': endLogin((context) => loginEndedMessage(kindOf(context), LOGIN_MESSAGES.cancelled)),
            'login.cancel': [
              {
                guard: 'loginIdMatches',
                ...notCompleted,
                actions: [{ type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: { status: 'canceled' } }) }, notCompleted.actions],
              },
              { actions: { type: 'answer', params: ({ event }) => ({ req: reqOf(event), value: { status: 'notFound' } }) } },
            ],
            // Refused while the session region is busy (a workspace switch may run beside a pending login).
            'login.chatgpt': [{ guard: 'sessionBusy', ...refuseBusy }, replaceLogin],
            'login.deviceCode': [{ guard: 'sessionBusy', ...refuseBusy }, replaceLogin],
            // A login the session region accepts (it raises login.accepted), and a logout, drop this one (as
            // Codex does); a refused login does not.
            'login.accepted': notCompleted,
            // A logout the busy session refuses (a workspace switch under way) leaves this login pending.
            logout: [{ guard: 'sessionBusy' }, notCompleted],
          },
        },
        /** Saving the tokens; not interruptible (tagged busy, so no request is handled meanwhile). */
        persisting: {
          tags: ['busy'],
          on: { 'login.chatgpt': refuseBusy, 'login.deviceCode': refuseBusy, 'login.cancel': refuseBusy },
          invoke: {
            id: 'saveChatgptTokens',
            src: 'saveChatgptTokens',
            input: ({ event }) => {
              assertEvent(event, 'loginFlow.exchanged');
              return { tokens: event.tokens, accountId: event.account.accountId };
            },
            onDone: {
              target: 'finished',
              actions: [
                { type: 'respondToBrowser', params: { outcome: { ok: true } } },
                { type: 'notifyManagedLoginCompleted', params: { success: true, error: null } },
                raise(({ context, event }) => {
                  const account = context.managedLogin?.account;
                  if (!account) throw new Error('unreachable: persisting is entered with the exchanged account');
                  return { type: 'managedLogin.succeeded' as const, account, timing: event.output.timing };
                }),
                // The tokens this login replaced (an earlier ChatGPT login's) are revoked once the new ones are saved.
                'revokeDisplacedTokens',
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
                  type: 'notifyManagedLoginCompleted',
                  params: ({ context, event }) => ({
                    success: false,
                    error: loginEndedMessage(kindOf(context), loginSaveFailedMessage(errorText(event.error))),
                  }),
                },
              ],
            },
          },
        },
        /** The browser has been told the outcome; leaving `active` stops the flow. */
        finished: { type: 'final' },
      },
      onDone: 'idle',
    },
  },
});

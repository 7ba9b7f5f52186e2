/**
 * The 401 recovery of docs/protocol.md §6 as the session region's two refreshable modes: `chatgpt` (managed
 * tokens, refreshed through the token endpoint, proactively too) and `externalTokens` (tokens the parent
 * refreshes). One `refreshing` state per mode makes a refresh single-flight; the calls that meet it wait
 * in `context.waiting` and get the chart's verdict when it settles.
 */
import { DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS, INVALID_REQUEST, type AuthEvent, type ExternalRefreshOutput, type ManagedRefreshOutput } from './types';
import { authSetup, refreshReasonOf, refuseBusy, reqOf } from './auth.setup';
import { SWITCH_MESSAGES, errorText, refreshTimedOutMessage, refreshWorkspaceMessage, workspacesRestrictedMessage } from './policy';

/** A backend call goes ahead with the credentials in use now (and a failed workspace discovery is tried again). */
const proceed = { actions: [{ type: 'answerCall', params: { verdict: 'proceed' } }, 'retryDiscovery'] } as const;

// --- workspaces (issue 14: docs/protocol.md §12.4): `accountSession/switch` in a managed login, refusals in Codex's order ---
const refuseSwitch = (message: string) => ({ type: 'refuse', params: { code: INVALID_REQUEST, message } }) as const;
const switchWorkspace = [
  { guard: 'managedLoginBusy', ...refuseBusy },
  { guard: 'otherSession', actions: refuseSwitch(SWITCH_MESSAGES.otherSession) },
  { guard: 'emptyAccountId', actions: refuseSwitch(SWITCH_MESSAGES.emptyAccountId) },
  { guard: 'workspaceUnlisted', actions: refuseSwitch(SWITCH_MESSAGES.unavailable) },
  {
    // The forced-workspace rule of logins and refreshes, for the workspace asked for; no network call.
    guard: { type: 'workspaceRefused', params: ({ event }: { event: AuthEvent }) => ({ accountId: event.type === 'accountSession.switch' ? event.accountId : null }) },
    actions: {
      type: 'refuse',
      params: ({ context }: { context: { policy: { forcedWorkspaceIds: readonly string[] | null } } }) => ({
        code: INVALID_REQUEST,
        message: workspacesRestrictedMessage(context.policy.forcedWorkspaceIds ?? []),
      }),
    },
  },
  { guard: 'sameWorkspace', actions: { type: 'answerSession', params: { req: null } } },
  { target: '#auth.session.switchingWorkspace', actions: ['rememberRequest', 'rememberSwitch'] },
] as const;
/** A ChatGPT login (managed or external) or a new workspace is in use: the workspace region discovers it. */
export const discoverWorkspace = (authMode: 'chatgpt' | 'chatgptAuthTokens') => ({ type: 'discoverWorkspace', params: { authMode } }) as const;
/** The parent's new tokens are for another workspace than the login in use: discovery runs again. */
const accountChanged = {
  type: 'accountChanged',
  params: ({ event }: { event: { output: { account: { accountId: string | null } } } }) => ({ accountId: event.output.account.accountId }),
} as const;
/** A managed refresh's new tokens, taken. */
const adoptManaged = [
  { type: 'adoptManagedCredentials', params: ({ event }: { event: { output: ManagedRefreshOutput } }) => ({ output: event.output }) },
  { type: 'setAccount', params: ({ event }: { event: { output: ManagedRefreshOutput } }) => ({ account: event.output.account }) },
  { type: 'setTiming', params: ({ event }: { event: { output: ManagedRefreshOutput } }) => ({ timing: event.output.timing }) },
  'tokensChanged',
  'releaseWaiting',
] as const;
/** The parent's new tokens, taken. */
const adoptExternal = [
  { type: 'storeExternalTokens', params: ({ event }: { event: { output: ExternalRefreshOutput } }) => event.output },
  { type: 'setAccount', params: ({ event }: { event: { output: ExternalRefreshOutput } }) => ({ account: event.output.account }) },
  'tokensChanged',
  'releaseWaiting',
] as const;

/** A 401 for credentials already replaced (or a mode without a refresh): retry, the next call decides. */
export const retry = { actions: { type: 'answer', params: ({ event }: { event: AuthEvent }) => ({ req: reqOf(event) }) } } as const;

/** In `refreshing`: a backend call, a 401 of the bearer being replaced or a forced refresh waits for it. */
const waitForRefresh = {
  'backend.call': { actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
  'refresh.requested': { actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
  'auth.unauthorized': [
    { guard: 'unauthorizedCurrent', actions: { type: 'waitForRefresh', params: { kind: 'retry' } } },
    { actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
  ],
} as const;

/** In `ready`: a 401 for the bearer in use starts the refresh and waits for it; an older one is retried. */
const startRefreshOn401 = [
  { guard: 'unauthorizedCurrent', target: 'refreshing', actions: { type: 'waitForRefresh', params: { kind: 'retry' } } },
  retry,
] as const;

/** `chatgpt`: managed ChatGPT tokens (auth.json), refreshed by authchart itself through the token endpoint. */
export const chatgptMode = authSetup.createStateConfig({
  initial: 'ready',
  // Calls still waiting when the mode is left ask again: the new mode answers them.
  exit: 'requeueWaiting',
  // --- workspaces (issue 14): the managed login is the one session (answered from the context, never waits) ---
  on: { 'accountSession.list': { actions: { type: 'answerSession', params: { req: null } } } },
  states: {
    ready: {
      on: {
        'backend.call': [
          { guard: 'proactiveRefreshDue', target: 'refreshing', actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
          proceed,
        ],
        'auth.unauthorized': startRefreshOn401,
        'refresh.requested': { target: 'refreshing', actions: { type: 'waitForRefresh', params: { kind: 'call' } } },
        'accountSession.switch': switchWorkspace,
      },
    },
    // No 'busy' tag: logout and logins interrupt a refresh (its effect is then discarded).
    refreshing: {
      tags: ['refreshing'],
      invoke: {
        id: 'managedRefresh',
        src: 'managedRefresh',
        input: ({ event }) => ({ reason: refreshReasonOf(event) }),
        // The workspace stays: a refresh keeps the saved `tokens.account_id` (src/auth/managedRefresh.ts).
        onDone: { target: 'ready', actions: adoptManaged },
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
      // A switch waits for the refresh to settle and is then sent again (it would spend the bearer the
      // refresh is replacing, and two writers of new tokens would race for auth.json).
      on: { ...waitForRefresh, 'accountSession.switch': { actions: { type: 'waitForRefresh', params: { kind: 'call' } } } },
    },
  },
});

/** `externalTokens`: tokens handed in by the parent, which is asked for new ones on a 401. */
export const externalTokensMode = authSetup.createStateConfig({
  initial: 'ready',
  exit: 'requeueWaiting',
  states: {
    ready: {
      on: {
        'backend.call': proceed,
        'auth.unauthorized': startRefreshOn401,
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
          // The parent may hand over another workspace's tokens: routing is discovered for these (issue 14).
          { guard: accountChanged, target: 'ready', actions: [...adoptExternal, discoverWorkspace('chatgptAuthTokens')] },
          { target: 'ready', actions: adoptExternal },
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
});

/**
 * The `workspace` region (issue 14, docs/protocol.md §12.1): workspace discovery as a background effect of
 * the chart. After a ChatGPT login (managed or external), after a switch, and at start-up with managed
 * credentials, the `discoverWorkspace` actor asks the backend which workspace the login is in and how it
 * is routed; the answer (name, routing, the login's workspaces; never a token) goes into the context,
 * where `account/read` reads it without waiting. A failure leaves the routing unknown and is tried again
 * when the next backend call goes ahead.
 *
 *   starting → discovering | unknown;  discovering → known | stale;  stale → discovering (next call)
 *   any: workspace.discover → discovering (a new login or workspace), workspace.forget → unknown
 */
import { authSetup } from './auth.setup';

/**
 * A new login or workspace: what was known is dropped and discovery (re)starts (a running one is stopped);
 * logged out or an API key: no workspace. Declared in each state: a re-entering transition on the region
 * itself would re-enter its parallel siblings too.
 */
const changes = {
  'workspace.discover': {
    target: 'discovering',
    reenter: true,
    actions: ['forgetWorkspace', { type: 'setDiscoveryMode', params: ({ event }: { event: { authMode: 'chatgpt' | 'chatgptAuthTokens' } }) => ({ authMode: event.authMode }) }],
  },
  'workspace.forget': { target: 'unknown', actions: 'forgetWorkspace' },
} as const;

/** The workspace region. */
export const workspaceRegion = authSetup.createStateConfig({
  initial: 'starting',
  states: {
    /** Start-up: managed credentials restored from the store are discovered at once. */
    starting: {
      always: [
        { guard: 'restoredChatgpt', target: 'discovering', actions: { type: 'setDiscoveryMode', params: { authMode: 'chatgpt' } } },
        { target: 'unknown' },
      ],
    },
    /** No ChatGPT login, or one whose discovery has not been asked for. */
    unknown: { on: changes },
    /** Discovery under way; `account/read` answers meanwhile with the routing unknown (null). */
    discovering: {
      invoke: {
        id: 'discoverWorkspace',
        src: 'discoverWorkspace',
        input: ({ context }) => ({ accountId: context.account?.accountId ?? null }),
        onDone: {
          target: 'known',
          actions: [{ type: 'setWorkspace', params: ({ event }) => ({ workspace: event.output }) }, 'notifyRoutingReady'],
        },
        // The effect has logged Codex's text of the failure; the next backend call tries again.
        onError: { target: 'stale' },
      },
      on: changes,
    },
    /** The routing of the login in use is known. */
    known: { on: changes },
    /** The last discovery failed: the routing stays unknown until a backend call goes ahead. */
    stale: {
      on: { ...changes, 'workspace.retry': 'discovering' },
    },
  },
});

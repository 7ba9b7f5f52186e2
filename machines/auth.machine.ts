/**
 * The auth statechart: the whole auth policy of authchart in one visible place.
 *
 *   session.mode:  loggedOut → apiKey | chatgpt{ready ⇄ refreshing} | externalTokens{ready ⇄ refreshing} | failed
 *   session:       mode, or an effect under way (savingApiKey, loggingOut) that returns to mode's history
 *   managedLogin:  idle → active { starting → pending { waiting → exchanging } → persisting → finished } → idle
 *                  (one region for the browser login and the device-code login: the flow is an actor)
 *   workspace:     unknown | discovering → known | stale (discovery of the ChatGPT login's workspace, issue 14)
 *
 * Pure: effects are named actors and actions declared in auth.setup.ts with inert defaults and supplied
 * by src/ through `.provide()`; the regions live in session.region.ts and managedLogin.region.ts, the
 * messages and pure rules in policy.ts. Guards decide every refusal of docs/protocol.md §7, in the order of that table, and
 * the 401 recovery of §6: one `refreshing` state per mode is what makes a refresh single-flight.
 */
import { authSetup } from './auth.setup';
import { managedLoginRegion } from './managedLogin.region';
import { sessionRegion } from './session.region';
import { workspaceRegion } from './workspace.region';

export * from './policy';
export { authSetup };

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
    credentialGeneration: 0,
    lastRefreshError: null,
    timing: input.restored?.mode === 'chatgpt' ? (input.restored.timing ?? null) : null,
    managedLogin: null,
    waiting: [],
    // --- workspaces (issue 14) ---
    workspace: null,
    discoveryMode: null,
    switching: null,
  }),
  states: {
    session: sessionRegion,
    managedLogin: managedLoginRegion,
    workspace: workspaceRegion,
  },
});

/** The machine's type, for code that provides implementations or inspects snapshots. */
export type AuthMachine = typeof authMachine;

/**
 * The chart's effects: what src/ supplies to machines/ through `.provide()` — saving and clearing
 * credentials, the managed and external refreshes, the managed login's flow and token save, revoking
 * displaced tokens, and the vault actions. Each effect does its I/O and reports back; none of them
 * decides anything.
 */
import { fromPromise } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import type { Secret } from '../../machines/secret';
import type {
  ChatgptTokens,
  ExternalRefreshInput,
  ExternalRefreshOutput,
  LoginTokens,
  ManagedRefreshOutput,
  RefreshReason,
  SavedLoginOutput,
  SwitchedOutput,
  WorkspaceKnowledge,
} from '../../machines/types';
import { switchSaveFailedMessage } from '../../machines/policy';
import type { AuthchartConfig } from '../config';
import type { Logger } from '../log';
import type { AuthCore } from './core';
import type { CredentialStore, ManagedCredentials } from './credentials';
import { requestExternalRefresh, type ParentRequester } from './externalRefresh';
import { KeyringError } from './keyringError';
import { loginFlowActor, type LoginFlowDeps } from './loginFlow';
import { accountOfManaged, refreshManagedCredentials, timingOf } from './managedRefresh';
import { RefreshError } from './tokenEndpoint';
import { StoreFileError } from './storeFiles';
import type { ExternalTokenVault } from './vault';
import type { Fetch } from './http';

/** The mutable state the effects share with AuthCore: the managed credentials in use and the parent link. */
export interface EffectState {
  managed: ManagedCredentials | null;
  requestParent: ParentRequester | null;
  /**
   * Managed ChatGPT tokens the last save or clear took out of the store, until the chart's
   * `revokeDisplacedTokens` sends them to the issuer (never an API key, never external tokens).
   */
  displaced?: ChatgptTokens | null;
}

/** What the effects need. */
export interface EffectDeps {
  config: AuthchartConfig;
  store: CredentialStore;
  vault: ExternalTokenVault;
  logger: Logger;
  state: EffectState;
  /** The fetch used for the token endpoint (default: `httpFetch`, src/auth/http.ts). */
  fetch?: Fetch;
  /** Test overrides for the browser login's callback server. */
  loginServer?: LoginFlowDeps['flowOptions'];
  /** Test overrides for the device login's polling. */
  devicePolling?: LoginFlowDeps['devicePolling'];
  /** The core running the chart: discovery's backend calls go through its 401 recovery. */
  core?: () => AuthCore;
}

/** Runs a store operation; a failure becomes an Error naming the location and what to check. */
async function storeOperation(store: CredentialStore, verb: string, operation: () => Promise<void>): Promise<void> {
  try {
    await operation();
  } catch (error) {
    // These already name the place, say what happened and how to fix it: wrapping would add wrong advice.
    if (error instanceof KeyringError || error instanceof StoreFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      `could not ${verb} ${store.location} (${code ?? (error as Error).message}); check that the directory exists and is writable by this user`,
    );
  }
}

/**
 * The managed ChatGPT tokens in the store now (read inside the lock: another process may have refreshed
 * them since this one loaded), for revoking once they are replaced or removed. A store that cannot be
 * read displaces nothing we could revoke.
 */
async function tokensInStore(store: CredentialStore): Promise<ChatgptTokens | null> {
  const loaded = await store.load().catch(() => null);
  return loaded?.status === 'ok' && loaded.credentials.mode === 'chatgpt' ? loaded.credentials.tokens : null;
}

/** The old tokens, unless the new credentials keep their refresh token (nothing to revoke then). */
function displacedBy(old: ChatgptTokens | null, next: ManagedCredentials | null): ChatgptTokens | null {
  if (!old) return null;
  if (next?.mode === 'chatgpt' && next.tokens.refreshToken.reveal() === old.refreshToken.reveal()) return null;
  return old;
}

/** Saves credentials under the store lock (the lock first: its own error is clearer than the write's). */
async function saveLocked(deps: EffectDeps, credentials: ManagedCredentials): Promise<void> {
  await deps.store.withLock(async () => {
    const old = await tokensInStore(deps.store);
    await storeOperation(deps.store, 'write', () => deps.store.save(credentials));
    deps.state.displaced = displacedBy(old, credentials);
  }, deps.logger);
  deps.state.managed = credentials;
}

/** Runs an effect, logging its failure once; an effect the chart abandoned (signal aborted) is not a failure. */
async function loggingFailure<T>(logger: Logger, what: string, signal: AbortSignal, effect: () => Promise<T>): Promise<T> {
  try {
    return await effect();
  } catch (error) {
    if (!signal.aborted) logger.warn(`${what} failed: ${(error as Error).message}`);
    throw error;
  }
}

/** Whether this process has started a revoke (so its module is loaded, or loading). */
let revokeStarted = false;

/**
 * For a process that is exiting: gives the revokes still in flight a short, bounded chance to finish
 * (docs/protocol.md §13.2: 2 s). Returns at once when none was ever started.
 */
export async function settleRevokes(): Promise<void> {
  if (!revokeStarted) return;
  // A revoke whose module was still loading registers itself before this continuation runs.
  const { waitForRevokes } = await import('./revoke.js');
  await waitForRevokes();
}

/** The auth chart with src/'s effects provided. */
export function provideEffects(deps: EffectDeps) {
  const { config, store, vault, logger, state } = deps;
  return authMachine.provide({
    actors: {
      // Writers of the store take its lock, so a refresh in another process never overwrites them.
      saveApiKey: fromPromise<void, { apiKey: Secret }>(({ input }) => saveLocked(deps, { mode: 'apiKey', apiKey: input.apiKey })),
      clearCredentials: fromPromise<void, void>(async () => {
        await store.withLock(async () => {
          const old = await tokensInStore(store);
          await storeOperation(store, 'remove', () => store.clear());
          state.displaced = old;
        }, logger);
        state.managed = null;
      }),
      managedRefresh: fromPromise<ManagedRefreshOutput, { reason: RefreshReason }>(({ input, signal }) =>
        loggingFailure(logger, `managed token refresh (${input.reason})`, signal, () => {
          const current = state.managed;
          if (current?.mode !== 'chatgpt') throw new RefreshError('transient', 'there is no managed ChatGPT login to refresh');
          return refreshManagedCredentials(current, input.reason, signal, { store, tokenUrl: config.tokenUrl, logger, fetchImpl: deps.fetch });
        }),
      ),
      externalRefresh: fromPromise<ExternalRefreshOutput, ExternalRefreshInput>(({ input, signal }) =>
        loggingFailure(logger, 'external token refresh', signal, () => requestExternalRefresh(input, signal, { send: state.requestParent, logger })),
      ),
      loginFlow: loginFlowActor({ config, logger, fetch: deps.fetch, flowOptions: deps.loginServer, devicePolling: deps.devicePolling }),
      saveChatgptTokens: fromPromise<SavedLoginOutput, { tokens: LoginTokens; accountId: string | null }>(async ({ input }) => {
        const credentials: ManagedCredentials = {
          mode: 'chatgpt',
          tokens: { ...input.tokens, accountId: input.accountId },
          lastRefresh: new Date().toISOString(),
          apiKey: null,
        };
        // Under the store lock like every writer: a refresh in flight (here or in another process)
        // finishes first, then re-reads the store inside the lock and finds this login's tokens.
        await saveLocked(deps, credentials);
        return { timing: timingOf(credentials) };
      }),
      // --- workspaces (issue 14); their modules load on first use, off the spawn path ---
      discoverWorkspace: fromPromise<WorkspaceKnowledge, { accountId: string | null }>(async ({ input, signal }) => {
        const core = deps.core?.();
        if (!core) throw new Error('workspace discovery needs the auth core');
        const { discoverWorkspace, WorkspaceDiscoveryError } = await import('./workspaces.js');
        try {
          return await discoverWorkspace(core, config.chatgptBaseUrl, input.accountId, { signal, fetch: deps.fetch, timeoutMs: config.discoveryTimeoutMs });
        } catch (error) {
          // Codex's text first (parents and users match on it), then what exactly happened; retried on the next call.
          const detail = error instanceof WorkspaceDiscoveryError && error.detail ? ` (${error.detail})` : '';
          if (!signal.aborted) logger.warn(`workspace discovery failed: ${(error as Error).message}${detail}; it is tried again on the next backend call`);
          throw error;
        }
      }),
      switchWorkspace: fromPromise<SwitchedOutput, { accountId: string }>(({ input, signal }) =>
        loggingFailure(logger, `workspace switch to ${input.accountId}`, signal, async () => {
          const current = state.managed;
          if (current?.mode !== 'chatgpt') throw new Error('there is no managed ChatGPT login to switch');
          const { exchangeWorkspaceTokenWith, switchedCredentials } = await import('./workspaceSwitch.js');
          const switched = await exchangeWorkspaceTokenWith(current.tokens.accessToken, config.chatgptBaseUrl, input.accountId, { fetch: deps.fetch, signal });
          const next: ManagedCredentials = { mode: 'chatgpt', ...switchedCredentials(current, switched, new Date()) };
          try {
            await saveLocked(deps, next);
          } catch (error) {
            throw new Error(switchSaveFailedMessage((error as Error).message));
          }
          // The id token when the exchange returned one; else the old one's user with the new workspace.
          const account = switched.tokens.idToken ? switched.account : accountOfManaged(next);
          return { account, timing: timingOf(next) };
        }),
      ),
    },
    actions: {
      storeExternalTokens: (_, params) => vault.set(params.tokens),
      clearExternalTokens: () => vault.clear(),
      adoptManagedCredentials: (_, { output }) => {
        state.managed = { mode: 'chatgpt', ...output.credentials };
      },
      revokeDisplacedTokens: () => {
        const tokens = state.displaced;
        state.displaced = null;
        if (!tokens) return;
        // The revoke module loads with the first revoke; the chart's transition never waits for it.
        revokeStarted = true;
        void import('./revoke.js').then(({ revokeInBackground, resolveRevokeUrl }) =>
          revokeInBackground(tokens, 'the credentials were removed or replaced', { url: () => resolveRevokeUrl(config), logger, fetchImpl: deps.fetch }),
        );
      },
    },
  });
}

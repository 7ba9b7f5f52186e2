/**
 * The chart's effects: what src/ supplies to machines/ through `.provide()` — saving and clearing
 * credentials, the managed and external refreshes, the browser login's callback server and token save,
 * and the vault actions. Each effect does its I/O and reports back; none of them decides anything.
 */
import { fromPromise } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import type { Secret } from '../../machines/secret';
import type {
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
import { loginServerActor, type LoginServerDeps } from './browserLogin';
import type { AuthCore } from './core';
import type { CredentialStore, ManagedCredentials } from './credentials';
import { requestExternalRefresh, type ParentRequester } from './externalRefresh';
import { KeyringError } from './keyringCall';
import { accountOfManaged, refreshManagedCredentials, timingOf } from './managedRefresh';
import { RefreshError } from './tokenEndpoint';
import { StoreFileError } from './storeFiles';
import type { ExternalTokenVault } from './vault';

/** The mutable state the effects share with AuthCore: the managed credentials in use and the parent link. */
export interface EffectState {
  managed: ManagedCredentials | null;
  requestParent: ParentRequester | null;
}

/** What the effects need. */
export interface EffectDeps {
  config: AuthchartConfig;
  store: CredentialStore;
  vault: ExternalTokenVault;
  logger: Logger;
  state: EffectState;
  /** The fetch used for the token endpoint (default: the global fetch). */
  fetch?: typeof fetch;
  /** Test overrides for the browser login's callback server. */
  loginServer?: LoginServerDeps['flowOptions'];
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

/** Saves credentials under the store lock (the lock first: its own error is clearer than the write's). */
async function saveLocked(deps: EffectDeps, credentials: ManagedCredentials): Promise<void> {
  await deps.store.withLock(() => storeOperation(deps.store, 'write', () => deps.store.save(credentials)), deps.logger);
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

/** The auth chart with src/'s effects provided. */
export function provideEffects(deps: EffectDeps) {
  const { config, store, vault, logger, state } = deps;
  return authMachine.provide({
    actors: {
      // Writers of the store take its lock, so a refresh in another process never overwrites them.
      saveApiKey: fromPromise<void, { apiKey: Secret }>(({ input }) => saveLocked(deps, { mode: 'apiKey', apiKey: input.apiKey })),
      clearCredentials: fromPromise<void, void>(async () => {
        await store.withLock(() => storeOperation(store, 'remove', () => store.clear()), logger);
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
      loginServer: loginServerActor({ config, logger, flowOptions: deps.loginServer }),
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
          return await discoverWorkspace(core, config.chatgptBaseUrl, input.accountId, { signal, fetch: deps.fetch });
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
    },
  });
}

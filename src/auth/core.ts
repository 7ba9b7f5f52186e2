/**
 * AuthCore: the auth chart brought to life. It creates the actor with src/'s effects provided, turns
 * commands into machine events and the machine's emitted answers back into promises, and exposes
 * read-only views. It holds no policy: every decision is a guard in machines/auth.machine.ts.
 */
import { createActor, fromPromise, waitFor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { authMachine, type AuthMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import {
  INTERNAL_ERROR,
  type AuthCommandEvent,
  type AuthEmitted,
  type AuthPolicy,
  type ExternalRefreshInput,
  type ExternalRefreshOutput,
  type LoginTokens,
  type ManagedRefreshOutput,
  type RefreshReason,
  type RestoredAuth,
  type SavedLoginOutput,
} from '../../machines/types';
import { accountViewOf, authModeOf, isRefreshing, sessionPath, type AccountView, type AuthSnapshot } from '../../machines/views';
import type { AuthchartConfig } from '../config';
import { silentLogger, type Logger } from '../log';
import { loginServerActor, type LoginServerDeps } from './browserLogin';
import type { CredentialStore, ManagedCredentials } from './credentials';
import { requestExternalRefresh, type ParentRequester } from './externalRefresh';
import { accountOfManaged, refreshManagedCredentials, timingOf } from './managedRefresh';
import { RefreshError } from './tokenEndpoint';
import { ExternalTokenVault } from './vault';

export { accountOfManaged } from './managedRefresh';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A command for the chart: a command event without its correlation key (AuthCore assigns one). */
export type AuthCommand = DistributiveOmit<AuthCommandEvent, 'req'>;

/** How the chart answered a command. */
export type CommandAnswer = { ok: true; value?: unknown } | { ok: false; code: number; message: string };

/** A notification the chart emitted for the parent application. */
export type AuthNotification = Extract<AuthEmitted, { type: `notify.${string}` }>;

/** What AuthCore needs to start. */
export interface AuthCoreOptions {
  config: AuthchartConfig;
  store: CredentialStore;
  logger?: Logger;
  /** Receives XState inspection events (the live inspector); absent = nothing inspects. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * Asks the parent application for new external tokens (`account/chatgptAuthTokens/refresh`). The
   * app-server sets it to its connection; a host embedding the core in-process passes its own.
   */
  requestParent?: ParentRequester;
  /** The fetch used for the token endpoint (default: the global fetch). */
  fetch?: typeof fetch;
  /** Test overrides for the browser login's callback server (e.g. faster bind retries). */
  loginServer?: LoginServerDeps['flowOptions'];
}

/** The policy part of the configuration. */
export function policyOf(config: AuthchartConfig): AuthPolicy {
  return {
    forcedLoginMethod: config.forcedLoginMethod,
    forcedWorkspaceIds: config.forcedWorkspaceIds,
    externalRefreshTimeoutMs: config.externalRefreshTimeoutMs,
    proactiveRefreshSkewSeconds: config.proactiveRefreshSkewSeconds,
    loginTimeoutMs: config.loginTimeoutMs,
  };
}

/** A refused or failed backend call: `code` is the JSON-RPC code to answer with, `message` the exact text. */
export class AuthCallError extends Error {
  override readonly name = 'AuthCallError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** What a backend call is made with: the bearer and account of the moment, and their generation. */
export interface BackendTicket {
  bearer: Secret;
  accountId: string | null;
  /** Reported back with a 401, so a 401 that raced a finished refresh does not start another one. */
  generation: number;
}

/** Runs a store operation; a failure becomes an Error naming the location and what to check. */
async function storeOperation(store: CredentialStore, verb: string, operation: () => Promise<void>): Promise<void> {
  try {
    await operation();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      `could not ${verb} ${store.location} (${code ?? (error as Error).message}); check that the directory exists and is writable by this user`,
    );
  }
}

/** One running auth core: the chart, the credential store and the external-token vault. */
export class AuthCore {
  readonly vault = new ExternalTokenVault();
  readonly actor: Actor<AuthMachine>;
  private managed: ManagedCredentials | null;
  private sequence = 0;
  private readonly waiting = new Map<number, (answer: CommandAnswer) => void>();
  private readonly listeners = new Set<(notification: AuthNotification) => void>();
  private readonly logger: Logger;
  private requestParent: ParentRequester | null;

  private constructor(
    readonly config: AuthchartConfig,
    readonly store: CredentialStore,
    restored: { credentials: ManagedCredentials | null; auth: RestoredAuth },
    options: AuthCoreOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.managed = restored.credentials;
    this.requestParent = options.requestParent ?? null;
    const machine = authMachine.provide({
      actors: {
        // Writers of the store take its lock, so a refresh in another process never overwrites them.
        saveApiKey: fromPromise<void, { apiKey: Secret }>(async ({ input }) => {
          const credentials: ManagedCredentials = { mode: 'apiKey', apiKey: input.apiKey };
          // The lock first: its own error is clearer than the generic "could not write" wrapper.
          await this.store.withLock(() => storeOperation(this.store, 'write', () => this.store.save(credentials)), this.logger);
          this.managed = credentials;
        }),
        clearCredentials: fromPromise<void, void>(async () => {
          await this.store.withLock(() => storeOperation(this.store, 'remove', () => this.store.clear()), this.logger);
          this.managed = null;
        }),
        managedRefresh: fromPromise<ManagedRefreshOutput, { reason: RefreshReason }>(({ input, signal }) =>
          this.loggingFailure(`managed token refresh (${input.reason})`, signal, () => {
            const current = this.managed;
            if (current?.mode !== 'chatgpt') throw new RefreshError('transient', 'there is no managed ChatGPT login to refresh');
            const deps = { store: this.store, tokenUrl: config.tokenUrl, logger: this.logger, fetchImpl: options.fetch };
            return refreshManagedCredentials(current, input.reason, signal, deps);
          }),
        ),
        externalRefresh: fromPromise<ExternalRefreshOutput, ExternalRefreshInput>(({ input, signal }) =>
          this.loggingFailure('external token refresh', signal, () =>
            requestExternalRefresh(input, signal, { send: this.requestParent, logger: this.logger }),
          ),
        ),
        loginServer: loginServerActor({ config, logger: this.logger, flowOptions: options.loginServer }),
        saveChatgptTokens: fromPromise<SavedLoginOutput, { tokens: LoginTokens; accountId: string | null }>(async ({ input }) => {
          const credentials: ManagedCredentials = {
            mode: 'chatgpt',
            tokens: { ...input.tokens, accountId: input.accountId },
            lastRefresh: new Date().toISOString(),
            apiKey: null,
          };
          // Under the store lock like every writer: a refresh in flight (here or in another process)
          // finishes first, then re-reads the store inside the lock and finds this login's tokens.
          await this.store.withLock(() => storeOperation(this.store, 'write', () => this.store.save(credentials)), this.logger);
          this.managed = credentials;
          return { timing: timingOf(credentials) };
        }),
      },
      actions: {
        storeExternalTokens: (_, params) => this.vault.set(params),
        clearExternalTokens: () => this.vault.clear(),
        adoptManagedCredentials: (_, { output }) => {
          this.managed = { mode: 'chatgpt', ...output.credentials };
        },
      },
    });
    this.actor = createActor(machine, {
      input: { policy: policyOf(config), restored: restored.auth },
      // XState's default logger is console.log, i.e. stdout, which belongs to the protocol.
      logger: (...args: unknown[]) => this.logger.debug(args.map((arg) => String(arg)).join(' ')),
      inspect: options.inspect,
    });
    this.actor.on('answer.done', (event) => this.settle(event.req, { ok: true, value: event.value }));
    this.actor.on('answer.refused', (event) => this.settle(event.req, { ok: false, code: event.code, message: event.message }));
    const forward = (event: AuthNotification) => {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (error) {
          this.logger.error('a notification listener failed', { error: String(error) });
        }
      }
    };
    this.actor.on('notify.loginCompleted', forward);
    this.actor.on('notify.accountUpdated', forward);
    // Without an error observer XState rethrows a root actor error in a timer and kills the process.
    this.actor.subscribe({
      error: (error) => this.logger.error('the auth chart stopped on an error', { error: String(error) }),
    });
  }

  /** Loads the credential store and starts the chart in the mode it was left in. */
  static async open(options: AuthCoreOptions): Promise<AuthCore> {
    const logger = options.logger ?? silentLogger;
    const loaded = await options.store.load();
    let credentials: ManagedCredentials | null = null;
    let auth: RestoredAuth = null;
    if (loaded.status === 'corrupt') {
      logger.warn(
        `ignoring the saved credentials at ${options.store.location}: ${loaded.reason}. ` +
          'authchart starts logged out and leaves the file untouched; log in again to replace it, or log out to remove it.',
      );
    } else if (loaded.status === 'ok') {
      if (loaded.credentials.mode === 'apiKey') {
        credentials = loaded.credentials;
        auth = { mode: 'apiKey' };
      } else {
        try {
          auth = { mode: 'chatgpt', account: accountOfManaged(loaded.credentials), timing: timingOf(loaded.credentials) };
          credentials = loaded.credentials;
        } catch (error) {
          logger.warn(
            `ignoring the saved credentials at ${options.store.location}: tokens.id_token is not a valid JWT (${(error as Error).message}). ` +
              'authchart starts logged out and leaves the file untouched.',
          );
        }
      }
    }
    const core = new AuthCore(options.config, options.store, { credentials, auth }, options);
    core.actor.start();
    logger.debug('auth chart started', { state: core.statePath() });
    return core;
  }

  /** Sends a command to the chart and resolves with its answer once the chart is idle again. */
  async command(command: AuthCommand): Promise<CommandAnswer> {
    await this.whenIdle();
    this.sequence += 1;
    const req = this.sequence;
    const answer = await new Promise<CommandAnswer>((resolve) => {
      this.waiting.set(req, resolve);
      this.actor.send({ ...command, req } as AuthCommandEvent);
      if (this.waiting.has(req) && !this.actor.getSnapshot().hasTag('busy')) {
        this.waiting.delete(req);
        resolve({ ok: false, code: INTERNAL_ERROR, message: `the auth chart did not answer ${command.type} in state ${this.statePath()}` });
      }
    });
    await this.whenIdle();
    return answer;
  }

  /** Resolves when no effect (saving, clearing, starting a login, saving its tokens) is under way. */
  async whenIdle(): Promise<AuthSnapshot> {
    // A stopped chart counts as idle: XState's waitFor never settles when begun on a stopped actor, and
    // rejects when the actor stops first, which would hang or fail a command answered by stop().
    const settled = (s: AuthSnapshot) => !s.hasTag('busy') || s.status !== 'active';
    const snapshot = this.actor.getSnapshot();
    if (settled(snapshot)) return snapshot;
    try {
      return await waitFor(this.actor, settled);
    } catch {
      return this.actor.getSnapshot();
    }
  }

  /** Sets who answers `account/chatgptAuthTokens/refresh` (the app-server's connection to its parent). */
  setParentRequester(requestParent: ParentRequester | null): void {
    this.requestParent = requestParent;
  }

  /**
   * Asks the chart whether a ChatGPT backend call may go ahead (refusals: not logged in, API key, a
   * permanently failed refresh) and returns its credentials. A refresh under way, or a proactive one the
   * chart starts now, is waited out first. Throws AuthCallError with the chart's code and message.
   */
  async beginBackendCall(purpose: string): Promise<BackendTicket> {
    let now: number | null = Date.now();
    for (;;) {
      const answer = await this.command({ type: 'backend.call', purpose, now });
      if (!answer.ok) throw new AuthCallError(answer.code, answer.message);
      const snapshot = this.actor.getSnapshot();
      if (!isRefreshing(snapshot)) {
        const bearer = this.bearer();
        if (!bearer) throw new AuthCallError(INTERNAL_ERROR, `no ChatGPT access token is available (state ${this.statePath()})`);
        return { bearer, accountId: snapshot.context.account?.accountId ?? null, generation: snapshot.context.credentialGeneration };
      }
      await this.refreshSettled();
      // A failed proactive refresh keeps the still-valid token: ask again, without starting another one.
      now = null;
    }
  }

  /**
   * Reports a 401 to the call made with `ticket` and waits for the recovery: resolves when new credentials
   * are in place (retry then), throws AuthCallError(-32603) with the refresh's exact message when it failed.
   * However many calls report the same 401, the chart runs one refresh.
   */
  async recoverFromUnauthorized(ticket: BackendTicket): Promise<void> {
    this.actor.send({ type: 'auth.unauthorized', generation: ticket.generation });
    const after = await this.refreshSettled();
    if (after.context.credentialGeneration !== ticket.generation) return;
    if (after.matches({ session: { mode: 'failed' } })) throw new AuthCallError(INTERNAL_ERROR, after.context.failure ?? 'authentication failed');
    // Logged out meanwhile: beginBackendCall refuses the retry with the chart's message.
    if (!after.hasTag('authenticated')) return;
    throw new AuthCallError(
      INTERNAL_ERROR,
      after.context.lastRefreshError ?? 'the ChatGPT backend refused the access token (401) and it could not be refreshed',
    );
  }

  /** `account/read {"refreshToken":true}`: refreshes managed tokens now (never asks the parent; the refresh logs its failures). */
  async forceManagedRefresh(): Promise<void> {
    await this.whenIdle();
    this.actor.send({ type: 'refresh.requested' });
    await this.refreshSettled();
  }

  /** Resolves with the first snapshot in which no refresh is running. */
  async refreshSettled(): Promise<AuthSnapshot> {
    const snapshot = this.actor.getSnapshot();
    if (!isRefreshing(snapshot)) return snapshot;
    return waitFor(this.actor, (s) => !isRefreshing(s));
  }

  /** Subscribes to the chart's notifications; returns the unsubscribe function. */
  onNotification(listener: (notification: AuthNotification) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current snapshot. */
  snapshot(): AuthSnapshot {
    return this.actor.getSnapshot();
  }

  /** The session state as a dotted path, e.g. `externalTokens.ready`. */
  statePath(): string {
    return sessionPath(this.actor.getSnapshot());
  }

  /** The account as `account/read` reports it. */
  account(): AccountView {
    return accountViewOf(this.actor.getSnapshot());
  }

  /** The mode and, when asked, the bearer credential (`getAuthStatus`). */
  authStatus(includeToken: boolean): { authMethod: ReturnType<typeof authModeOf>; authToken: string | null } {
    const authMethod = authModeOf(this.actor.getSnapshot());
    if (!includeToken || authMethod === null) return { authMethod, authToken: null };
    return { authMethod, authToken: this.bearer()?.reveal() ?? null };
  }

  /** The credential a backend call would send now (API key, managed or external access token). */
  bearer(): Secret | null {
    const mode = authModeOf(this.actor.getSnapshot());
    if (mode === 'chatgptAuthTokens') return this.vault.get()?.tokens.accessToken ?? null;
    if (mode === 'apikey') return this.managed?.apiKey ?? null;
    if (mode === 'chatgpt' && this.managed?.mode === 'chatgpt') return this.managed.tokens.accessToken;
    return null;
  }

  /** Stops the chart; pending commands are answered with an error. */
  stop(): void {
    for (const [req] of this.waiting) this.settle(req, { ok: false, code: INTERNAL_ERROR, message: 'authchart is shutting down' });
    this.actor.stop();
  }

  /** Runs a refresh effect; its failure is logged once here (however many calls wait on it) and rethrown. */
  /** Runs an effect, logging its failure once; an effect the chart abandoned (signal aborted) is not a failure. */
  private async loggingFailure<T>(what: string, signal: AbortSignal, effect: () => Promise<T>): Promise<T> {
    try {
      return await effect();
    } catch (error) {
      if (!signal.aborted) this.logger.warn(`${what} failed: ${(error as Error).message}`);
      throw error;
    }
  }

  private settle(req: number, answer: CommandAnswer): void {
    const resolve = this.waiting.get(req);
    if (!resolve) {
      this.logger.warn('the auth chart answered a command nobody is waiting for', { req });
      return;
    }
    this.waiting.delete(req);
    resolve(answer);
  }
}

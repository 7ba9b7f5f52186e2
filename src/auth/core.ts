/**
 * AuthCore: the auth chart brought to life. It creates the actor with src/'s effects provided, turns
 * commands into machine events and the machine's emitted answers back into promises, and exposes
 * read-only views. It holds no policy: every decision is a guard in machines/auth.machine.ts.
 */
import { createActor, fromPromise, waitFor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { authMachine, type AuthMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import { INTERNAL_ERROR, type AccountInfo, type AuthEmitted, type AuthEvent, type AuthPolicy, type RestoredAuth } from '../../machines/types';
import { accountViewOf, authModeOf, sessionPath, type AccountView, type AuthSnapshot } from '../../machines/views';
import type { AuthchartConfig } from '../config';
import { silentLogger, type Logger } from '../log';
import type { CredentialStore, ManagedCredentials } from './credentials';
import { accountFromClaims, readClaims } from './jwt';
import { ExternalTokenVault } from './vault';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A command for the chart: an AuthEvent without its correlation key (AuthCore assigns one). */
export type AuthCommand = DistributiveOmit<AuthEvent, 'req'>;

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
}

/** The policy part of the configuration. */
export function policyOf(config: AuthchartConfig): AuthPolicy {
  return { forcedLoginMethod: config.forcedLoginMethod, forcedWorkspaceIds: config.forcedWorkspaceIds };
}

/** The account a managed ChatGPT login's id token describes; throws JwtFormatError when unreadable. */
export function accountOfManaged(credentials: Extract<ManagedCredentials, { mode: 'chatgpt' }>): AccountInfo {
  const account = accountFromClaims(readClaims(credentials.tokens.idToken.reveal()));
  return { ...account, accountId: account.accountId ?? credentials.tokens.accountId };
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

  private constructor(
    readonly config: AuthchartConfig,
    readonly store: CredentialStore,
    restored: { credentials: ManagedCredentials | null; auth: RestoredAuth },
    options: AuthCoreOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.managed = restored.credentials;
    const machine = authMachine.provide({
      actors: {
        saveApiKey: fromPromise<void, { apiKey: Secret }>(async ({ input }) => {
          const credentials: ManagedCredentials = { mode: 'apiKey', apiKey: input.apiKey };
          await storeOperation(this.store, 'write', () => this.store.save(credentials));
          this.managed = credentials;
        }),
        clearCredentials: fromPromise<void, void>(async () => {
          await storeOperation(this.store, 'remove', () => this.store.clear());
          this.managed = null;
        }),
      },
      actions: {
        storeExternalTokens: (_, params) => {
          const { event } = params;
          if (event.claims.ok) this.vault.set({ tokens: event.tokens, account: event.claims.account });
        },
        clearExternalTokens: () => this.vault.clear(),
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
          auth = { mode: 'chatgpt', account: accountOfManaged(loaded.credentials) };
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
      this.actor.send({ ...command, req } as AuthEvent);
      if (this.waiting.has(req) && !this.actor.getSnapshot().hasTag('busy')) {
        this.waiting.delete(req);
        resolve({ ok: false, code: INTERNAL_ERROR, message: `the auth chart did not answer ${command.type} in state ${this.statePath()}` });
      }
    });
    await this.whenIdle();
    return answer;
  }

  /** Resolves when no effect (saving, clearing, starting a login) is under way. */
  async whenIdle(): Promise<AuthSnapshot> {
    const snapshot = this.actor.getSnapshot();
    if (!snapshot.hasTag('busy')) return snapshot;
    return waitFor(this.actor, (s) => !s.hasTag('busy'));
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

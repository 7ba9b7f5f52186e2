/**
 * AuthCore: the auth chart brought to life. It creates the actor with src/'s effects provided
 * (src/auth/effects.ts), hands the chart one command at a time in arrival order, turns the answers the
 * chart emits back into promises, and exposes read-only views. It holds no policy: every refusal and
 * every verdict (what a call waiting on a refresh gets, too) is emitted by machines/auth.machine.ts.
 */
import { createActor, waitFor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import type { AuthMachine } from '../../machines/auth.machine';
import type { Secret } from '../../machines/secret';
import {
  INTERNAL_ERROR,
  type AuthCommandEvent,
  type AuthEmitted,
  type AuthPolicy,
  type RestoredAuth,
} from '../../machines/types';
import { accountViewOf, authModeOf, sessionPath, type AccountView, type AuthSnapshot } from '../../machines/views';
import type { AuthchartConfig } from '../config';
import { silentLogger, type Logger } from '../log';
import type { LoginFlowDeps } from './loginFlow';
import type { CredentialStore, ManagedCredentials } from './credentials';
import { provideEffects, settleRevokes, type EffectState } from './effects';
import type { ParentRequester } from './externalRefresh';
import { accountOfManaged, timingOf } from './managedRefresh';
import { ExternalTokenVault } from './vault';
import type { Fetch } from './http';

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
  /** The fetch used for the token endpoint (default: `httpFetch`, src/auth/http.ts). */
  fetch?: Fetch;
  /** Test overrides for the browser login's callback server (e.g. faster bind retries). */
  loginServer?: LoginFlowDeps['flowOptions'];
  /** Test overrides for the device login's polling. */
  devicePolling?: LoginFlowDeps['devicePolling'];
}

/** What a command gets once the chart has stopped. */
const SHUTTING_DOWN: CommandAnswer = { ok: false, code: INTERNAL_ERROR, message: 'authchart is shutting down' };

/** No effect is under way (a stopped chart counts as idle: its commands are answered by stop()). */
function isIdle(snapshot: AuthSnapshot): boolean {
  return !snapshot.hasTag('busy') || snapshot.status !== 'active';
}

/** The policy part of the configuration. */
function policyOf(config: AuthchartConfig): AuthPolicy {
  return {
    forcedLoginMethod: config.forcedLoginMethod,
    forcedWorkspaceIds: config.forcedWorkspaceIds,
    externalRefreshTimeoutMs: config.externalRefreshTimeoutMs,
    proactiveRefreshSkewSeconds: config.proactiveRefreshSkewSeconds,
    loginTimeoutMs: config.loginTimeoutMs,
    deviceLoginTimeoutMs: config.deviceLoginTimeoutMs,
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

/** One running auth core: the chart, the credential store and the external-token vault. */
export class AuthCore {
  readonly vault = new ExternalTokenVault();
  readonly actor: Actor<AuthMachine>;
  private readonly state: EffectState;
  private sequence = 0;
  private readonly waiting = new Map<number, { resolve: (answer: CommandAnswer) => void; rpcId?: string | number }>();
  private readonly listeners = new Set<(notification: AuthNotification) => void>();
  private readonly answerListeners = new Set<(rpcId: string | number) => void>();
  private readonly logger: Logger;
  /** Commands waiting for their turn (the chart idle, the command before them sent), in arrival order. */
  private readonly turns: Array<() => void> = [];
  private turnTaken = false;

  private constructor(
    readonly config: AuthchartConfig,
    readonly store: CredentialStore,
    restored: { credentials: ManagedCredentials | null; auth: RestoredAuth },
    options: AuthCoreOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.state = { managed: restored.credentials, requestParent: options.requestParent ?? null };
    const machine = provideEffects({
      config,
      store,
      vault: this.vault,
      logger: this.logger,
      state: this.state,
      fetch: options.fetch,
      loginServer: options.loginServer,
      devicePolling: options.devicePolling,
      core: () => this,
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
    this.actor.subscribe({
      // A command waiting for an effect to end gets its turn when the chart is idle again.
      next: () => this.nextTurn(),
      // Without an error observer XState rethrows a root actor error in a timer and kills the process.
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

  /**
   * Sends a command to the chart, in arrival order and only while no effect is under way (so two
   * commands racing for an idle chart never meet a busy one), and resolves with the chart's answer once
   * the chart is idle again. The answer may come later (a backend call waiting on a refresh).
   */
  async command(command: AuthCommand): Promise<CommandAnswer> {
    return (await this.send(command)).answer;
  }

  /**
   * `command`; for a backend call, `call.capture()` runs the moment the chart answers (before any other
   * command can reach it), to read the credentials in the state the answer was given in, and an `again`
   * answer reserves a turn at the head of the queue at that moment (`again`), so the call asks again
   * before any command that arrived after it; `call.turn` is such a reservation, taken instead of
   * queueing at the back. (Only a caller that asks again may get one: an unused reservation would stall the queue.)
   */
  private async send<T>(
    command: AuthCommand,
    call?: { capture: () => T; turn?: Promise<void> },
  ): Promise<{ answer: CommandAnswer; captured?: T; again?: Promise<void> }> {
    await (call?.turn ?? this.takeTurn());
    if (this.actor.getSnapshot().status !== 'active') {
      this.turnTaken = false;
      this.nextTurn();
      return { answer: SHUTTING_DOWN };
    }
    this.sequence += 1;
    const req = this.sequence;
    const answer = new Promise<{ answer: CommandAnswer; captured?: T; again?: Promise<void> }>((resolve) =>
      this.waiting.set(req, {
        rpcId: command.rpcId,
        resolve: (settled) => {
          if (call && settled.ok && settled.value === 'again') resolve({ answer: settled, again: this.reserveTurn() });
          else resolve({ answer: settled, captured: call && settled.ok ? call.capture() : undefined });
        },
      }),
    );
    try {
      this.actor.send({ ...command, req } as AuthCommandEvent);
    } finally {
      if (this.waiting.has(req) && !this.chartHolds(req)) {
        // A bug guard, not a verdict: the chart answers every command or keeps it until it can.
        this.logger.error(`the auth chart neither answered nor kept ${command.type}`, { state: this.statePath() });
        this.settle(req, { ok: false, code: INTERNAL_ERROR, message: `the auth chart did not answer ${command.type} in state ${this.statePath()}` });
      }
      this.turnTaken = false;
      this.nextTurn();
    }
    const settled = await answer;
    await this.whenIdle();
    return settled;
  }

  /** The credentials a backend call the chart has just let go ahead is made with, or the state that has none. */
  private ticketNow(): BackendTicket | { noBearerIn: string } {
    const bearer = this.bearer();
    if (!bearer) return { noBearerIn: this.statePath() };
    const snapshot = this.actor.getSnapshot();
    return { bearer, accountId: snapshot.context.account?.accountId ?? null, generation: snapshot.context.credentialGeneration };
  }

  /** Resolves when no effect (saving, clearing, starting a login, saving its tokens) is under way. */
  async whenIdle(): Promise<AuthSnapshot> {
    const snapshot = this.actor.getSnapshot();
    if (isIdle(snapshot)) return snapshot;
    try {
      return await waitFor(this.actor, isIdle);
    } catch {
      return this.actor.getSnapshot();
    }
  }

  /** Sets who answers `account/chatgptAuthTokens/refresh` (the app-server's connection to its parent). */
  setParentRequester(requestParent: ParentRequester | null): void {
    this.state.requestParent = requestParent;
  }

  /**
   * Asks the chart whether a ChatGPT backend call may go ahead and returns the credentials to make it
   * with. The chart answers at once, or once the refresh under way (or a proactive one it starts now)
   * has settled; `again` means the mode changed meanwhile and it is asked again. Throws AuthCallError
   * with the chart's code and message when it refuses (not logged in, API key, a dead refresh token).
   */
  async beginBackendCall(purpose: string, background = false): Promise<BackendTicket> {
    // A call the chart sends back (`again`: the mode changed while it waited) keeps its place in the queue.
    let turn: Promise<void> | undefined;
    for (;;) {
      // The credentials are the ones the chart said `proceed` with: taken when it answers, since by the
      // time this caller resumes a command queued behind the call (a login, a logout) may have changed them.
      const { answer, captured, again } = await this.send({ type: 'backend.call', purpose, now: Date.now(), ...(background && { background }) }, { capture: () => this.ticketNow(), turn });
      turn = again;
      if (!answer.ok) throw new AuthCallError(answer.code, answer.message);
      if (answer.value === 'again') continue;
      if (!captured || 'noBearerIn' in captured) {
        throw new AuthCallError(INTERNAL_ERROR, `no ChatGPT access token is available (state ${captured?.noBearerIn ?? this.statePath()})`);
      }
      return captured;
    }
  }

  /**
   * Reports a 401 to the call made with `ticket` and waits for the chart's verdict: resolves when the
   * call is to be retried, throws AuthCallError with the chart's refusal (the refresh's exact message).
   * However many calls report the same 401, the chart runs one refresh.
   */
  async recoverFromUnauthorized(ticket: BackendTicket): Promise<void> {
    const answer = await this.command({ type: 'auth.unauthorized', generation: ticket.generation });
    if (!answer.ok) throw new AuthCallError(answer.code, answer.message);
  }

  /**
   * Subscribes to "the chart has answered the command of request `rpcId`", told at the moment the chart
   * emits the answer, so that the wire can keep the chart's order: what the chart notified before
   * answering goes out before the response, what it notified after, after it. Returns the unsubscribe.
   */
  onAnswered(listener: (rpcId: string | number) => void): () => void {
    this.answerListeners.add(listener);
    return () => this.answerListeners.delete(listener);
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
    if (mode === 'chatgptAuthTokens') return this.vault.get()?.accessToken ?? null;
    if (mode === 'apikey') return this.state.managed?.apiKey ?? null;
    if (mode === 'chatgpt' && this.state.managed?.mode === 'chatgpt') return this.state.managed.tokens.accessToken;
    return null;
  }

  /** Stops the chart; pending and queued commands are answered with an error. */
  /** Waits (at most 2 s) for the revokes this process started (a logout's, a replaced login's) to finish. */
  settleRevokes(): Promise<void> {
    return settleRevokes();
  }

  stop(): void {
    this.actor.stop();
    for (const [req] of this.waiting) this.settle(req, SHUTTING_DOWN);
    this.nextTurn();
  }

  /** True while the chart keeps `req` to answer later (an effect's request, a call waiting on a refresh). */
  private chartHolds(req: number): boolean {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.status !== 'active') return false;
    return snapshot.context.pending === req || snapshot.context.waiting.some((call) => call.req === req);
  }

  /** Resolves when it is this command's turn: every command before it sent, and the chart idle. */
  private takeTurn(): Promise<void> {
    if (!this.turnTaken && this.turns.length === 0 && isIdle(this.actor.getSnapshot())) {
      this.turnTaken = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.turns.push(resolve);
      this.nextTurn();
    });
  }

  /** A turn at the head of the queue: the next one given, before every command already waiting. */
  private reserveTurn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.turns.unshift(resolve);
      this.nextTurn();
    });
  }

  /** Gives the next queued command its turn, one at a time, once the chart is idle. */
  private nextTurn(): void {
    if (this.turnTaken || this.turns.length === 0 || !isIdle(this.actor.getSnapshot())) return;
    this.turnTaken = true;
    this.turns.shift()?.();
  }

  private settle(req: number, answer: CommandAnswer): void {
    const waiter = this.waiting.get(req);
    if (!waiter) {
      this.logger.warn('the auth chart answered a command nobody is waiting for', { req });
      return;
    }
    this.waiting.delete(req);
    waiter.resolve(answer);
    // Synchronously, before the chart emits anything else: what it notifies from now on follows this answer.
    if (waiter.rpcId !== undefined) for (const listener of this.answerListeners) listener(waiter.rpcId);
  }
}

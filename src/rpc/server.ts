/**
 * The app server on one connection: the handshake of docs/protocol.md §2, the method catalogue (loaded with
 * the auth core right after the handshake), and the auth core's notifications, each written strictly
 * after the response of the request that caused it (§5). Knows nothing of auth policy; the queue,
 * dispatch order and requests to the parent are the connection's (src/rpc/connection.ts).
 */
import type { Readable, Writable } from 'node:stream';
import type { AuthCore, AuthNotification } from '../auth/core';
import type { AuthchartConfig } from '../config';
import type { Logger } from '../log';
import { describeIssues } from '../issues';
import { Connection, type RequestMode } from './connection';
import { ErrorCodes, WireError, invalidRequest } from './errors';
import { initializeResult } from './initialize';
import type { Id, RequestMessage, WireMessage } from './messages';
import type { MethodContext, MethodEntry } from './methods';

/** What an app-server connection needs. */
export interface AppServerOptions {
  input: Readable;
  output: Writable;
  /**
   * The auth core, or a function that loads it. `initialize` is answered without it; the server calls
   * the loader once, right after the initialize response has been written (or when a request needs the
   * core first), so loading it never delays the handshake.
   */
  core: AuthCore | (() => Promise<AuthCore>);
  config: AuthchartConfig;
  logger: Logger;
  /** authchart's version, for the user agent. */
  version: string;
}

/** A notification on the wire: method and params (docs/protocol.md §5, §12.2). */
function encodeNotification(notification: AuthNotification): { method: string; params: unknown } {
  switch (notification.type) {
    case 'notify.loginCompleted':
      return {
        method: 'account/login/completed',
        params: { loginId: notification.loginId, success: notification.success, error: notification.error },
      };
    case 'notify.accountUpdated':
      return { method: 'account/updated', params: { authMode: notification.authMode, planType: notification.planType, reason: notification.reason ?? null } };
  }
}

/** The catalogue and what its handlers reach, once loaded. */
interface Loaded {
  methods: Record<string, MethodEntry>;
  context: MethodContext;
}

/** One stdio app-server. */
export class AppServer {
  private readonly connection: Connection;
  private loaded: Loaded | null = null;
  private loading: Promise<void> | null = null;
  private loadError: WireError | null = null;
  private initialized = false;
  /** `clientInfo.name` from `initialize`. */
  private clientName: string | undefined;
  /**
   * The in-order request being handled. The wire keeps the chart's order: a notification the chart
   * emitted before it answered this request's command goes out at once (before the response: a login
   * that a newer one ends is announced first), one emitted after it (`answered`) waits here until the
   * response is on the wire.
   */
  private held: { id: Id; answered: boolean; notifications: AuthNotification[] } | null = null;
  private stopNotifications: () => void = () => {};
  /** Resolves when the connection is closed (stdin ended and every request answered, or close()). */
  readonly closed: Promise<void>;

  constructor(private readonly options: AppServerOptions) {
    this.connection = new Connection({
      input: options.input,
      output: options.output,
      logger: options.logger,
      handler: {
        modeOf: (request) => this.modeOf(request),
        handle: (request) => this.dispatch(request),
        afterWrite: (message) => this.afterWrite(message),
        onNotification: (method) => {
          if (method !== 'initialized') options.logger.debug(`ignored notification ${method}`);
        },
      },
    });
    this.closed = this.connection.closed.then(() => {
      this.loaded?.context.core.setParentRequester(null);
      this.stopNotifications();
    });
    if (typeof options.core !== 'function') void this.load();
  }

  /** Starts reading stdin. */
  listen(): void {
    this.connection.listen();
  }

  /** Closes the connection now (what is already answered is still written). */
  close(): void {
    this.connection.close();
  }

  /** Sends a request to the parent (see Connection.sendRequest): `account/chatgptAuthTokens/refresh`. */
  sendRequest<R>(method: string, params: unknown, options: { signal?: AbortSignal } = {}): Promise<R> {
    return this.connection.sendRequest<R>(method, params, options);
  }

  /** How many requests were read and not answered yet. */
  get pendingRequests(): number {
    return this.connection.pendingRequests;
  }

  /** Answers whatever is still unanswered with -32603 (see Connection.answerAbandoned); returns how many. */
  answerAbandoned(message: string): number {
    return this.connection.answerAbandoned(message);
  }

  /**
   * Loads the method catalogue (with the zod schemas of every account method) and the auth core, once.
   * Never rejects: a failure is kept in `loadError` and answered to each request.
   */
  private load(): Promise<void> {
    if (this.loading) return this.loading;
    const { core, config, logger } = this.options;
    const loadCore = async () => (typeof core === 'function' ? core() : core);
    this.loading = Promise.all([import('./methods.js'), loadCore()]).then(
      ([{ METHODS }, loaded]) => {
        if (!this.connection.isClosing) {
          const stopNotifications = loaded.onNotification((notification) => this.notify(notification));
          const stopAnswers = loaded.onAnswered((rpcId) => {
            if (this.held?.id === rpcId) this.held.answered = true;
          });
          this.stopNotifications = () => {
            stopNotifications();
            stopAnswers();
          };
          // The parent answers account/chatgptAuthTokens/refresh. The chart enforces the timeout and
          // ignores a late answer; the request stays pending here until answered or the connection closes.
          loaded.setParentRequester((method, params, options) => this.connection.sendRequest(method, params, options));
        }
        this.loaded = { methods: METHODS, context: { core: loaded, config, logger, clientName: this.clientName } };
      },
      (error: unknown) => {
        logger.error('the auth core failed to start', { error: (error as Error)?.stack ?? String(error) });
        this.loadError = new WireError(ErrorCodes.InternalError, `the auth core failed to start: ${(error as Error)?.message ?? String(error)}`);
      },
    );
    return this.loading;
  }

  /** Whether a request runs in order or beside later ones is the catalogue's to say: load it first. */
  private modeOf(request: RequestMessage): RequestMode | Promise<void> {
    if (request.method === 'initialize' || !this.initialized || this.loadError) return 'inOrder';
    if (!this.loaded) return this.load();
    return this.loaded.methods[request.method]?.concurrent === true ? 'concurrent' : 'inOrder';
  }

  private async dispatch(request: RequestMessage): Promise<unknown> {
    const { id, method, params } = request;
    if (method === 'initialize') return this.initialize(params);
    if (!this.initialized) throw invalidRequest('Not initialized');
    if (!this.loaded) throw this.loadError ?? new WireError(ErrorCodes.InternalError, 'the method catalogue is not loaded');
    const { methods, context } = this.loaded;
    const entry = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (!entry) throw new WireError(ErrorCodes.MethodNotFound, `Method not found: ${method}`);
    const parsed = entry.params.safeParse(params);
    if (!parsed.success) throw new WireError(ErrorCodes.InvalidParams, `Invalid params for ${method}: ${describeIssues(parsed.error)}`);
    if (!entry.concurrent) this.held = { id, answered: false, notifications: [] };
    return entry.handle(parsed.data, context, id);
  }

  private initialize(params: unknown): unknown {
    if (this.initialized) throw invalidRequest('Already initialized');
    const { clientInfo, result } = initializeResult(params, { version: this.options.version, codexHome: this.options.config.codexHome });
    this.initialized = true;
    // The originator of browser logins (the context may exist already when the core was given loaded).
    this.clientName = clientInfo.name;
    if (this.loaded) this.loaded.context.clientName = clientInfo.name;
    this.options.logger.debug(`initialized by ${clientInfo.name} ${clientInfo.version}`);
    // The response is written at the end of this turn; the catalogue and the core load right after.
    setImmediate(() => void this.load());
    return result;
  }

  private notify(notification: AuthNotification): void {
    if (this.held?.answered) {
      this.held.notifications.push(notification);
      return;
    }
    this.writeNotification(notification);
  }

  /** Every notification carries the time it was emitted (docs/protocol.md §12.2), beside method and params. */
  private writeNotification(notification: AuthNotification): void {
    const { method, params } = encodeNotification(notification);
    this.connection.notify(method, params, { emittedAtMs: Date.now() });
  }

  /** Runs as each message is queued for output: a response releases the notifications it held. */
  private afterWrite(message: WireMessage): void {
    if (!this.held || 'method' in message || message.id !== this.held.id) return;
    const { notifications } = this.held;
    this.held = null;
    // A refused command emits nothing itself; what is held then came from elsewhere and still goes out.
    for (const notification of notifications) this.writeNotification(notification);
  }
}

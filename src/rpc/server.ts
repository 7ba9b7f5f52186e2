/**
 * The app-server connection: NDJSON JSON-RPC on a pair of streams, the handshake of PROTOCOL.md §2,
 * arrival-order dispatch to the method catalogue, notifications written strictly after the response of
 * the request that caused them (§5), and requests to the parent (§6). Knows nothing of auth policy.
 *
 * Requests are handled in arrival order straight from the reader: each one starts when the one before it
 * has been answered (methods marked `concurrent` start in order but run beside later ones). Nothing waits
 * for a timer between two requests, so the answers to a chunk of pipelined requests are all ready in the
 * same turn of the event loop and the writer sends them with one system call.
 */
import type { Readable, Writable } from 'node:stream';
import type { AuthCore, AuthNotification } from '../auth/core';
import type { AuthchartConfig } from '../config';
import type { Logger } from '../log';
import { ErrorCodes, WireError, invalidRequest } from './errors';
import { initializeResult } from './initialize';
import { describeIssues } from '../issues';
import type { MethodContext, MethodEntry } from './methods';
import type { Id, Incoming, RequestMessage, ResponseMessage, WireMessage } from './messages';
import { WireReader, WireWriter } from './wire';

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

/** A notification on the wire. */
function encodeNotification(notification: AuthNotification): { method: string; params: unknown } {
  switch (notification.type) {
    case 'notify.loginCompleted':
      return {
        method: 'account/login/completed',
        params: { loginId: notification.loginId, success: notification.success, error: notification.error },
      };
    case 'notify.accountUpdated':
      return { method: 'account/updated', params: { authMode: notification.authMode, planType: notification.planType } };
  }
}

/** A request of ours waiting for the parent's answer. */
interface Outgoing {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/** One stdio app-server connection. */
export class AppServer {
  private readonly writer: WireWriter;
  private readonly reader: WireReader;
  private stopReading: (() => void) | null = null;
  /** The method catalogue and what handlers reach, once loaded (with the auth core, after the handshake). */
  private loaded: { methods: Record<string, MethodEntry>; context: MethodContext } | null = null;
  private loading: Promise<void> | null = null;
  private loadError: WireError | null = null;
  private initialized = false;
  /** `clientInfo.name` from `initialize`. */
  private clientName: string | undefined;
  /** Requests not started yet, in arrival order (`head` is the next one). */
  private queue: Array<RequestMessage | undefined> = [];
  private head = 0;
  /** A request handled in order is under way: later ones wait for its answer. */
  private inOrderBusy = false;
  /** Notifications held until the response to `id` is on the wire. */
  private held: { id: Id; notifications: AuthNotification[] } | null = null;
  /** Requests read but not answered yet. */
  private unanswered = 0;
  private inputEnded = false;
  private closing = false;
  /** Server→client request ids count up from 0 on each connection (PROTOCOL.md §1). */
  private nextOutgoingId = 0;
  private readonly outgoing = new Map<Id, Outgoing>();
  private stopNotifications: () => void = () => {};
  private resolveClosed!: () => void;
  /** Resolves when the connection is closed (stdin ended and every request answered, or close()). */
  readonly closed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(private readonly options: AppServerOptions) {
    this.writer = new WireWriter(options.output, (message) => this.afterWrite(message), {
      onError: (error) => {
        options.logger.debug(`output closed: ${error.message}`);
        this.close();
      },
      onBackPressure: (blocked) => (blocked ? this.reader.pause() : this.reader.resume()),
    });
    this.reader = new WireReader(options.input, {
      onMessage: (message) => this.onMessage(message),
      onBadLine: (error) => {
        options.logger.warn(`answered a malformed line with ${error.code}: ${error.message}`);
        this.writer.send({ id: null, error });
      },
      onEnd: () => {
        this.inputEnded = true;
        // The parent can no longer answer: requests of ours fail now rather than at their timeout.
        this.rejectOutgoing('the parent application closed its end of the connection');
        this.maybeClose();
      },
      onError: (error) => options.logger.error(`input error: ${error.message}`),
    });
    if (typeof options.core !== 'function') void this.load();
  }

  /** Starts reading stdin. */
  listen(): void {
    this.stopReading ??= this.reader.listen();
  }

  /**
   * Sends a request to the parent application (used by external-token refresh); resolves with its
   * result, rejects with a WireError (numeric `code`, `message`) when the parent answers with an error,
   * and with an Error when the connection closes first. An aborted `signal` forgets the request; a
   * late answer to it is then ignored.
   */
  sendRequest<R>(method: string, params: unknown, options: { signal?: AbortSignal } = {}): Promise<R> {
    if (this.closing || this.inputEnded) return Promise.reject(new Error('the connection to the parent application is closed'));
    const id = this.nextOutgoingId++;
    return new Promise<R>((resolve, reject) => {
      const { signal } = options;
      const onAbort = () => {
        this.outgoing.delete(id);
        reject(signal?.reason instanceof Error ? signal.reason : new Error(`${method} was abandoned`));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.outgoing.set(id, {
        resolve: (result) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(result as R);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.writer.send(params === undefined ? { id, method } : { id, method, params });
    });
  }

  /** Closes the connection now (what is already answered is still written). */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.loaded?.context.core.setParentRequester(null);
    this.stopNotifications();
    this.stopReading?.();
    this.writer.flush();
    this.rejectOutgoing('the connection to the parent application is closed');
    this.resolveClosed();
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
        if (!this.closing) {
          this.stopNotifications = loaded.onNotification((notification) => this.notify(notification));
          // The parent answers account/chatgptAuthTokens/refresh. The chart enforces the timeout and
          // ignores a late answer; the request stays pending here until answered or the connection closes.
          loaded.setParentRequester((method, params, options) => this.sendRequest(method, params, options));
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

  private onMessage(incoming: Incoming): void {
    if (this.closing) return;
    switch (incoming.kind) {
      case 'request':
        this.unanswered += 1;
        this.queue.push(incoming.message);
        this.pump();
        return;
      case 'notification':
        if (incoming.message.method !== 'initialized') this.options.logger.debug(`ignored notification ${incoming.message.method}`);
        return;
      case 'response':
        this.settleOutgoing(incoming.message);
        return;
    }
  }

  /** Starts queued requests until one handled in order is under way. */
  private pump(): void {
    while (!this.inOrderBusy && this.head < this.queue.length && !this.closing) {
      const request = this.queue[this.head] as RequestMessage;
      if (this.initialized && !this.loaded && !this.loadError && request.method !== 'initialize') {
        // Whether it runs in order is the catalogue's to say: wait for it, in order.
        this.inOrderBusy = true;
        void this.load().then(() => {
          this.inOrderBusy = false;
          this.pump();
        });
        return;
      }
      this.queue[this.head] = undefined;
      this.head += 1;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      this.start(request);
    }
  }

  private start(request: RequestMessage): void {
    const inOrder = this.loaded?.methods[request.method]?.concurrent !== true;
    if (inOrder) this.inOrderBusy = true;
    this.dispatch(request)
      .then(
        (result) => this.respond(request.id, { id: request.id, result: result === undefined ? null : result }),
        (error: unknown) => this.respond(request.id, { id: request.id, error: this.wireErrorOf(request.method, error).toJson() }),
      )
      .then(() => {
        if (!inOrder) return;
        this.inOrderBusy = false;
        this.pump();
      });
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
    if (!entry.concurrent) this.held = { id, notifications: [] };
    return entry.handle(parsed.data, context);
  }

  private wireErrorOf(method: string, error: unknown): WireError {
    if (error instanceof WireError) return error;
    this.options.logger.error(`${method} failed unexpectedly`, { error: (error as Error)?.stack ?? String(error) });
    return new WireError(ErrorCodes.InternalError, `internal error while handling ${method}: ${(error as Error)?.message ?? String(error)}`);
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

  private respond(id: Id, response: WireMessage): void {
    if (!this.closing) this.writer.send(response);
    else if (this.held?.id === id) this.held = null;
    this.unanswered -= 1;
    this.maybeClose();
  }

  private settleOutgoing(response: ResponseMessage): void {
    const waiter = response.id === null ? undefined : this.outgoing.get(response.id);
    if (!waiter) {
      this.options.logger.debug(`ignored a response to an unknown or abandoned request (id ${JSON.stringify(response.id)})`);
      return;
    }
    this.outgoing.delete(response.id as Id);
    if ('error' in response) {
      const { code, message, data } = (response.error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
      waiter.reject(new WireError(typeof code === 'number' ? code : ErrorCodes.InternalError, typeof message === 'string' ? message : 'error without a message', data));
    } else {
      waiter.resolve(response.result);
    }
  }

  private rejectOutgoing(reason: string): void {
    const waiting = [...this.outgoing.values()];
    this.outgoing.clear();
    for (const waiter of waiting) waiter.reject(new Error(reason));
  }

  private notify(notification: AuthNotification): void {
    if (this.held) {
      this.held.notifications.push(notification);
      return;
    }
    this.writeNotification(notification);
  }

  private writeNotification(notification: AuthNotification): void {
    if (this.closing) return;
    this.writer.send(encodeNotification(notification));
  }

  /** Runs as each message is queued for output: a response releases the notifications it held. */
  private afterWrite(message: WireMessage): void {
    if (!this.held || 'method' in message || message.id !== this.held.id) return;
    const { notifications } = this.held;
    this.held = null;
    // A refused command emits nothing itself; what is held then came from elsewhere and still goes out.
    for (const notification of notifications) this.writeNotification(notification);
  }

  private maybeClose(): void {
    if (!this.inputEnded || this.unanswered > 0 || this.closing) return;
    void this.writer.flushed().then(() => this.close());
  }
}

/**
 * The app-server connection: NDJSON JSON-RPC on a pair of streams, the handshake of PROTOCOL.md §2,
 * arrival-order dispatch to the method catalogue, and notifications written strictly after the response
 * of the request that caused them (§5). Knows nothing of auth policy.
 */
import * as os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { createMessageConnection, Message, type MessageConnection, type RequestMessage } from 'vscode-jsonrpc/node';
import type { AuthCore, AuthNotification } from '../auth/core';
import type { AuthchartConfig } from '../config';
import type { Logger } from '../log';
import { ErrorCodes, WireError, invalidRequest } from './errors';
import { METHODS, type MethodContext } from './methods';
import { InitializeParamsSchema, describeIssues } from './schemas';
import { NdjsonMessageReader, NdjsonMessageWriter, type WireMessage } from './transport';

/** What an app-server connection needs. */
export interface AppServerOptions {
  input: Readable;
  output: Writable;
  core: AuthCore;
  config: AuthchartConfig;
  logger: Logger;
  /** authchart's version, for the user agent. */
  version: string;
}

type Id = string | number;

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

/** `os (release; arch)` as in Codex's user agent. */
function platformDescription(): string {
  const name = process.platform === 'darwin' ? 'Mac OS' : process.platform === 'win32' ? 'Windows' : os.type();
  return `${name} ${os.release()}; ${os.arch()}`;
}

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** One stdio app-server connection. */
export class AppServer {
  readonly connection: MessageConnection;
  private readonly writer: NdjsonMessageWriter;
  private readonly context: MethodContext;
  private initialized = false;
  /** The request being dispatched right now (vscode-jsonrpc's star handler does not see ids). */
  private currentId: Id | null = null;
  /** Arrival-order chain: a request starts when the one before it has been handled. */
  private chain: Promise<void> = Promise.resolve();
  /** Notifications held until the response to `id` is on the wire. */
  private held: { id: Id; notifications: AuthNotification[] } | null = null;
  private requestsSeen = 0;
  private responsesWritten = 0;
  private inputEnded = false;
  private closing = false;
  private resolveClosed!: () => void;
  /** Resolves when the connection is closed (stdin ended and every request answered, or close()). */
  readonly closed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });
  private readonly stopNotifications: () => void;

  constructor(private readonly options: AppServerOptions) {
    this.context = { core: options.core, config: options.config, logger: options.logger };
    this.writer = new NdjsonMessageWriter(options.output, (message) => this.afterWrite(message));
    const reader = new NdjsonMessageReader(options.input, {
      onBadLine: (error) => {
        options.logger.warn(`answered a malformed line with ${error.code}: ${error.message}`);
        void this.writer.writeRaw({ id: null, error });
      },
      onMessage: (classified) => {
        if (classified.kind === 'request') this.requestsSeen += 1;
      },
      onEnd: () => {
        this.inputEnded = true;
        this.maybeClose();
      },
    });
    this.connection = createMessageConnection(reader, this.writer, {
      error: (message) => options.logger.error(message),
      warn: (message) => options.logger.warn(message),
      info: (message) => options.logger.debug(message),
      log: (message) => options.logger.debug(message),
    }, {
      messageStrategy: {
        handleMessage: (message, next) => {
          this.currentId = Message.isRequest(message) ? ((message as RequestMessage).id as Id) : null;
          return next(message);
        },
      },
    });
    this.connection.onRequest((method, params) => this.onRequest(method, params));
    this.connection.onNotification((method) => {
      if (method !== 'initialized') options.logger.debug(`ignored notification ${method}`);
    });
    this.connection.onError(([error]) => options.logger.error(`connection error: ${error.message}`));
    this.connection.onClose(() => this.close());
    this.stopNotifications = options.core.onNotification((notification) => this.notify(notification));
    // The parent answers account/chatgptAuthTokens/refresh. vscode-jsonrpc numbers server→client requests
    // from 0 on each connection, as the protocol wants; the chart enforces the timeout (cancelling a
    // vscode-jsonrpc request would not settle it) and ignores a late answer.
    options.core.setParentRequester((method, params) => this.sendRequest(method, params));
  }

  /** Starts reading stdin. */
  listen(): void {
    this.connection.listen();
  }

  /** Sends a request to the parent application (used by external-token refresh). */
  async sendRequest<R>(method: string, params: unknown): Promise<R> {
    if (this.closing) throw new Error('the connection to the parent application is closed');
    return this.connection.sendRequest<R>(method, params);
  }

  /** Closes the connection now. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.options.core.setParentRequester(null);
    this.stopNotifications();
    this.connection.dispose();
    this.resolveClosed();
  }

  private onRequest(method: string, params: unknown): Promise<unknown> {
    const id = this.currentId;
    const started = this.chain.then(() => ({ promise: this.dispatch(id, method, params) }));
    const entry = METHODS[method];
    this.chain = entry?.concurrent
      ? started.then(() => undefined)
      : started.then(({ promise }) => promise).then(
          () => undefined,
          () => undefined,
        );
    return started.then(({ promise }) => promise);
  }

  private async dispatch(id: Id | null, method: string, params: unknown): Promise<unknown> {
    if (method === 'initialize') return this.initialize(params);
    if (!this.initialized) throw invalidRequest('Not initialized');
    const entry = METHODS[method];
    if (!entry) throw new WireError(ErrorCodes.MethodNotFound, `Method not found: ${method}`);
    const parsed = entry.params.safeParse(params);
    if (!parsed.success) throw new WireError(ErrorCodes.InvalidParams, `Invalid params for ${method}: ${describeIssues(parsed.error)}`);
    if (!entry.concurrent && id !== null) this.held = { id, notifications: [] };
    try {
      return await entry.handle(parsed.data, this.context);
    } catch (error) {
      if (error instanceof WireError) throw error;
      this.options.logger.error(`${method} failed unexpectedly`, { error: (error as Error).stack ?? String(error) });
      throw new WireError(ErrorCodes.InternalError, `internal error while handling ${method}: ${(error as Error).message}`);
    }
  }

  private async initialize(params: unknown): Promise<unknown> {
    if (this.initialized) throw invalidRequest('Already initialized');
    const parsed = InitializeParamsSchema.safeParse(params);
    if (!parsed.success) throw new WireError(ErrorCodes.InvalidParams, `Invalid params for initialize: ${describeIssues(parsed.error)}`);
    const { name, version } = parsed.data.clientInfo;
    if (CONTROL_CHARS.test(name)) {
      throw invalidRequest(`Invalid clientInfo.name: '${name}'. Must be a valid HTTP header value.`);
    }
    this.initialized = true;
    this.context.clientName = name;
    this.options.logger.debug(`initialized by ${name} ${version}`);
    return {
      userAgent: `authchart/${this.options.version} (${platformDescription()}) (${name}; ${version})`,
      codexHome: this.options.config.codexHome,
      platformFamily: process.platform === 'win32' ? 'windows' : 'unix',
      platformOs: process.platform === 'darwin' ? 'macos' : process.platform === 'win32' ? 'windows' : 'linux',
    };
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
    void this.writer.writeRaw(encodeNotification(notification));
  }

  private afterWrite(message: WireMessage): void {
    const isResponse = !('method' in message) && 'id' in message && message.id !== null;
    if (!isResponse) return;
    this.responsesWritten += 1;
    if (this.held && this.held.id === message.id) {
      const { notifications } = this.held;
      this.held = null;
      // A refused command emits nothing itself; what is held then came from elsewhere and still goes out.
      notifications.forEach((n) => this.writeNotification(n));
    }
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.inputEnded && this.responsesWritten >= this.requestsSeen) {
      // Let the connection's queue settle a turn so nothing handed over is lost, then close.
      setImmediate(() => {
        if (this.responsesWritten >= this.requestsSeen) this.close();
      });
    }
  }
}

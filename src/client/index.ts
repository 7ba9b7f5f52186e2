/**
 * `authchart/client`: the parent side of the account protocol. Spawns `authchart app-server` (or attaches
 * to any app-server's streams), offers a typed method per account request and typed notification events,
 * and answers `account/chatgptAuthTokens/refresh` with the `refreshTokens` callback. It writes nothing
 * to the parent's stdout itself: the child's stderr goes where `stderr` says, traffic to `trace`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createMessageConnection, ResponseError, type MessageConnection } from 'vscode-jsonrpc/node';
// Runtime imports stay light (no xstate, no zod): the method name lives in the chart's vocabulary.
import { EXTERNAL_REFRESH_METHOD } from '../../machines/types';
import type { ExternalTokensASchema, ExternalTokensBSchema } from '../auth/externalTokens';
import { NdjsonMessageReader, NdjsonMessageWriter, type WireMessage } from './transport';
import type {
  AccountReadResult,
  AccountUpdatedNotification,
  ChatgptAuthTokensRefreshParams,
  ClientInfo,
  GetAuthStatusResult,
  InitializeResult,
  LoginCancelResult,
  LoginCompletedNotification,
  RateLimitsReadResult,
  AccountSessionListResult,
  AccountSessionSwitchResult,
} from '../rpc/schemas';
import type * as z from '../zod';

// The wire types are the app-server's own schemas (type-only imports: nothing of them is loaded here).
export type {
  AccountReadResult,
  AccountUpdatedNotification,
  ClientInfo,
  GetAuthStatusResult,
  InitializeResult,
  LoginCancelResult,
  LoginCompletedNotification,
  RateLimitsReadResult,
  AccountSessionListResult,
  AccountSessionSwitchResult,
};
/** External tokens, generation A. */
export type ExternalTokensA = z.infer<typeof ExternalTokensASchema>;
/** External tokens, generation B. */
export type ExternalTokensB = z.infer<typeof ExternalTokensBSchema>;
/** External tokens of either generation (login params and refresh answers). */
export type ExternalTokens = ExternalTokensA | ExternalTokensB;
/** Params of `account/chatgptAuthTokens/refresh`, the server's request for new external tokens. */
export type RefreshTokensParams = ChatgptAuthTokensRefreshParams;
/**
 * Answers a refresh request with new tokens. Throw (or reject with) an error carrying a numeric `code`
 * to answer with that JSON-RPC error; any other error is answered as -32603 with its message.
 */
export type RefreshTokensHandler = (params: RefreshTokensParams) => ExternalTokens | Promise<ExternalTokens>;

/** The notifications of the account protocol, by method. */
export interface AuthchartNotifications {
  'account/updated': AccountUpdatedNotification;
  'account/login/completed': LoginCompletedNotification;
}

/** An error answer of the app-server (`code`, exact `message`). */
export class AuthchartRpcError extends Error {
  override readonly name = 'AuthchartRpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** What happens to the child's stderr (its logs): passed through, dropped, or handed over by chunks. */
export type StderrOption = 'inherit' | 'ignore' | ((chunk: string) => void);

/** Options shared by {@link AuthchartClient.spawn} and {@link AuthchartClient.attach}. */
export interface ClientOptions {
  /** Answers `account/chatgptAuthTokens/refresh`; without it the request is answered -32601. */
  refreshTokens?: RefreshTokensHandler;
  /** Sees every message on the wire (`send` = to the server), e.g. to print the exchange. */
  trace?: (direction: 'send' | 'receive', message: WireMessage) => void;
}

/** Options of {@link AuthchartClient.spawn}. */
export interface SpawnClientOptions extends ClientOptions {
  /** CODEX_HOME of the app-server (default: inherited from the environment). */
  codexHome?: string;
  /** Environment of the child (default: this process's), CODEX_HOME added when `codexHome` is set. */
  env?: NodeJS.ProcessEnv;
  /** Program and arguments (default: this Node running authchart's `bin/authchart.js app-server`). */
  command?: string;
  args?: string[];
  cwd?: string;
  /** Default: `inherit` (the parent's stderr; never its stdout). */
  stderr?: StderrOption;
}

/** Finds authchart's `bin/authchart.js` above this module (src/client when run from source, dist/src/client built). */
export function defaultBinPath(from = __dirname): string {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, 'bin', 'authchart.js');
    if (existsSync(candidate) && existsSync(path.join(dir, 'package.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find bin/authchart.js above ${from}; pass \`command\`/\`args\` to AuthchartClient.spawn`);
    dir = parent;
  }
}

function asRpcError(error: unknown): Error {
  if (error instanceof ResponseError) return new AuthchartRpcError(error.code, error.message, error.data);
  return error as Error;
}

/** A connection to an authchart (or Codex) app-server, seen from the parent application. */
export class AuthchartClient {
  private readonly connection: MessageConnection;
  private readonly listeners = new Map<string, Set<(params: never) => void>>();
  private refreshTokens: RefreshTokensHandler | null;
  private readonly ended: Promise<void>;

  private constructor(
    input: Readable,
    output: Writable,
    options: ClientOptions,
    /** The spawned app-server, when this client started it. */
    readonly child: ChildProcess | null,
  ) {
    this.refreshTokens = options.refreshTokens ?? null;
    const trace = options.trace;
    let markEnded!: () => void;
    this.ended = new Promise((resolve) => (markEnded = resolve));
    const reader = new NdjsonMessageReader(input, {
      onBadLine: (error) => trace?.('receive', { invalid: error.message }),
      onMessage: (raw) => trace?.('receive', raw as WireMessage),
      onEnd: () => {
        this.connection.dispose(); // pending requests reject: the server is gone
        markEnded();
      },
    });
    const writer = new NdjsonMessageWriter(output, trace ? (message) => trace('send', message) : undefined);
    this.connection = createMessageConnection(reader, writer);
    this.connection.onNotification((method, params) => {
      for (const listener of this.listeners.get(method) ?? []) {
        try {
          (listener as (p: unknown) => void)(params);
        } catch {
          // a listener's failure is the listener's business; the connection goes on
        }
      }
    });
    this.connection.onRequest(async (method, params) => {
      if (method !== EXTERNAL_REFRESH_METHOD || !this.refreshTokens) {
        return new ResponseError(-32601, `Method not found: ${method}`);
      }
      try {
        return await this.refreshTokens(params as RefreshTokensParams);
      } catch (error) {
        const { code, message } = error as { code?: unknown; message?: unknown };
        return new ResponseError(typeof code === 'number' ? code : -32603, typeof message === 'string' ? message : String(error));
      }
    });
    this.connection.listen();
  }

  /** Spawns `authchart app-server` over pipes (not yet initialized: call {@link initialize}). */
  static spawn(options: SpawnClientOptions = {}): AuthchartClient {
    const stderr = options.stderr ?? 'inherit';
    const env = { ...(options.env ?? process.env), ...(options.codexHome ? { CODEX_HOME: options.codexHome } : {}) };
    const child = spawn(options.command ?? process.execPath, options.args ?? [defaultBinPath(), 'app-server'], {
      env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', typeof stderr === 'function' ? 'pipe' : stderr],
    });
    if (typeof stderr === 'function') {
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', stderr);
    }
    // Writing to a child that died must not crash the parent; the closed connection rejects the request.
    child.stdin!.on('error', () => undefined);
    return new AuthchartClient(child.stdout!, child.stdin!, options, child);
  }

  /** Speaks to an app-server already running: `input` is its stdout, `output` its stdin. */
  static attach(streams: { input: Readable; output: Writable }, options: ClientOptions = {}): AuthchartClient {
    return new AuthchartClient(streams.input, streams.output, options, null);
  }

  /** Spawns and completes the handshake. */
  static async start(options: SpawnClientOptions & { clientInfo?: ClientInfo } = {}): Promise<AuthchartClient> {
    const client = AuthchartClient.spawn(options);
    try {
      await client.initialize(options.clientInfo ?? { name: 'authchart_client', version: '0.0.0' });
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** Sends any request; rejects with AuthchartRpcError for an error answer. */
  async request<R = unknown>(method: string, params?: unknown): Promise<R> {
    try {
      // With no params argument at all the message has no `params` member (an explicit undefined would be [null]).
      return params === undefined ? await this.connection.sendRequest<R>(method) : await this.connection.sendRequest<R>(method, params);
    } catch (error) {
      throw asRpcError(error);
    }
  }

  /** The handshake: `initialize`, then the `initialized` notification. */
  async initialize(clientInfo: ClientInfo, capabilities?: { experimentalApi?: boolean }): Promise<InitializeResult> {
    const result = await this.request<InitializeResult>('initialize', capabilities ? { clientInfo, capabilities } : { clientInfo });
    await this.connection.sendNotification('initialized');
    return result;
  }

  /** `account/read`; `refreshToken: true` refreshes managed tokens first. */
  readAccount(params: { refreshToken?: boolean } = {}): Promise<AccountReadResult> {
    return this.request('account/read', params);
  }

  /** `account/login/start` with an API key. */
  loginWithApiKey(apiKey: string): Promise<{ type: 'apiKey' }> {
    return this.request('account/login/start', { type: 'apiKey', apiKey });
  }

  /** `account/login/start` with the browser flow: open `authUrl`, wait for `account/login/completed`. */
  loginWithChatgpt(): Promise<{ type: 'chatgpt'; loginId: string; authUrl: string }> {
    return this.request('account/login/start', { type: 'chatgpt' });
  }

  /**
   * `account/login/start` with a device code (for machines without a browser): show `verificationUrl`
   * and `userCode` to the user, wait for `account/login/completed`.
   */
  loginWithDeviceCode(): Promise<{ type: 'chatgptDeviceCode'; loginId: string; verificationUrl: string; userCode: string }> {
    return this.request('account/login/start', { type: 'chatgptDeviceCode' });
  }

  /** `account/login/start` with external tokens the parent manages (either generation). */
  loginWithTokens(tokens: ExternalTokens): Promise<{ type: 'chatgptAuthTokens' }> {
    return this.request('account/login/start', { type: 'chatgptAuthTokens', ...tokens });
  }

  /** `account/login/cancel`. */
  cancelLogin(loginId: string): Promise<LoginCancelResult> {
    return this.request('account/login/cancel', { loginId });
  }

  /** `account/logout`. */
  logout(): Promise<Record<string, never>> {
    return this.request('account/logout');
  }

  /** `account/rateLimits/read` (through the server's 401 recovery). */
  readRateLimits(): Promise<RateLimitsReadResult> {
    return this.request('account/rateLimits/read');
  }

  /**
   * `accountSession/list`: the managed ChatGPT login as one session (none otherwise); with
   * `refreshWorkspaceMetadata` every workspace the server's discovery found, named.
   */
  listAccountSessions(params: { refreshWorkspaceMetadata?: boolean } = {}): Promise<AccountSessionListResult> {
    return this.request('accountSession/list', params);
  }

  /**
   * `accountSession/switch`: moves the managed login to workspace `accountId` (an `account/updated` comes
   * first) and resolves with the list after it; with `allowBrowserLogin`, a workspace the backend will not
   * switch to resolves with `{ loginId, authUrl }` of a browser sign-in instead.
   */
  switchAccountSession(params: { sessionId: string; accountId: string; allowBrowserLogin?: boolean }): Promise<AccountSessionSwitchResult> {
    return this.request('accountSession/switch', params);
  }

  /** `getAuthStatus`. */
  getAuthStatus(params: { includeToken?: boolean; refreshToken?: boolean } = {}): Promise<GetAuthStatusResult> {
    return this.request('getAuthStatus', params);
  }

  /** Listens to a notification; returns the function that stops listening. */
  on<M extends keyof AuthchartNotifications>(method: M, listener: (params: AuthchartNotifications[M]) => void): () => void {
    const set = this.listeners.get(method) ?? new Set();
    set.add(listener);
    this.listeners.set(method, set);
    return () => set.delete(listener);
  }

  /** Resolves with the next notification of `method`. */
  next<M extends keyof AuthchartNotifications>(method: M): Promise<AuthchartNotifications[M]> {
    return new Promise((resolve) => {
      const off = this.on(method, (params) => {
        off();
        resolve(params);
      });
    });
  }

  /** Replaces the handler of `account/chatgptAuthTokens/refresh` (null: answer -32601). */
  onRefreshTokens(handler: RefreshTokensHandler | null): void {
    this.refreshTokens = handler;
  }

  /** Ends the session: closes the server's stdin and, for a spawned server, waits for it to exit. */
  async close(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
    const child = this.child;
    if (!child) {
      this.connection.dispose();
      return null;
    }
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
        : new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stdin?.end();
    const result = await exited;
    await this.ended;
    return result;
  }

  /** Kills a spawned server at once (tests, emergencies). */
  kill(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export { ResponseError };

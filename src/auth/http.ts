/**
 * The HTTP client of every outgoing call (ChatGPT backend, token endpoint, issuer, revoke endpoint):
 * `node:http`/`node:https` with keep-alive agents, behind the small fetch-shaped surface the auth effects
 * use. Not the global `fetch`: its first use loads undici, 12.5 MiB of RSS against ~3.5 MiB for
 * `node:http` (measured on Node 20), and the start-up workspace discovery makes that first use in every
 * app-server with a ChatGPT login, a per-process cost a parent with one server per window pays many times.
 *
 * What it keeps of fetch's contract, because the callers rely on it:
 * - a failure to connect or a connection lost rejects with `TypeError('fetch failed')` whose `cause` is
 *   the socket error (`cause.code`: `ECONNREFUSED`, `ENOTFOUND`, …);
 * - an aborted signal rejects the request, or the body being read, with `signal.reason` (a
 *   `TimeoutError` for `AbortSignal.timeout`);
 * - a gzip, deflate or br body is decoded (none is asked for: no `Accept-Encoding` is sent).
 * A request written on a kept-alive connection the server had just closed (`ECONNRESET` or `EPIPE` on a
 * reused socket, before any answer) is sent again once when it is a GET: nothing of it was read. A POST is not
 * (a refresh token is spent once; the caller's own failure handling decides).
 */
import * as http from 'node:http';
import type * as https from 'node:https';
import type { Readable } from 'node:stream';

/** What a request carries: a method, headers by name, a text body, an abort signal. */
export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** An answer whose head has arrived; the body is read (once) by `text()` or dropped by `discard()`. */
export interface HttpResponse {
  readonly status: number;
  readonly statusText: string;
  /** 200–299. */
  readonly ok: boolean;
  /** The body decoded as UTF-8. */
  text(): Promise<string>;
  /** Drops the body (frees the connection for the next request). */
  discard(): Promise<void>;
}

/** A function with the shape of {@link httpFetch}: the seam tests and callers may replace. */
export type Fetch = (url: string | URL, init?: HttpRequestInit) => Promise<HttpResponse>;

/**
 * Free sockets are closed after this long. Under Node's own server default (5 s keep-alive) so that a
 * request is rarely written on a connection the server is closing; a server's `Keep-Alive: timeout=N`
 * hint, when shorter, is followed by Node's agent.
 */
const FREE_SOCKET_TIMEOUT_MS = 4_000;

const AGENT_OPTIONS = { keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS, scheduling: 'lifo' } as const;
let httpAgent: http.Agent | null = null;
/** `node:https` (and TLS with it, ~2 MiB) is loaded on the first https request only. */
let httpsClient: Promise<{ module: typeof https; agent: https.Agent }> | null = null;

/** The module and keep-alive agent for a URL's scheme. */
async function clientFor(secure: boolean): Promise<{ module: typeof http | typeof https; agent: http.Agent }> {
  if (!secure) return { module: http, agent: (httpAgent ??= new http.Agent(AGENT_OPTIONS)) };
  httpsClient ??= import('node:https').then((module) => ({ module, agent: new module.Agent(AGENT_OPTIONS) }));
  return httpsClient;
}

/** The rejection of a request that did not get an answer: fetch's shape (`cause` is the socket error). */
function failed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

/** The body stream, decoded when the server compressed it anyway. */
async function decoded(res: http.IncomingMessage): Promise<Readable> {
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return res;
  // zlib (~1.4 MiB) is loaded only for a compressed answer (none is asked for).
  const zlib = await import('node:zlib');
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : null;
  if (!decoder) return res;
  res.on('error', (error) => decoder.destroy(error));
  return res.pipe(decoder);
}

class NodeResponse implements HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  private consumed = false;

  constructor(
    private readonly res: http.IncomingMessage,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.status = res.statusCode ?? 0;
    this.statusText = res.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status <= 299;
  }

  async text(): Promise<string> {
    if (this.consumed) throw new TypeError('the body was already read');
    this.consumed = true;
    const signal = this.signal;
    const stream = await decoded(this.res);
    // Aborted before reading began (or while zlib loaded): the listener below would never hear it.
    if (signal?.aborted) {
      this.res.destroy();
      throw signal.reason;
    }
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const onAbort = () => {
        this.res.destroy();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('end', () => {
        done();
        resolve(new TextDecoder().decode(Buffer.concat(chunks)));
      });
      stream.once('error', (error) => {
        done();
        reject(signal?.aborted ? signal.reason : failed(error));
      });
      // A connection closed before the whole body arrived ends with 'aborted' on the message.
      this.res.once('aborted', () => {
        done();
        reject(failed(Object.assign(new Error('the connection closed before the whole body arrived'), { code: 'ECONNRESET' })));
      });
    });
  }

  discard(): Promise<void> {
    if (this.consumed) return Promise.resolve();
    this.consumed = true;
    return new Promise<void>((resolve) => {
      this.res.once('end', resolve);
      this.res.once('error', () => resolve());
      this.res.once('close', resolve);
      this.res.resume();
    });
  }
}

async function send(url: URL, init: HttpRequestInit, retried: boolean): Promise<HttpResponse> {
  const { signal } = init;
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') throw failed(new Error(`unsupported URL scheme ${url.protocol}`));
  const client = await clientFor(secure);
  if (signal?.aborted) throw signal.reason;
  const method = (init.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(init.body));
  return new Promise<HttpResponse>((resolve, reject) => {
    const request = client.module.request(url, { method, headers, agent: client.agent });
    let answered = false;
    const onAbort = () => {
      request.destroy();
      if (!answered) reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    request.once('response', (res) => {
      answered = true;
      // The body's reader listens from here on (NodeResponse.text).
      signal?.removeEventListener('abort', onAbort);
      resolve(new NodeResponse(res, signal));
    });
    request.once('error', (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      if (answered) return;
      if (signal?.aborted) return reject(signal.reason);
      if (!retried && request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE') && (method === 'GET' || method === 'HEAD')) {
        send(url, init, true).then(resolve, reject);
        return;
      }
      reject(failed(error));
    });
    request.end(init.body);
  });
}

/** Sends a request and resolves when the answer's head has arrived (any status). */
export const httpFetch: Fetch = async (url, init = {}) => send(new URL(url), init, false);

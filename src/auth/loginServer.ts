/**
 * The browser login's local callback server (docs/protocol.md §8): a `node:http` listener on 127.0.0.1 that
 * waits for the issuer's redirect, checks state and code, exchanges the code, and answers the browser
 * with the page the chart decides. One LoginFlow per login; `close()` ends it in every path (success,
 * cancel, timeout, failure, the actor being stopped) and releases the listener, its sockets and timers.
 *
 * Loaded lazily by the `loginFlow` actor (src/auth/loginFlow.ts), so an app-server that never starts a browser login never
 * loads it.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Secret } from '../../machines/secret';
import type { BrowserOutcome, LoginFlowEvent } from '../../machines/types';
import { scrubCredentialFields, scrubKnownSecrets, type Logger } from '../log';
import { PAGE_HEADERS, errorPage, notCompletedPage, successPage } from './loginPages';
import { TokenExchangeError, buildAuthorizeUrl, createPkce, createState, exchangeCode, redirectUriFor, type CodeExchange, type ExchangedTokens } from './oauth';

/** What a login flow needs. */
export interface LoginFlowOptions {
  issuer: string;
  /** 0 = any free port. */
  port: number;
  originator: string;
  allowedWorkspaceIds: readonly string[] | null;
  logger: Logger;
  /** Receives the flow's events (the actor's `sendBack`). Never called after `close()`. */
  onEvent(event: LoginFlowEvent): void;
  /** The code exchange (tests may wrap it; production uses `exchangeCode`). */
  exchange?: (exchange: CodeExchange) => Promise<ExchangedTokens>;
  /** How often, and how long apart, to retry binding a busy port after asking its owner to cancel. */
  bindRetries?: number;
  bindRetryDelayMs?: number;
}

type Phase = 'starting' | 'waiting' | 'exchanging' | 'completing' | 'cancelled' | 'closed';

const live = new Set<http.Server>();
let allClosedWaiters: Array<() => void> = [];

/** How many callback servers are open in this process (listening, or closing with open sockets). */
export function openLoginServerCount(): number {
  return live.size;
}

/** Resolves once every callback server of this process has fully closed (listener and sockets). */
export function whenLoginServersClosed(): Promise<void> {
  if (live.size === 0) return Promise.resolve();
  return new Promise((resolve) => allClosedWaiters.push(resolve));
}

function track(server: http.Server): void {
  live.add(server);
  server.once('close', () => {
    live.delete(server);
    if (live.size === 0) {
      const waiters = allClosedWaiters;
      allClosedWaiters = [];
      waiters.forEach((resolve) => resolve());
    }
  });
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'close' });
  res.end(text);
}

function sendPage(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, PAGE_HEADERS);
  res.end(html);
}

/**
 * Why a request must not reach the callback server, or null. Any web page can make the browser send
 * requests to 127.0.0.1 (and DNS rebinding can make them look same-origin), so: the Host must be this
 * server's own (`127.0.0.1:<port>` or `localhost:<port>`), and `/cancel` must not come from a page of
 * another site (an `Origin` other than this server's, or a cross-site/same-site `Sec-Fetch-Site`). A plain
 * local `GET /cancel` (another authchart or Codex asking for the port, no Origin) still passes. The
 * issuer's redirect to `/auth/callback` is a cross-site navigation by nature: only the Host rule applies.
 */
export function refuseForeignRequest(req: http.IncomingMessage, pathname: string): string | null {
  const port = req.socket.localPort;
  const own = [`127.0.0.1:${port}`, `localhost:${port}`];
  const host = (req.headers.host ?? '').toLowerCase();
  if (!own.includes(host)) return `the Host header must be ${own.join(' or ')}`;
  if (pathname !== '/cancel') return null;
  const origin = req.headers.origin;
  if (origin !== undefined && !own.some((h) => origin.toLowerCase() === `http://${h}`)) return 'a login cannot be cancelled from a web page of another site';
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'none' && site !== 'same-origin') return 'a login cannot be cancelled from a web page of another site';
  return null;
}

/** Asks whatever listens on the port (an older login of ours or of Codex) to cancel, like Codex does. */
function requestCancel(port: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/cancel', agent: false, timeout: 2000, signal }, (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', () => resolve());
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve());
  });
}

/** One browser login: its PKCE pair, state, callback server and outcome. */
export class LoginFlow {
  readonly loginId = randomUUID();
  private readonly pkce = createPkce();
  private readonly state = createState();
  private readonly abort = new AbortController();
  private server: http.Server | null = null;
  private phase: Phase = 'starting';
  /** The callback request waiting for the chart's verdict. */
  private held: http.ServerResponse | null = null;
  private redirectUri = '';

  constructor(private readonly options: LoginFlowOptions) {}

  /** Binds the callback server and reports `loginFlow.started` (or `loginFlow.startFailed`). */
  async start(): Promise<void> {
    let server: http.Server;
    try {
      server = await this.bind();
    } catch (error) {
      this.emit({ type: 'loginFlow.startFailed', message: (error as Error).message });
      return;
    }
    if (this.phase === 'closed') {
      // Stopped while binding: release at once.
      this.shutDown(server);
      return;
    }
    this.server = server;
    this.phase = 'waiting';
    server.on('error', (error) => this.options.logger.warn('the login callback server failed', { error: error.message }));
    const { port } = server.address() as AddressInfo;
    this.redirectUri = redirectUriFor(port);
    const authUrl = buildAuthorizeUrl({
      issuer: this.options.issuer,
      redirectUri: this.redirectUri,
      challenge: this.pkce.challenge,
      state: this.state,
      originator: this.options.originator,
      allowedWorkspaceIds: this.options.allowedWorkspaceIds,
    });
    this.options.logger.debug('browser login server listening', { loginId: this.loginId, port });
    this.emit({ type: 'loginFlow.started', start: { loginId: this.loginId, authUrl } });
  }

  /** Answers the held callback request with the chart's verdict. */
  respond(outcome: BrowserOutcome): void {
    const res = this.held;
    this.held = null;
    if (!res) return;
    if (outcome.ok) sendPage(res, 200, successPage());
    else sendPage(res, outcome.status, errorPage(outcome.message));
  }

  /** Ends the flow: aborts a running exchange, answers a held request, closes the listener. Idempotent. */
  close(): void {
    if (this.phase === 'closed' && !this.server) return;
    this.phase = 'closed';
    this.abort.abort();
    if (this.held) {
      sendPage(this.held, 200, notCompletedPage());
      this.held = null;
    }
    const server = this.server;
    this.server = null;
    if (server) this.shutDown(server);
  }

  private emit(event: LoginFlowEvent): void {
    // After close() the owner has moved on: nothing it could act on is reported any more.
    if (this.phase === 'closed') return;
    this.options.onEvent(event);
  }

  private shutDown(server: http.Server): void {
    // close() stops listening at once and drops idle keep-alive sockets; a response still being
    // written gets a moment, then every socket is destroyed. The timer dies with the server.
    const force = setTimeout(() => server.closeAllConnections(), 1000);
    force.unref();
    server.close(() => clearTimeout(force));
    server.closeIdleConnections();
  }

  private async bind(): Promise<http.Server> {
    const { port } = this.options;
    const retries = this.options.bindRetries ?? 10;
    const retryDelay = this.options.bindRetryDelayMs ?? 100;
    let askedToCancel = false;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.listenOnce(port);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' || port === 0) {
          throw new Error(`could not listen on 127.0.0.1:${port} (${code ?? (error as Error).message})`);
        }
        if (attempt >= retries || this.phase === 'closed') throw new Error(`Port 127.0.0.1:${port} is already in use`);
        if (!askedToCancel) {
          askedToCancel = true;
          this.options.logger.info(`port 127.0.0.1:${port} is in use; asking a previous login server there to cancel`);
          await requestCancel(port, this.abort.signal);
        } else {
          await delay(retryDelay, undefined, { signal: this.abort.signal }).catch(() => undefined);
        }
      }
    }
  }

  private listenOnce(port: number): Promise<http.Server> {
    return new Promise((resolve, reject) => {
      const server = http.createServer((req, res) => this.handle(req, res));
      // Only the two routes below exist; slow or silent clients are not waited on for long.
      server.headersTimeout = 10_000;
      server.requestTimeout = 10_000;
      server.keepAliveTimeout = 1000;
      const onError = (error: Error) => {
        server.off('listening', onListening);
        reject(error);
      };
      const onListening = () => {
        server.off('error', onError);
        track(server);
        resolve(server);
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen({ host: '127.0.0.1', port, exclusive: true });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendText(res, 400, 'Bad Request');
      return;
    }
    const refusal = refuseForeignRequest(req, url.pathname);
    if (refusal) {
      this.options.logger.warn(`refused a request to the login callback server: ${refusal}`, { loginId: this.loginId, path: url.pathname });
      sendText(res, 403, `Forbidden: ${refusal}`);
      return;
    }
    switch (url.pathname) {
      case '/auth/callback':
        this.onCallback(url.searchParams, res);
        return;
      case '/cancel':
        this.onCancel(res);
        return;
      default:
        sendText(res, 404, 'Not Found');
    }
  }

  private onCallback(params: URLSearchParams, res: http.ServerResponse): void {
    if (this.phase !== 'waiting') {
      sendText(res, 409, 'This sign-in is already being completed.');
      return;
    }
    // Never log the values: the code is a credential and the state guards against forged callbacks.
    if (params.get('state') !== this.state) {
      this.options.logger.warn('browser login callback with a wrong state answered 400', { loginId: this.loginId });
      sendText(res, 400, 'State mismatch');
      return;
    }
    const oauthError = params.get('error');
    if (oauthError) {
      // Text from the URL: never let a credential in it reach the completion error, the logs or the page.
      const description = scrubCredentialFields(params.get('error_description')?.trim() ?? '');
      this.phase = 'completing';
      this.held = res;
      this.emit({ type: 'loginFlow.failed', message: `Sign-in failed: ${description || scrubCredentialFields(oauthError)}` });
      return;
    }
    const code = params.get('code');
    if (!code) {
      sendText(res, 400, 'Missing authorization code');
      return;
    }
    this.phase = 'exchanging';
    this.held = res;
    this.emit({ type: 'loginFlow.authorized' });
    void this.exchange(new Secret(code));
  }

  private async exchange(code: Secret): Promise<void> {
    const exchange = this.options.exchange ?? exchangeCode;
    try {
      const { tokens, account } = await exchange({
        issuer: this.options.issuer,
        code,
        verifier: this.pkce.verifier,
        redirectUri: this.redirectUri,
        signal: this.abort.signal,
      });
      if (this.phase !== 'exchanging') return;
      this.phase = 'completing';
      this.emit({ type: 'loginFlow.exchanged', tokens, account });
    } catch (error) {
      if (this.phase !== 'exchanging') return;
      this.phase = 'completing';
      const raw = error instanceof TokenExchangeError ? error.message : `unexpected error (${(error as Error).message})`;
      const reason = scrubKnownSecrets(scrubCredentialFields(raw), [code, this.pkce.verifier]);
      this.options.logger.warn('browser login code exchange failed', { loginId: this.loginId, reason });
      this.emit({ type: 'loginFlow.failed', message: `Token exchange failed: ${reason}` });
    }
  }

  private onCancel(res: http.ServerResponse): void {
    if (this.phase !== 'waiting' && this.phase !== 'exchanging') {
      sendText(res, 409, 'This sign-in is already being completed.');
      return;
    }
    sendText(res, 200, 'Login cancelled');
    this.phase = 'cancelled';
    this.abort.abort();
    this.emit({ type: 'loginFlow.cancelRequested' });
  }
}

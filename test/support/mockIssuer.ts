/**
 * A mock OAuth issuer on 127.0.0.1 (port 0), the network edge of the browser login:
 * `GET /oauth/authorize` redirects to the `redirect_uri` with a fresh code and the given state;
 * `POST /oauth/token` checks the form-encoded code exchange (code, redirect_uri, client id, PKCE S256)
 * and issues id/access/refresh tokens with the §11 claims. Every request is recorded for assertions.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chatgptJwt, type ChatgptClaims } from './jwt';

/** Codex's OAuth client id. */
export const CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';

/** A recorded `POST /oauth/token`. */
export interface TokenRequest {
  contentType: string | undefined;
  form: URLSearchParams;
}

/** How the issuer behaves; tests change it between steps. */
export interface IssuerBehaviour {
  /** Claims of the id token it issues. */
  claims: ChatgptClaims;
  /** When set, `/oauth/token` answers this instead of tokens (a body function sees the raw request body). */
  tokenError?: { status: number; body: string | ((requestBody: string) => string) };
  /** Rewrites the callback query `/oauth/authorize` redirects with (e.g. a wrong state, no code). */
  callbackQuery?: (query: URLSearchParams) => URLSearchParams;
}

/** The refresh token the issuer hands out (opaque, recognisable in leak checks). */
export const REFRESH_TOKEN = 'rt_mock_refresh_token_value';

/** A running mock issuer. */
export class MockIssuer {
  readonly authorizeRequests: URLSearchParams[] = [];
  readonly tokenRequests: TokenRequest[] = [];
  /** Tokens issued so far, for leak checks. */
  readonly issued: string[] = [];
  behaviour: IssuerBehaviour = { claims: { email: 'ada@example.com', plan: 'plus', accountId: 'ws-1', userId: 'user-1' } };
  private readonly codes = new Map<string, { challenge: string; redirectUri: string }>();

  private constructor(private readonly server: http.Server) {}

  /** Starts an issuer on 127.0.0.1, port 0. */
  static async start(): Promise<MockIssuer> {
    const server = http.createServer();
    const issuer = new MockIssuer(server);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => issuer.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return issuer;
  }

  /** `http://127.0.0.1:<port>`: the value of `[authchart] issuer`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Closes the listener and every socket. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET' && url.pathname === '/oauth/authorize') return this.authorize(url.searchParams, res);
    if (req.method === 'POST' && url.pathname === '/oauth/token') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => this.token(req, body, res));
      return;
    }
    res.writeHead(404).end('not found');
  }

  private authorize(params: URLSearchParams, res: http.ServerResponse): void {
    this.authorizeRequests.push(params);
    const redirectUri = params.get('redirect_uri') ?? '';
    const code = `code_${randomBytes(12).toString('hex')}`;
    this.codes.set(code, { challenge: params.get('code_challenge') ?? '', redirectUri });
    let query = new URLSearchParams({ code, state: params.get('state') ?? '' });
    if (this.behaviour.callbackQuery) query = this.behaviour.callbackQuery(query);
    res.writeHead(302, { Location: `${redirectUri}?${query}` }).end();
  }

  private token(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const form = new URLSearchParams(body);
    this.tokenRequests.push({ contentType: req.headers['content-type'], form });
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(typeof value === 'string' ? value : JSON.stringify(value));
    };
    const error = this.behaviour.tokenError;
    if (error) return json(error.status, typeof error.body === 'function' ? error.body(body) : error.body);
    const issued = this.codes.get(form.get('code') ?? '');
    const problem =
      form.get('grant_type') !== 'authorization_code'
        ? 'grant_type must be authorization_code'
        : form.get('client_id') !== CLIENT_ID
          ? 'unknown client_id'
          : !issued
            ? 'unknown or reused code'
            : form.get('redirect_uri') !== issued.redirectUri
              ? 'redirect_uri differs from the authorize request'
              : createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') !== issued.challenge
                ? 'code_verifier does not match code_challenge'
                : null;
    if (problem) return json(400, { error: 'invalid_grant', error_description: problem });
    this.codes.delete(form.get('code') ?? '');
    const idToken = chatgptJwt(this.behaviour.claims);
    const accessToken = chatgptJwt({ ...this.behaviour.claims, extra: { scope: 'access', jti: randomBytes(6).toString('hex') } });
    this.issued.push(idToken, accessToken, REFRESH_TOKEN);
    json(200, { id_token: idToken, access_token: accessToken, refresh_token: REFRESH_TOKEN, token_type: 'Bearer', expires_in: 3600 });
  }
}

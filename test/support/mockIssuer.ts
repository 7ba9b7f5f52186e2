/**
 * A mock OAuth issuer on 127.0.0.1 (port 0), the network edge of the browser and device-code logins:
 * `GET /oauth/authorize` redirects to the `redirect_uri` with a fresh code and the given state;
 * `POST /oauth/token` checks the form-encoded code exchange (code, redirect_uri, client id, PKCE S256)
 * and issues id/access/refresh tokens with the §11 claims. The device-code endpoints (§13.1):
 * `POST /api/accounts/deviceauth/usercode` hands out a user code; `POST /api/accounts/deviceauth/token`
 * answers "pending" (403) a configured number of times, then the authorization code with its PKCE pair
 * (whose exchange must use `{issuer}/deviceauth/callback`). `POST /oauth/revoke` (§13.2) records bodies
 * and can hang until released. Every request is recorded for assertions.
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
  /** Device-code login: what `/deviceauth/usercode` and `/deviceauth/token` answer. */
  device?: DeviceBehaviour;
  /** `/oauth/revoke`: `hang` keeps each request open until releaseRevokes() (default: 200 `{}`). */
  revoke?: 'ok' | 'hang' | { status: number; body: string };
}

/** How the device-code endpoints behave. */
export interface DeviceBehaviour {
  /** When set, `/deviceauth/usercode` answers this instead of a code (e.g. 404, 500). */
  usercodeReply?: { status: number; body: string };
  /** The `interval` member of the user-code answer (default "0"); `undefined` in the object omits it. */
  interval?: string | number;
  /** How many polls answer pending before the code is granted (default 0). */
  pendingPolls?: number;
  /** The status of a pending answer: 403 (default) or 404. */
  pendingStatus?: 403 | 404;
  /** When set, a poll that would grant answers this instead (e.g. 500, a wrong body). */
  tokenReply?: { status: number; body: string };
}

/** A recorded JSON request (device endpoints, revoke). */
export interface JsonRequest {
  contentType: string | undefined;
  body: Record<string, unknown>;
  /** When it arrived (ms since the epoch): how far apart the polls came. */
  receivedAt: number;
}

/** The user code the issuer hands out. */
export const USER_CODE = 'ABCD-EFGH';
/** The device auth id the issuer hands out. */
export const DEVICE_AUTH_ID = 'deviceauth_mock_id';

/** The refresh token the issuer hands out (opaque, recognisable in leak checks). */
export const REFRESH_TOKEN = 'rt_mock_refresh_token_value';

/** A running mock issuer. */
export class MockIssuer {
  readonly authorizeRequests: URLSearchParams[] = [];
  readonly tokenRequests: TokenRequest[] = [];
  /** Tokens issued so far, for leak checks. */
  readonly issued: string[] = [];
  behaviour: IssuerBehaviour = { claims: { email: 'ada@example.com', plan: 'plus', accountId: 'ws-1', userId: 'user-1' } };
  readonly usercodeRequests: JsonRequest[] = [];
  readonly pollRequests: JsonRequest[] = [];
  readonly revokeRequests: JsonRequest[] = [];
  private readonly codes = new Map<string, { challenge: string; redirectUri: string }>();
  private readonly heldRevokes: http.ServerResponse[] = [];
  private readonly revokeWaiters: Array<() => boolean> = [];

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

  /** Answers every revoke request held open by `revoke: 'hang'` (200 `{}`). */
  releaseRevokes(): void {
    for (const res of this.heldRevokes.splice(0)) res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  }

  /** Resolves once `count` revoke requests have arrived (already or later). */
  revokesArrived(count = 1): Promise<JsonRequest[]> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.revokeRequests.length < count) return false;
        resolve(this.revokeRequests.slice(0, count));
        return true;
      };
      if (!check()) this.revokeWaiters.push(check);
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET' && url.pathname === '/oauth/authorize') return this.authorize(url.searchParams, res);
    const jsonRoutes: Record<string, (request: JsonRequest, res: http.ServerResponse) => void> = {
      '/api/accounts/deviceauth/usercode': (request, r) => this.usercode(request, r),
      '/api/accounts/deviceauth/token': (request, r) => this.poll(request, r),
      '/oauth/revoke': (request, r) => this.revoke(request, r),
    };
    const route = jsonRoutes[url.pathname];
    if (req.method === 'POST' && route) {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(body) as Record<string, unknown>;
        } catch {
          parsed = { unparsable: body };
        }
        route({ contentType: req.headers['content-type'], body: parsed, receivedAt: Date.now() }, res);
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/oauth/token') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => this.token(req, body, res));
      return;
    }
    res.writeHead(404).end('not found');
  }

  private usercode(request: JsonRequest, res: http.ServerResponse): void {
    this.usercodeRequests.push(request);
    const device = this.behaviour.device ?? {};
    if (device.usercodeReply) return void res.writeHead(device.usercodeReply.status, { 'Content-Type': 'application/json' }).end(device.usercodeReply.body);
    const answer: Record<string, unknown> = { device_auth_id: DEVICE_AUTH_ID, user_code: USER_CODE, verification_uri: 'https://ignored.example/device' };
    if (!('interval' in device)) answer.interval = '0';
    else if (device.interval !== undefined) answer.interval = device.interval;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer));
  }

  private poll(request: JsonRequest, res: http.ServerResponse): void {
    this.pollRequests.push(request);
    const device = this.behaviour.device ?? {};
    if (this.pollRequests.length <= (device.pendingPolls ?? 0)) {
      return void res.writeHead(device.pendingStatus ?? 403, { 'Content-Type': 'application/json' }).end('{"error":"authorization_pending"}');
    }
    if (device.tokenReply) return void res.writeHead(device.tokenReply.status, { 'Content-Type': 'application/json' }).end(device.tokenReply.body);
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const code = `devcode_${randomBytes(12).toString('hex')}`;
    this.codes.set(code, { challenge, redirectUri: `${this.url}/deviceauth/callback` });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ authorization_code: code, code_challenge: challenge, code_verifier: verifier }));
  }

  private revoke(request: JsonRequest, res: http.ServerResponse): void {
    this.revokeRequests.push(request);
    for (const waiter of [...this.revokeWaiters]) if (waiter()) this.revokeWaiters.splice(this.revokeWaiters.indexOf(waiter), 1);
    const mode = this.behaviour.revoke ?? 'ok';
    if (mode === 'hang') return void this.heldRevokes.push(res);
    if (mode === 'ok') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    res.writeHead(mode.status, { 'Content-Type': 'application/json' }).end(mode.body);
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

/**
 * Real HTTP servers on 127.0.0.1 (port 0) standing in for the ChatGPT backend and the OAuth token
 * endpoint. They record what they receive; tests close them in afterEach.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chatgptJwt } from './jwt';

/** A request as a fake server saw it. */
export interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** True until it has been answered or the client hung up (a held request whose caller gave up is not). */
  open?: () => boolean;
}

/** What a handler answers (headers such as a redirect's Location are optional). */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A running fake server. */
export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 that answers every request with `handle`. */
export async function startFakeServer(handle: (request: Seen) => Reply | Promise<Reply>): Promise<FakeServer> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let closed = false;
    res.on('close', () => (closed = true));
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: Seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), open: () => !closed };
      seen.push(request);
      Promise.resolve()
        .then(() => handle(request))
        .then(
          (reply) => {
            res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
            res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
          },
          (error: Error) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`fake server failed: ${error.message}`);
          },
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A usage body of the ChatGPT backend (docs/protocol.md §4). */
export const USAGE_BODY = {
  plan_type: 'pro',
  rate_limit: {
    primary_window: { used_percent: 42.6, limit_window_seconds: 18000, reset_at: 1767225600 },
    secondary_window: { used_percent: 7.2, limit_window_seconds: 604800, reset_at: 1767744000 },
  },
  credits: { has_credits: true, unlimited: false, balance: '12.50' },
};

/** USAGE_BODY as `result.rateLimits`. */
export const USAGE_RESULT = {
  primary: { usedPercent: 43, windowDurationMins: 300, resetsAt: 1767225600 },
  secondary: { usedPercent: 7, windowDurationMins: 10080, resetsAt: 1767744000 },
  credits: { hasCredits: true, unlimited: false, balance: '12.50' },
  planType: 'pro',
};

/** USAGE_RESULT as the main bucket of today's generation (§12.3): the seed keys, the bucket keys null. */
export const USAGE_SNAPSHOT = {
  ...USAGE_RESULT,
  limitId: 'codex',
  limitName: null,
  normalModelSlug: null,
  individualLimit: null,
  spendControlReached: null,
  rateLimitReachedType: null,
};

/** The whole `account/rateLimits/read` result for USAGE_BODY (no reset-credit listing, no owner keys). */
export const USAGE_READ_RESULT = {
  rateLimits: USAGE_SNAPSHOT,
  rateLimitsByLimitId: { codex: USAGE_SNAPSHOT },
  ordinaryUsageAllowed: null,
  rateLimitResetCredits: null,
  accountId: null,
  rateLimitUpsell: null,
};

/** The bearer a request carried, or null. */
export function bearerOf(request: Seen): string | null {
  const header = request.headers.authorization;
  return typeof header === 'string' && header.startsWith('Bearer ') ? header.slice('Bearer '.length) : null;
}

/**
 * A fake ChatGPT backend: the usage endpoint answers 200 to tokens `accepts`, 401 to the rest. With
 * `holdUnauthorized: n`, 401s are held back until `n` of them are waiting, then all answered at once.
 */
export async function startChatgptBackend(
  accepts: (token: string | null, request: Seen) => boolean,
  options: { holdUnauthorized?: number } = {},
): Promise<FakeServer & { usageCalls(): Seen[] }> {
  let held = 0;
  let releaseAll!: () => void;
  const released = new Promise<void>((resolve) => (releaseAll = resolve));
  const server = await startFakeServer(async (request) => {
    if (!/\/(wham|api\/codex)\/usage$/.test(request.path)) return { status: 404, body: { error: 'not found' } };
    if (!accepts(bearerOf(request), request)) {
      if (options.holdUnauthorized !== undefined) {
        held += 1;
        if (held >= options.holdUnauthorized) releaseAll();
        await released;
      }
      return { status: 401, body: { error: { code: 'token_expired', message: 'Unauthorized' } } };
    }
    return { status: 200, body: USAGE_BODY };
  });
  return { ...server, usageCalls: () => server.seen.filter((r) => /usage$/.test(r.path)) };
}

/** The tokens a rotating token server issued in round `n` (n = 0: the initial login). */
export function issuedTokens(n: number, accountId = 'acct-1') {
  return {
    idToken: chatgptJwt({ email: 'ada@example.com', plan: 'plus', accountId, extra: { round: n } }),
    // A far `exp` (2100): no proactive refresh unless a test wants one.
    accessToken: chatgptJwt({ accountId, exp: 4102444800, extra: { access: n } }),
    refreshToken: `rt_round${n}_${'x'.repeat(12)}`,
  };
}

/** A token endpoint that behaves like the real one: it rotates refresh tokens and rejects a reused one. */
export interface TokenServer extends FakeServer {
  /** Refresh grants received. */
  posts(): Seen[];
  /** Refresh grants that spent an already used refresh token. */
  reused: number;
  /** The refresh token currently valid. */
  current(): string;
  /** How many refresh grants succeeded (the current tokens are `issuedTokens(rounds())`). */
  rounds(): number;
  /** Answers the next grants with `reply` instead (transient/permanent failure tests); null = normal. */
  override(reply: Reply | null): void;
}

/** Starts a rotating token endpoint whose valid refresh token is `issuedTokens(0).refreshToken`. */
export async function startTokenServer(options: { accountId?: string; omitIdToken?: boolean } = {}): Promise<TokenServer> {
  let round = 0;
  let forced: Reply | null = null;
  const spent = new Set<string>();
  const state = { reused: 0 };
  const server = await startFakeServer((request) => {
    if (request.method !== 'POST' || !request.path.endsWith('/oauth/token')) return { status: 404 };
    if (forced) return forced;
    const body = JSON.parse(request.body) as { client_id?: string; grant_type?: string; refresh_token?: string };
    if (body.grant_type !== 'refresh_token' || body.client_id !== 'app_EMoamEEZ73f0CkXaXp7hrann') {
      return { status: 400, body: { error: 'invalid_request' } };
    }
    const presented = body.refresh_token ?? '';
    if (spent.has(presented)) {
      state.reused += 1;
      return { status: 401, body: { error: { code: 'refresh_token_reused', message: 'Your refresh token has already been used' } } };
    }
    if (presented !== issuedTokens(round).refreshToken) return { status: 401, body: { error: { code: 'refresh_token_invalidated' } } };
    spent.add(presented);
    round += 1;
    const next = issuedTokens(round, options.accountId);
    return {
      status: 200,
      body: {
        ...(options.omitIdToken ? {} : { id_token: next.idToken }),
        access_token: next.accessToken,
        refresh_token: next.refreshToken,
      },
    };
  });
  return {
    ...server,
    posts: () => server.seen.filter((r) => r.method === 'POST'),
    get reused() {
      return state.reused;
    },
    current: () => issuedTokens(round).refreshToken,
    rounds: () => round,
    override: (reply) => {
      forced = reply;
    },
  };
}

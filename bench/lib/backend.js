'use strict';
/**
 * A loopback stand-in for the ChatGPT backend and the OAuth token endpoint (PROTOCOL.md §4, §6): the
 * usage endpoint answers 200 to the one access token it currently accepts and 401 to any other; the
 * token endpoint hands out the next access token for the current refresh token. It counts every request
 * so the bench can check single flight (1000 concurrent 401s → exactly one refresh).
 */
const http = require('node:http');

/** An unsigned JWT with the given claims (authchart and Codex never check signatures). */
function fakeJwt(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

/** Claims of a ChatGPT id/access token for the bench's account, valid for a year. */
function accountClaims(extra = {}) {
  return {
    email: 'bench@example.com',
    exp: Math.floor(Date.now() / 1000) + 365 * 24 * 3600,
    'https://api.openai.com/auth': { chatgpt_plan_type: 'plus', chatgpt_user_id: 'user-bench', chatgpt_account_id: 'acct-bench' },
    ...extra,
  };
}

const USAGE = JSON.stringify({
  plan_type: 'plus',
  rate_limit: {
    primary_window: { used_percent: 12.4, limit_window_seconds: 18000, reset_at: 1767225600 },
    secondary_window: { used_percent: 3, limit_window_seconds: 604800, reset_at: 1767830400 },
  },
  credits: { has_credits: true, unlimited: false, balance: '10.00' },
});

class FakeBackend {
  constructor() {
    this.validAccessToken = null;
    this.refreshToken = null;
    this.nextTokens = null;
    this.counts = { usageOk: 0, usage401: 0, tokenPosts: 0, tokenRefused: 0, other: 0 };
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens on 127.0.0.1 (a free port); resolves with the base URL. */
  async start() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.baseUrl = `http://127.0.0.1:${this.server.address().port}`;
    return this.baseUrl;
  }

  resetCounts() {
    for (const key of Object.keys(this.counts)) this.counts[key] = 0;
  }

  handle(req, res) {
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && (url === '/backend-api/wham/usage' || url === '/api/codex/usage')) {
      if (req.headers.authorization === `Bearer ${this.validAccessToken}`) {
        this.counts.usageOk += 1;
        res.writeHead(200, { 'content-type': 'application/json' }).end(USAGE);
      } else {
        this.counts.usage401 += 1;
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"Unauthorized","code":"token_expired"}}');
      }
      return;
    }
    if (req.method === 'POST' && url === '/oauth/token') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        this.counts.tokenPosts += 1;
        let refreshToken = null;
        try {
          refreshToken = JSON.parse(body).refresh_token;
        } catch {
          refreshToken = new URLSearchParams(body).get('refresh_token');
        }
        if (!this.nextTokens || refreshToken !== this.refreshToken) {
          this.counts.tokenRefused += 1;
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"refresh_token_reused"}}');
          return;
        }
        const tokens = this.nextTokens;
        this.nextTokens = null;
        this.refreshToken = tokens.refresh_token;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(tokens));
      });
      return;
    }
    this.counts.other += 1;
    res.writeHead(404).end();
  }

  async close() {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

module.exports = { FakeBackend, fakeJwt, accountClaims };

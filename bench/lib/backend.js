'use strict';
/**
 * A loopback stand-in for the ChatGPT backend and the OAuth token endpoint (docs/protocol.md §4, §6): the
 * usage endpoint answers 200 to the one access token it currently accepts and 401 to any other; the
 * token endpoint hands out the next access token for the current refresh token. It counts every request
 * so the bench can check single flight (1000 concurrent 401s → exactly one refresh).
 */
const { fork } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');

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

/** A usage answer both authchart and Codex 0.98 decode (Codex wants integers and every member here). */
const USAGE = JSON.stringify({
  plan_type: 'plus',
  rate_limit: {
    allowed: true,
    limit_reached: false,
    primary_window: { used_percent: 12, limit_window_seconds: 18000, reset_after_seconds: 3600, reset_at: 1767225600 },
    secondary_window: { used_percent: 3, limit_window_seconds: 604800, reset_after_seconds: 86400, reset_at: 1767830400 },
  },
  credits: { has_credits: true, unlimited: false, balance: '10.00' },
});

class FakeBackend {
  constructor() {
    this.validAccessToken = null;
    this.refreshToken = null;
    this.nextTokens = null;
    this.counts = { usageOk: 0, usage401: 0, accountsCheck: 0, tokenPosts: 0, tokenRefused: 0, other: 0, bridges: 0 };
    this.sockets = new Set();
    this.servers = [];
  }

  /**
   * Listens on 127.0.0.1 (a free port) and, when given, on a Unix socket too (for a bridge from another
   * network namespace); resolves with the base URL.
   */
  async start(socketPath) {
    const tcp = await this.listen([0, '127.0.0.1']);
    if (socketPath) await this.listen([socketPath]);
    this.baseUrl = `http://127.0.0.1:${tcp.address().port}`;
    return this.baseUrl;
  }

  async listen(args) {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(...args, resolve);
    });
    this.servers.push(server);
    return server;
  }

  resetCounts() {
    for (const key of Object.keys(this.counts)) this.counts[key] = 0;
  }

  handle(req, res) {
    const url = req.url.split('?')[0];
    if (url === '/bridge-ready') {
      this.counts.bridges += 1;
      res.writeHead(204).end();
      return;
    }
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
    if (req.method === 'GET' && (url === '/backend-api/wham/accounts/check' || url === '/api/codex/accounts/check')) {
      // Workspace discovery (today's Codex and authchart ask at start-up): the login's own workspace.
      this.counts.accountsCheck += 1;
      const id = String(req.headers['chatgpt-account-id'] ?? 'acct-bench');
      const entry = { id, name: 'Bench workspace', plan_type: 'plus', structure: 'personal', workspace_backend_origin: 'https://chatgpt.com', account_routing_override: 'NO_CONSTRAINT' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accounts: [entry], account_ordering: [id], default_account_id: id }));
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
    await Promise.all(this.servers.map((server) => new Promise((resolve) => server.close(() => resolve()))));
  }
}

/** The backend in a child process (backend-process.js), with the same knobs, set over IPC. */
class BackendProcess {
  constructor() {
    this.child = fork(path.join(__dirname, 'backend-process.js'), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.nextId = 0;
    this.waiting = new Map();
    this.child.on('message', (message) => {
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message);
    });
    this.child.on('exit', () => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error('the backend process exited'));
      this.waiting.clear();
    });
  }

  call(message) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`backend process: no answer to ${message.op}`)), 10_000);
      this.waiting.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.child.send({ ...message, id });
    });
  }

  /** Starts listening (TCP, and the Unix socket `socketPath` when given); resolves with the base URL. */
  async start(socketPath) {
    this.socketPath = socketPath;
    this.baseUrl = (await this.call({ op: 'start', socketPath })).baseUrl;
    this.port = Number(new URL(this.baseUrl).port);
    return this.baseUrl;
  }

  /** Sets `validAccessToken`, `refreshToken` and/or `nextTokens`. */
  async set(values) {
    await this.call({ op: 'set', ...values });
  }

  /** The request counts so far; `reset` zeroes them after reading. */
  async counts(reset = false) {
    return (await this.call({ op: 'counts', reset })).counts;
  }

  async close() {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.disconnect();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
  }
}

module.exports = { FakeBackend, BackendProcess, fakeJwt, accountClaims };

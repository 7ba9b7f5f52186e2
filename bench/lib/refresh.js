'use strict';
/**
 * The refresh path (docs/protocol.md §6): bursts of concurrent `account/rateLimits/read` against the loopback
 * backend, first with a valid access token (the baseline), then right after the backend has started to
 * refuse it, so that every call of the burst meets a 401. Single flight means one refresh per burst:
 * one `account/chatgptAuthTokens/refresh` to the parent (external tokens) or one token POST (managed).
 */
const os = require('node:os');
const path = require('node:path');
const { BenchError } = require('./client');
const { burst, withServer, BackendProcess, fakeJwt, accountClaims } = require('./scenarios');
const { median } = require('./stats');

const METHOD = 'account/rateLimits/read';

/** Rate limits are served at all (the refresh work may not be in the build under test). */
async function probe(server) {
  const { message } = await server.request(METHOD, undefined, 15_000);
  if (message.error && message.error.code === -32601) return { supported: false, reason: `${METHOD} is not served (-32601)` };
  if (message.error) return { supported: false, reason: `${METHOD} failed before any 401: ${JSON.stringify(message.error)}` };
  return { supported: true };
}

/** Waits (bounded) until a target in its own network namespace can reach the backend. */
async function bridgeReady(backend, target) {
  if (!target.needsBridge) return;
  for (let i = 0; i < 100; i += 1) {
    if ((await backend.counts()).bridges > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new BenchError(`${target.name}: the loopback bridge into its network namespace did not come up`);
}

/**
 * Runs `rounds` pairs of (baseline burst, 401 burst); `rotate(round)` makes the current token stale.
 * Refreshes are counted by `refreshCount()` (requests to the parent), else as token POSTs. A target too
 * slow to serve a burst of `calls` within ~30 s (Codex 0.98 serves ~10 rate-limit reads a second) gets
 * smaller bursts, and the result says how many calls each burst had.
 */
async function rounds(server, backend, { calls, rounds: count }, rotate, refreshCount) {
  const warmUp = await burst(server, METHOD, undefined, 100, 100, 60_000);
  const perSecond = 100 / (warmUp.wallMs / 1000);
  const size = Math.min(calls, Math.max(50, Math.floor(perSecond * 30)));
  const out = [];
  for (let round = 1; round <= count; round += 1) {
    const baseline = await burst(server, METHOD, undefined, size, size, 120_000);
    await rotate(round);
    await backend.counts(true);
    const before = refreshCount?.() ?? 0;
    const with401 = await burst(server, METHOD, undefined, size, size, 120_000);
    const counts = await backend.counts();
    out.push({
      calls: size,
      baselineMs: baseline.wallMs,
      baselineErrors: baseline.errors,
      with401Ms: with401.wallMs,
      errors: with401.errors,
      firstError: with401.firstError ?? baseline.firstError,
      refreshes: refreshCount ? refreshCount() - before : counts.tokenPosts,
      backend401s: counts.usage401,
      backendOk: counts.usageOk,
      tokenPosts: counts.tokenPosts,
    });
    if (size < calls) break; // a slow target: one round is enough to show it
  }
  return out;
}

function summarizeRounds(list, rttMs, countKey) {
  const baselineMs = median(list.map((r) => r.baselineMs));
  const with401Ms = median(list.map((r) => r.with401Ms));
  const budgetMs = (baselineMs + rttMs) * 1.2;
  return {
    calls: list[0]?.calls,
    rounds: list,
    refreshesPerBurst: list.map((r) => r[countKey]),
    exactlyOne: list.every((r) => r[countKey] === 1),
    errors: list.reduce((sum, r) => sum + r.errors + r.baselineErrors, 0),
    firstError: list.find((r) => r.firstError)?.firstError ?? null,
    baselineMs,
    with401Ms,
    parentRoundTripMs: rttMs,
    budgetMs,
    withinBudget: with401Ms <= budgetMs,
  };
}

/** Starts the backend process (with a Unix socket when the target needs a bridge), runs `body`, stops it. */
async function withBackend(target, body) {
  const backend = new BackendProcess();
  try {
    const socketPath = target.needsBridge ? path.join(os.tmpdir(), `authchart-bench-${process.pid}-${Date.now()}.sock`) : undefined;
    const baseUrl = await backend.start(socketPath);
    const bridge = socketPath ? { port: backend.port, socketPath } : undefined;
    return await body(backend, baseUrl, bridge);
  } finally {
    await backend.close();
  }
}

/** External tokens: the parent (this bench) answers each refresh request with the token the backend now accepts. */
async function externalRefresh(target, options) {
  return withBackend(target, async (backend, base, bridge) => {
    const files = { 'config.toml': `chatgpt_base_url = "${base}/backend-api/"\n` };
    return withServer(target, { files, bridge }, async (server) => {
      await server.initialize(15_000);
      await bridgeReady(backend, target);
      const idToken = fakeJwt(accountClaims());
      const access = (n) => fakeJwt(accountClaims({ jti: `bench-access-${n}` }));
      let current = access(0);
      let refreshRequests = 0;
      server.onRequest('account/chatgptAuthTokens/refresh', () => {
        refreshRequests += 1;
        return { idToken, accessToken: current };
      });
      await backend.set({ validAccessToken: current });
      const login = await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken: current });
      if (login.message.error) throw new BenchError(`${target.name}: chatgptAuthTokens login failed: ${JSON.stringify(login.message.error)}`);
      const support = await probe(server);
      if (!support.supported) return support;
      const list = await rounds(
        server,
        backend,
        options,
        async (round) => {
          current = access(round);
          await backend.set({ validAccessToken: current });
        },
        () => refreshRequests,
      );
      return { supported: true, ...summarizeRounds(list, options.parentRoundTripMs, 'refreshes') };
    });
  });
}

/** Managed ChatGPT auth (auth.json): the server refreshes itself with one POST to the token endpoint. */
async function managedRefresh(target, options) {
  return withBackend(target, async (backend, base, bridge) => {
    const idToken = fakeJwt(accountClaims());
    const access = (n) => fakeJwt(accountClaims({ jti: `bench-managed-${n}` }));
    const tokenUrl = `${base}/oauth/token`;
    const files = {
      'config.toml': `chatgpt_base_url = "${base}/backend-api/"\n\n[authchart]\ntoken_url = "${tokenUrl}"\n`,
      'auth.json': `${JSON.stringify(
        {
          auth_mode: 'chatgpt',
          OPENAI_API_KEY: null,
          tokens: { id_token: idToken, access_token: access(0), refresh_token: 'bench-rt-0', account_id: 'acct-bench' },
          last_refresh: new Date().toISOString(),
        },
        null,
        2,
      )}\n`,
    };
    await backend.set({ validAccessToken: access(0), refreshToken: 'bench-rt-0', nextTokens: null });
    // Codex reads the token endpoint from this variable; authchart honours it too (docs/protocol.md §9).
    return withServer(target, { files, bridge, env: { CODEX_REFRESH_TOKEN_URL_OVERRIDE: tokenUrl } }, async (server) => {
      await server.initialize(15_000);
      await bridgeReady(backend, target);
      const support = await probe(server);
      if (!support.supported) return support;
      const list = await rounds(
        server,
        backend,
        options,
        async (round) => {
          await backend.set({
            validAccessToken: access(round),
            nextTokens: { id_token: idToken, access_token: access(round), refresh_token: `bench-rt-${round}` },
          });
        },
        null,
      );
      return { supported: true, ...summarizeRounds(list, options.parentRoundTripMs, 'refreshes') };
    });
  });
}

module.exports = { externalRefresh, managedRefresh };

'use strict';
/**
 * The refresh path (PROTOCOL.md §6): bursts of concurrent `account/rateLimits/read` against the loopback
 * backend, first with a valid access token (the baseline), then right after the backend has started to
 * refuse it, so that every call of the burst meets a 401. Single flight means one refresh per burst:
 * one `account/chatgptAuthTokens/refresh` to the parent (external tokens) or one token POST (managed).
 */
const { BenchError } = require('./client');
const { burst, withServer, FakeBackend, fakeJwt, accountClaims } = require('./scenarios');
const { median } = require('./stats');

const METHOD = 'account/rateLimits/read';

/** Rate limits are served at all (the refresh work may not have landed in the build under test). */
async function probe(server) {
  const { message } = await server.request(METHOD, undefined, 15_000);
  if (message.error && message.error.code === -32601) return { supported: false, reason: `${METHOD} is not served (-32601)` };
  if (message.error) return { supported: false, reason: `${METHOD} failed before any 401: ${JSON.stringify(message.error)}` };
  return { supported: true };
}

/** Runs `rounds` pairs of (baseline burst, 401 burst); `rotate(round)` makes the current token stale. */
async function rounds(server, backend, { calls, rounds: count }, rotate, refreshCount) {
  await burst(server, METHOD, undefined, calls, calls); // warm-up: not recorded
  const out = [];
  for (let round = 1; round <= count; round += 1) {
    const baseline = await burst(server, METHOD, undefined, calls, calls);
    rotate(round);
    backend.resetCounts();
    const before = refreshCount();
    const with401 = await burst(server, METHOD, undefined, calls, calls, 30_000);
    out.push({
      baselineMs: baseline.wallMs,
      baselineErrors: baseline.errors,
      with401Ms: with401.wallMs,
      errors: with401.errors,
      firstError: with401.firstError,
      refreshes: refreshCount() - before,
      backend401s: backend.counts.usage401,
      backendOk: backend.counts.usageOk,
      tokenPosts: backend.counts.tokenPosts,
    });
  }
  return out;
}

function summarizeRounds(list, rttMs, countKey) {
  const baselineMs = median(list.map((r) => r.baselineMs));
  const with401Ms = median(list.map((r) => r.with401Ms));
  const limitMs = (baselineMs + rttMs) * 1.2;
  return {
    rounds: list,
    refreshesPerBurst: list.map((r) => r[countKey]),
    exactlyOne: list.every((r) => r[countKey] === 1),
    errors: list.reduce((sum, r) => sum + r.errors + r.baselineErrors, 0),
    firstError: list.find((r) => r.firstError)?.firstError ?? null,
    baselineMs,
    with401Ms,
    parentRoundTripMs: rttMs,
    budgetMs: limitMs,
    withinBudget: with401Ms <= limitMs,
  };
}

/** External tokens: the parent (this bench) answers each refresh request with the token the backend now accepts. */
async function externalRefresh(target, options) {
  const backend = new FakeBackend();
  const base = await backend.start();
  try {
    const files = { 'config.toml': `chatgpt_base_url = "${base}/backend-api/"\n` };
    return await withServer(target, { files }, async (server) => {
      await server.initialize(15_000);
      const idToken = fakeJwt(accountClaims());
      const access = (n) => fakeJwt(accountClaims({ jti: `bench-access-${n}` }));
      let refreshRequests = 0;
      server.onRequest('account/chatgptAuthTokens/refresh', () => {
        refreshRequests += 1;
        return { idToken, accessToken: backend.validAccessToken };
      });
      backend.validAccessToken = access(0);
      const login = await server.request('account/login/start', { type: 'chatgptAuthTokens', idToken, accessToken: access(0) });
      if (login.message.error) throw new BenchError(`${target.name}: chatgptAuthTokens login failed: ${JSON.stringify(login.message.error)}`);
      const support = await probe(server);
      if (!support.supported) return support;
      const list = await rounds(server, backend, options, (round) => (backend.validAccessToken = access(round)), () => refreshRequests);
      return { supported: true, ...summarizeRounds(list, options.parentRoundTripMs, 'refreshes'), calls: options.calls };
    });
  } finally {
    await backend.close();
  }
}

/** Managed ChatGPT auth (auth.json): the server refreshes itself with one POST to the token endpoint. */
async function managedRefresh(target, options) {
  const backend = new FakeBackend();
  const base = await backend.start();
  try {
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
    backend.validAccessToken = access(0);
    backend.refreshToken = 'bench-rt-0';
    // Codex reads the token endpoint from this variable; authchart honours it too (PROTOCOL.md §9).
    return await withServer(target, { files, env: { CODEX_REFRESH_TOKEN_URL_OVERRIDE: tokenUrl } }, async (server) => {
      await server.initialize(15_000);
      const support = await probe(server);
      if (!support.supported) return support;
      const list = await rounds(
        server,
        backend,
        options,
        (round) => {
          backend.validAccessToken = access(round);
          backend.nextTokens = { id_token: idToken, access_token: access(round), refresh_token: `bench-rt-${round}` };
        },
        () => backend.counts.tokenPosts,
      );
      return { supported: true, ...summarizeRounds(list, options.parentRoundTripMs, 'tokenPosts'), calls: options.calls };
    });
  } finally {
    await backend.close();
  }
}

module.exports = { externalRefresh, managedRefresh };

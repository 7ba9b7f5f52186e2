'use strict';
/**
 * The measurements of `npm run bench`, one function per figure of the issue. Each starts its own
 * servers in a fresh CODEX_HOME and kills them in `finally`; every wait is bounded.
 */
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { AppServerChild, BenchError } = require('./client');
const { peakRss } = require('./proc');
const { summarize, msSince } = require('./stats');
const { BackendProcess, fakeJwt, accountClaims } = require('./backend');

/** A fresh CODEX_HOME (optionally with files); `cleanup()` removes it. */
function freshHome(files = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authchart-bench-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text, { mode: 0o600 });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts `target` in a fresh home, runs `body(server, home)`, then stops the server and removes the home. */
async function withServer(target, { files, env, bridge } = {}, body) {
  const home = freshHome(files);
  const server = new AppServerChild(target.spawnSpec(home.dir, env, bridge));
  try {
    return await body(server, home);
  } finally {
    await server.close(3000).catch(() => server.dispose());
    server.dispose();
    home.cleanup();
  }
}

/**
 * Cold start: spawn → `initialize` response, each spawn in a fresh CODEX_HOME, `spawns` times; and as
 * many spawns again measuring spawn → the answer to an `account/read` pipelined behind `initialize`.
 * Targets are interleaved spawn by spawn so that background load hits them alike; one unrecorded
 * warm-up spawn each first (the page cache is warm for any parent that opens a second window).
 */
async function coldStart(targets, spawns) {
  const samples = new Map(targets.map((t) => [t.name, { initialize: [], firstRead: [] }]));
  const idleRss = new Map();
  for (let round = -1; round < spawns; round += 1) {
    for (const target of targets) {
      // Even rounds: initialize alone (the figure of the budget). Odd rounds: initialized and an
      // account/read pipelined behind it, to see when the server can first answer about the account.
      const thenRead = round >= 0 && round % 2 === 1;
      await withServer(target, {}, async (server) => {
        const { msSinceSpawn, readMsSinceSpawn } = await server.initialize(15_000, { thenRead });
        if (round < 0) return;
        const mine = samples.get(target.name);
        if (thenRead) mine.firstRead.push(readMsSinceSpawn);
        else mine.initialize.push(msSinceSpawn);
        if (round === 0) idleRss.set(target.name, peakRss(server.pid));
      });
    }
  }
  const out = {};
  for (const target of targets) {
    const mine = samples.get(target.name);
    out[target.name] = { ...summarize(mine.initialize), samples: mine.initialize, firstRead: { ...summarize(mine.firstRead), samples: mine.firstRead }, idle: idleRss.get(target.name) };
  }
  return out;
}

/** Sends `total` account/read with `inFlight` outstanding at any time; resolves with latencies and wall time. */
async function burst(server, method, params, total, inFlight, timeoutMs = 60_000) {
  const latencies = new Float64Array(total);
  let sent = 0;
  let done = 0;
  let errors = 0;
  let firstError = null;
  const started = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new BenchError(`${server.label}: ${method} burst did not finish within ${timeoutMs} ms (${done}/${total})`)), timeoutMs);
    const sendOne = () => {
      const index = sent++;
      server.request(method, params, timeoutMs).then(({ message, ms }) => {
        latencies[index] = ms;
        if (message.error) {
          errors += 1;
          firstError ??= message.error;
        }
        done += 1;
        if (done === total) {
          clearTimeout(deadline);
          resolve();
        } else if (sent < total) sendOne();
      }, (error) => {
        clearTimeout(deadline);
        reject(error);
      });
    };
    for (let i = 0; i < Math.min(inFlight, total); i += 1) sendOne();
  });
  return { wallMs: msSince(started), latencies, errors, firstError };
}

/**
 * A CODEX_HOME as a user who ran `codex login` has it: auth.json with ChatGPT tokens (unsigned JWTs
 * valid for a year, refreshed just now), so that `account/read` answers a ChatGPT account, and the
 * ChatGPT backend on the loopback (`baseUrl`), so that nothing needs the network.
 */
function loggedInFiles(baseUrl) {
  const idToken = fakeJwt(accountClaims());
  return {
    // The backend a ChatGPT login's start-up workspace discovery goes to: the bench's own, on 127.0.0.1.
    'config.toml': `chatgpt_base_url = "${baseUrl}/backend-api/"\n`,
    'auth.json': `${JSON.stringify({
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: { id_token: idToken, access_token: fakeJwt(accountClaims({ jti: 'bench-steady' })), refresh_token: 'bench-rt-steady', account_id: 'acct-bench' },
      last_refresh: new Date().toISOString(),
    })}\n`,
  };
}

/** The run with the median figure (of an odd count), whole, so that its median and p99 belong together. */
function medianRun(runs, key, higherIsBetter) {
  const sorted = [...runs].sort((a, b) => (higherIsBetter ? b[key] - a[key] : a[key] - b[key]));
  return { ...sorted[(sorted.length - 1) >> 1], runs: runs.map((r) => r[key]) };
}

/**
 * Steady state, one server per target, all running at once and measured in turns (so that background
 * load hits them alike), each logged in from auth.json: `repeats` × (1000 sequential `account/read`
 * (median/p99), then 10 000 with 100 in flight (req/s, p99)); then each server's peak RSS.
 */
async function steadyState(targets, { sequential, concurrent, inFlight, repeats }) {
  const homes = [];
  const servers = [];
  const backend = new BackendProcess();
  try {
    const baseUrl = await backend.start();
    for (const target of targets) {
      const home = freshHome(loggedInFiles(baseUrl));
      homes.push(home);
      const server = new AppServerChild(target.spawnSpec(home.dir));
      servers.push(server);
      await server.initialize(15_000);
      const first = await server.request('account/read', {});
      if (first.message.error || first.message.result?.account?.type !== 'chatgpt') {
        throw new BenchError(`${target.name}: account/read did not answer the ChatGPT account of auth.json: ${JSON.stringify(first.message)}`);
      }
      // Warm-up (JIT, buffers): not recorded.
      await burst(server, 'account/read', {}, 500, 1);
      await burst(server, 'account/read', {}, 2000, inFlight);
    }
    const runs = targets.map(() => ({ sequential: [], concurrent: [] }));
    const check = (target, result) => {
      if (result.errors > 0) throw new BenchError(`${target.name}: account/read failed: ${JSON.stringify(result.firstError)}`);
      return result;
    };
    for (let i = 0; i < repeats; i += 1) {
      for (const [n, target] of targets.entries()) {
        const seq = check(target, await burst(servers[n], 'account/read', {}, sequential, 1));
        runs[n].sequential.push(summarize(seq.latencies));
      }
      for (const [n, target] of targets.entries()) {
        const conc = check(target, await burst(servers[n], 'account/read', {}, concurrent, inFlight));
        runs[n].concurrent.push({ ...summarize(conc.latencies), wallMs: conc.wallMs, reqPerSec: concurrent / (conc.wallMs / 1000) });
      }
    }
    const out = {};
    for (const [n, target] of targets.entries()) {
      out[target.name] = {
        state: 'logged in from auth.json (ChatGPT tokens)',
        sequential: medianRun(runs[n].sequential, 'median', false),
        concurrent: medianRun(runs[n].concurrent, 'reqPerSec', true),
        rss: peakRss(servers[n].pid),
      };
    }
    return out;
  } finally {
    for (const server of servers) {
      await server.close(3000).catch(() => server.dispose());
      server.dispose();
    }
    for (const home of homes) home.cleanup();
    await backend.close();
  }
}

module.exports = { coldStart, steadyState, burst, withServer, freshHome, BackendProcess, fakeJwt, accountClaims };

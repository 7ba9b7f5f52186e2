#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: start-up, memory, latency, throughput and refresh cost of the app-server, measured
 * from a parent's side of real pipes, against the performance budget of issue 7. Set CODEX_BIN to a
 * `codex` binary to measure `codex app-server` in the same run (network cut off) and print ratios.
 *
 *   node bench/run.js [--spawns N] [--repeats N] [--only startup,steady,refresh] [--out FILE]
 *
 * Prints a table and writes the figures to bench/results.json. Times are wall-clock on whatever the
 * machine is doing: compare runs taken under the same load.
 */
const { writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { authchart, codexTarget } = require('./lib/targets');
const { coldStart, steadyState } = require('./lib/scenarios');
const { externalRefresh, managedRefresh } = require('./lib/refresh');

/** The budget of issue 7, as checks over the results of one target. */
const BUDGET = {
  startupMedianMs: 125,
  peakRssMiB: 60,
  sequentialMedianMs: 0.12,
  reqPerSec: 24_000,
};

function parseArgs(argv) {
  const options = { spawns: 15, repeats: 3, only: new Set(['startup', 'steady', 'refresh']), out: path.join(__dirname, 'results.json') };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--spawns') options.spawns = Math.max(10, Number(value()));
    else if (flag === '--repeats') options.repeats = Math.max(1, Number(value()));
    else if (flag === '--only') options.only = new Set(value().split(','));
    else if (flag === '--out') options.out = path.resolve(value());
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: node bench/run.js [--spawns N≥10] [--repeats N] [--only startup,steady,refresh] [--out FILE]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

const log = (line) => process.stderr.write(`bench: ${line}\n`);

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const targets = [authchart];
  let codexNote = null;
  if (process.env.CODEX_BIN) {
    const codex = codexTarget(process.env.CODEX_BIN);
    if (codex.error) codexNote = codex.error;
    else targets.push(codex);
  }
  const results = {
    when: new Date().toISOString(),
    machine: { node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverageAtStart: os.loadavg() },
    options: { spawns: options.spawns, repeats: options.repeats, only: [...options.only] },
    budget: BUDGET,
    targets: Object.fromEntries(targets.map((t) => [t.name, { command: t.describe() }])),
    codexNote,
  };
  for (const t of targets) log(`${t.name}: ${t.describe()}`);
  if (codexNote) log(codexNote);

  if (options.only.has('startup')) {
    log(`cold start: ${options.spawns} spawns to initialize + ${options.spawns} to a pipelined account/read, per target (+1 warm-up), interleaved`);
    const cold = await coldStart(targets, options.spawns * 2);
    for (const t of targets) results.targets[t.name].startup = cold[t.name];
  }
  if (options.only.has('steady')) {
    log(`steady state: 1000 sequential account/read, 10 000 with 100 in flight (×${options.repeats}), targets in turns`);
    const steady = await steadyState(targets, { sequential: 1000, concurrent: 10_000, inFlight: 100, repeats: options.repeats });
    for (const t of targets) results.targets[t.name].steady = steady[t.name];
  }
  if (options.only.has('refresh')) {
    for (const t of targets) {
      const rtt = results.targets[t.name].steady?.sequential.median ?? 0.1;
      const refreshOptions = { calls: 1000, rounds: 3, parentRoundTripMs: rtt };
      log(`${t.name}: refresh path, external tokens (1000 concurrent ${'account/rateLimits/read'} meeting a 401, ×3)`);
      results.targets[t.name].externalRefresh = await settle(() => externalRefresh(t, refreshOptions));
      log(`${t.name}: refresh path, managed auth.json`);
      results.targets[t.name].managedRefresh = await settle(() => managedRefresh(t, refreshOptions));
    }
  }
  results.machine.loadAverageAtEnd = os.loadavg();
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${require('./lib/report').table(results, targets)}\n`);
  log(`figures written to ${path.relative(process.cwd(), options.out)}`);
}

/** A scenario that may fail on a target (e.g. Codex without the feature): its result, or why it failed. */
async function settle(run) {
  try {
    return await run();
  } catch (error) {
    return { supported: false, reason: error.message.split('\n')[0] };
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench: failed: ${error.stack ?? error}\n`);
    process.exit(1);
  },
);

#!/usr/bin/env node
'use strict';
/**
 * Where start-up time goes: runs `node --cpu-prof bin/authchart.js app-server` up to the `initialize`
 * response, N times, and splits the profile by module group (npm package or source folder), using the
 * bundle's source map to map bundled code back to its origin. Prints the median per group.
 *
 *   node bench/startup-profile.js [--runs N] [--entry bin/authchart.js]
 *
 * Time in Node's own code is charged to the nearest caller in user code (a `require` of a builtin made
 * from a package counts for that package); what has no user caller is "node: bootstrap and
 * runtime", except V8 compiling the scripts loaded, counted as "V8 compile of loaded scripts".
 */
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } = require('node:fs');
const { SourceMap } = require('node:module');
const os = require('node:os');
const path = require('node:path');
const { fileURLToPath } = require('node:url');
const { median } = require('./lib/stats');

const ROOT = path.resolve(__dirname, '..');

function parseArgs(argv) {
  const options = { runs: 10, entry: path.join(ROOT, 'bin/authchart.js') };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--runs') options.runs = Math.max(1, Number(value()));
    else if (flag === '--entry') options.entry = path.resolve(value());
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

/** Runs the server once under the profiler; resolves with the parsed .cpuprofile. */
function profileOnce(entry) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'authchart-prof-'));
  const dir = path.join(home, 'prof');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100', entry, 'app-server'], {
      env: { ...process.env, CODEX_HOME: home, AUTHCHART_LOG: 'warn' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    let answeredAtUs = Infinity;
    child.stdout.once('data', () => {
      // V8's profile clock and process.hrtime are both CLOCK_MONOTONIC: samples after this instant
      // ran after the parent had its answer.
      answeredAtUs = Number(process.hrtime.bigint() / 1000n);
      child.stdin.end(); // answered: let it exit, which writes the profile
    });
    child.stdin.write('{"id":0,"method":"initialize","params":{"clientInfo":{"name":"bench","version":"0"}}}\n');
    child.once('exit', () => {
      clearTimeout(timer);
      try {
        const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
        resolve({ profile: JSON.parse(readFileSync(path.join(dir, file), 'utf8')), answeredAtUs });
      } catch (error) {
        reject(new Error(`no profile written: ${error.message}`));
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    });
  });
}

const sourceMaps = new Map();
/** The source map of a bundled file (`<file>.map`), or null. */
function sourceMapOf(file) {
  if (!sourceMaps.has(file)) {
    const mapFile = `${file}.map`;
    sourceMaps.set(file, existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : null);
  }
  return sourceMaps.get(file);
}

/** The module group of an original source path: an npm package, or a folder of this repository. */
function groupOf(source) {
  const normalized = source.replace(/\\/g, '/');
  const nm = normalized.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = normalized.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const rel = path.relative(ROOT, path.resolve(ROOT, normalized)).replace(/\\/g, '/');
  const parts = rel.replace(/^dist\//, '').split('/');
  if (parts[0] === 'src' && parts.length > 2) return `src/${parts[1]}`;
  if (parts[0] === 'src' || parts[0] === 'bin') return rel.replace(/^dist\//, '').replace(/\.(js|ts|cjs)$/, '');
  return parts[0];
}

/** The group of a position in a user script (a file:// URL), through its source map when bundled. */
function groupAt(url, line, column) {
  const file = fileURLToPath(url);
  const map = sourceMapOf(file);
  if (map) {
    const entry = map.findEntry(line, column);
    if (entry && entry.originalSource) {
      const original = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(file), entry.originalSource);
      return groupOf(original);
    }
    // Unmapped lines: a bundler's runtime helpers, or a compiler's preamble in a single-file map.
    return map.payload.sources.length > 1 ? `${path.relative(ROOT, file)}: bundler runtime helpers` : groupOf(file);
  }
  return groupOf(file);
}

const isUser = (frame) => frame.url.startsWith('file://');
const COMPILE_FRAMES = new Set(['wrapSafe', 'compileFunction', 'compileFunctionForCJSLoader', 'compileSourceTextModule', 'ModuleWrap']);

/** Milliseconds per module group in one profile, for the samples taken before `untilUs` (µs, monotonic). */
function attribute(profile, untilUs = Infinity) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at <= untilUs) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const out = {};
  const add = (group, us) => (out[group] = (out[group] ?? 0) + us / 1000);
  for (const [id, us] of self) {
    const node = byId.get(id);
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') continue;
    if (isUser(frame)) {
      const ticks = node.positionTicks ?? [];
      const total = ticks.reduce((sum, t) => sum + t.ticks, 0);
      if (total === 0) add(groupAt(frame.url, frame.lineNumber, frame.columnNumber), us);
      else for (const t of ticks) add(groupAt(frame.url, t.line - 1, 0), (us * t.ticks) / total);
      continue;
    }
    // Node/V8 code: V8 compiling a script, else the nearest user caller, else Node itself.
    let group = null;
    for (let up = id; up !== undefined && group === null; up = parent.get(up)) {
      const callFrame = byId.get(up).callFrame;
      if (COMPILE_FRAMES.has(callFrame.functionName)) group = 'V8 compile of loaded scripts';
      else if (up !== id && isUser(callFrame)) group = groupAt(callFrame.url, callFrame.lineNumber, callFrame.columnNumber);
    }
    add(group ?? (['(garbage collector)', '(program)'].includes(frame.functionName) ? frame.functionName : 'node: bootstrap and runtime'), us);
  }
  return { groups: out, totalMs: (Math.min(profile.endTime, untilUs) - profile.startTime) / 1000 };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const runs = [];
  const after = [];
  for (let i = 0; i < options.runs + 1; i += 1) {
    const { profile, answeredAtUs } = await profileOnce(options.entry);
    if (i === 0) continue; // the first run warms the page cache
    runs.push(attribute(profile, answeredAtUs));
    const whole = attribute(profile);
    after.push(Object.values(whole.groups).reduce((a, b) => a + b, 0) - Object.values(runs.at(-1).groups).reduce((a, b) => a + b, 0));
  }
  const groups = new Set(runs.flatMap((r) => Object.keys(r.groups)));
  const rows = [...groups].map((g) => ({ group: g, ms: median(runs.map((r) => r.groups[g] ?? 0)) })).sort((a, b) => b.ms - a.ms);
  const width = Math.max(...rows.map((r) => r.group.length), 10);
  process.stdout.write(`start-up CPU profile of ${path.relative(process.cwd(), options.entry)} app-server, from process start to the initialize response; median of ${runs.length} runs (ms)\n`);
  for (const row of rows) if (row.ms >= 0.05) process.stdout.write(`${row.group.padEnd(width)}  ${row.ms.toFixed(1).padStart(6)}\n`);
  process.stdout.write(`${'sum (CPU samples before the answer)'.padEnd(width)}  ${median(runs.map((r) => Object.values(r.groups).reduce((a, b) => a + b, 0))).toFixed(1).padStart(6)}\n`);
  process.stdout.write(`${'profiled wall time, profiler start → answer'.padEnd(width)}  ${median(runs.map((r) => r.totalMs)).toFixed(1).padStart(6)}\n`);
  process.stdout.write(`${'CPU after the answer, until exit (auth core etc.)'.padEnd(width)}  ${median(after).toFixed(1).padStart(6)}\n`);
  process.stdout.write(`Load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; the profiler itself adds overhead: compare groups, not totals.\n`);
}

main().catch((error) => {
  process.stderr.write(`startup-profile: ${error.stack ?? error}\n`);
  process.exit(1);
});

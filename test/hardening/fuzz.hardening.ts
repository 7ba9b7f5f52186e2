/**
 * JSON-RPC fuzz campaign (issue 11): fast-check lines plus a corpus of nasty ones (truncated, huge, deeply
 * nested, invalid UTF-8, NUL, CRLF, batches, ids of every JSON type, `__proto__`, responses with unknown
 * ids, requests before `initialize`), written in bursts to real app-servers over real pipes. Checks:
 * no crash (exit 0 at end of input), exactly one reply per request, nothing but protocol on stdout, a
 * valid request afterwards answered; prints the peak RSS.
 * `account/rateLimits/read` is in (issue 11 defect 1, fixed on main by issue 10): fuzzed, and pipelined
 * with a logout and an apiKey login in one write in the corpus. Every URL points at 127.0.0.1:9 (closed).
 */
import { spawn } from 'node:child_process';
import * as fc from 'fast-check';
import { BIN } from '../support/appServer';
import { trackResources } from '../support/resources';
import { peakRssMiB, printFigures, size } from './campaign';

const PROCESSES = size('fuzz_processes', 3, 4);
const LINES_PER_PROCESS = size('fuzz_lines', 35_000, 60_000);
const SEED = Number(process.env.AUTHCHART_HARDENING_SEED ?? 20261204);

const METHODS = ['account/read', 'account/rateLimits/read', 'account/login/start', 'account/login/cancel', 'account/logout', 'getAuthStatus', 'initialize', 'initialized', 'thread/start', '__proto__', 'constructor', ''];
const ids = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.double(), fc.boolean(), fc.constant(null), fc.constant('__proto__'), fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
const loginParams = fc.oneof(
  fc.record({ type: fc.constant('apiKey'), apiKey: fc.oneof(fc.string(), fc.constant('sk-fuzz-key-000001'), fc.string({ unit: 'binary' })) }),
  fc.record({ type: fc.constant('chatgptAuthTokens'), idToken: fc.string(), accessToken: fc.string() }),
  fc.record({ type: fc.constant('chatgptAuthTokens'), accessToken: fc.string(), chatgptAccountId: fc.string() }),
  fc.record({ type: fc.constant('chatgpt') }),
  fc.record({ type: fc.string() }),
);
const params = fc.oneof(fc.constant(undefined), fc.constant({}), fc.constant(null), loginParams, fc.record({ refreshToken: fc.jsonValue() }), fc.record({ loginId: fc.jsonValue() }), fc.jsonValue({ maxDepth: 3 }));
const message = fc.oneof(
  { weight: 6, arbitrary: fc.record({ id: ids, method: fc.constantFrom(...METHODS), params }, { requiredKeys: ['method'] }) },
  { weight: 1, arbitrary: fc.record({ id: ids, result: fc.jsonValue({ maxDepth: 2 }) }) }, // responses nobody asked for
  { weight: 1, arbitrary: fc.record({ id: ids, error: fc.record({ code: fc.integer(), message: fc.string() }) }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
);
/** One fuzz line: JSON of a message (sometimes with "jsonrpc", CRLF or cut short) or random text. */
const line = fc.oneof(
  { weight: 8, arbitrary: message.map((m) => JSON.stringify(m) ?? 'undefined') },
  { weight: 1, arbitrary: fc.tuple(message, fc.nat()).map(([m, cut]) => { const s = JSON.stringify(m) ?? ''; return s.slice(0, cut % (s.length + 1)); }) },
  { weight: 1, arbitrary: message.map((m) => `${JSON.stringify(m)}\r`) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
);

/** The nasty corpus, as raw bytes (each ends with `\n`). */
function corpus(p: number): Buffer[] {
  const text = (s: string) => Buffer.from(`${s}\n`);
  return [
    text('{"id":1,"method":"account/read"'), // truncated
    text('{"id":"trunc'),
    Buffer.concat([Buffer.from('{"id":"bad-utf8-'), Buffer.from([0xff, 0xc3, 0x28, 0xa0, 0xe2, 0x82]), Buffer.from(`-${p}","method":"account/read","params":{}}\n`)]),
    text('{"id":"nul\u0000","method":"account/read","params":{}}'),
    Buffer.from('{"id":"nul-raw","method":"account/read","params":{}}\u0000\n'),
    Buffer.from(`{"id":"crlf-${p}","method":"account/read","params":{}}\r\n`),
    text('[{"id":1,"method":"account/read"},{"id":2,"method":"account/read"}]'),
    text('[]'),
    text(`{"id":"__proto__","method":"account/read","params":{"__proto__":{"polluted":true}}}`),
    text('{"id":1,"method":"account/read","params":{"constructor":{"prototype":{"polluted":true}}}}'),
    text('{"id":424242,"result":{"accessToken":"x"}}'),
    text('{"id":"nobody-asked","error":{"code":-32603,"message":"no"}}'),
    text('{"jsonrpc":"2.0","id":"rpc2","method":"getAuthStatus","params":{"includeToken":true}}'),
    text('{"id":1e400,"method":"account/read"}'),
    text('{"id":-0,"method":"account/read","params":{}}'),
    text('{"id":12345678901234567890,"method":"account/read","params":{}}'),
    text(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
    text(`${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`),
    text(`{"id":"big-${p}","method":"account/read","params":{"pad":"${'a'.repeat(9 * 1024 * 1024)}"}}`),
    text(`{"id":"over-${p}","method":"account/read","params":{"pad":"${'b'.repeat(10 * 1024 * 1024 + 16)}"}}`), // > 10 MiB: dropped
    text('   '),
    text('\t{"id":"ws","method":"account/read","params":{}}  '),
    text('null'),
    text('"just a string"'),
    text('{"id":"m","method":"account/login/start","params":{"type":"apiKey","apiKey":"sk-\\ud800"}}'),
    // Issue 11 defect 1: a rate-limit read pipelined with a logout or an apiKey login in one write.
    text(`{"id":"rl-${p}","method":"account/rateLimits/read"}\n{"id":"lo-${p}","method":"account/logout"}\n{"id":"rl2-${p}","method":"account/rateLimits/read"}\n{"id":"ak-${p}","method":"account/login/start","params":{"type":"apiKey","apiKey":"sk-fuzz-key-000002"}}`),
  ];
}

/** The id a line's request must be answered with (as JSON text), or null when no reply names an id. */
function expectedId(text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  if (typeof record.method !== 'string' || record.method === '' || !('id' in record)) return null;
  const id = record.id;
  if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) return JSON.stringify(id);
  return null;
}

/** Splits bytes into the lines the server's framing sees (split on \n, one trailing \r stripped, blanks skipped). */
function framedLines(bytes: Buffer): string[] {
  return bytes
    .toString('utf8')
    .split('\n')
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
    .filter((l) => l.trim() !== '' && Buffer.byteLength(l) <= 10 * 1024 * 1024);
}

interface Outcome {
  lines: number;
  requests: number;
  replies: number;
  nullReplies: number;
  badStdout: string[];
  missing: string[];
  duplicated: string[];
  unexpected: string[];
  exit: { code: number | null; signal: string | null };
  peakRss: number | null;
}

async function fuzzOne(p: number, codexHome: string): Promise<Outcome> {
  const child = spawn(process.execPath, [BIN, 'app-server'], {
    env: { ...process.env, CODEX_HOME: codexHome, AUTHCHART_LOG: 'error' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.resume();
  const counts = new Map<string, number>();
  const badStdout: string[] = [];
  let nullReplies = 0;
  let replies = 0;
  let pending = '';
  let finalSeen!: () => void;
  const final = new Promise<void>((resolve) => (finalSeen = resolve));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const out = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(out) as Record<string, unknown>;
      } catch {
        badStdout.push(out.slice(0, 200));
        continue;
      }
      if (typeof m !== 'object' || m === null || !('id' in m || 'method' in m)) badStdout.push(out.slice(0, 200));
      if ('method' in m) continue; // notifications and server requests
      replies += 1;
      if (m.id === null) nullReplies += 1;
      else counts.set(JSON.stringify(m.id), (counts.get(JSON.stringify(m.id)) ?? 0) + 1);
      if (m.id === `final-${p}`) finalSeen();
    }
  });
  const write = (bytes: Buffer) => (child.stdin.write(bytes) ? Promise.resolve() : new Promise<void>((resolve) => child.stdin.once('drain', () => resolve())));

  const expected = new Map<string, number>();
  let lines = 0;
  const feed = async (bytes: Buffer) => {
    for (const framed of framedLines(bytes)) {
      lines += 1;
      const id = expectedId(framed);
      if (id !== null) expected.set(id, (expected.get(id) ?? 0) + 1);
    }
    await write(bytes);
  };
  // Requests before initialize, then the handshake, then bursts of fuzz with the corpus spread through them.
  await feed(Buffer.from(`{"id":"early-${p}","method":"account/read","params":{}}\n{"method":"initialized"}\n{"id":"early2-${p}","method":"thread/start"}\n`));
  await feed(Buffer.from(`{"id":"init-${p}","method":"initialize","params":{"clientInfo":{"name":"fuzz","version":"1"}}}\n`));
  const generated = fc.sample(line, { numRuns: LINES_PER_PROCESS, seed: SEED + p });
  const nasty = corpus(p);
  const burst = 200;
  for (let i = 0; i < generated.length; i += burst) {
    const chunk = generated.slice(i, i + burst).map((l) => l.replace(/\n/g, ' '));
    const parts: Buffer[] = [Buffer.from(`${chunk.join('\n')}\n`)];
    const pick = nasty[(i / burst) % nasty.length];
    if ((i / burst) % 7 === 0 || pick.length < 100_000) parts.push(pick);
    await feed(Buffer.concat(parts));
  }
  for (const bytes of nasty) await feed(bytes);
  await feed(Buffer.from(`{"id":"final-${p}","method":"account/read","params":{}}\n`));
  await final;
  const peakRss = peakRssMiB(child.pid ?? 0);
  child.stdin.end();
  const exit = await exited;

  const missing: string[] = [];
  const duplicated: string[] = [];
  const unexpected: string[] = [];
  for (const [id, n] of expected) {
    const got = counts.get(id) ?? 0;
    if (got < n) missing.push(id);
    if (got > n) duplicated.push(id);
  }
  for (const id of counts.keys()) if (!expected.has(id)) unexpected.push(id);
  const requests = [...expected.values()].reduce((a, b) => a + b, 0);
  return { lines, requests, replies, nullReplies, badStdout, missing, duplicated, unexpected, exit, peakRss };
}

describe('JSON-RPC fuzz campaign', () => {
  const own = trackResources();

  it(`${PROCESSES} app-servers × ${LINES_PER_PROCESS} fuzz lines: no crash, one reply per request, protocol only on stdout`, async () => {
    const toml = 'chatgpt_base_url = "http://127.0.0.1:9/backend-api/"\n[authchart]\nlogin_port = 0\nissuer = "http://127.0.0.1:9"\ntoken_url = "http://127.0.0.1:9/oauth/token"\n';
    const outcomes: Outcome[] = [];
    // Two at a time: the machine has two cores.
    for (let p = 0; p < PROCESSES; p += 2) {
      const batch = Array.from({ length: Math.min(2, PROCESSES - p) }, (_, k) => fuzzOne(p + k, own.home(toml).dir));
      outcomes.push(...(await Promise.all(batch)));
    }
    printFigures('JSON-RPC fuzz', {
      seed: SEED,
      processes: PROCESSES,
      'lines written': outcomes.reduce((a, o) => a + o.lines, 0),
      'requests (replies expected)': outcomes.reduce((a, o) => a + o.requests, 0),
      'replies with id null (bad lines)': outcomes.reduce((a, o) => a + o.nullReplies, 0),
      crashes: outcomes.filter((o) => o.exit.code !== 0).length,
      'peak RSS MiB per process': outcomes.map((o) => o.peakRss),
    });
    for (const o of outcomes) {
      expect({ exit: o.exit, badStdout: o.badStdout, missing: o.missing, duplicated: o.duplicated, unexpected: o.unexpected }).toEqual({
        exit: { code: 0, signal: null },
        badStdout: [],
        missing: [],
        duplicated: [],
        unexpected: [],
      });
    }
    expect(outcomes.reduce((a, o) => a + o.lines, 0)).toBeGreaterThanOrEqual(PROCESSES >= 3 && LINES_PER_PROCESS >= 35_000 ? 100_000 : 0);
  });
});

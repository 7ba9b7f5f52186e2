/**
 * Store corpus campaign (issue 11): auth.json in every shape a home directory can hold it (contents,
 * types, sizes, encodings, links, FIFOs, devices, directories, permissions), read by the real app-server,
 * as root and, for the permission cases, as `nobody` (setpriv) where the machine allows. Each case: a
 * clear message naming the file, the files untouched (nothing asked for a write), the process serving on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess, BIN, loopbackBackend } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';
import { printFigures } from './campaign';

type Expect = { account: 'apiKey' | 'chatgpt' | null; reason?: string; warning?: string } | 'any';

interface Case {
  name: string;
  /** Makes auth.json (at `file`) in `home`; `outside` is a directory outside CODEX_HOME. */
  make(file: string, home: string, outside: string): void;
  expect: Expect;
  /** Run the app-server as nobody (the home is chowned to it first). */
  asNobody?: boolean;
}

const apiKeyJson = JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-corpus-key-000001' });
const chatgptJson = JSON.stringify({
  auth_mode: 'chatgpt',
  tokens: { id_token: chatgptJwt({ email: 'ada@example.com', plan: 'plus', accountId: 'ws-1' }), access_token: chatgptJwt({ exp: 4102444800 }), refresh_token: 'rt_corpus', account_id: 'ws-1' },
  last_refresh: '2026-01-01T00:00:00.000Z',
});
const write = (content: string | Buffer) => (file: string) => writeFileSync(file, content);
const corrupt = (reason: string): Expect => ({ account: null, reason });
const API: Expect = { account: 'apiKey' };
const NOBODY = 65534;

const CASES: Case[] = [
  { name: 'a valid API key', make: write(apiKeyJson), expect: API },
  { name: 'valid ChatGPT tokens', make: write(chatgptJson), expect: { account: 'chatgpt' } },
  { name: 'an empty file', make: write(''), expect: corrupt('not valid JSON') },
  { name: 'whitespace only', make: write('  \n\t\n'), expect: corrupt('not valid JSON') },
  { name: 'null', make: write('null'), expect: corrupt('the top level must be a JSON object') },
  { name: 'an array', make: write('[]'), expect: corrupt('the top level must be a JSON object') },
  { name: 'a string', make: write('"sk-abc"'), expect: corrupt('the top level must be a JSON object') },
  { name: 'an empty object', make: write('{}'), expect: { account: null } },
  { name: 'a numeric key', make: write('{"OPENAI_API_KEY":42}'), expect: corrupt('OPENAI_API_KEY must be a string or null') },
  { name: 'an unknown auth_mode', make: write('{"auth_mode":"weird"}'), expect: corrupt('auth_mode must be "apikey" or "chatgpt"') },
  { name: 'apikey mode without a key', make: write('{"auth_mode":"apikey"}'), expect: corrupt('OPENAI_API_KEY is missing') },
  { name: 'tokens that are a string', make: write('{"auth_mode":"chatgpt","tokens":"x"}'), expect: corrupt('tokens must be an object') },
  { name: 'tokens without an id token', make: write('{"tokens":{"access_token":"a","refresh_token":"r"}}'), expect: corrupt('tokens.id_token must be a non-empty string') },
  { name: 'an id token that is no JWT', make: write('{"tokens":{"id_token":"x","access_token":"a","refresh_token":"r"}}'), expect: corrupt('tokens.id_token is not a valid JWT') },
  { name: 'a bad last_refresh', make: write(chatgptJson.replace('2026-01-01T00:00:00.000Z', 'yesterday')), expect: corrupt('last_refresh must be an RFC 3339 date string') },
  { name: 'a truncated file', make: write(apiKeyJson.slice(0, 20)), expect: corrupt('not valid JSON') },
  { name: 'trailing garbage', make: write(`${apiKeyJson} trailing`), expect: corrupt('not valid JSON') },
  { name: 'deeply nested arrays', make: write(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), expect: corrupt('the top level must be a JSON object') },
  { name: 'a __proto__ member', make: write('{"__proto__":{"OPENAI_API_KEY":"sk-proto"}}'), expect: 'any' },
  { name: 'duplicate members', make: write('{"OPENAI_API_KEY":"sk-first-0001","OPENAI_API_KEY":"sk-second-0001"}'), expect: API },
  { name: 'a 500 KB key', make: write(JSON.stringify({ OPENAI_API_KEY: `sk-${'a'.repeat(500_000)}` })), expect: API },
  { name: 'a UTF-8 BOM', make: write(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(apiKeyJson)])), expect: 'any' },
  { name: 'UTF-16LE text', make: write(Buffer.from(apiKeyJson, 'utf16le')), expect: corrupt('not valid JSON') },
  { name: 'a Latin-1 byte', make: write(Buffer.from('{"OPENAI_API_KEY":"sk-caf\xe9-0001"}', 'latin1')), expect: corrupt('not valid UTF-8 text') },
  { name: 'an overlong UTF-8 sequence', make: write(Buffer.concat([Buffer.from('{"OPENAI_API_KEY":"sk-'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])), expect: corrupt('not valid UTF-8 text') },
  { name: 'a NUL byte', make: write('{"OPENAI_API_KEY":"sk-\u0000-0001"}'), expect: corrupt('not valid JSON') },
  { name: 'CRLF line ends', make: write('{\r\n"OPENAI_API_KEY": "sk-crlf-0001"\r\n}\r\n'), expect: API },
  { name: 'exactly 1 MiB', make: write(apiKeyJson.padEnd(1024 * 1024, ' ')), expect: API },
  { name: '1 MiB and a byte', make: write(apiKeyJson.padEnd(1024 * 1024 + 1, ' ')), expect: corrupt('larger than 1048576 bytes') },
  { name: '60 MB (sparse)', make: (f) => (writeFileSync(f, '{}'), truncateSync(f, 60_000_000)), expect: corrupt('larger than 1048576 bytes') },
  { name: '1 GiB (sparse)', make: (f) => (writeFileSync(f, '{}'), truncateSync(f, 2 ** 30)), expect: corrupt('larger than 1048576 bytes') },
  { name: 'a FIFO', make: (f) => execFileSync('mkfifo', [f]), expect: corrupt('a FIFO (named pipe), not a regular file') },
  { name: 'a directory', make: (f) => mkdirSync(f), expect: corrupt('a directory, not a regular file') },
  {
    name: 'a unix socket',
    make: (f) => execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', f]),
    expect: corrupt('a socket, not a regular file'),
  },
  { name: 'a link to /dev/zero', make: (f) => symlinkSync('/dev/zero', f), expect: corrupt('a character device, not a regular file') },
  { name: 'a link to /dev/null', make: (f) => symlinkSync('/dev/null', f), expect: corrupt('a character device, not a regular file') },
  { name: 'a link to /dev/urandom', make: (f) => symlinkSync('/dev/urandom', f), expect: corrupt('a character device, not a regular file') },
  { name: 'a dangling link', make: (f) => symlinkSync('/nonexistent/auth.json', f), expect: { account: null } },
  { name: 'a link to itself', make: (f) => symlinkSync(f, f), expect: corrupt('a symbolic link that loops') },
  { name: 'a link to a directory', make: (f, _h, out) => symlinkSync(out, f), expect: corrupt('a directory, not a regular file') },
  { name: 'a link to a valid file elsewhere', make: (f, _h, out) => (writeFileSync(path.join(out, 'a.json'), apiKeyJson), symlinkSync(path.join(out, 'a.json'), f)), expect: API },
  { name: 'a link to a FIFO elsewhere', make: (f, _h, out) => (execFileSync('mkfifo', [path.join(out, 'p')]), symlinkSync(path.join(out, 'p'), f)), expect: corrupt('a FIFO') },
  {
    name: 'mode 0644',
    make: (f) => (writeFileSync(f, apiKeyJson), chmodSync(f, 0o644)),
    expect: { account: 'apiKey', warning: 'can be read by other users (mode 0644)' },
  },
  { name: 'mode 0000 (root reads it anyway)', make: (f) => (writeFileSync(f, apiKeyJson), chmodSync(f, 0)), expect: 'any' },
  { name: 'owned by root, 0600 (as nobody)', asNobody: true, make: (f) => (writeFileSync(f, apiKeyJson), chmodSync(f, 0o600), chownSync(f, 0, 0)), expect: corrupt('cannot read it (EACCES)') },
  { name: 'mode 0000, own (as nobody)', asNobody: true, make: (f) => (writeFileSync(f, apiKeyJson), chownSync(f, NOBODY, NOBODY), chmodSync(f, 0)), expect: corrupt('cannot read it (EACCES)') },
  {
    name: 'in a home nobody can list (as nobody)',
    asNobody: true,
    make: (f, home) => (writeFileSync(f, apiKeyJson), chownSync(f, NOBODY, NOBODY), chmodSync(f, 0o600), chmodSync(home, 0o300)),
    expect: API,
  },
  {
    name: "beside a dead writer's temp file of another user (as nobody)",
    asNobody: true,
    make: (f, home) => (writeFileSync(f, apiKeyJson), chownSync(f, NOBODY, NOBODY), chmodSync(f, 0o600), writeFileSync(path.join(home, 'auth.json.tmp-999999-deadbeef'), 'root owns this')),
    expect: API,
  },
  {
    name: 'in a home owned by root (as nobody)',
    asNobody: true,
    make: (f, home) => (writeFileSync(f, apiKeyJson), chmodSync(f, 0o644), chownSync(home, 0, 0), chmodSync(home, 0o755)),
    expect: { account: 'apiKey', warning: 'can be read by other users (mode 0644)' },
  },
];

/** Everything observable about a tree (links not followed; big files by size and mtime only). */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const s = lstatSync(file);
    let digest = '';
    if (s.isFile() && s.size < 4 * 1024 * 1024) digest = createHash('sha256').update(readFileSync(file)).digest('hex');
    out.push(`${name} ino=${s.ino} mode=${s.mode.toString(8)} uid=${s.uid} size=${s.size} mtime=${s.mtimeMs} ${digest}`);
    if (s.isDirectory() && !s.isSymbolicLink()) out.push(...snapshot(file).map((l) => `${name}/${l}`));
  }
  return out;
}

const canSwitchUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, '--version']).status === 0;

async function runCase(c: Case, own: ReturnType<typeof trackResources>): Promise<string[]> {
  // A ChatGPT login's discovery goes to a loopback port nothing listens on.
  const home = own.home(loopbackBackend()).dir;
  const outside = own.home().dir;
  const file = path.join(home, 'auth.json');
  if (c.asNobody) chownSync(home, NOBODY, NOBODY);
  c.make(file, home, outside);
  const before = [...snapshot(home), ...snapshot(outside)];
  const server = c.asNobody
    ? AppServerProcess.spawnCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'app-server'], home)
    : AppServerProcess.spawn({ codexHome: home });
  const problems: string[] = [];
  try {
    await server.initialize();
    const read = await server.request('account/read', {});
    const status = await server.request('getAuthStatus', {});
    if (!read.result || !status.result) problems.push(`not served: ${JSON.stringify([read, status])}`);
    const account = read.result?.account?.type ?? null;
    if (c.expect !== 'any') {
      if (account !== c.expect.account) problems.push(`account ${account}, expected ${c.expect.account}`);
      if (c.expect.reason && !server.stderr.includes(`ignoring the saved credentials at ${file}: `)) problems.push(`no message naming ${file}: ${server.stderr}`);
      if (c.expect.reason && !server.stderr.includes(c.expect.reason)) problems.push(`message lacks "${c.expect.reason}": ${server.stderr}`);
      if (c.expect.warning && !server.stderr.includes(c.expect.warning)) problems.push(`no warning "${c.expect.warning}"`);
      if (!c.expect.reason && server.stderr.includes('ignoring the saved credentials')) problems.push(`unexpected complaint: ${server.stderr}`);
    }
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    if (exit.code !== 0) problems.push(`exit ${JSON.stringify(exit)}`);
  } catch (error) {
    problems.push(String(error));
  } finally {
    server.kill();
  }
  if (existsSync(home)) chmodSync(home, 0o700);
  const after = [...snapshot(home), ...snapshot(outside)];
  if (JSON.stringify(after) !== JSON.stringify(before)) problems.push(`files changed:\n${before.join('\n')}\n→\n${after.join('\n')}`);
  return problems.map((p) => `${c.name}: ${p}`);
}

describe('store corpus campaign', () => {
  const own = trackResources();

  it(`${CASES.length} shapes of auth.json: a clear message naming the file, files untouched, still serving`, async () => {
    const cases = CASES.filter((c) => !c.asNobody || canSwitchUser);
    const problems: string[] = [];
    for (let i = 0; i < cases.length; i += 2) {
      const results = await Promise.all(cases.slice(i, i + 2).map((c) => runCase(c, own)));
      problems.push(...results.flat());
    }
    printFigures('store corpus', {
      cases: cases.length,
      'as nobody': canSwitchUser ? cases.filter((c) => c.asNobody).length : 'skipped (not root, or setpriv cannot switch)',
      problems: problems.length,
    });
    expect(problems).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
});

/**
 * Regression tests of issue 11's store defects, each over the real bin with real files in a temp
 * CODEX_HOME: links (defect 2), special and huge files and signals (defect 3), leftovers of a killed
 * writer (defect 6), a world-readable auth.json and an API key that is not UTF-8 (defect 7).
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { AppServerProcess } from '../support/appServer';
import { trackResources } from '../support/resources';

const resources = trackResources();

async function serve(codexHome: string): Promise<AppServerProcess> {
  return resources.process(await AppServerProcess.started({ codexHome }));
}

/** The pid of a process that has exited (spawned and waited for). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

const apiKeyLogin = { type: 'apiKey', apiKey: 'sk-regression-key-0001' };

describe('defect 2: writing through a symlink', () => {
  it('never writes credentials through an auth.json link to a file outside CODEX_HOME, and says what to do', async () => {
    const home = resources.home();
    const outside = resources.home();
    const notes = path.join(outside.dir, 'notes.txt');
    writeFileSync(notes, 'my notes\n');
    chmodSync(notes, 0o644);
    const link = path.join(home.dir, 'auth.json');
    symlinkSync(notes, link);
    const server = await serve(home.dir);
    const response = await server.request('account/login/start', apiKeyLogin);
    expect(response.error.code).toBe(-32603);
    expect(response.error.message).toContain(`${link} is a symbolic link to ${notes}, outside ${home.dir}`);
    expect(response.error.message).toContain(`Remove the link (rm ${link})`);
    expect(response.error.message).not.toContain(apiKeyLogin.apiKey);
    expect(readFileSync(notes, 'utf8')).toBe('my notes\n');
    expect(statSync(notes).mode & 0o777).toBe(0o644);
    expect(readlinkSync(link)).toBe(notes);
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });

  it('writes through a link whose target stays in CODEX_HOME, keeping the link', async () => {
    const home = resources.home();
    const real = path.join(home.dir, 'auth.real.json');
    writeFileSync(real, JSON.stringify({ OPENAI_API_KEY: 'sk-old-key-value' }), { mode: 0o600 });
    symlinkSync('auth.real.json', path.join(home.dir, 'auth.json'));
    const server = await serve(home.dir);
    expect((await server.request('account/login/start', apiKeyLogin)).result).toEqual({ type: 'apiKey' });
    expect(lstatSync(path.join(home.dir, 'auth.json')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(real, 'utf8')).OPENAI_API_KEY).toBe(apiKeyLogin.apiKey);
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  it('does not chmod a CODEX_HOME that is a link to a directory it did not create: it warns with the fix', async () => {
    const base = resources.home();
    const target = path.join(base.dir, 'shared');
    mkdirSync(target);
    chmodSync(target, 0o755);
    const link = path.join(base.dir, 'codex-home');
    symlinkSync(target, link);
    const server = await serve(link);
    expect((await server.request('account/login/start', apiKeyLogin)).result).toEqual({ type: 'apiKey' });
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(target, 'auth.json')).mode & 0o777).toBe(0o600);
    expect(server.stderr).toContain(`CODEX_HOME ${link} is a symbolic link to ${target}`);
    expect(server.stderr).toContain(`chmod 700 ${target}`);
  });
});

describe('defect 3: special and huge files', () => {
  it.each([
    ['a FIFO', (file: string) => spawnSync('mkfifo', [file]), 'a FIFO (named pipe), not a regular file'],
    ['a link to /dev/zero', (file: string) => symlinkSync('/dev/zero', file), 'a character device, not a regular file'],
    ['a directory', (file: string) => mkdirSync(file), 'a directory, not a regular file'],
    ['a 60 MB file', (file: string) => (writeFileSync(file, '{}'), truncateSync(file, 60_000_000)), 'larger than 1048576 bytes (60000000 bytes)'],
    ['not UTF-8', (file: string) => writeFileSync(file, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 'not valid UTF-8 text'],
  ])('reads an auth.json that is %s as logged out, names the file and keeps serving', async (_what, make, reason) => {
    const home = resources.home();
    const file = path.join(home.dir, 'auth.json');
    make(file);
    const before = lstatSync(file);
    const server = await serve(home.dir);
    expect((await server.request('account/read', {})).result).toMatchObject({ account: null, requiresOpenaiAuth: true });
    expect(server.stderr).toContain(`ignoring the saved credentials at ${file}: it is ${reason}`);
    expect((await server.request('getAuthStatus', {})).result.authMethod).toBeNull();
    const after = lstatSync(file);
    expect([after.ino, after.mode, after.size]).toEqual([before.ino, before.mode, before.size]);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s ends the app-server even while auth.json is a FIFO', async (signal) => {
    const home = resources.home();
    spawnSync('mkfifo', [path.join(home.dir, 'auth.json')]);
    const server = await serve(home.dir);
    await server.request('account/read', {});
    server.child.kill(signal);
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM right after a login leaves auth.json absent or whole, 0600', async () => {
    const home = resources.home();
    const server = await serve(home.dir);
    server.send({ id: 7, method: 'account/login/start', params: apiKeyLogin });
    server.child.kill('SIGTERM');
    expect((await server.exited).signal).toBeNull();
    const file = path.join(home.dir, 'auth.json');
    if (existsSync(file)) {
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ auth_mode: 'apikey', OPENAI_API_KEY: apiKeyLogin.apiKey });
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
    expect(readdirSync(home.dir).filter((name) => name.startsWith('auth.json.tmp-'))).toEqual([]);
  });
});

describe('defect 6: leftovers after kill -9', () => {
  it('removes the temp files of a dead writer on the next start, and legacy ones on the next save; keeps others', async () => {
    const home = resources.home();
    const dead = deadPid();
    const ours = `auth.json.tmp-${dead}-0badf00d`;
    const live = `auth.json.tmp-${process.pid}-00c0ffee`; // this test process is alive: not a leftover
    const legacy = 'auth.json.3735928559'; // write-file-atomic's name, used by earlier versions
    for (const name of [ours, live, legacy]) writeFileSync(path.join(home.dir, name), '{"OPENAI_API_KEY":"sk-leftover-key"}');
    writeFileSync(path.join(home.dir, 'notes.auth.json.tmp-1-00000000'), 'not ours');
    const server = await serve(home.dir);
    await server.request('account/read', {});
    expect(readdirSync(home.dir).sort()).toEqual([legacy, live, 'notes.auth.json.tmp-1-00000000'].sort());
    expect(server.stderr).toContain(`removed 1 temp file(s) an interrupted save left in ${home.dir}: ${ours}`);
    await server.request('account/login/start', apiKeyLogin);
    expect(readdirSync(home.dir).sort()).toEqual(['auth.json', live, 'notes.auth.json.tmp-1-00000000'].sort());
  });

  it('takes over the lock of a dead holder at once, whatever its mtime says', async () => {
    const home = resources.home();
    const lock = path.join(home.dir, 'auth.json.lock');
    mkdirSync(lock);
    writeFileSync(path.join(lock, 'holder'), `${deadPid()} ${hostname()}\n`);
    const future = new Date(Date.now() + 3_600_000); // never stale by mtime: only the holder check frees it
    utimesSync(lock, future, future);
    const server = await serve(home.dir);
    expect((await server.request('account/login/start', apiKeyLogin)).result).toEqual({ type: 'apiKey' });
    expect(existsSync(lock)).toBe(false);
    expect(server.stderr).toMatch(/took over the lock .*auth\.json\.lock: its holder, process \d+, no longer runs/);
  });
});

describe('defect 7: a world-readable auth.json, an API key that is not UTF-8', () => {
  it('warns once about an auth.json of mode 0644 with the fix, and rewrites it 0600 on the next save', async () => {
    const home = resources.home();
    const file = path.join(home.dir, 'auth.json');
    writeFileSync(file, JSON.stringify({ OPENAI_API_KEY: 'sk-old-key-value' }));
    chmodSync(file, 0o644);
    const server = await serve(home.dir);
    expect((await server.request('account/read', {})).result.account).toEqual({ type: 'apiKey' });
    const warning = `${file} can be read by other users (mode 0644); it holds credentials. Run: chmod 600 ${file}`;
    expect(server.stderr.split(warning).length - 1).toBe(1);
    expect(statSync(file).mode & 0o777).toBe(0o644); // reading never changes it
    await server.request('account/login/start', apiKeyLogin);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(server.stderr.split(warning).length - 1).toBe(1);
  });

  it('refuses an API key holding bytes that are not UTF-8 with -32602, saving nothing', async () => {
    const home = resources.home();
    const server = await serve(home.dir);
    const line = Buffer.concat([
      Buffer.from('{"id":"k","method":"account/login/start","params":{"type":"apiKey","apiKey":"sk-abc'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('def"}}\n'),
    ]);
    server.child.stdin.write(line);
    const answer = await server.waitFor((m) => m.id === 'k', 'the answer to the login');
    expect(answer).toEqual({
      id: 'k',
      error: {
        code: -32602,
        message:
          'Invalid params for account/login/start: apiKey: apiKey holds bytes that are not valid UTF-8 (read as U+FFFD); send the key as UTF-8 text, exactly as issued',
      },
    });
    expect(existsSync(path.join(home.dir, 'auth.json'))).toBe(false);
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });
});

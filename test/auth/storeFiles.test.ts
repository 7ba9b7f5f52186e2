/** The file-system side of auth.json (issue 11): bounded regular reads, link-safe atomic writes, leftovers. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_AUTH_FILE_BYTES, StoreFileError, readAuthFile, removeLeftovers, writeFileAtomically, writeTarget } from '../../src/auth/storeFiles';

describe('store files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'authchart-storefiles-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a regular file with its mode, and refuses a FIFO without opening it', async () => {
    const file = path.join(dir, 'auth.json');
    writeFileSync(file, '{"a":1}', { mode: 0o640 });
    expect(await readAuthFile(file)).toEqual({ status: 'ok', text: '{"a":1}', mode: 0o640, uid: statSync(file).uid });
    rmSync(file);
    execFileSync('mkfifo', [file]);
    expect(await readAuthFile(file)).toMatchObject({ status: 'unreadable', reason: expect.stringMatching(/^it is a FIFO \(named pipe\), not a regular file/) });
    expect(await readAuthFile(path.join(dir, 'missing'))).toEqual({ status: 'missing' });
  });

  it('caps the size at MAX_AUTH_FILE_BYTES', async () => {
    const file = path.join(dir, 'auth.json');
    writeFileSync(file, ' '.repeat(MAX_AUTH_FILE_BYTES + 1));
    expect(await readAuthFile(file)).toMatchObject({ status: 'unreadable', reason: expect.stringContaining('larger than 1048576 bytes') });
  });

  it('writes atomically, 0600, and refuses a link that leaves the directory', async () => {
    const file = path.join(dir, 'auth.json');
    await writeFileAtomically(file, 'one');
    expect(readFileSync(file, 'utf8')).toBe('one');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['auth.json']);
    rmSync(file);
    symlinkSync('/etc/hostname', file);
    await expect(writeTarget(dir, file)).rejects.toThrow(StoreFileError);
    rmSync(file);
    symlinkSync('real.json', file);
    expect(await writeTarget(dir, file)).toBe(path.join(dir, 'real.json'));
  });

  it("removes a dead writer's temp files by name; a live writer's and other names stay", async () => {
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    for (const name of [`auth.json.tmp-${dead}-0badf00d`, `auth.json.tmp-${process.pid}-00c0ffee`, 'auth.json.12345', 'other.tmp-1-00000000']) {
      writeFileSync(path.join(dir, name), 'x');
    }
    expect(await removeLeftovers(dir, 'auth.json', { holdingLock: false })).toEqual([`auth.json.tmp-${dead}-0badf00d`]);
    expect(await removeLeftovers(dir, 'auth.json', { holdingLock: true })).toEqual(['auth.json.12345']);
    expect(readdirSync(dir).sort()).toEqual([`auth.json.tmp-${process.pid}-00c0ffee`, 'other.tmp-1-00000000']);
  });
});

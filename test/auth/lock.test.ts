/** The store lock (docs/protocol.md §6 "Across processes"): exclusive, bounded, recovers a dead holder's lock. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lock } from 'proper-lockfile';
import { LOCK_HOLDER_FILE, StoreLockError, withFileLock } from '../../src/auth/lock';

describe('store lock', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'authchart-lock-'));
    file = path.join(dir, 'auth.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lets one holder in at a time', async () => {
    const order: string[] = [];
    let leaveFirst!: () => void;
    const firstInside = new Promise<void>((resolve) => {
      void withFileLock(file, async () => {
        order.push('first in');
        resolve();
        await new Promise<void>((release) => (leaveFirst = release));
        order.push('first out');
      });
    });
    await firstInside;
    const second = withFileLock(file, async () => {
      order.push('second in');
    });
    leaveFirst();
    await second;
    expect(order).toEqual(['first in', 'first out', 'second in']);
  });

  it('gives up after its bound with a message naming the lock and the fix', async () => {
    const release = await lock(file, { realpath: false }); // a live holder (it keeps the lock fresh)
    try {
      const error = await withFileLock(file, async () => 'never', { timeoutMs: 200 }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(StoreLockError);
      expect((error as Error).message).toBe(
        `could not lock ${file} within 0.2s: another authchart or Codex process holds ${file}.lock. If none is running, remove ${file}.lock and retry.`,
      );
    } finally {
      await release();
    }
  });

  it('takes over a lock whose holder died', async () => {
    mkdirSync(`${file}.lock`);
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(`${file}.lock`, longAgo, longAgo);
    expect(await withFileLock(file, async () => 'inside', { timeoutMs: 1_000 })).toBe('inside');
  });

  it('names its holder inside the lock while held, and leaves nothing behind', async () => {
    const holder = await withFileLock(file, async () => readFileSync(path.join(`${file}.lock`, LOCK_HOLDER_FILE), 'utf8'));
    expect(holder).toBe(`${process.pid} ${os.hostname()}\n`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes over at once the lock of a holder of this host that no longer runs, however fresh its mtime', async () => {
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    mkdirSync(`${file}.lock`);
    writeFileSync(path.join(`${file}.lock`, LOCK_HOLDER_FILE), `${dead} ${os.hostname()}\n`);
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(`${file}.lock`, future, future);
    expect(await withFileLock(file, async () => 'inside', { timeoutMs: 1_000 })).toBe('inside');
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('waits for a live holder named in the lock (this process, in another caller)', async () => {
    mkdirSync(`${file}.lock`);
    writeFileSync(path.join(`${file}.lock`, LOCK_HOLDER_FILE), `${process.pid} ${os.hostname()}\n`);
    const error = await withFileLock(file, async () => 'never', { timeoutMs: 200 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(StoreLockError);
  });

  it('leaves a lock of another host to the mtime rule', async () => {
    mkdirSync(`${file}.lock`);
    writeFileSync(path.join(`${file}.lock`, LOCK_HOLDER_FILE), '1 some-other-host\n');
    const error = await withFileLock(file, async () => 'never', { timeoutMs: 200 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(StoreLockError);
  });
});

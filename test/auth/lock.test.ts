/** The store lock (docs/protocol.md §6 "Across processes"): exclusive, bounded, recovers a dead holder's lock. */
import { mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lock } from 'proper-lockfile';
import { StoreLockError, withFileLock } from '../../src/auth/lock';

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
});

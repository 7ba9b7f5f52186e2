/**
 * The cross-process lock on the credential store (docs/protocol.md §6 "Across processes"): two authchart
 * processes sharing one CODEX_HOME must never both spend the same refresh token. `proper-lockfile`
 * creates `<file>.lock` atomically (mkdir) and keeps its mtime fresh while held. Like git's lock files,
 * the lock also says who holds it (`holder`: pid and host), so a lock left by a process that died
 * (kill -9, a crash) is taken over at once by the next process on the same host; a holder that cannot be
 * identified (another host, another program) is judged by the mtime (stale after `staleMs`).
 * Waiting is bounded and ends with a clear error.
 */
import * as fs from 'node:fs';
import { readFile, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { formatSeconds } from '../../machines/policy';
import { silentLogger, type Logger } from '../log';
import { processAlive } from './storeFiles';

/** How long a process waits for the store lock before giving up (15 s). */
export const STORE_LOCK_TIMEOUT_MS = 15_000;
/** A lock not refreshed for this long, whose holder cannot be identified, is taken over (10 s). */
export const STORE_LOCK_STALE_MS = 10_000;
/** The file inside the lock directory naming its holder: `<pid> <hostname>`. */
export const LOCK_HOLDER_FILE = 'holder';

/** The store lock could not be taken; `message` says which file, why, and what to do. */
export class StoreLockError extends Error {
  override readonly name = 'StoreLockError';
}

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  timeoutMs?: number;
  staleMs?: number;
  logger?: Logger;
}

/**
 * The fs proper-lockfile works with. Its lock is made with mkdir: ours is built aside (a directory
 * holding the `holder` file) and renamed into place, so a lock of ours always names its holder, even when
 * the process is killed while taking it. proper-lockfile removes a lock with rmdir, which here removes
 * the `holder` file too. (rename would replace an empty directory: an existing lock is checked for first,
 * and only an older authchart makes empty ones.)
 */
const lockFs = {
  ...fs,
  mkdir: (target: string, callback: (error: NodeJS.ErrnoException | null) => void) => {
    const exists = () => Object.assign(new Error(`EEXIST: ${target} exists`), { code: 'EEXIST' });
    const built = asideName(target, 'new');
    try {
      fs.mkdirSync(built);
      fs.writeFileSync(path.join(built, LOCK_HOLDER_FILE), `${process.pid} ${hostname()}\n`, { mode: 0o600 });
      if (fs.existsSync(target)) throw exists();
      fs.renameSync(built, target);
    } catch (error) {
      fs.rmSync(built, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      callback(code === 'ENOTEMPTY' ? exists() : (error as NodeJS.ErrnoException));
      return;
    }
    callback(null);
  },
  // Renamed aside first: the lock is released at once and whole, never left as an empty, unnamed directory.
  rmdir: (target: string, callback: (error: NodeJS.ErrnoException | null) => void) => {
    const aside = asideName(target, 'gone');
    fs.rename(target, aside, (error) => {
      if (error) {
        callback(error.code === 'ENOENT' ? null : error);
        return;
      }
      fs.rm(aside, { recursive: true, force: true }, () => callback(null));
    });
  },
};

/** A unique name beside the lock for a lock being removed: `<lock>.<why>-<pid>-<random>`. */
function asideName(lockPath: string, why: 'new' | 'gone' | 'dead'): string {
  return `${lockPath}.${why}-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
}

/** Removes what processes killed while removing a lock left beside it (named after a pid that no longer runs). */
async function sweepAsides(lockPath: string): Promise<void> {
  const base = path.basename(lockPath);
  const names = await readdir(path.dirname(lockPath)).catch(() => [] as string[]);
  for (const name of names) {
    const match = /^\.(new|gone|dead)-(\d+)-[0-9a-f]+$/.exec(name.slice(base.length));
    if (!name.startsWith(base) || !match || processAlive(Number(match[2]))) continue;
    await rm(path.join(path.dirname(lockPath), name), { recursive: true, force: true }).catch(() => undefined);
  }
}

async function readHolder(lockPath: string): Promise<{ pid: number; host: string } | null> {
  const text = await readFile(path.join(lockPath, LOCK_HOLDER_FILE), 'utf8').catch(() => null);
  const match = text === null ? null : /^(\d+) (\S+)\n?$/.exec(text);
  return match ? { pid: Number(match[1]), host: match[2] } : null;
}

/**
 * Removes the lock when its recorded holder is a process of this host that no longer runs. The lock is
 * first renamed aside and its holder read again there, so a lock another waiter took in the meantime
 * is put back, not removed. Resolves true when the lock is gone (try again at once).
 */
async function takeOverDeadHolder(lockPath: string, logger: Logger): Promise<boolean> {
  const holder = await readHolder(lockPath);
  if (!holder || holder.host !== hostname() || processAlive(holder.pid)) return false;
  const aside = asideName(lockPath, 'dead');
  try {
    await rename(lockPath, aside);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
  const moved = await readHolder(aside);
  if (moved?.pid !== holder.pid) {
    await rename(aside, lockPath).catch(() => rm(aside, { recursive: true, force: true }));
    return false;
  }
  await rm(aside, { recursive: true, force: true });
  logger.info(`took over the lock ${lockPath}: its holder, process ${holder.pid}, no longer runs`);
  return true;
}

/** Runs `critical` while holding the lock `<file>.lock`; other holders (processes or callers) wait. */
export async function withFileLock<T>(file: string, critical: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? STORE_LOCK_TIMEOUT_MS;
  const logger = options.logger ?? silentLogger;
  const lockPath = `${file}.lock`;
  let release: () => Promise<void>;
  // Loaded on first use (a refresh, a save): proper-lockfile brings graceful-fs, which patches fs when loaded.
  const { lock } = await import('proper-lockfile');
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt += 1) {
    try {
      release = await lock(file, {
        realpath: false, // the file itself may not exist yet
        lockfilePath: lockPath,
        stale: options.staleMs ?? STORE_LOCK_STALE_MS,
        retries: 0, // the loop below waits, checking the holder between tries
        fs: lockFs,
        // The default throws from a timer, which would kill the process.
        onCompromised: (error) => logger.warn(`the lock ${lockPath} was taken over while held: ${error.message}`),
      });
      break;
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      if (err.code !== 'ELOCKED') {
        throw new StoreLockError(`could not lock ${file} (${err.code ?? err.message}); check that ${lockPath} can be created there.`);
      }
      if (await takeOverDeadHolder(lockPath, logger)) continue;
      if (Date.now() >= deadline) {
        throw new StoreLockError(
          `could not lock ${file} within ${formatSeconds(timeoutMs)}: another authchart or Codex process holds ${lockPath}. ` +
            `If none is running, remove ${lockPath} and retry.`,
        );
      }
      // Short, jittered waits: holders keep the lock for one HTTP round trip or one file write.
      await delay(Math.min(50, 5 * 1.5 ** attempt) * (0.5 + Math.random()));
    }
  }
  await sweepAsides(lockPath);
  try {
    return await critical();
  } finally {
    await release().catch((error: Error) => logger.warn(`could not release the lock ${lockPath}: ${error.message}`));
  }
}

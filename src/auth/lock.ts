/**
 * The cross-process lock on the credential store (docs/protocol.md §6 "Across processes"): two authchart
 * processes sharing one CODEX_HOME must never both spend the same refresh token. `proper-lockfile`
 * creates `<file>.lock` atomically (mkdir), keeps its mtime fresh while held, and treats a lock whose
 * holder died (mtime older than `staleMs`) as free. Waiting is bounded and ends with a clear error.
 */
import { formatSeconds } from '../../machines/policy';
import { silentLogger, type Logger } from '../log';

/** How long a process waits for the store lock before giving up (15 s). */
export const STORE_LOCK_TIMEOUT_MS = 15_000;
/** A lock not refreshed for this long belongs to a dead process and is taken over (10 s). */
export const STORE_LOCK_STALE_MS = 10_000;

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

/** Runs `critical` while holding the lock `<file>.lock`; other holders (processes or callers) wait. */
export async function withFileLock<T>(file: string, critical: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? STORE_LOCK_TIMEOUT_MS;
  const logger = options.logger ?? silentLogger;
  const lockPath = `${file}.lock`;
  let release: () => Promise<void>;
  try {
    // Loaded on first use (a refresh): proper-lockfile brings graceful-fs, which patches fs when loaded.
    const { lock } = await import('proper-lockfile');
    release = await lock(file, {
      realpath: false, // the file itself may not exist yet
      lockfilePath: lockPath,
      stale: options.staleMs ?? STORE_LOCK_STALE_MS,
      // Short, jittered waits: refreshes hold the lock for one HTTP round trip. maxRetryTime bounds the total.
      retries: { retries: Math.ceil(timeoutMs / 5) + 10, factor: 1.5, minTimeout: 5, maxTimeout: 50, randomize: true, maxRetryTime: timeoutMs },
      // The default throws from a timer, which would kill the process.
      onCompromised: (error) => logger.warn(`the lock ${lockPath} was taken over while held: ${error.message}`),
    });
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    if (err.code === 'ELOCKED') {
      throw new StoreLockError(
        `could not lock ${file} within ${formatSeconds(timeoutMs)}: another authchart or Codex process holds ${lockPath}. ` +
          `If none is running, remove ${lockPath} and retry.`,
      );
    }
    throw new StoreLockError(`could not lock ${file} (${err.code ?? err.message}); check that ${lockPath} can be created there.`);
  }
  try {
    return await critical();
  } finally {
    await release().catch((error: Error) => logger.warn(`could not release the lock ${lockPath}: ${error.message}`));
  }
}

/**
 * The file-system side of auth.json, done the careful way (as OpenSSH treats key files and git its lock
 * files): read only a regular file of bounded size, never write credentials through a link that leaves
 * CODEX_HOME, write through a temp file named after the writer's pid (so a killed writer's leftover can be
 * told from a live writer's and removed), and never change the mode of a directory authchart did not create.
 *
 * Written here rather than with `write-file-atomic`: that library resolves links (realpath) and writes
 * through them, and names its temp files `<file>.<hash>` without the writer's pid.
 */
import { constants, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import * as path from 'node:path';

/** The largest auth.json authchart reads (1 MiB; a real one is a few KiB). */
export const MAX_AUTH_FILE_BYTES = 1024 * 1024;

/** A refusal about a file of the store; `message` names the file, says what happened and what to do. */
export class StoreFileError extends Error {
  override readonly name = 'StoreFileError';
}

/** What reading the store file gave. `reason` is safe to log: it never holds file contents. */
export type AuthFileRead =
  | { status: 'missing' }
  | { status: 'ok'; text: string; mode: number; uid: number }
  | { status: 'unreadable'; reason: string };

/** Names the kind of a non-regular file, for messages. */
export function describeKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

const notRegular = (stats: Stats) =>
  `it is ${describeKind(stats)}, not a regular file; authchart reads credentials only from a regular file. Remove it (authchart then starts logged out) or replace it with the auth.json of a login`;
const tooBig = (size: number) =>
  `it is larger than ${MAX_AUTH_FILE_BYTES} bytes${size > 0 ? ` (${size} bytes)` : ''}, which no auth.json is; remove it or replace it with the auth.json of a login`;

/**
 * Reads the store file: a regular file (links followed) of at most MAX_AUTH_FILE_BYTES, valid UTF-8.
 * A FIFO, device, socket or directory is never opened for reading, so nothing blocks or streams forever.
 */
export async function readAuthFile(file: string): Promise<AuthFileRead> {
  let before: Stats;
  try {
    before = await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'missing' };
    if (code === 'ELOOP') return { status: 'unreadable', reason: 'it is a symbolic link that loops; remove it' };
    return { status: 'unreadable', reason: `cannot read it (${code ?? (error as Error).message}); check its owner and mode` };
  }
  if (!before.isFile()) return { status: 'unreadable', reason: notRegular(before) };
  if (before.size > MAX_AUTH_FILE_BYTES) return { status: 'unreadable', reason: tooBig(before.size) };
  let handle;
  try {
    // O_NONBLOCK: should the file be swapped for a FIFO between stat and open, open still returns at once.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { status: 'missing' };
    return { status: 'unreadable', reason: `cannot read it (${code ?? (error as Error).message}); check its owner and mode` };
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return { status: 'unreadable', reason: notRegular(stats) };
    let buffer = Buffer.alloc(Math.min(stats.size, MAX_AUTH_FILE_BYTES) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > MAX_AUTH_FILE_BYTES) return { status: 'unreadable', reason: tooBig(0) };
        // The file grew since fstat: read on, up to the cap.
        const bigger = Buffer.alloc(MAX_AUTH_FILE_BYTES + 1);
        buffer.copy(bigger);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return decode(buffer.subarray(0, length), stats);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function decode(bytes: Buffer, stats: Stats): AuthFileRead {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { status: 'ok', text, mode: stats.mode & 0o777, uid: stats.uid };
  } catch {
    return { status: 'unreadable', reason: 'it is not valid UTF-8 text; replace it with the auth.json of a login, or log out to remove it' };
  }
}

/** How a temp file of ours is named: `<base>.tmp-<pid>-<8 hex>`. */
export function tempFileName(base: string): string {
  const random = Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return `${base}.tmp-${process.pid}-${random}`;
}

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Removes temp files a killed writer left beside the store file: ours by name (`<base>.tmp-<pid>-<hex>`,
 * writer dead), regular files owned by this user only. With `holdingLock` (every writer takes the store
 * lock, so none is writing now) also the `<base>.<digits>` files of write-file-atomic, which earlier
 * authchart versions used. Best effort: returns the names removed.
 */
export async function removeLeftovers(dir: string, base: string, options: { holdingLock: boolean }): Promise<string[]> {
  const ours = new RegExp(`^${escapeRegExp(base)}\\.tmp-(\\d+)-[0-9a-f]{8}$`);
  const legacy = new RegExp(`^${escapeRegExp(base)}\\.\\d+$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = ours.exec(name);
    const leftover = match ? Number(match[1]) !== process.pid && !processAlive(Number(match[1])) : options.holdingLock && legacy.test(name);
    if (!leftover) continue;
    const file = path.join(dir, name);
    try {
      const stats = await lstat(file);
      if (!stats.isFile() || (process.getuid && stats.uid !== process.getuid())) continue;
      await unlink(file);
      removed.push(name);
    } catch {
      // Gone already, or not ours to remove.
    }
  }
  return removed;
}

/**
 * Where a write of `file` must go. A symbolic link is followed only when its target stays in `dir`
 * (CODEX_HOME); one that leaves it is refused with what happened and what to do.
 */
export async function writeTarget(dir: string, file: string): Promise<string> {
  let stats: Stats;
  try {
    stats = await lstat(file);
  } catch {
    return file;
  }
  if (!stats.isSymbolicLink()) return file;
  const link = await readlink(file);
  let target: string;
  try {
    target = await realpath(file);
  } catch {
    target = path.resolve(path.dirname(file), link); // a dangling link: where it points
  }
  const home = await realpath(dir).catch(() => path.resolve(dir));
  if (path.dirname(target) === home) return target;
  throw new StoreFileError(
    `${file} is a symbolic link to ${link}, outside ${dir}; authchart never writes credentials through a link to another place ` +
      `(it would overwrite that file). Nothing was written. Remove the link (rm ${file}) and try again, ` +
      'or set CODEX_HOME to the directory that should hold auth.json',
  );
}

/**
 * Writes `text` to `file` atomically with mode 0600: a temp file beside it (created exclusively, never
 * through a link), fsync, rename over the file, fsync of the directory. A failure removes the temp file.
 */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
  const write = writeNow(file, text);
  writesInFlight.add(write);
  try {
    await write;
  } finally {
    writesInFlight.delete(write);
  }
}

const writesInFlight = new Set<Promise<void>>();

/** Resolves once no store write of this process is under way (a signal handler waits on it before exiting). */
export async function whenWritesSettled(): Promise<void> {
  while (writesInFlight.size > 0) await Promise.allSettled([...writesInFlight]);
}

async function writeNow(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, tempFileName(path.basename(file)));
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await handle.chmod(0o600); // whatever the umask
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  const dirHandle = await open(dir, constants.O_RDONLY).catch(() => null);
  await dirHandle?.sync().catch(() => undefined);
  await dirHandle?.close().catch(() => undefined);
}

/**
 * Makes sure CODEX_HOME exists before a write. A missing one is created 0700. An existing directory of
 * its own is tightened to 0700 (it holds credentials); one reached through a symbolic link is a directory
 * authchart did not create: its mode is left alone, and `warn` explains when others can read it.
 */
export async function prepareHome(dir: string, warn: (message: string) => void): Promise<void> {
  let stats: Stats;
  try {
    stats = await lstat(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    return;
  }
  if (stats.isSymbolicLink()) {
    const target = await realpath(dir);
    const targetStats = await stat(target);
    if (targetStats.isDirectory() && (targetStats.mode & 0o077) !== 0) {
      warn(
        `CODEX_HOME ${dir} is a symbolic link to ${target}, a directory other users can open (mode ${(targetStats.mode & 0o777).toString(8).padStart(4, '0')}). ` +
          `authchart did not create it and leaves its mode alone; auth.json itself is written 0600. To keep it private, run: chmod 700 ${target}`,
      );
    }
    return;
  }
  if (stats.isDirectory() && (stats.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
}

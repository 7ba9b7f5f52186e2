/**
 * Bounded calls to the OS keyring (PROTOCOL.md §13.3) through `@napi-rs/keyring`, each in a short-lived
 * child process that is killed when it does not answer in time.
 *
 * Why a child process and not the binding in this process: the binding's calls run on libuv's thread
 * pool and its AbortSignal does not interrupt a D-Bus call already under way (measured: a session bus
 * that accepts the connection and never answers keeps `setPassword` pending for good, abort or not).
 * Four such calls would take every pool thread, and with them every `fs` operation of the app-server.
 * A child can be killed; the secret crosses a pipe (stdin/stdout), never argv or the environment.
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import * as path from 'node:path';
import { formatSeconds } from '../../machines/policy';
import { KeyringError } from './keyringError';

export { KeyringError };

/** How long one keyring call may take before the child is killed (5 s). */
export const KEYRING_TIMEOUT_MS = 5_000;

/** Where an entry lives: Codex's `target`, `service` and `account` (the Secret Service `username`). */
export interface KeyringEntryName {
  target: string;
  service: string;
  account: string;
}

/** One operation on an entry. */
export type KeyringOperation = { op: 'get' } | { op: 'set'; secret: string } | { op: 'delete' };


/**
 * The child: reads one request on stdin, runs it with the binding pinned to the Secret Service on Linux
 * (never the kernel keyring, which Codex would not read), writes one JSON answer on stdout.
 */
const CHILD_SCRIPT = `
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const answer = (value) => process.stdout.write(JSON.stringify(value));
  try {
    const request = JSON.parse(input);
    const { AsyncEntry } = require(require.resolve('@napi-rs/keyring', { paths: request.paths }));
    const entry = AsyncEntry.withTarget(request.target, request.service, request.account, { linux: { store: 'secret-service' } });
    if (request.op === 'get') answer({ ok: true, value: await entry.getPassword() });
    else if (request.op === 'set') answer({ ok: true, value: (await entry.setPassword(request.secret), null) });
    else answer({ ok: true, value: await entry.deletePassword() });
  } catch (error) {
    answer({ ok: false, message: String(error && error.message || error) });
  }
});
`;

/**
 * Folders to resolve the binding from: this module's (CommonJS builds; the ESM bundle has no
 * `__dirname`), the running script's real location (bin/authchart.js, also behind a global bin
 * symlink), the cwd.
 */
function resolutionPaths(): string[] {
  const paths: string[] = [];
  if (typeof __dirname === 'string') paths.push(__dirname);
  if (process.argv[1]) {
    const script = path.resolve(process.argv[1]);
    try {
      paths.push(path.dirname(realpathSync(script)));
    } catch {
      paths.push(path.dirname(script));
    }
  }
  paths.push(process.cwd());
  return paths;
}

/** The first line of a binding error, without D-Bus object paths or the rest of a stack. */
function cleanReason(text: string): string {
  const line = text.split('\n')[0].trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line || 'unknown error';
}

/**
 * Runs one keyring operation in a child process, killed after `timeoutMs`. Resolves with the secret
 * (`get`, null = no entry), null (`set`) or whether an entry was removed (`delete`).
 */
export function callKeyring(
  name: KeyringEntryName,
  operation: KeyringOperation,
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string | boolean | null> {
  const timeoutMs = options.timeoutMs ?? KEYRING_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    // ELECTRON_RUN_AS_NODE: a host embedding authchart in Electron has Electron as its execPath.
    const env = { ...(options.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' };
    const child = spawn(process.execPath, ['-e', CHILD_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new KeyringError(`the OS keyring did not answer within ${formatSeconds(timeoutMs)} (is the Secret Service locked or hung?)`)));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.stderr.resume(); // dbus-daemon noise ("Failed to set fd limit") is not ours to show
    child.on('error', (error) => finish(() => reject(new KeyringError(`cannot start the keyring helper process (${error.message})`))));
    child.on('close', (code, signal) =>
      finish(() => {
        let answer: { ok: boolean; value?: string | boolean | null; message?: string };
        try {
          answer = JSON.parse(stdout) as typeof answer;
        } catch {
          return reject(new KeyringError(`the keyring helper process ended without an answer (${signal ?? `exit code ${code}`})`));
        }
        if (answer.ok) resolve(answer.value ?? null);
        else reject(new KeyringError(cleanReason(answer.message ?? '')));
      }),
    );
    child.stdin.on('error', () => undefined); // a child that died early closes its stdin; 'close' reports it
    child.stdin.end(JSON.stringify({ ...name, ...operation, paths: resolutionPaths() }));
  });
}

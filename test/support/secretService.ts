/**
 * A real, private Secret Service for keyring tests: a `dbus-daemon` session bus of our own (no service
 * activation, so nothing else is started behind our back) and an unlocked `gnome-keyring-daemon
 * --components=secrets` on it, both under a temp HOME. Give `env` to the processes under test; check
 * entries with `secret-tool` (libsecret-tools). `.ci/run` installs gnome-keyring, dbus and libsecret-tools.
 *
 * Also the two ways a keyring is missing: no session bus at all (`withoutBus`), and an address where
 * nothing listens (`deadBusAddress`); and a bus that accepts connections and never answers (`hungBus`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** An item as `secret-tool search --all` shows it. */
export interface SecretItem {
  label: string;
  secret: string;
  attributes: Record<string, string>;
}

/** A running private Secret Service. */
export interface SecretService {
  /** Environment for processes that should use it (the session bus address). */
  env: { DBUS_SESSION_BUS_ADDRESS: string };
  /** Items whose attributes include `attributes` (secrets unlocked), oldest first. */
  search(attributes: Record<string, string>): SecretItem[];
  /** Stores an item with exactly these attributes and label, as another program (Codex) would. */
  store(label: string, attributes: Record<string, string>, secret: string): void;
  /** Restarts gnome-keyring without unlocking it: the login keyring exists, locked, and no one can unlock it. */
  lock(): Promise<void>;
  /** Stops the daemons and removes the temp HOME. */
  close(): Promise<void>;
}

/** Waits (event-driven, bounded) until someone owns the Secret Service name on the bus of `env`. */
function secretServiceReady(env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const wait = spawn('gdbus', ['wait', '--session', '--timeout', '15', 'org.freedesktop.secrets'], { env, stdio: 'ignore' });
    wait.once('error', reject);
    wait.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`gnome-keyring-daemon did not start a Secret Service (gdbus wait: ${code})`))));
  });
}

function busConfig(socket: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** `secret-tool` on the given bus, stderr merged into stdout (search prints attributes there); throws when it fails. */
function secretTool(env: NodeJS.ProcessEnv, args: string[], input?: string): string {
  const result = spawnSync('sh', ['-c', 'exec secret-tool "$@" 2>&1', 'secret-tool', ...args], { env, input, encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) throw new Error(`secret-tool ${args[0]} failed (${result.status ?? result.signal}): ${result.stdout}`);
  return result.stdout;
}

/** Parses `secret-tool search --all` output: a `[/path]` line per item, then `key = value` lines. */
function parseSearch(text: string): SecretItem[] {
  const items: SecretItem[] = [];
  let current: SecretItem | null = null;
  for (const line of text.split('\n')) {
    if (/^\[\/.*\]$/.test(line)) {
      current = { label: '', secret: '', attributes: {} };
      items.push(current);
      continue;
    }
    const match = /^([^=]+?) = (.*)$/.exec(line);
    if (!current || !match) continue;
    const [, key, value] = match;
    if (key === 'label') current.label = value;
    else if (key === 'secret') current.secret = value;
    else if (key.startsWith('attribute.')) current.attributes[key.slice('attribute.'.length)] = value;
  }
  return items.sort((a, b) => a.label.localeCompare(b.label));
}

/** Starts a private session bus and an unlocked gnome-keyring on it. */
export async function startSecretService(): Promise<SecretService> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'authchart-keyring-'));
  const runtime = path.join(home, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  const socket = path.join(home, 'bus');
  const config = path.join(home, 'bus.conf');
  writeFileSync(config, busConfig(socket));
  const baseEnv = { ...process.env, HOME: home, XDG_RUNTIME_DIR: runtime, XDG_DATA_HOME: path.join(home, 'data') };
  const bus = spawn('dbus-daemon', ['--nofork', `--config-file=${config}`, '--print-address=1'], { env: baseEnv, stdio: ['ignore', 'pipe', 'ignore'] });
  const children: ChildProcess[] = [bus];
  const close = async () => {
    for (const child of children.reverse()) await stopped(child);
    rmSync(home, { recursive: true, force: true });
  };
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      bus.stdout!.setEncoding('utf8');
      bus.stdout!.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.split('\n')[0].trim());
      });
      bus.once('exit', (code) => reject(new Error(`dbus-daemon exited (${code}) before printing its address`)));
      bus.once('error', reject);
    });
    const env = { ...baseEnv, DBUS_SESSION_BUS_ADDRESS: address };
    const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(keyring);
    keyring.stdin!.end('test-password'); // --unlock reads the login keyring's password on stdin
    await secretServiceReady(env);
    return {
      env: { DBUS_SESSION_BUS_ADDRESS: address },
      search: (attributes) => parseSearch(secretTool(env, ['search', '--all', '--unlock', ...Object.entries(attributes).flat()])),
      store: (label, attributes, secret) => void secretTool(env, ['store', `--label=${label}`, ...Object.entries(attributes).flat()], secret),
      lock: async () => {
        secretTool(env, ['store', '--label=probe', 'authchart-test', 'probe'], 'x'); // the login keyring is on disk
        await stopped(keyring);
        const locked = spawn('gnome-keyring-daemon', ['--foreground', '--components=secrets'], { env, stdio: 'ignore' });
        children.push(locked);
        await secretServiceReady(env);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The environment of a process without any session bus. */
export function withoutBus(): NodeJS.ProcessEnv {
  const { DBUS_SESSION_BUS_ADDRESS: _gone, ...env } = process.env;
  return env;
}

/** A bus address where nothing listens (a socket path that does not exist). */
export function deadBusAddress(): string {
  return `unix:path=${path.join(os.tmpdir(), `authchart-no-bus-${process.pid}-${Date.now()}`)}`;
}

/** A Unix socket that accepts connections and never answers: a hung Secret Service. */
export async function hungBus(): Promise<{ address: string; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authchart-hung-bus-'));
  const socket = path.join(dir, 'bus');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.resume();
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    address: `unix:path=${socket}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads a file or returns null (auth.json checks). */
export function readIfExists(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Test harness: spawns the real `bin/authchart.js app-server` over real pipes and speaks raw NDJSON to
 * it, keeping every stdout line (parsed and raw) and stderr for assertions.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { METHODS } from '../../src/rpc/methods';
import { InitializeResultSchema, NOTIFICATIONS } from '../../src/rpc/schemas';

/** Absolute path of the CLI entry. */
export const BIN = path.resolve(__dirname, '../../bin/authchart.js');

/** A JSON-RPC message as read from stdout. */
export type Msg = Record<string, any>;

/** A fresh CODEX_HOME under the OS temp dir; `cleanup()` removes it. */
export function tempCodexHome(configToml?: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authchart-test-'));
  if (configToml !== undefined) writeFileSync(path.join(dir, 'config.toml'), configToml);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The test spawning a process, for test/support/noNetwork.js's record of refused look-ups. */
function testWhere(): string {
  const state = (globalThis as { expect?: { getState?: () => { testPath?: string; currentTestName?: string } } }).expect?.getState?.();
  return state?.testPath ? `${path.relative(process.cwd(), state.testPath)} › ${state.currentTestName ?? ''}` : '';
}

/**
 * The top of a config.toml: `top` as given, with `chatgpt_base_url` set to a loopback port nothing listens
 * on unless `top` sets it. For tests whose ChatGPT logins are not about the backend: the login's workspace
 * discovery is refused at once on 127.0.0.1 instead of leaving for https://chatgpt.com.
 */
export function loopbackBackend(top = ''): string {
  return /^chatgpt_base_url\s*=/m.test(top) ? top : `chatgpt_base_url = "http://127.0.0.1:1/backend-api/"\n${top}`;
}

export interface SpawnOptions {
  codexHome: string;
  args?: string[];
  env?: Record<string, string | undefined>;
}

type Waiter = { predicate: (m: Msg) => boolean; resolve: (m: Msg) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** A running app-server child process. */
export class AppServerProcess {
  readonly messages: Msg[] = [];
  /** Notifications whose params did not match their schema (tests expect this to stay empty). */
  readonly schemaViolations: Msg[] = [];
  stdoutRaw = '';
  stderr = '';
  private buffer = '';
  private waiters: Waiter[] = [];
  private nextId = 1000;
  private requestHandlers = new Map<string, (params: any, msg: Msg) => unknown | Promise<unknown>>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => {
      for (const waiter of this.waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`app-server exited while waiting; stderr:\n${this.stderr}`));
      }
      this.waiters = [];
    });
  }

  /** Spawns `authchart app-server` with CODEX_HOME set. */
  static spawn(options: SpawnOptions): AppServerProcess {
    const child = spawn(process.execPath, [BIN, 'app-server', ...(options.args ?? [])], {
      env: { ...process.env, CODEX_HOME: options.codexHome, AUTHCHART_LOG: 'debug', AUTHCHART_TEST_WHERE: testWhere(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new AppServerProcess(child);
  }

  /** Spawns `command args` (the bin under another program, e.g. `setpriv` to run as another user) with CODEX_HOME set. */
  static spawnCommand(command: string, args: string[], codexHome: string, env: Record<string, string | undefined> = {}): AppServerProcess {
    const child = spawn(command, args, {
      env: { ...process.env, CODEX_HOME: codexHome, AUTHCHART_LOG: 'debug', AUTHCHART_TEST_WHERE: testWhere(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new AppServerProcess(child);
  }

  /** Spawns and completes the handshake. */
  static async started(options: SpawnOptions): Promise<AppServerProcess> {
    const server = AppServerProcess.spawn(options);
    await server.initialize();
    return server;
  }

  /** Answers server→client requests of `method` with the handler's result (a thrown {code,message} → error). */
  onRequest(method: string, handler: (params: any, msg: Msg) => unknown | Promise<unknown>): void {
    this.requestHandlers.set(method, handler);
  }

  /** Writes one raw line (a newline is added). */
  writeLine(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Writes one message as JSON. */
  send(message: Msg): void {
    this.writeLine(JSON.stringify(message));
  }

  /**
   * Sends a request and resolves with its response message. A successful result must match the
   * method's result schema (as a strict Codex client would check); a mismatch rejects.
   */
  async request(method: string, params?: unknown, id: number | string = this.nextId++): Promise<Msg> {
    const message: Msg = { id, method };
    if (params !== undefined) message.params = params;
    const response = this.waitFor(
      (m) => m.id === id && !('method' in m),
      `response to ${method} (id ${JSON.stringify(id)})`,
      15000,
      this.messages.length,
    );
    this.send(message);
    const answer = await response;
    const schema = method === 'initialize' ? InitializeResultSchema : METHODS[method]?.result;
    if ('result' in answer && schema) {
      const checked = schema.safeParse(answer.result);
      if (!checked.success) throw new Error(`${method} result does not match its schema: ${checked.error.message}`);
    }
    return answer;
  }

  /** The handshake: initialize + initialized. */
  async initialize(name = 'test_client'): Promise<Msg> {
    const response = await this.request('initialize', { clientInfo: { name, title: 'Test', version: '0.0.1' } }, 0);
    this.send({ method: 'initialized' });
    return response;
  }

  /** Resolves with the first message (already received or future) matching the predicate. */
  waitFor(predicate: (m: Msg) => boolean, what = 'a message', timeoutMs = 15000, from = 0): Promise<Msg> {
    const seen = this.messages.slice(from).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`timed out waiting for ${what}; got:\n${this.stdoutRaw}\nstderr:\n${this.stderr}`));
      }, timeoutMs);
      this.waiters.push({ predicate, resolve, reject, timer });
    });
  }

  /** Resolves with the next notification of `method` arriving after `from` messages (schema-checked). */
  async notification(method: string, from = 0): Promise<Msg> {
    const message = await this.waitFor((m) => m.method === method && !('id' in m), `notification ${method}`, 15000, from);
    if (this.schemaViolations.length > 0) throw new Error(`notifications off schema: ${JSON.stringify(this.schemaViolations)}`);
    return message;
  }

  /** Messages after index `from` (notifications and responses as received). */
  since(from: number): Msg[] {
    return this.messages.slice(from);
  }

  /** Closes stdin and waits for the process to exit. */
  async close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin.end();
    return this.exited;
  }

  /** Kills the process if it is still running. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private onStdout(chunk: string): void {
    this.stdoutRaw += chunk;
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      newline = this.buffer.indexOf('\n');
      const message = JSON.parse(line) as Msg; // every stdout line must be JSON: a throw fails the test
      if ('method' in message && !('id' in message)) {
        // Every notification carries its emission time (docs/protocol.md §12.2); checked here, then set aside
        // so that tests compare method and params.
        const stamped = message as Msg & { emittedAtMs?: unknown };
        if (typeof stamped.emittedAtMs !== 'number' || !Number.isInteger(stamped.emittedAtMs) || Math.abs(stamped.emittedAtMs - Date.now()) > 600_000) {
          this.schemaViolations.push(message);
        }
        delete stamped.emittedAtMs;
      }
      this.messages.push(message);
      this.dispatch(message);
    }
  }

  private dispatch(message: Msg): void {
    const notificationSchema = 'method' in message && !('id' in message) ? NOTIFICATIONS[message.method] : undefined;
    if (notificationSchema && !notificationSchema.safeParse(message.params).success) {
      this.schemaViolations.push(message);
    }
    if ('method' in message && 'id' in message) {
      const handler = this.requestHandlers.get(message.method);
      if (handler) {
        Promise.resolve()
          .then(() => handler(message.params, message))
          .then(
            (result) => result !== undefined && this.send({ id: message.id, result }),
            (error: { code?: number; message?: string }) =>
              this.send({ id: message.id, error: { code: error.code ?? -32603, message: error.message ?? String(error) } }),
          );
      }
    }
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(message)) {
        clearTimeout(waiter.timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(message);
      }
    }
  }
}

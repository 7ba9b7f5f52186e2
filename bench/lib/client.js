'use strict';
/**
 * A parent application in miniature: spawns an app-server over pipes and speaks raw NDJSON JSON-RPC to
 * it, recording when each response arrives. Server→client requests are answered by registered handlers.
 * Every wait is bounded; `dispose()` kills the whole process tree the bench started.
 */
const { spawn } = require('node:child_process');
const { processTree } = require('./proc');

/** Thrown when the server did not answer in time or went away. */
class BenchError extends Error {}

class AppServerChild {
  /**
   * @param {{command: string, args: string[], env: Record<string,string>, label?: string}} target
   */
  constructor(target) {
    this.label = target.label ?? target.command;
    this.spawnedAt = process.hrtime.bigint();
    this.child = spawn(target.command, target.args, { env: target.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Map();
    this.notifications = [];
    this.stderrTail = '';
    this.exitInfo = null;
    this.closed = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        for (const waiter of this.pending.values()) waiter.reject(new BenchError(`${this.label} exited (${code ?? signal}) while a request was pending; stderr: ${this.stderrTail}`));
        this.pending.clear();
        resolve(this.exitInfo);
      });
    });
    this.child.once('error', (error) => {
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    });
    let buffer = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk) => {
      buffer += chunk;
      let start = 0;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        this.onLine(buffer.slice(start, newline));
        start = newline + 1;
        newline = buffer.indexOf('\n', start);
      }
      buffer = buffer.slice(start);
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    // A server that dies mid-write must not crash the bench with EPIPE.
    this.child.stdin.on('error', () => {});
  }

  get pid() {
    return this.child.pid;
  }

  /** Answers server→client requests of `method` with `handler(params)`'s (awaited) result. */
  onRequest(method, handler) {
    this.handlers.set(method, handler);
  }

  /** Writes one message. */
  send(message) {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  /**
   * Sends a request; resolves with `{ message, ms, at }`: the response, the time from writing the request
   * to parsing its response, and the hrtime (bigint) at which it was parsed.
   */
  request(method, params, timeoutMs = 10_000) {
    const id = this.nextId++;
    const message = params === undefined ? { id, method } : { id, method, params };
    return this.requestRaw(message, timeoutMs);
  }

  /** Sends a prepared request message (with its id). */
  requestRaw(message, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.id);
        reject(new BenchError(`${this.label}: no answer to ${message.method} (id ${message.id}) within ${timeoutMs} ms; stderr: ${this.stderrTail}`));
      }, timeoutMs);
      const sentAt = process.hrtime.bigint();
      this.pending.set(message.id, {
        resolve: (response, at) => {
          clearTimeout(timer);
          resolve({ message: response, ms: Number(at - sentAt) / 1e6, at });
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send(message);
    });
  }

  /**
   * The handshake: `initialize` (answered) then `initialized`. With `thenRead`, `initialized` and an
   * `account/read` are written right behind `initialize`, before its answer (as eager clients do), and
   * the delay after spawn of that read's answer is reported too.
   */
  async initialize(timeoutMs = 10_000, { thenRead = false } = {}) {
    const init = this.requestRaw(
      { id: 0, method: 'initialize', params: { clientInfo: { name: 'authchart_bench', title: 'authchart bench', version: '0.0.0' }, capabilities: { experimentalApi: true } } },
      timeoutMs,
    );
    let read = null;
    if (thenRead) {
      this.send({ method: 'initialized' });
      read = this.request('account/read', {}, timeoutMs);
    }
    const { message, at } = await init;
    if (message.error) throw new BenchError(`${this.label}: initialize failed: ${JSON.stringify(message.error)}`);
    if (!thenRead) this.send({ method: 'initialized' });
    const out = { message, msSinceSpawn: Number(at - this.spawnedAt) / 1e6 };
    if (read) {
      const answer = await read;
      if (answer.message.error) throw new BenchError(`${this.label}: account/read failed: ${JSON.stringify(answer.message.error)}`);
      out.readMsSinceSpawn = Number(answer.at - this.spawnedAt) / 1e6;
    }
    return out;
  }

  /** Closes stdin and waits (bounded) for the process to exit; kills the tree when it does not. */
  async close(timeoutMs = 5_000) {
    this.child.stdin.end();
    const exited = await Promise.race([this.closed, new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs).unref())]);
    if (exited === null) this.dispose();
    return exited;
  }

  /** Kills the process and its descendants (only this bench's own children). */
  dispose() {
    if (this.exitInfo) return;
    const tree = processTree(this.child.pid).reverse();
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  onLine(line) {
    if (line.trim() === '') return;
    const at = process.hrtime.bigint();
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      this.stderrTail += `\n[bench] non-JSON stdout line: ${line.slice(0, 200)}`;
      return;
    }
    if (typeof message.method === 'string') {
      if (message.id === undefined) {
        this.notifications.push(message);
        return;
      }
      void this.answer(message);
      return;
    }
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    waiter.resolve(message, at);
  }

  async answer(request) {
    const handler = this.handlers.get(request.method);
    if (!handler) {
      this.send({ id: request.id, error: { code: -32601, message: `bench client does not serve ${request.method}` } });
      return;
    }
    try {
      this.send({ id: request.id, result: await handler(request.params) });
    } catch (error) {
      this.send({ id: request.id, error: { code: -32603, message: String(error && error.message ? error.message : error) } });
    }
  }
}

module.exports = { AppServerChild, BenchError };

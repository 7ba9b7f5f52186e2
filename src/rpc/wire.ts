/**
 * The app-server's own wire I/O: NDJSON JSON-RPC on stdin/stdout (docs/protocol.md §1). The reader turns bytes
 * into classified messages, synchronously and in order, and reports what must be answered with an id-null
 * error (non-JSON, non-messages, over-long lines); the writer drops the `"jsonrpc"` member that Codex never
 * sends, writes every message queued in one turn of the event loop with one `write()`, and honours
 * back-pressure. (src/client/transport.ts adapts the same framing to vscode-jsonrpc for authchart/client.)
 */
import type { Readable, Writable } from 'node:stream';
import { LineBuffer, type Frame } from './framing';
import { decodeFrame, type DecodedFrame, type Incoming, type WireMessage } from './messages';

/**
 * Reads NDJSON from `readable` and hands over each line decoded, synchronously and in order, then
 * `onEnd` (after the last, unterminated line); returns the function that stops reading. The one stream
 * wiring of both NDJSON readers: the server's (WireReader) and the client's (src/client/transport.ts).
 */
export function listenFrames(
  readable: Readable,
  hooks: { onFrame(decoded: DecodedFrame): void; onEnd(): void; onError(error: Error): void },
  maxLineBytes?: number,
): () => void {
  const buffer = new LineBuffer(maxLineBytes);
  const deliver = (frame: Frame) => hooks.onFrame(decodeFrame(frame));
  const onData = (chunk: Buffer | string) => buffer.pushEach(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, deliver);
  const onEnd = () => {
    for (const frame of buffer.end()) deliver(frame);
    hooks.onEnd();
  };
  readable.on('data', onData);
  readable.on('end', onEnd);
  readable.on('error', hooks.onError);
  return () => {
    readable.off('data', onData);
    readable.off('end', onEnd);
    readable.off('error', hooks.onError);
  };
}

/** What the reader reports. */
export interface WireReaderHooks {
  /** Every message, in arrival order. */
  onMessage(message: Incoming): void;
  /** A line that must be answered with an error no request can produce (id null). */
  onBadLine(error: { code: number; message: string }): void;
  /** The input ended; everything before it has been handed over. */
  onEnd(): void;
  /** The input failed. */
  onError?(error: Error): void;
}

/** Reads NDJSON from a stream and hands over classified JSON-RPC messages, synchronously and in order. */
export class WireReader {
  constructor(
    private readonly readable: Readable,
    private readonly hooks: WireReaderHooks,
    private readonly maxLineBytes?: number,
  ) {}

  /** Starts reading; returns the function that stops it. */
  listen(): () => void {
    return listenFrames(
      this.readable,
      {
        onFrame: (decoded) => (decoded.ok ? this.hooks.onMessage(decoded.message) : this.hooks.onBadLine(decoded.error)),
        onEnd: () => this.hooks.onEnd(),
        onError: (error) => this.hooks.onError?.(error),
      },
      this.maxLineBytes,
    );
  }

  /** Stops reading until `resume()` (back-pressure from the output). */
  pause(): void {
    this.readable.pause();
  }

  /** Reads again after `pause()`. */
  resume(): void {
    this.readable.resume();
  }
}

/** `message` without its `"jsonrpc"` member. */
function withoutJsonrpc(message: WireMessage): WireMessage {
  const { jsonrpc: _omit, ...rest } = message;
  return rest;
}

/**
 * Writes one JSON object per line, without `"jsonrpc"`. Messages sent in one turn of the event loop
 * (say, the answers to a chunk of 100 pipelined requests) leave in one `write()`: one system call
 * instead of one per message. When the stream is full, output waits for `'drain'` and `onBackPressure`
 * tells the owner, which stops reading input meanwhile, so a parent that does not read cannot make the
 * server buffer without bound.
 */
export class WireWriter {
  private queued: string[] = [];
  private scheduled = false;
  private blocked = false;
  private closed = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly writable: Writable,
    /** Called as each message is queued, in order (after a response: its held notifications). */
    private readonly afterWrite?: (message: WireMessage) => void,
    private readonly hooks: { onError?(error: Error): void; onBackPressure?(blocked: boolean): void } = {},
  ) {
    writable.on('error', (error) => {
      this.closed = true;
      this.release();
      this.hooks.onError?.(error);
    });
    writable.on('close', () => {
      this.closed = true;
      this.release();
    });
  }

  /** Queues a message; it is written at the end of the current turn. */
  send(message: WireMessage): void {
    if (this.closed) return;
    // Copied only when there is a "jsonrpc" to drop (a copy of every answer was garbage for nothing).
    const rest = 'jsonrpc' in message ? withoutJsonrpc(message) : message;
    this.queued.push(`${JSON.stringify(rest)}\n`);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
    this.afterWrite?.(rest);
  }

  /** Queues a message; resolves once it has been handed to the stream and the stream has room again. */
  write(message: WireMessage): Promise<void> {
    this.send(message);
    return this.flushed();
  }

  /** Resolves when everything queued so far has been handed to the stream and the stream has room. */
  flushed(): Promise<void> {
    if (this.closed || (!this.scheduled && !this.blocked && this.queued.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Writes what is queued now (used when closing, so nothing already answered is lost). */
  flush(): void {
    this.scheduled = false;
    if (this.closed || this.blocked || this.queued.length === 0) {
      if (!this.blocked) this.release();
      return;
    }
    const chunk = this.queued.length === 1 ? this.queued[0] : this.queued.join('');
    this.queued = [];
    if (this.writable.write(chunk)) {
      this.release();
      return;
    }
    this.blocked = true;
    this.hooks.onBackPressure?.(true);
    this.writable.once('drain', () => {
      this.blocked = false;
      this.hooks.onBackPressure?.(false);
      this.flush();
    });
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

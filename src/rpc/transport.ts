/**
 * vscode-jsonrpc over newline-delimited JSON, for parents written in TypeScript (the app-server itself
 * uses its own lighter wire I/O, src/rpc/wire.ts). The stock stream reader/writer speak LSP's
 * `Content-Length` framing and would buffer NDJSON forever, so these replace them. The reader also
 * sorts out what vscode-jsonrpc cannot answer itself (non-JSON, non-messages, over-long lines), and the
 * writer drops the `"jsonrpc"` member that Codex never sends and honours back-pressure.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import {
  AbstractMessageReader,
  AbstractMessageWriter,
  Disposable,
  type DataCallback,
  type Message,
  type MessageWriter,
} from 'vscode-jsonrpc/node';
import { LineBuffer } from './framing';
import { decodeFrame } from './messages';

/** A wire message as authchart writes it (no `"jsonrpc"` member). */
export type WireMessage = Record<string, unknown>;

/** How one parsed JSON value is to be treated. */
export type Classified =
  | { kind: 'request' | 'notification' | 'response'; message: Message }
  | { kind: 'invalid'; reason: string };

/** The message as vscode-jsonrpc expects it, with the "jsonrpc" member NDJSON peers may leave out. */
function withJsonrpc(message: object): Message {
  return { jsonrpc: '2.0', ...message } as unknown as Message;
}

/** What the reader reports besides messages. */
export interface ReaderHooks {
  /** A line that must be answered with an error the connection cannot produce (id null). */
  onBadLine(error: { code: number; message: string }): void;
  /** Every message handed to the connection, before it is handled (requests counted for draining); `raw` as read. */
  onMessage?(classified: Classified, raw: unknown): void;
  /** stdin ended; everything before it has been handed over. */
  onEnd(): void;
}

/** Reads NDJSON from a stream and hands JSON-RPC messages to vscode-jsonrpc. */
export class NdjsonMessageReader extends AbstractMessageReader {
  private readonly buffer: LineBuffer;

  constructor(
    private readonly readable: Readable,
    private readonly hooks: ReaderHooks,
    maxLineBytes?: number,
  ) {
    super();
    this.buffer = new LineBuffer(maxLineBytes);
  }

  listen(callback: DataCallback): Disposable {
    const deliver = (frames: ReturnType<LineBuffer['push']>) => {
      for (const frame of frames) {
        const decoded = decodeFrame(frame);
        if (!decoded.ok) {
          this.hooks.onBadLine(decoded.error);
          continue;
        }
        const message = withJsonrpc(decoded.message.message);
        this.hooks.onMessage?.({ kind: decoded.message.kind, message }, decoded.raw);
        try {
          callback(message);
        } catch (error) {
          this.fireError(error);
        }
      }
    };
    const onData = (chunk: Buffer | string) => deliver(this.buffer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    const onEnd = () => {
      deliver(this.buffer.end());
      this.hooks.onEnd();
    };
    const onError = (error: Error) => this.fireError(error);
    this.readable.on('data', onData);
    this.readable.on('end', onEnd);
    this.readable.on('error', onError);
    return Disposable.create(() => {
      this.readable.off('data', onData);
      this.readable.off('end', onEnd);
      this.readable.off('error', onError);
    });
  }
}

/** Writes one JSON object per line, without `"jsonrpc"`, waiting for `'drain'` when the pipe is full. */
export class NdjsonMessageWriter extends AbstractMessageWriter implements MessageWriter {
  private closed = false;

  constructor(
    private readonly writable: Writable,
    private readonly afterWrite?: (message: WireMessage) => void,
  ) {
    super();
    writable.on('error', (error) => {
      this.closed = true;
      this.fireError(error);
      this.fireClose();
    });
    writable.on('close', () => {
      this.closed = true;
    });
  }

  async write(msg: Message): Promise<void> {
    await this.writeRaw(msg as unknown as WireMessage);
  }

  /** Writes any object as one line (used for errors answered outside the connection). */
  async writeRaw(message: WireMessage): Promise<void> {
    if (this.closed) return;
    const { jsonrpc: _omit, ...rest } = message;
    const ready = this.writable.write(`${JSON.stringify(rest)}\n`);
    this.afterWrite?.(rest);
    if (!ready && !this.closed) await once(this.writable, 'drain');
  }

  end(): void {}
}

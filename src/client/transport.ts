/**
 * vscode-jsonrpc over newline-delimited JSON, for authchart/client (the app-server itself uses its own
 * lighter wire I/O, src/rpc/wire.ts, and shares its stream wiring, `listenFrames`). The stock stream
 * reader/writer speak LSP's `Content-Length` framing and would buffer NDJSON forever, so these replace
 * them. The reader reports what vscode-jsonrpc cannot answer itself (non-JSON, non-messages, over-long
 * lines); the writer drops the `"jsonrpc"` member that Codex never sends and honours back-pressure.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { AbstractMessageReader, AbstractMessageWriter, Disposable, type DataCallback, type Message, type MessageWriter } from 'vscode-jsonrpc/node';
import type { WireMessage } from '../rpc/messages';
import { listenFrames } from '../rpc/wire';

export type { WireMessage } from '../rpc/messages';

/** What the reader reports besides messages. */
export interface ReaderHooks {
  /** A line that must be answered with an error the connection cannot produce (id null). */
  onBadLine(error: { code: number; message: string }): void;
  /** Every message handed to the connection, as read (before vscode-jsonrpc handles it). */
  onMessage?(raw: unknown): void;
  /** The input ended; everything before it has been handed over. */
  onEnd(): void;
}

/** Reads NDJSON from a stream and hands JSON-RPC messages to vscode-jsonrpc. */
export class NdjsonMessageReader extends AbstractMessageReader {
  constructor(
    private readonly readable: Readable,
    private readonly hooks: ReaderHooks,
    private readonly maxLineBytes?: number,
  ) {
    super();
  }

  listen(callback: DataCallback): Disposable {
    const stop = listenFrames(
      this.readable,
      {
        onFrame: (decoded) => {
          if (!decoded.ok) return this.hooks.onBadLine(decoded.error);
          this.hooks.onMessage?.(decoded.raw);
          try {
            // vscode-jsonrpc expects the "jsonrpc" member NDJSON peers may leave out.
            callback({ jsonrpc: '2.0', ...decoded.message.message } as unknown as Message);
          } catch (error) {
            this.fireError(error);
          }
        },
        onEnd: () => this.hooks.onEnd(),
        onError: (error) => this.fireError(error),
      },
      this.maxLineBytes,
    );
    return Disposable.create(stop);
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
    if (this.closed) return;
    const { jsonrpc: _omit, ...rest } = msg as unknown as WireMessage;
    const ready = this.writable.write(`${JSON.stringify(rest)}\n`);
    this.afterWrite?.(rest);
    if (!ready && !this.closed) await once(this.writable, 'drain');
  }

  end(): void {}
}

/**
 * One JSON-RPC connection over NDJSON streams (docs/protocol.md §1): requests handled in arrival order
 * straight from the reader, each starting when the one before it has been answered (requests the handler
 * marks concurrent start in order but run beside later ones), every request answered exactly once, and
 * requests of ours to the peer with their answers. It knows nothing of methods or auth: what a request
 * means is its handler's business (src/rpc/server.ts).
 *
 * Nothing waits for a timer between two requests, so the answers to a chunk of pipelined requests are
 * all ready in the same turn of the event loop and the writer sends them with one system call.
 */
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log';
import { ErrorCodes, WireError } from './errors';
import type { Id, Incoming, RequestMessage, ResponseMessage, WireMessage } from './messages';
import { WireReader, WireWriter } from './wire';

/** How a request runs: before later ones (`inOrder`) or beside them (`concurrent`). */
export type RequestMode = 'inOrder' | 'concurrent';

/** What a connection hands its requests to. */
export interface RequestHandler {
  /**
   * How `request` runs, or a promise to wait for (in order) before asking again (the method catalogue
   * loading, say).
   */
  modeOf(request: RequestMessage): RequestMode | Promise<void>;
  /** Handles a request: resolves with its result, rejects with a WireError (anything else becomes -32603). */
  handle(request: RequestMessage): Promise<unknown>;
  /** Called as each outgoing message is queued, in order (a response: the handler may release what it held). */
  afterWrite?(message: WireMessage): void;
  /** A notification from the peer. */
  onNotification?(method: string): void;
}

/** What a connection needs. */
export interface ConnectionOptions {
  input: Readable;
  output: Writable;
  logger: Logger;
  handler: RequestHandler;
}

/** A request of ours waiting for the peer's answer. */
interface Outgoing {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/**
 * The requests read and not answered yet, each in a slot of its own until it is answered. Not a Map: a
 * Map with one entry in and one out per request rehashes into a new table every few hundred requests,
 * and V8 links each retired table to its successor. Once a retired table had reached the old generation,
 * it kept the next table alive through every scavenge, and with it the requests that table held, so
 * under a pipelined burst every table and every request was promoted until the next full GC: +8-10 MiB
 * of peak RSS in the bench (docs/performance.md). The slots array lives as long as the connection and
 * holds only requests still unanswered; the free list and the queue hold numbers.
 */
class Unanswered {
  private readonly requests: Array<RequestMessage | undefined> = [];
  private readonly arrivals: number[] = [];
  private readonly free: number[] = [];
  private arrived = 0;
  size = 0;

  /** Keeps `request`; returns its slot. */
  add(request: RequestMessage): number {
    const slot = this.free.pop() ?? this.requests.length;
    this.requests[slot] = request;
    this.arrivals[slot] = this.arrived++;
    this.size += 1;
    return slot;
  }

  /** Lets go of `request`; false when it was not kept there (answered already). */
  remove(slot: number, request: RequestMessage): boolean {
    if (this.requests[slot] !== request) return false;
    this.requests[slot] = undefined;
    this.free.push(slot);
    this.size -= 1;
    return true;
  }

  /** Every request kept, with its slot, in arrival order. */
  list(): Array<{ slot: number; request: RequestMessage }> {
    const kept: Array<{ slot: number; request: RequestMessage }> = [];
    this.requests.forEach((request, slot) => {
      if (request) kept.push({ slot, request });
    });
    return kept.sort((a, b) => this.arrivals[a.slot] - this.arrivals[b.slot]);
  }
}

/** One NDJSON JSON-RPC connection. */
export class Connection {
  private readonly writer: WireWriter;
  private readonly reader: WireReader;
  private stopReading: (() => void) | null = null;
  /** Requests not started yet, in arrival order (`head` is the next one), and their slots in `unanswered`. */
  private queue: Array<RequestMessage | undefined> = [];
  private queueSlots: number[] = [];
  private head = 0;
  /** A request handled in order (or the wait before one) is under way: later ones wait for its answer. */
  private inOrderBusy = false;
  /** Requests read but not answered yet. */
  private readonly unanswered = new Unanswered();
  private inputEnded = false;
  private closing = false;
  /** Server→client request ids count up from 0 on each connection (docs/protocol.md §1). */
  private nextOutgoingId = 0;
  private readonly outgoing = new Map<Id, Outgoing>();
  private resolveClosed!: () => void;
  /** Resolves when the connection is closed (input ended and every request answered, or close()). */
  readonly closed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(private readonly options: ConnectionOptions) {
    const { logger, handler } = options;
    this.writer = new WireWriter(options.output, (message) => handler.afterWrite?.(message), {
      onError: (error) => {
        logger.debug(`output closed: ${error.message}`);
        this.close();
      },
      onBackPressure: (blocked) => (blocked ? this.reader.pause() : this.reader.resume()),
    });
    this.reader = new WireReader(options.input, {
      onMessage: (message) => this.onMessage(message),
      onBadLine: (error) => {
        logger.warn(`answered a malformed line with ${error.code}: ${error.message}`);
        this.writer.send({ id: null, error });
      },
      onEnd: () => {
        this.inputEnded = true;
        // The peer can no longer answer: requests of ours fail now rather than at their timeout.
        this.rejectOutgoing('the parent application closed its end of the connection');
        this.maybeClose();
      },
      onError: (error) => logger.error(`input error: ${error.message}`),
    });
  }

  /** Starts reading the input. */
  listen(): void {
    this.stopReading ??= this.reader.listen();
  }

  /** Writes a notification (dropped once the connection is closing). */
  notify(method: string, params: unknown, extra: Record<string, unknown> = {}): void {
    if (!this.closing) this.writer.send({ method, params, ...extra });
  }

  /** True once the connection is closing: nothing more is written. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** How many requests were read and not answered yet. */
  get pendingRequests(): number {
    return this.unanswered.size;
  }

  /**
   * Sends a request to the peer; resolves with its result, rejects with a WireError (numeric `code`,
   * `message`) when the peer answers with an error, and with an Error when the connection closes first.
   * An aborted `signal` forgets the request; a late answer to it is then ignored.
   */
  sendRequest<R>(method: string, params: unknown, options: { signal?: AbortSignal } = {}): Promise<R> {
    if (this.closing || this.inputEnded) return Promise.reject(new Error('the connection to the parent application is closed'));
    const id = this.nextOutgoingId++;
    return new Promise<R>((resolve, reject) => {
      const { signal } = options;
      const onAbort = () => {
        this.outgoing.delete(id);
        reject(signal?.reason instanceof Error ? signal.reason : new Error(`${method} was abandoned`));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.outgoing.set(id, {
        resolve: (result) => (done(), resolve(result as R)),
        reject: (error) => (done(), reject(error)),
      });
      this.writer.send(params === undefined ? { id, method } : { id, method, params });
    });
  }

  /**
   * Answers every request still unanswered with -32603 `message` (the last line of defence when the
   * process is about to end with work nobody will finish), then lets the connection close.
   */
  answerAbandoned(message: string): number {
    const abandoned = this.unanswered.list();
    for (const { slot, request } of abandoned) this.respond(slot, request, { id: request.id, error: { code: ErrorCodes.InternalError, message: `${message} (${request.method})` } });
    return abandoned.length;
  }

  /** Closes the connection now (what is already answered is still written). */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.stopReading?.();
    this.writer.flush();
    this.rejectOutgoing('the connection to the parent application is closed');
    this.resolveClosed();
  }

  private onMessage(incoming: Incoming): void {
    if (this.closing) return;
    switch (incoming.kind) {
      case 'request':
        this.queueSlots.push(this.unanswered.add(incoming.message));
        this.queue.push(incoming.message);
        this.pump();
        return;
      case 'notification':
        this.options.handler.onNotification?.(incoming.message.method);
        return;
      case 'response':
        this.settleOutgoing(incoming.message);
        return;
    }
  }

  /** Starts queued requests until one handled in order is under way. */
  private pump(): void {
    while (!this.inOrderBusy && this.head < this.queue.length && !this.closing) {
      const request = this.queue[this.head] as RequestMessage;
      const mode = this.options.handler.modeOf(request);
      if (typeof mode !== 'string') {
        // Wait, in order, then ask again (a failed wait is the handler's to report in handle()).
        this.inOrderBusy = true;
        void mode.then(
          () => this.resume(),
          () => this.resume(),
        );
        return;
      }
      const slot = this.queueSlots[this.head];
      this.queue[this.head] = undefined;
      this.head += 1;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.queueSlots = [];
        this.head = 0;
      }
      this.start(slot, request, mode);
    }
  }

  private resume(): void {
    this.inOrderBusy = false;
    this.pump();
  }

  private start(slot: number, request: RequestMessage, mode: RequestMode): void {
    if (mode === 'inOrder') this.inOrderBusy = true;
    let handled: Promise<unknown>;
    try {
      handled = this.options.handler.handle(request);
    } catch (error) {
      handled = Promise.reject(error);
    }
    handled
      .then(
        (result) => this.respond(slot, request, { id: request.id, result: result === undefined ? null : result }),
        (error: unknown) => this.respond(slot, request, { id: request.id, error: this.wireErrorOf(request.method, error).toJson() }),
      )
      .then(() => {
        if (mode === 'inOrder') this.resume();
      });
  }

  private wireErrorOf(method: string, error: unknown): WireError {
    if (error instanceof WireError) return error;
    this.options.logger.error(`${method} failed unexpectedly`, { error: (error as Error)?.stack ?? String(error) });
    return new WireError(ErrorCodes.InternalError, `internal error while handling ${method}: ${(error as Error)?.message ?? String(error)}`);
  }

  /** Writes the one answer of `request` (a second one, which would be a bug, is dropped and logged). */
  private respond(slot: number, request: RequestMessage, response: WireMessage): void {
    if (!this.unanswered.remove(slot, request)) {
      this.options.logger.error(`dropped a second answer to request ${JSON.stringify(request.id)} (${request.method})`);
      return;
    }
    if (!this.closing) this.writer.send(response);
    this.maybeClose();
  }

  private settleOutgoing(response: ResponseMessage): void {
    const waiter = response.id === null ? undefined : this.outgoing.get(response.id);
    if (!waiter) {
      this.options.logger.debug(`ignored a response to an unknown or abandoned request (id ${JSON.stringify(response.id)})`);
      return;
    }
    this.outgoing.delete(response.id as Id);
    if ('error' in response) {
      const { code, message, data } = (response.error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
      waiter.reject(new WireError(typeof code === 'number' ? code : ErrorCodes.InternalError, typeof message === 'string' ? message : 'error without a message', data));
    } else {
      waiter.resolve(response.result);
    }
  }

  private rejectOutgoing(reason: string): void {
    const waiting = [...this.outgoing.values()];
    this.outgoing.clear();
    for (const waiter of waiting) waiter.reject(new Error(reason));
  }

  private maybeClose(): void {
    if (!this.inputEnded || this.unanswered.size > 0 || this.closing) return;
    void this.writer.flushed().then(() => this.close());
  }
}

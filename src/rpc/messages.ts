/**
 * JSON-RPC message shapes as authchart reads and writes them (docs/protocol.md §1): sorting a parsed line into
 * request / notification / response, and the parse-error text. Pure; no stream, no library.
 */
import { ErrorCodes } from './errors';
import type { Frame } from './framing';

/** A wire message as authchart writes it (no `"jsonrpc"` member). */
export type WireMessage = Record<string, unknown>;

/** A request or response id. */
export type Id = string | number;

/** A request (from the parent, or to it). */
export interface RequestMessage {
  id: Id;
  method: string;
  params?: unknown;
}

/** A notification (no id, never answered). */
export interface NotificationMessage {
  method: string;
  params?: unknown;
}

/** The error member of a response. */
export interface ResponseErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** A response (to a request of ours, when it comes from the parent). */
export interface ResponseMessage {
  id: Id | null;
  result?: unknown;
  error?: ResponseErrorObject;
}

/** How one parsed JSON value is to be treated. */
export type Classified =
  | { kind: 'request'; message: RequestMessage }
  | { kind: 'notification'; message: NotificationMessage }
  | { kind: 'response'; message: ResponseMessage }
  | { kind: 'invalid'; reason: string };

/** A classified value that is a message. */
export type Incoming = Exclude<Classified, { kind: 'invalid' }>;

function isId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/** Sorts a parsed JSON value into request / notification / response, or says why it is none. */
export function classifyMessage(value: unknown): Classified {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'invalid', reason: Array.isArray(value) ? 'batch requests are not supported' : 'a message must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  if ('method' in record) {
    if (typeof record.method !== 'string' || record.method.length === 0) return { kind: 'invalid', reason: 'method must be a non-empty string' };
    if (!('id' in record)) return { kind: 'notification', message: record as unknown as NotificationMessage };
    if (!isId(record.id)) return { kind: 'invalid', reason: 'id must be an integer or a string' };
    return { kind: 'request', message: record as unknown as RequestMessage };
  }
  if ('id' in record && ('result' in record || 'error' in record)) {
    if (!isId(record.id) && record.id !== null) return { kind: 'invalid', reason: 'id must be an integer or a string' };
    return { kind: 'response', message: record as unknown as ResponseMessage };
  }
  return { kind: 'invalid', reason: 'a message needs a method (request, notification) or a result/error (response)' };
}

/**
 * `Parse error: …` without echoing the input: V8's JSON messages quote a snippet of the line, which may
 * hold a token. Only the position survives.
 */
export function parseErrorMessage(error: unknown, text: string): string {
  const position = /position (\d+)/.exec(error instanceof Error ? error.message : '');
  const where = position ? ` at character ${position[1]}` : '';
  return `Parse error: the line is not valid JSON${where} (${Buffer.byteLength(text)} bytes); send one JSON-RPC object per line`;
}

/** What one frame of input decodes to: a message, or the error to answer it with (id null). */
export type DecodedFrame = { ok: true; message: Incoming; raw: unknown } | { ok: false; error: { code: number; message: string } };

/**
 * Decodes one frame of the line buffer: an over-long line, a line that is not JSON and a JSON value that
 * is not a message each become the error of docs/protocol.md §1 (without echoing the line).
 */
export function decodeFrame(frame: Frame): DecodedFrame {
  if (frame.kind === 'overflow') {
    return { ok: false, error: { code: ErrorCodes.InvalidRequest, message: `message too long: ${frame.bytes} bytes exceed the 10 MiB line limit; it was dropped` } };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(frame.text);
  } catch (error) {
    return { ok: false, error: { code: ErrorCodes.ParseError, message: parseErrorMessage(error, frame.text) } };
  }
  const classified = classifyMessage(raw);
  if (classified.kind === 'invalid') return { ok: false, error: { code: ErrorCodes.InvalidRequest, message: `Invalid request: ${classified.reason}` } };
  return { ok: true, message: classified, raw };
}

/**
 * JSON-RPC error codes (literal-typed) and the wire error authchart answers with.
 */

/** JSON-RPC 2.0 error codes used on the wire. */
export const ErrorCodes = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;

/** A JSON-RPC error code. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * A JSON-RPC error object as an Error: what authchart answers a request with, and what a request of
 * ours to the parent rejects with when the parent answers with an error.
 */
export class WireError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'WireError';
  }

  /** The `error` member of a response. */
  toJson(): { code: number; message: string; data?: unknown } {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }
}

/** -32600 with the given message. */
export const invalidRequest = (message: string): WireError => new WireError(ErrorCodes.InvalidRequest, message);

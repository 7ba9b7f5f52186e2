/**
 * JSON-RPC error codes (literal-typed) and the wire error authchart answers with.
 */
import { ResponseError } from 'vscode-jsonrpc/node';

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

/** An error answered to the client as-is (code + message). */
export class WireError extends ResponseError<undefined> {
  constructor(code: number, message: string) {
    super(code, message);
    // ResponseError resets the prototype to its own; restore ours so `instanceof WireError` holds.
    Object.setPrototypeOf(this, WireError.prototype);
  }

}

/** -32600 with the given message. */
export const invalidRequest = (message: string): WireError => new WireError(ErrorCodes.InvalidRequest, message);

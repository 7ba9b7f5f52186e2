/**
 * Why an outgoing call failed, as the effects word it: the socket error's code when there is one
 * (`ECONNREFUSED`, `ENOTFOUND`, …), else its message, else the error's own message. The failure's shape
 * is the one `src/auth/http.ts` rejects with (fetch's: `TypeError('fetch failed', { cause })`). A module
 * of its own, without `node:http`: the effects that only word failures need not load the client.
 */
export function failureReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The ChatGPT backend client: every call made with ChatGPT credentials goes through one 401 recovery
 * loop (PROTOCOL.md §6). The chart decides whether the call may go ahead and runs the refresh; this only
 * sets the headers, reports the 401 and retries once with whatever credentials the refresh left.
 */
import type { AuthCore, BackendTicket } from './core';

/** Options of {@link authorizedFetch}. */
export interface AuthorizedFetchOptions {
  /** Completes the refusal texts: `codex account authentication required to <purpose>`. */
  purpose?: string;
  /** The fetch to send with (default: the global fetch). */
  fetch?: typeof fetch;
}

/** The default `purpose` of a backend call. */
export const DEFAULT_PURPOSE = 'call the ChatGPT backend';

function withCredentials(init: RequestInit, ticket: BackendTicket): RequestInit {
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${ticket.bearer.reveal()}`);
  if (ticket.accountId !== null) headers.set('ChatGPT-Account-Id', ticket.accountId);
  return { ...init, headers };
}

/**
 * `fetch` with the current ChatGPT credentials (`Authorization: Bearer`, `ChatGPT-Account-Id`). On a 401
 * the chart refreshes (asking the parent for external tokens, or the token endpoint for managed ones;
 * one refresh however many calls wait) and the call is retried once; the second answer is returned as is.
 * Throws AuthCallError when the chart refuses the call or the refresh fails (its exact message).
 * `init.body`, if any, must be re-sendable (a string or bytes, not a stream).
 */
export async function authorizedFetch(
  core: AuthCore,
  input: string | URL,
  init: RequestInit = {},
  options: AuthorizedFetchOptions = {},
): Promise<Response> {
  const purpose = options.purpose ?? DEFAULT_PURPOSE;
  const send = options.fetch ?? fetch;
  const ticket = await core.beginBackendCall(purpose);
  const first = await send(input, withCredentials(init, ticket));
  if (first.status !== 401) return first;
  await first.body?.cancel().catch(() => undefined); // frees the connection; the body is not needed
  await core.recoverFromUnauthorized(ticket);
  return send(input, withCredentials(init, await core.beginBackendCall(purpose)));
}

/**
 * The ChatGPT backend client: every call made with ChatGPT credentials goes through one 401 recovery
 * loop (docs/protocol.md §6). The chart decides whether the call may go ahead and runs the refresh; this only
 * sets the headers, reports the 401 and retries once with whatever credentials the refresh left.
 *
 * At most {@link MAX_CONCURRENT_BACKEND_CALLS} calls per origin are on the wire at once; the others wait
 * for a slot and only then take their credentials. So when a burst of calls meets a 401, the few in
 * flight report it and the one refresh starts, and every call still waiting takes the refreshed token
 * instead of spending a request on the stale one: 1000 concurrent calls meeting an expired token cost
 * 16 refused requests, not 1000 (and keep-alive connections are reused instead of one socket per call).
 */
import type { AuthCore, BackendTicket } from './core';
import { httpFetch, type Fetch, type HttpRequestInit, type HttpResponse } from './http';

/** Options of {@link authorizedFetch}. */
export interface AuthorizedFetchOptions {
  /** Completes the refusal texts: `codex account authentication required to <purpose>`. */
  purpose?: string;
  /** The client to send with (default: {@link httpFetch}). */
  fetch?: Fetch;
  /** A call nobody waits for (workspace discovery): it never starts a proactive refresh (a 401 still recovers). */
  background?: boolean;
}

/** The default `purpose` of a backend call. */
export const DEFAULT_PURPOSE = 'call the ChatGPT backend';

/** Calls per origin on the wire at once (see the file comment). */
export const MAX_CONCURRENT_BACKEND_CALLS = 16;

/** A counting semaphore: `acquire()` takes a free slot at once, else waits for one, in arrival order. */
class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Null when a slot was free and is taken (no turn of the event loop passes), else when one frees up. */
  acquire(): Promise<void> | null {
    if (this.active < this.size) {
      this.active += 1;
      return null;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot to the next waiting call, or frees it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }
}

const slotsByOrigin = new Map<string, Slots>();

function slotsFor(input: string | URL): Slots {
  const origin = new URL(input).origin;
  let slots = slotsByOrigin.get(origin);
  if (!slots) {
    slots = new Slots(MAX_CONCURRENT_BACKEND_CALLS);
    slotsByOrigin.set(origin, slots);
  }
  return slots;
}

function withCredentials(init: HttpRequestInit, ticket: BackendTicket): HttpRequestInit {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    if (!/^(authorization|chatgpt-account-id)$/i.test(name)) headers[name] = value;
  }
  headers.Authorization = `Bearer ${ticket.bearer.reveal()}`;
  if (ticket.accountId !== null) headers['ChatGPT-Account-Id'] = ticket.accountId;
  return { ...init, headers };
}

/**
 * `fetch` with the current ChatGPT credentials (`Authorization: Bearer`, `ChatGPT-Account-Id`). On a 401
 * the chart refreshes (asking the parent for external tokens, or the token endpoint for managed ones;
 * one refresh however many calls wait) and the call is retried once; the second answer is returned as is.
 * Throws AuthCallError when the chart refuses the call or the refresh fails (its exact message).
 * `init.body`, if any, is sent again with the retry.
 */
export async function authorizedFetch(
  core: AuthCore,
  input: string | URL,
  init: HttpRequestInit = {},
  options: AuthorizedFetchOptions = {},
): Promise<HttpResponse> {
  const purpose = options.purpose ?? DEFAULT_PURPOSE;
  const send = options.fetch ?? httpFetch;
  const slots = slotsFor(input);
  // With a free slot nothing is awaited before the chart is asked: the call takes its place in the
  // chart's command queue in the order the requests arrived, before a request written behind it.
  const queued = slots.acquire();
  if (queued) await queued;
  try {
    // Credentials are taken once the call has its slot: a refresh started meanwhile is waited out.
    const ticket = await core.beginBackendCall(purpose, options.background);
    const first = await send(input, withCredentials(init, ticket));
    if (first.status !== 401) return first;
    await first.discard(); // frees the connection; the body is not needed
    await core.recoverFromUnauthorized(ticket);
    return await send(input, withCredentials(init, await core.beginBackendCall(purpose, options.background)));
  } finally {
    slots.release();
  }
}

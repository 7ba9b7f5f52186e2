/**
 * `rateLimitResetCredits` of `account/rateLimits/read` (docs/protocol.md §12.3): the usage-limit resets the
 * account has banked, listed by `GET …/wham/rate-limit-reset-credits`. A failed listing never fails the
 * read: the read falls back to the usage body's `rate_limit_reset_credits.available_count` (credits null).
 */
import * as z from '../zod';
import { describeIssues } from '../issues';
import { redactText } from '../log';
import { authorizedFetch } from './backend';
import { codexBackendUrl } from './backendUrls';
import type { AuthCore } from './core';
import type { Fetch } from './http';

/** One banked reset as the protocol reports it (times in seconds since the epoch). */
export interface RateLimitResetCredit {
  id: string;
  resetType: 'codexRateLimits' | 'unknown';
  status: 'available' | 'redeeming' | 'redeemed' | 'unknown';
  grantedAt: number;
  expiresAt: number | null;
  title: string | null;
  description: string | null;
}

/** `rateLimitResetCredits`: the count, and the credits when the listing answered (else null). */
export interface RateLimitResetCredits {
  availableCount: number;
  credits: RateLimitResetCredit[] | null;
}

/** How long the listing may take before the read falls back to the usage body's count (as Codex: 5 s). */
export const RESET_CREDITS_TIMEOUT_MS = 5_000;

/** The listing URL: `/wham/rate-limit-reset-credits` (or `/api/codex/…` for a Codex API base URL). */
export function resetCreditsUrl(chatgptBaseUrl: string): string {
  return codexBackendUrl(chatgptBaseUrl, 'rate-limit-reset-credits');
}

const time = z.union([z.string(), z.number()]);
const ListingSchema = z.object({
  available_count: z.int(),
  credits: z.array(
    z.object({
      id: z.string(),
      reset_type: z.string(),
      status: z.string(),
      granted_at: time,
      expires_at: z.nullish(time),
      title: z.nullish(z.string()),
      description: z.nullish(z.string()),
    }),
  ),
});

/** RFC 3339 text (as the backend sends) or seconds, as whole seconds since the epoch. */
function seconds(value: string | number, what: string): number {
  if (typeof value === 'number') return Math.round(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`${what} is not an RFC 3339 time`);
  return Math.floor(ms / 1000);
}

/** Maps the listing's body; throws an Error naming the field it cannot read. */
export function mapResetCreditsListing(body: unknown): RateLimitResetCredits {
  const parsed = ListingSchema.safeParse(body);
  if (!parsed.success) throw new Error(describeIssues(parsed.error));
  return {
    availableCount: parsed.data.available_count,
    credits: parsed.data.credits.map((credit, index) => ({
      id: credit.id,
      resetType: credit.reset_type === 'codex_rate_limits' ? 'codexRateLimits' : 'unknown',
      status: (['available', 'redeeming', 'redeemed'] as const).find((status) => status === credit.status) ?? 'unknown',
      grantedAt: seconds(credit.granted_at, `credits.${index}.granted_at`),
      expiresAt: credit.expires_at == null ? null : seconds(credit.expires_at, `credits.${index}.expires_at`),
      title: credit.title ?? null,
      description: credit.description ?? null,
    })),
  };
}

/** Options of {@link listResetCredits}. */
export interface ResetCreditsOptions {
  fetch?: Fetch;
  timeoutMs?: number;
  /** Told why the listing could not be used. */
  onFailure?: (reason: string) => void;
}

/** The banked resets as listed by the backend (through the 401 recovery), or null when that failed. Never throws. */
export async function listResetCredits(core: AuthCore, chatgptBaseUrl: string, options: ResetCreditsOptions = {}): Promise<RateLimitResetCredits | null> {
  const url = resetCreditsUrl(chatgptBaseUrl);
  try {
    const response = await authorizedFetch(
      core,
      url,
      { method: 'GET', headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(options.timeoutMs ?? RESET_CREDITS_TIMEOUT_MS) },
      { purpose: 'read rate limits', fetch: options.fetch },
    );
    const text = await response.text();
    if (!response.ok) throw new Error(`answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    return mapResetCreditsListing(JSON.parse(text));
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? 'timed out' : redactText((error as Error).message);
    options.onFailure?.(`GET ${url} failed (${reason})`);
    return null;
  }
}

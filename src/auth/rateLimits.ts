/**
 * `account/rateLimits/read` (docs/protocol.md §4, §12.3): the usage endpoint of the ChatGPT backend, read
 * through the 401 recovery loop, mapped to the multi-bucket result of today's Codex, with the banked
 * resets from their own endpoint. The wire schemas of the result's parts live here, beside the mapping.
 */
import * as z from '../zod';
import { PLAN_TYPES } from '../../machines/types';
import { userIdOf } from '../../machines/views';
import { redactText, type Logger } from '../log';
import { authorizedFetch } from './backend';
import { codexBackendUrl } from './backendUrls';
import { AuthCallError, type AuthCore } from './core';
import { listResetCredits, type RateLimitResetCredits } from './resetCredits';
import { RATE_LIMIT_REACHED_TYPES, RateLimitsError, mapUsageBody, type RateLimitSnapshot } from './usageBody';
import type { Fetch, HttpResponse } from './http';
import { failureReason } from './httpFailure';

export { RateLimitsError, mapUsageBody } from './usageBody';
export type { RateLimitSnapshot, RateLimitWindow, RateLimitCredits, UsageOwner } from './usageBody';

/** One rate-limit window as the protocol reports it. */
export const RateLimitWindowSchema = z.object({
  usedPercent: z.int(),
  windowDurationMins: z.nullable(z.int()),
  resetsAt: z.nullable(z.int()),
});

/** The credits of the account. */
export const RateLimitCreditsSchema = z.object({ hasCredits: z.boolean(), unlimited: z.boolean(), balance: z.nullable(z.string()) });

/** A member's spend limit (`individualLimit`). */
export const IndividualLimitSchema = z.object({ limit: z.string(), used: z.string(), remainingPercent: z.int(), resetsAt: z.int() });

/** One bucket: `result.rateLimits` and each value of `result.rateLimitsByLimitId` (docs/protocol.md §4, §12.3). */
export const RateLimitSnapshotSchema = z.object({
  limitId: z.nullable(z.string()),
  limitName: z.nullable(z.string()),
  normalModelSlug: z.nullable(z.string()),
  primary: z.nullable(RateLimitWindowSchema),
  secondary: z.nullable(RateLimitWindowSchema),
  credits: z.nullable(RateLimitCreditsSchema),
  individualLimit: z.nullable(IndividualLimitSchema),
  spendControlReached: z.nullable(z.boolean()),
  planType: z.nullable(z.enum(PLAN_TYPES)),
  rateLimitReachedType: z.nullable(z.enum(RATE_LIMIT_REACHED_TYPES)),
});

/** `result.rateLimitResetCredits`. */
export const RateLimitResetCreditsSchema = z.object({
  availableCount: z.int(),
  credits: z.nullable(
    z.array(
      z.object({
        id: z.string(),
        resetType: z.enum(['codexRateLimits', 'unknown']),
        status: z.enum(['available', 'redeeming', 'redeemed', 'unknown']),
        grantedAt: z.int(),
        expiresAt: z.nullable(z.int()),
        title: z.nullable(z.string()),
        description: z.nullable(z.string()),
      }),
    ),
  ),
});

/** The whole result of `account/rateLimits/read`. */
export interface RateLimitsRead {
  rateLimits: RateLimitSnapshot;
  rateLimitsByLimitId: Record<string, RateLimitSnapshot>;
  ordinaryUsageAllowed: boolean | null;
  rateLimitResetCredits: RateLimitResetCredits | null;
  accountId: string | null;
  rateLimitUpsell: unknown;
}

/** The refusal texts' purpose for this call. */
export const RATE_LIMITS_PURPOSE = 'read rate limits';

/** The usage URL: `/wham/usage` under a `/backend-api` base URL, else `/api/codex/usage` (as Codex). */
export function usageUrl(chatgptBaseUrl: string): string {
  return codexBackendUrl(chatgptBaseUrl, 'usage');
}

/** Options of {@link readRateLimits}. */
export interface ReadRateLimitsOptions {
  fetch?: Fetch;
  /** Where a fallback of the reset-credit listing is reported (debug level). */
  logger?: Logger;
  /** Time limit of the reset-credit listing (default 5 s). */
  resetCreditsTimeoutMs?: number;
}

/** GETs the usage body through the 401 recovery; throws AuthCallError or RateLimitsError. */
async function fetchUsageBody(core: AuthCore, url: string, fetchImpl?: Fetch): Promise<unknown> {
  let response: HttpResponse;
  try {
    response = await authorizedFetch(core, url, { method: 'GET', headers: { Accept: 'application/json' } }, { purpose: RATE_LIMITS_PURPOSE, fetch: fetchImpl });
  } catch (error) {
    if (error instanceof AuthCallError) throw error;
    throw new RateLimitsError(`GET ${url} failed: ${redactText(failureReason(error))}`);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    const snippet = redactText(text.trim().slice(0, 200));
    throw new RateLimitsError(`GET ${url} failed: ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${snippet ? `; body: ${snippet}` : ''}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new RateLimitsError(`GET ${url} answered ${response.status} with a body that is not JSON`);
  }
}

/**
 * Reads the rate limits. Throws AuthCallError for refusals and failed refreshes (their exact texts) and
 * RateLimitsError for a usage endpoint that fails or answers something unreadable after the recovery.
 * `ordinaryUsageAllowed` and `rateLimitUpsell` are given only when the body names this login's account
 * and user (the chart's `account`). The banked resets come from their listing, or, when the listing
 * fails, from the body's count.
 */
export async function readRateLimits(core: AuthCore, chatgptBaseUrl: string, options: ReadRateLimitsOptions = {}): Promise<RateLimitsRead> {
  // Both asked at once, as Codex 0.169 does: the listing adds no latency, and two calls meeting an
  // expiring token share one proactive refresh. The listing never throws (null when it failed).
  const listing = listResetCredits(core, chatgptBaseUrl, {
    fetch: options.fetch,
    timeoutMs: options.resetCreditsTimeoutMs,
    onFailure: (reason) => options.logger?.debug(`${reason}; using the usage body's count`),
  });
  const body = await fetchUsageBody(core, usageUrl(chatgptBaseUrl), options.fetch);
  const snapshot = core.snapshot();
  // The same user id account/read reports (§12.1).
  const owner = { accountId: snapshot.context.account?.accountId ?? null, userId: userIdOf(snapshot) };
  const usage = mapUsageBody(body, owner, Math.floor(Date.now() / 1000));
  const count = usage.resetCreditsCount;
  const rateLimitResetCredits = (await listing) ?? (count === null ? null : { availableCount: count, credits: null });
  return {
    rateLimits: usage.rateLimits,
    rateLimitsByLimitId: usage.rateLimitsByLimitId,
    ordinaryUsageAllowed: usage.ordinaryUsageAllowed,
    rateLimitResetCredits,
    accountId: usage.accountId,
    rateLimitUpsell: usage.rateLimitUpsell,
  };
}

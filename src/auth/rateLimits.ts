/**
 * `account/rateLimits/read` (docs/protocol.md §4): the usage endpoint of the ChatGPT backend, read through
 * the 401 recovery loop, and its body mapped to the protocol's rate-limit snapshot.
 */
import * as z from '../zod';
import { PLAN_TYPES, normalizePlanType } from '../../machines/types';
import { describeIssues } from '../issues';
import { redactText } from '../log';
import { authorizedFetch } from './backend';
import { AuthCallError, type AuthCore } from './core';

/** One rate-limit window as the protocol reports it. */
export const RateLimitWindowSchema = z.object({
  usedPercent: z.int(),
  windowDurationMins: z.nullable(z.int()),
  resetsAt: z.nullable(z.int()),
});
export type RateLimitWindow = z.infer<typeof RateLimitWindowSchema>;

/** The credits of the account. */
export const RateLimitCreditsSchema = z.object({ hasCredits: z.boolean(), unlimited: z.boolean(), balance: z.nullable(z.string()) });
export type RateLimitCredits = z.infer<typeof RateLimitCreditsSchema>;

/** `result.rateLimits` of `account/rateLimits/read` (docs/protocol.md §4). */
export const RateLimitSnapshotSchema = z.object({
  primary: z.nullable(RateLimitWindowSchema),
  secondary: z.nullable(RateLimitWindowSchema),
  credits: z.nullable(RateLimitCreditsSchema),
  planType: z.nullable(z.enum(PLAN_TYPES)),
});
export type RateLimitSnapshot = z.infer<typeof RateLimitSnapshotSchema>;

/** What a failed read says after `failed to fetch codex rate limits: `. */
export class RateLimitsError extends Error {
  override readonly name = 'RateLimitsError';
}

/** The refusal texts' purpose for this call. */
export const RATE_LIMITS_PURPOSE = 'read rate limits';

/** The usage URL: `/wham/usage` under a `/backend-api` base URL, else `/api/codex/usage` (as Codex). */
export function usageUrl(chatgptBaseUrl: string): string {
  let base = chatgptBaseUrl.replace(/\/+$/, '');
  // Codex adds the path a bare ChatGPT origin lacks.
  if (/^https:\/\/(chatgpt\.com|chat\.openai\.com)$/.test(base)) base = `${base}/backend-api`;
  return base.includes('/backend-api') ? `${base}/wham/usage` : `${base}/api/codex/usage`;
}

const WindowBodySchema = z.object({
  used_percent: z.number(),
  limit_window_seconds: z.nullish(z.number()),
  reset_at: z.nullish(z.number()),
});
const UsageBodySchema = z.object({
  plan_type: z.nullish(z.string()),
  rate_limit: z.nullish(z.object({ primary_window: z.nullish(WindowBodySchema), secondary_window: z.nullish(WindowBodySchema) })),
  credits: z.nullish(z.object({ has_credits: z.boolean(), unlimited: z.boolean(), balance: z.nullish(z.union([z.string(), z.number()])) })),
});

function mapWindow(window: z.infer<typeof WindowBodySchema> | null | undefined): RateLimitWindow | null {
  if (!window) return null;
  const seconds = window.limit_window_seconds ?? 0;
  return {
    usedPercent: Math.round(window.used_percent),
    // Whole minutes, rounded up as Codex does; no window length when the backend gives none.
    windowDurationMins: seconds > 0 ? Math.ceil(seconds / 60) : null,
    resetsAt: window.reset_at === null || window.reset_at === undefined ? null : Math.round(window.reset_at),
  };
}

/** Maps the backend's usage body to the protocol's snapshot; throws RateLimitsError naming a bad field. */
export function mapUsageBody(body: unknown): RateLimitSnapshot {
  const parsed = UsageBodySchema.safeParse(body);
  if (!parsed.success) throw new RateLimitsError(`the backend answered an unexpected body (${describeIssues(parsed.error)})`);
  const { plan_type, rate_limit, credits } = parsed.data;
  return {
    primary: mapWindow(rate_limit?.primary_window),
    secondary: mapWindow(rate_limit?.secondary_window),
    credits: credits
      ? {
          hasCredits: credits.has_credits,
          unlimited: credits.unlimited,
          balance: credits.balance === null || credits.balance === undefined ? null : String(credits.balance),
        }
      : null,
    planType: plan_type ? normalizePlanType(plan_type) : null,
  };
}

/**
 * Reads the rate limits. Throws AuthCallError for refusals and failed refreshes (their exact texts) and
 * RateLimitsError for a backend that fails or answers something unreadable after the recovery.
 */
export async function readRateLimits(core: AuthCore, chatgptBaseUrl: string, fetchImpl?: typeof fetch): Promise<RateLimitSnapshot> {
  const url = usageUrl(chatgptBaseUrl);
  let response: Response;
  try {
    response = await authorizedFetch(core, url, { method: 'GET', headers: { Accept: 'application/json' } }, { purpose: RATE_LIMITS_PURPOSE, fetch: fetchImpl });
  } catch (error) {
    if (error instanceof AuthCallError) throw error;
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    throw new RateLimitsError(`GET ${url} failed: ${redactText(cause?.code ?? cause?.message ?? (error as Error).message)}`);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    const snippet = redactText(text.trim().slice(0, 200));
    throw new RateLimitsError(`GET ${url} failed: ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${snippet ? `; body: ${snippet}` : ''}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RateLimitsError(`GET ${url} answered ${response.status} with a body that is not JSON`);
  }
  return mapUsageBody(body);
}

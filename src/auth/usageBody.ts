/**
 * The usage body of the ChatGPT backend (`GET …/wham/usage`) mapped to the rate-limit buckets of
 * `account/rateLimits/read` (docs/protocol.md §4 and §12.3). Pure: no I/O, no clock (the caller passes `now`).
 */
import * as z from '../zod';
import { normalizePlanType, type PlanType } from '../../machines/types';
import { describeIssues } from '../issues';

/** Why a usage body could not be read; the text follows `failed to fetch codex rate limits: `. */
export class RateLimitsError extends Error {
  override readonly name = 'RateLimitsError';
}

/** What the backend says a limit was reached by (§12.3); other values of `type` read as null. */
export const RATE_LIMIT_REACHED_TYPES = [
  'rate_limit_reached',
  'workspace_owner_credits_depleted',
  'workspace_member_credits_depleted',
  'workspace_owner_usage_limit_reached',
  'workspace_member_usage_limit_reached',
] as const;
export type RateLimitReachedType = (typeof RATE_LIMIT_REACHED_TYPES)[number];

/** One window of a bucket. */
export interface RateLimitWindow {
  usedPercent: number;
  windowDurationMins: number | null;
  resetsAt: number | null;
}

/** The credits of the account. */
export interface RateLimitCredits {
  hasCredits: boolean;
  unlimited: boolean;
  balance: string | null;
}

/** The spend limit a workspace admin set for this member (`spend_control.individual_limit`). */
export interface IndividualLimit {
  limit: string;
  used: string;
  remainingPercent: number;
  resetsAt: number;
}

/** One rate-limit bucket (`rateLimits` and each value of `rateLimitsByLimitId`); §4's keys first. */
export interface RateLimitSnapshot {
  primary: RateLimitWindow | null;
  secondary: RateLimitWindow | null;
  credits: RateLimitCredits | null;
  planType: PlanType | null;
  limitId: string | null;
  limitName: string | null;
  normalModelSlug: string | null;
  individualLimit: IndividualLimit | null;
  spendControlReached: boolean | null;
  rateLimitReachedType: RateLimitReachedType | null;
}

/** The login a usage body is compared with: `ordinaryUsageAllowed`/`rateLimitUpsell` are its own only. */
export interface UsageOwner {
  accountId: string | null;
  userId: string | null;
}

/** Everything the usage body gives `account/rateLimits/read`. */
export interface UsageMapping {
  rateLimits: RateLimitSnapshot;
  rateLimitsByLimitId: Record<string, RateLimitSnapshot>;
  ordinaryUsageAllowed: boolean | null;
  accountId: string | null;
  rateLimitUpsell: unknown;
  /** `rate_limit_reset_credits.available_count`: the fallback when the reset-credit listing fails. */
  resetCreditsCount: number | null;
}

const WindowBodySchema = z.object({
  used_percent: z.number(),
  limit_window_seconds: z.nullish(z.number()),
  reset_after_seconds: z.nullish(z.number()),
  reset_at: z.nullish(z.number()),
});
const RateLimitBodySchema = z.object({
  allowed: z.nullish(z.boolean()),
  primary_window: z.nullish(WindowBodySchema),
  secondary_window: z.nullish(WindowBodySchema),
});
const amount = z.union([z.string(), z.number()]);
const IndividualLimitBodySchema = z.object({
  limit: amount,
  used: amount,
  remaining: amount,
  used_percent: z.number(),
  remaining_percent: z.number(),
  reset_at: z.number(),
  reset_after_seconds: z.number(),
});
const UsageBodySchema = z.object({
  plan_type: z.nullish(z.string()),
  rate_limit: z.nullish(RateLimitBodySchema),
  credits: z.nullish(z.object({ has_credits: z.boolean(), unlimited: z.boolean(), balance: z.nullish(amount) })),
  additional_rate_limits: z.nullish(
    z.array(
      z.object({
        limit_name: z.string(),
        metered_feature: z.string(),
        normal_model_slug: z.nullish(z.string()),
        rate_limit: z.nullish(RateLimitBodySchema),
      }),
    ),
  ),
  spend_control: z.nullish(z.object({ reached: z.nullish(z.boolean()), individual_limit: z.nullish(z.unknown()) })),
  rate_limit_reached_type: z.nullish(z.looseObject({ type: z.string() })),
  rate_limit_reset_credits: z.nullish(z.object({ available_count: z.int() })),
  account_id: z.nullish(z.string()),
  user_id: z.nullish(z.string()),
  rate_limit_upsell: z.nullish(z.unknown()),
});
type UsageBody = z.infer<typeof UsageBodySchema>;
type WindowBody = z.infer<typeof WindowBodySchema>;

function mapWindow(window: WindowBody | null | undefined, where: string, nowSeconds: number): RateLimitWindow | null {
  if (!window) return null;
  const resetAt = window.reset_at ?? (window.reset_after_seconds == null ? null : nowSeconds + window.reset_after_seconds);
  if (resetAt === null) throw new RateLimitsError(`the backend answered an unexpected body (${where}: has neither reset_at nor reset_after_seconds)`);
  const seconds = window.limit_window_seconds ?? 0;
  return {
    // Rounded, as the seed generation reports it (§4).
    usedPercent: Math.round(window.used_percent),
    // Whole minutes, rounded up as Codex does; no window length when the backend gives none.
    windowDurationMins: seconds > 0 ? Math.ceil(seconds / 60) : null,
    resetsAt: Math.round(resetAt),
  };
}

function mapWindows(rateLimit: UsageBody['rate_limit'], where: string, nowSeconds: number) {
  return {
    primary: mapWindow(rateLimit?.primary_window, `${where}.primary_window`, nowSeconds),
    secondary: mapWindow(rateLimit?.secondary_window, `${where}.secondary_window`, nowSeconds),
  };
}

/** `spend_control.individual_limit` when all seven of its fields are there, else null (§12.3). */
function mapIndividualLimit(value: unknown): IndividualLimit | null {
  const parsed = IndividualLimitBodySchema.safeParse(value);
  if (!parsed.success) return null;
  const limit = parsed.data;
  return { limit: String(limit.limit), used: String(limit.used), remainingPercent: Math.round(limit.remaining_percent), resetsAt: Math.round(limit.reset_at) };
}

function reachedType(value: UsageBody['rate_limit_reached_type']): RateLimitReachedType | null {
  const type = value?.type;
  return (RATE_LIMIT_REACHED_TYPES as readonly string[]).includes(type ?? '') ? (type as RateLimitReachedType) : null;
}

/**
 * Maps the backend's usage body; throws RateLimitsError naming a field it cannot read. `nowSeconds`
 * turns a window's `reset_after_seconds` into a time when it has no `reset_at`.
 */
export function mapUsageBody(body: unknown, owner: UsageOwner, nowSeconds: number): UsageMapping {
  const parsed = UsageBodySchema.safeParse(body);
  if (!parsed.success) throw new RateLimitsError(`the backend answered an unexpected body (${describeIssues(parsed.error)})`);
  const data = parsed.data;
  const planType = data.plan_type ? normalizePlanType(data.plan_type) : null;
  const credits = data.credits;
  const main: RateLimitSnapshot = {
    ...mapWindows(data.rate_limit, 'rate_limit', nowSeconds),
    credits: credits
      ? { hasCredits: credits.has_credits, unlimited: credits.unlimited, balance: credits.balance == null ? null : String(credits.balance) }
      : null,
    planType,
    limitId: 'codex',
    limitName: null,
    normalModelSlug: null,
    individualLimit: mapIndividualLimit(data.spend_control?.individual_limit),
    spendControlReached: data.spend_control?.reached ?? null,
    rateLimitReachedType: reachedType(data.rate_limit_reached_type),
  };
  const byLimitId: Record<string, RateLimitSnapshot> = { codex: main };
  (data.additional_rate_limits ?? []).forEach((extra, index) => {
    byLimitId[extra.metered_feature] = {
      ...mapWindows(extra.rate_limit, `additional_rate_limits.${index}.rate_limit`, nowSeconds),
      credits: null,
      planType,
      limitId: extra.metered_feature,
      limitName: extra.limit_name,
      normalModelSlug: extra.normal_model_slug ?? null,
      individualLimit: null,
      spendControlReached: null,
      rateLimitReachedType: null,
    };
  });
  // Another account's or user's allowance is not this login's to act on.
  const owned = owner.accountId !== null && owner.userId !== null && data.account_id === owner.accountId && data.user_id === owner.userId;
  return {
    rateLimits: main,
    rateLimitsByLimitId: byLimitId,
    ordinaryUsageAllowed: owned ? (data.rate_limit?.allowed ?? null) : null,
    accountId: data.account_id ?? null,
    rateLimitUpsell: owned ? (data.rate_limit_upsell ?? null) : null,
    resetCreditsCount: data.rate_limit_reset_credits?.available_count ?? null,
  };
}

/**
 * `account/rateLimits/read` (docs/protocol.md §4, §12.3): the usage URL styles, the mapping of the backend
 * body to the buckets, owner matching, and the reset-credit listing.
 */
import { mapUsageBody, usageUrl } from '../../src/auth/rateLimits';
import { mapResetCreditsListing, resetCreditsUrl } from '../../src/auth/resetCredits';
import { RateLimitsError } from '../../src/auth/usageBody';
import { RESET_CREDITS_LISTING, multiBucketUsageBody } from '../support/chatgptBackend';
import { USAGE_BODY, USAGE_RESULT, USAGE_SNAPSHOT } from '../support/httpFakes';

const NOBODY = { accountId: null, userId: null };
const OWNER = { accountId: 'acct-1', userId: 'user-1' };
const NOW = 1767000000;

describe('rate limits', () => {
  it.each([
    ['https://chatgpt.com/backend-api/', 'https://chatgpt.com/backend-api/wham/usage'],
    ['https://chatgpt.com/backend-api', 'https://chatgpt.com/backend-api/wham/usage'],
    ['https://chatgpt.com', 'https://chatgpt.com/backend-api/wham/usage'],
    ['http://127.0.0.1:8080/backend-api/codex', 'http://127.0.0.1:8080/backend-api/codex/wham/usage'],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080/api/codex/usage'],
    ['https://proxy.example.com/codex', 'https://proxy.example.com/codex/api/codex/usage'],
  ])('reads usage for %s at %s', (base, url) => {
    expect(usageUrl(base)).toBe(url);
  });

  it('lists reset credits beside the usage endpoint, in the same path style', () => {
    expect(resetCreditsUrl('https://chatgpt.com')).toBe('https://chatgpt.com/backend-api/wham/rate-limit-reset-credits');
    expect(resetCreditsUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080/api/codex/rate-limit-reset-credits');
  });

  it('maps the seed body: rounded percent, minutes rounded up, credits, plan; every new key null but the bucket id', () => {
    expect(mapUsageBody(USAGE_BODY, OWNER, NOW)).toEqual({
      rateLimits: USAGE_SNAPSHOT,
      rateLimitsByLimitId: { codex: USAGE_SNAPSHOT },
      ordinaryUsageAllowed: null,
      accountId: null,
      rateLimitUpsell: null,
      resetCreditsCount: null,
    });
    expect(mapUsageBody(USAGE_BODY, OWNER, NOW).rateLimits).toMatchObject(USAGE_RESULT);
    expect(
      mapUsageBody(
        {
          plan_type: 'Education',
          rate_limit: { primary_window: { used_percent: 0.4, limit_window_seconds: 90, reset_at: 5 }, secondary_window: null },
          credits: { has_credits: false, unlimited: true, balance: 3 },
        },
        NOBODY,
        NOW,
      ).rateLimits,
    ).toMatchObject({
      primary: { usedPercent: 0, windowDurationMins: 2, resetsAt: 5 },
      secondary: null,
      credits: { hasCredits: false, unlimited: true, balance: '3' },
      planType: 'edu',
    });
  });

  it('maps an empty body to nulls and an unknown plan to "unknown"', () => {
    expect(mapUsageBody({}, NOBODY, NOW).rateLimits).toMatchObject({ primary: null, secondary: null, credits: null, planType: null, limitId: 'codex' });
    expect(mapUsageBody({ plan_type: 'galaxy', rate_limit: { primary_window: { used_percent: 1, reset_at: 7 } } }, NOBODY, NOW).rateLimits).toMatchObject({
      primary: { usedPercent: 1, windowDurationMins: null, resetsAt: 7 },
      planType: 'unknown',
    });
  });

  it('maps the additional buckets, spend control, the reached type and, for its owner, allowance and upsell', () => {
    const body = multiBucketUsageBody(OWNER);
    const mapped = mapUsageBody(body, OWNER, NOW);
    const main = {
      ...USAGE_SNAPSHOT,
      individualLimit: { limit: '50.00', used: '12.50', remainingPercent: 75, resetsAt: 1767900000 },
      spendControlReached: false,
      rateLimitReachedType: 'workspace_member_usage_limit_reached',
    };
    expect(mapped).toEqual({
      rateLimits: main,
      rateLimitsByLimitId: {
        codex: main,
        codex_bengalfox: {
          limitId: 'codex_bengalfox',
          limitName: 'GPT-5.3-Codex-Spark',
          normalModelSlug: 'gpt-5.3-codex-spark',
          primary: { usedPercent: 10, windowDurationMins: 2, resetsAt: 1767300000 },
          secondary: null,
          credits: null,
          individualLimit: null,
          spendControlReached: null,
          planType: 'pro',
          rateLimitReachedType: null,
        },
      },
      ordinaryUsageAllowed: true,
      accountId: 'acct-1',
      rateLimitUpsell: { upsell_type: 'buy_credits', cta_url: 'https://chatgpt.com/codex/settings/usage' },
      resetCreditsCount: 2,
    });
  });

  it.each([
    ['another account', { accountId: 'acct-2', userId: 'user-1' }],
    ['another user', { accountId: 'acct-1', userId: 'user-2' }],
    ['a login without a user id', { accountId: 'acct-1', userId: null }],
  ])('gives neither allowance nor upsell to %s, but still the account id', (_what, owner) => {
    const mapped = mapUsageBody(multiBucketUsageBody(OWNER), owner, NOW);
    expect([mapped.ordinaryUsageAllowed, mapped.rateLimitUpsell, mapped.accountId]).toEqual([null, null, 'acct-1']);
  });

  it('drops a spend limit missing one of its seven fields, and an unknown reached type', () => {
    const body = multiBucketUsageBody(OWNER);
    const { reset_after_seconds: _dropped, ...six } = body.spend_control.individual_limit;
    const mapped = mapUsageBody({ ...body, spend_control: { reached: true, individual_limit: six }, rate_limit_reached_type: { type: 'galactic' } }, OWNER, NOW);
    expect(mapped.rateLimits).toMatchObject({ individualLimit: null, spendControlReached: true, rateLimitReachedType: null });
  });

  it('times a window by reset_after_seconds when it has no reset_at', () => {
    const body = { rate_limit: { primary_window: { used_percent: 3, limit_window_seconds: 60, reset_after_seconds: 120 } } };
    expect(mapUsageBody(body, NOBODY, NOW).rateLimits.primary).toEqual({ usedPercent: 3, windowDurationMins: 1, resetsAt: NOW + 120 });
  });

  it.each([
    ['a window without reset_at or reset_after_seconds', { rate_limit: { primary_window: { used_percent: 1 } } }, /rate_limit\.primary_window: has neither reset_at nor reset_after_seconds/],
    ['a reached type that is not an object', { rate_limit_reached_type: 'rate_limit_reached' }, /rate_limit_reached_type/],
    ['a percentage that is not a number', { rate_limit: { primary_window: { used_percent: 'high', reset_at: 1 } } }, /rate_limit\.primary_window\.used_percent/],
    ['an additional bucket without its feature', { additional_rate_limits: [{ limit_name: 'x' }] }, /additional_rate_limits\.0\.metered_feature/],
  ])('refuses %s, naming the field', (_what, body, message) => {
    expect(() => mapUsageBody(body, NOBODY, NOW)).toThrow(RateLimitsError);
    expect(() => mapUsageBody(body, NOBODY, NOW)).toThrow(message);
  });

  it('maps the reset-credit listing: RFC 3339 or seconds, unknown kinds and statuses kept as "unknown"', () => {
    expect(mapResetCreditsListing(RESET_CREDITS_LISTING)).toEqual({
      availableCount: 2,
      credits: [
        { id: 'rc-1', resetType: 'codexRateLimits', status: 'available', grantedAt: 1767225600, expiresAt: 1769904000, title: 'Reset', description: null },
        { id: 'rc-2', resetType: 'unknown', status: 'unknown', grantedAt: 1767225600, expiresAt: null, title: null, description: null },
      ],
    });
    expect(() => mapResetCreditsListing({ available_count: 1, credits: [{ id: 'x', reset_type: 'a', status: 'b', granted_at: 'yesterday' }] })).toThrow(
      'credits.0.granted_at is not an RFC 3339 time',
    );
    expect(() => mapResetCreditsListing({ credits: [] })).toThrow(/available_count/);
  });
});

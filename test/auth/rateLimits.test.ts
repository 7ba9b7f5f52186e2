/** `account/rateLimits/read` (docs/protocol.md §4): the usage URL styles and the mapping of the backend body. */
import { RateLimitsError, mapUsageBody, usageUrl } from '../../src/auth/rateLimits';
import { USAGE_BODY, USAGE_RESULT } from '../support/httpFakes';

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

  it('maps the backend body: rounded percent, minutes rounded up, credits, plan', () => {
    expect(mapUsageBody(USAGE_BODY)).toEqual(USAGE_RESULT);
    expect(
      mapUsageBody({
        plan_type: 'Education',
        rate_limit: { primary_window: { used_percent: 0.4, limit_window_seconds: 90, reset_at: 5 }, secondary_window: null },
        credits: { has_credits: false, unlimited: true, balance: 3 },
      }),
    ).toEqual({
      primary: { usedPercent: 0, windowDurationMins: 2, resetsAt: 5 },
      secondary: null,
      credits: { hasCredits: false, unlimited: true, balance: '3' },
      planType: 'edu',
    });
  });

  it('maps an empty body to nulls and an unknown plan to "unknown"', () => {
    expect(mapUsageBody({})).toEqual({ primary: null, secondary: null, credits: null, planType: null });
    expect(mapUsageBody({ plan_type: 'galaxy', rate_limit: { primary_window: { used_percent: 1 } } })).toEqual({
      primary: { usedPercent: 1, windowDurationMins: null, resetsAt: null },
      secondary: null,
      credits: null,
      planType: 'unknown',
    });
  });

  it('names the field of a body it cannot read', () => {
    expect(() => mapUsageBody({ rate_limit: { primary_window: { used_percent: 'high' } } })).toThrow(RateLimitsError);
    expect(() => mapUsageBody({ rate_limit: { primary_window: { used_percent: 'high' } } })).toThrow(/rate_limit\.primary_window\.used_percent/);
  });
});

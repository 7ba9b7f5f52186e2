/**
 * `account/rateLimits/read` of today's generation (docs/protocol.md §12.3), end to end over the real bin: the
 * multi-bucket result, the reset-credit listing and its fallback, owner matching against the login,
 * and the listing's own 401 recovery. Real files in a temp CODEX_HOME, a loopback ChatGPT backend.
 */
import { RateLimitsReadResultSchema } from '../../src/rpc/schemas';
import { RESET_CREDITS_LISTING, multiBucketUsageBody, startFakeChatgptBackend, type ChatgptBackendOptions } from '../support/chatgptBackend';
import { configToml, startParent, writeAuthJson } from '../support/client';
import { USAGE_READ_RESULT, USAGE_SNAPSHOT, bearerOf } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

/** A managed login of user-1 in workspace acct-1 (the id token carries both). */
const LOGIN = {
  idToken: chatgptJwt({ email: 'ada@example.com', plan: 'pro', accountId: 'acct-1', userId: 'user-1' }),
  accessToken: chatgptJwt({ accountId: 'acct-1', userId: 'user-1', exp: 4102444800 }),
  refreshToken: 'rt_ratelimits_xxxxxxxx',
};

const MAIN = {
  ...USAGE_SNAPSHOT,
  individualLimit: { limit: '50.00', used: '12.50', remainingPercent: 75, resetsAt: 1767900000 },
  spendControlReached: false,
  rateLimitReachedType: 'workspace_member_usage_limit_reached',
};
const SPARK = {
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
};
const UPSELL = { upsell_type: 'buy_credits', cta_url: 'https://chatgpt.com/codex/settings/usage' };

describe('account/rateLimits/read, today’s generation (docs/protocol.md §12.3)', () => {
  const own = trackResources();

  async function managedParent(options: ChatgptBackendOptions) {
    const backend = own.server(await startFakeChatgptBackend(options));
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/` }));
    writeAuthJson(home.dir, LOGIN);
    return { backend, parent: own.parent(await startParent(home.dir)) };
  }

  it('answers every bucket, spend control, the listing of reset credits, and the owner’s allowance and upsell', async () => {
    const { backend, parent } = await managedParent({
      usage: multiBucketUsageBody({ accountId: 'acct-1', userId: 'user-1' }),
      resetCredits: { status: 200, body: RESET_CREDITS_LISTING },
    });
    const result = await parent.client.readRateLimits();
    expect(result).toEqual({
      rateLimits: MAIN,
      rateLimitsByLimitId: { codex: MAIN, codex_bengalfox: SPARK },
      ordinaryUsageAllowed: true,
      rateLimitResetCredits: {
        availableCount: 2,
        credits: [
          { id: 'rc-1', resetType: 'codexRateLimits', status: 'available', grantedAt: 1767225600, expiresAt: 1769904000, title: 'Reset', description: null },
          { id: 'rc-2', resetType: 'unknown', status: 'unknown', grantedAt: 1767225600, expiresAt: null, title: null, description: null },
        ],
      },
      accountId: 'acct-1',
      rateLimitUpsell: UPSELL,
    });
    expect(RateLimitsReadResultSchema.safeParse(result).success).toBe(true);
    // Both calls carry the login's credentials.
    expect([...backend.calls('/wham/usage'), ...backend.calls('/wham/rate-limit-reset-credits')].map((r) => [bearerOf(r), r.headers['chatgpt-account-id']])).toEqual([
      [LOGIN.accessToken, 'acct-1'],
      [LOGIN.accessToken, 'acct-1'],
    ]);
  });

  it('falls back to the usage body’s count (credits null) when the listing fails, and logs why', async () => {
    const { parent } = await managedParent({
      usage: multiBucketUsageBody({ accountId: 'acct-1', userId: 'user-1' }),
      resetCredits: { status: 503, body: { detail: 'down' } },
    });
    const result = await parent.client.readRateLimits();
    expect(result.rateLimitResetCredits).toEqual({ availableCount: 2, credits: null });
    expect(parent.stderr()).toContain("rate-limit-reset-credits failed (answered 503 Service Unavailable); using the usage body's count");
  });

  it('gives no allowance or upsell for a usage body of another user, and the body’s account id as is', async () => {
    const { parent } = await managedParent({ usage: multiBucketUsageBody({ accountId: 'acct-1', userId: 'user-2' }) });
    const result = await parent.client.readRateLimits();
    expect([result.ordinaryUsageAllowed, result.rateLimitUpsell, result.accountId]).toEqual([null, null, 'acct-1']);
  });

  it('answers the seed body with the seed values and every new key null except the bucket id', async () => {
    const { backend, parent } = await managedParent({});
    expect(await parent.client.readRateLimits()).toEqual(USAGE_READ_RESULT);
    // The listing is asked for beside the usage (as Codex 0.169); its 404 leaves the body's count, here none.
    // (Workspace discovery's accounts/check runs beside them in the background.)
    expect(backend.seen.map((r) => r.path).filter((p) => !p.endsWith('/accounts/check')).sort()).toEqual(['/backend-api/wham/rate-limit-reset-credits', '/backend-api/wham/usage']);
  });

  it('prefers the listing to the usage body’s count (as Codex 0.169)', async () => {
    const usage = { ...multiBucketUsageBody({ accountId: 'acct-1', userId: 'user-1' }), rate_limit_reset_credits: { available_count: 0 } };
    const { parent } = await managedParent({ usage, resetCredits: { status: 200, body: RESET_CREDITS_LISTING } });
    expect((await parent.client.readRateLimits()).rateLimitResetCredits).toMatchObject({ availableCount: 2, credits: [{ id: 'rc-1' }, { id: 'rc-2' }] });
  });

  it('answers -32603 naming the field for a window the backend gives no reset time', async () => {
    const { parent } = await managedParent({ usage: { rate_limit: { primary_window: { used_percent: 5, limit_window_seconds: 60 } } } });
    await expect(parent.client.readRateLimits()).rejects.toMatchObject({
      code: -32603,
      message: 'failed to fetch codex rate limits: the backend answered an unexpected body (rate_limit.primary_window: has neither reset_at nor reset_after_seconds)',
    });
  });

  it('recovers the listing’s own 401 through the parent’s refresh (external tokens)', async () => {
    const OLD = chatgptJwt({ accountId: 'acct-1', userId: 'user-1', extra: { n: 'old' } });
    const NEW = chatgptJwt({ accountId: 'acct-1', userId: 'user-1', extra: { n: 'new' } });
    // The usage endpoint takes the old token; the listing wants the refreshed one.
    const backend = own.server(
      await startFakeChatgptBackend({
        accepts: (token, request) => request.path.endsWith('/usage') || token === NEW,
        usage: multiBucketUsageBody({ accountId: 'acct-1', userId: 'user-1' }),
        resetCredits: { status: 200, body: RESET_CREDITS_LISTING },
      }),
    );
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/` }));
    const parent = own.parent(await startParent(home.dir, { refreshTokens: () => ({ accessToken: NEW, chatgptAccountId: 'acct-1' }) }));
    await parent.client.loginWithTokens({ accessToken: OLD, chatgptAccountId: 'acct-1' });
    const result = await parent.client.readRateLimits();
    expect(result.rateLimitResetCredits?.credits).toHaveLength(2);
    expect(backend.calls('/wham/rate-limit-reset-credits').map(bearerOf)).toEqual([OLD, NEW]);
    expect(parent.serverRequests('account/chatgptAuthTokens/refresh')).toHaveLength(1);
  });
});

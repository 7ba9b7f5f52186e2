/**
 * Single flight (docs/protocol.md §6): however many calls hit a 401 at once, exactly one refresh runs and all
 * of them retry with its result. A property of the chart (one `refreshing` state), checked end to end.
 * At most MAX_CONCURRENT_BACKEND_CALLS calls are on the wire at once: the backend holds its 401s until
 * that many are waiting for one, so each of those really sees a 401; the calls still waiting for a slot
 * then go out once, with the refreshed token.
 */
import { MAX_CONCURRENT_BACKEND_CALLS } from '../../src/auth/backend';
import type { ExternalTokens } from '../../src/client';
import { configToml, startParent, writeAuthJson } from '../support/client';
import { USAGE_READ_RESULT, bearerOf, issuedTokens, startChatgptBackend, startTokenServer } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const CALLS = 50;
const ON_THE_WIRE = Math.min(CALLS, MAX_CONCURRENT_BACKEND_CALLS);

describe('single-flight refresh', () => {
  const own = trackResources();

  it(`makes exactly one refresh request to the parent for ${CALLS} concurrent calls meeting a 401 (external)`, async () => {
    const OLD = chatgptJwt({ accountId: 'acct-1', extra: { n: 'old' } });
    const NEW = chatgptJwt({ accountId: 'acct-1', extra: { n: 'new' } });
    const backend = own.server(await startChatgptBackend((token) => token === NEW, { holdUnauthorized: ON_THE_WIRE }));
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/` }));
    let asked = 0;
    const refreshTokens = (): ExternalTokens => {
      asked += 1;
      return { accessToken: NEW, chatgptAccountId: 'acct-1' };
    };
    const parent = own.parent(await startParent(home.dir, { refreshTokens }));
    await parent.client.loginWithTokens({ accessToken: OLD, chatgptAccountId: 'acct-1' });
    const results = await Promise.all(Array.from({ length: CALLS }, () => parent.client.readRateLimits()));
    expect(results).toEqual(Array(CALLS).fill(USAGE_READ_RESULT));
    expect(asked).toBe(1);
    expect(parent.serverRequests('account/chatgptAuthTokens/refresh')).toHaveLength(1);
    const seen = backend.usageCalls().map(bearerOf);
    expect(seen.filter((t) => t === OLD)).toHaveLength(ON_THE_WIRE);
    expect(seen.filter((t) => t === NEW)).toHaveLength(CALLS);
  });

  it(`makes exactly one token POST for ${CALLS} concurrent calls meeting a 401 (managed)`, async () => {
    const T0 = issuedTokens(0);
    const backend = own.server(await startChatgptBackend((token) => token !== T0.accessToken, { holdUnauthorized: ON_THE_WIRE }));
    const tokens = own.server(await startTokenServer());
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, tokenUrl: `${tokens.origin}/oauth/token` }));
    writeAuthJson(home.dir, T0);
    const parent = own.parent(await startParent(home.dir));
    const results = await Promise.all(Array.from({ length: CALLS }, () => parent.client.readRateLimits()));
    expect(results).toEqual(Array(CALLS).fill(USAGE_READ_RESULT));
    expect(tokens.posts()).toHaveLength(1);
    expect(tokens.reused).toBe(0);
    const seen = backend.usageCalls().map(bearerOf);
    expect(seen.filter((t) => t === T0.accessToken)).toHaveLength(ON_THE_WIRE);
    expect(seen.filter((t) => t === issuedTokens(1).accessToken)).toHaveLength(CALLS);
  });
});

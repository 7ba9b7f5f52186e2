/** authorizedFetch as a library API: an in-process core, the host answering refreshes itself. */
import { MAX_CONCURRENT_BACKEND_CALLS, authorizedFetch } from '../../src/auth/backend';
import { AuthCallError, AuthCore } from '../../src/auth/core';
import { EphemeralCredentialStore } from '../../src/auth/credentials';
import { decodeExternalTokens } from '../../src/auth/externalTokens';
import { parseConfig } from '../../src/config';
import { bearerOf, startFakeServer, type FakeServer } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';

describe('authorizedFetch', () => {
  let server: FakeServer;
  let core: AuthCore | undefined;
  const OLD = chatgptJwt({ accountId: 'acct-1', extra: { n: 0 } });
  const NEW = chatgptJwt({ accountId: 'acct-1', extra: { n: 1 } });

  // The configured ChatGPT backend, where the login's background workspace discovery goes (and fails: not
  // what these tests look at); the calls under test go to `server`.
  let configured: FakeServer;
  beforeEach(async () => {
    server = await startFakeServer((request) => (bearerOf(request) === NEW ? { status: 201, body: { echoed: request.body } } : { status: 401 }));
    configured = await startFakeServer(() => ({ status: 404 }));
  });
  afterEach(async () => {
    core?.stop();
    await server.close();
    await configured.close();
  });

  /** Logs the core in with external tokens, as a host embedding it would. */
  async function login(c: AuthCore, params: Record<string, unknown>) {
    const decoded = decodeExternalTokens(params);
    if (!decoded.ok) throw new Error(decoded.issues);
    return c.command({ type: 'login.externalTokens', tokens: decoded.tokens, claims: decoded.claims });
  }

  async function openCore(requestParent: (method: string, params: unknown) => Promise<unknown>) {
    const config = await parseConfig(`chatgpt_base_url = "${configured.origin}/backend-api/"\n`, '/nonexistent-codex-home', {});
    core = await AuthCore.open({ config, store: new EphemeralCredentialStore(), requestParent });
    return core;
  }

  it('adds the credentials, recovers from a 401 through the host, and resends the same request once', async () => {
    const asked: unknown[] = [];
    const c = await openCore(async (method, params) => {
      asked.push({ method, params });
      return { accessToken: NEW, chatgptAccountId: 'acct-1' };
    });
    const answer = await login(c, { accessToken: OLD, chatgptAccountId: 'acct-1' });
    expect(answer.ok).toBe(true);
    const response = await authorizedFetch(c, `${server.origin}/backend-api/anything`, {
      method: 'POST',
      headers: { 'X-Trace': 'abc' },
      body: '{"hello":1}',
    });
    expect(response.status).toBe(201);
    expect(JSON.parse(await response.text())).toEqual({ echoed: '{"hello":1}' });
    expect(asked).toEqual([{ method: 'account/chatgptAuthTokens/refresh', params: { reason: 'unauthorized', previousAccountId: 'acct-1' } }]);
    expect(server.seen.map((r) => [bearerOf(r), r.headers['chatgpt-account-id'], r.headers['x-trace'], r.body])).toEqual([
      [OLD, 'acct-1', 'abc', '{"hello":1}'],
      [NEW, 'acct-1', 'abc', '{"hello":1}'],
    ]);
  });

  it('returns the second 401 as is when the refreshed token is refused too', async () => {
    const c = await openCore(async () => ({ accessToken: chatgptJwt({ accountId: 'acct-1', extra: { n: 2 } }), chatgptAccountId: 'acct-1' }));
    await login(c, { accessToken: OLD, chatgptAccountId: 'acct-1' });
    const response = await authorizedFetch(c, `${server.origin}/x`);
    expect(response.status).toBe(401);
    expect(server.seen).toHaveLength(2);
  });

  it('refuses with the chart’s message and purpose when nobody is logged in', async () => {
    const c = await openCore(async () => ({}));
    const error = await authorizedFetch(c, `${server.origin}/x`, {}, { purpose: 'list tasks' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthCallError);
    expect(error).toMatchObject({ code: -32600, message: 'codex account authentication required to list tasks' });
    expect(server.seen).toHaveLength(0);
  });

  it('lets a burst meeting a 401 spend only the requests already on the wire: the rest wait and take the new token', async () => {
    let asked = 0;
    const c = await openCore(async () => {
      asked += 1;
      return { accessToken: NEW, chatgptAccountId: 'acct-1' };
    });
    await login(c, { accessToken: OLD, chatgptAccountId: 'acct-1' });
    const responses = await Promise.all(Array.from({ length: 100 }, () => authorizedFetch(c, `${server.origin}/backend-api/x`)));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(201));
    expect(asked).toBe(1);
    const refused = server.seen.filter((r) => bearerOf(r) === OLD).length;
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThanOrEqual(MAX_CONCURRENT_BACKEND_CALLS);
    expect(server.seen).toHaveLength(100 + refused);
  });
});

/**
 * Across processes (docs/protocol.md §6): authchart processes sharing one CODEX_HOME take turns on the store
 * lock, re-read auth.json inside it, and so never spend the same refresh token twice, against a token
 * server that rotates refresh tokens and rejects a reused one exactly like the real one.
 */
import type { AuthchartRpcError } from '../../src/client';
import { configToml, readAuthJson, startParent, writeAuthJson } from '../support/client';
import { USAGE_READ_RESULT, issuedTokens, startChatgptBackend, startTokenServer, type TokenServer } from '../support/httpFakes';
import { trackResources } from '../support/resources';

const PROCESSES = 5;
const ROUNDS = 10;

describe('refresh across processes on one CODEX_HOME', () => {
  const own = trackResources();
  let tokens: TokenServer;

  beforeEach(async () => {
    tokens = own.server(await startTokenServer());
  });

  it('the fake token endpoint rejects a reused refresh token like the real one', async () => {
    const grant = (rt: string) =>
      fetch(`${tokens.origin}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'app_EMoamEEZ73f0CkXaXp7hrann', grant_type: 'refresh_token', refresh_token: rt }),
      });
    const first = await grant(issuedTokens(0).refreshToken);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { refresh_token: string }).refresh_token).toBe(issuedTokens(1).refreshToken);
    const again = await grant(issuedTokens(0).refreshToken);
    expect(again.status).toBe(401);
    expect(await again.json()).toEqual({ error: { code: 'refresh_token_reused', message: 'Your refresh token has already been used' } });
    expect(tokens.reused).toBe(1);
  });

  it(`${PROCESSES} processes × ${ROUNDS} rounds of forced refresh: no refresh token spent twice, nobody logged out`, async () => {
    // The backend takes only the newest access token: a process holding an older one must catch up.
    const backend = own.server(await startChatgptBackend((token) => token === issuedTokens(tokens.rounds()).accessToken));
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, tokenUrl: `${tokens.origin}/oauth/token` }));
    writeAuthJson(home.dir, issuedTokens(0));
    const parents = await Promise.all(Array.from({ length: PROCESSES }, async () => own.parent(await startParent(home.dir))));

    for (let round = 0; round < ROUNDS; round += 1) {
      const reads = await Promise.all(parents.map((p) => p.client.readAccount({ refreshToken: true })));
      expect(reads.map((r) => r.account)).toEqual(Array(PROCESSES).fill({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null }));
    }

    expect(tokens.reused).toBe(0);
    expect(tokens.posts()).toHaveLength(PROCESSES * ROUNDS);
    expect(readAuthJson(home.dir).tokens.refresh_token).toBe(tokens.current());
    // Every process still works: the stale ones adopt the newest saved tokens on their 401, without a POST.
    const limits = await Promise.all(parents.map((p) => p.client.readRateLimits().catch((e: AuthchartRpcError) => e.message)));
    expect(limits).toEqual(Array(PROCESSES).fill(USAGE_READ_RESULT));
    expect(tokens.posts()).toHaveLength(PROCESSES * ROUNDS);
    for (const p of parents) expect(p.stderr()).not.toMatch(/refresh_token_reused|could not be refreshed/);
  });
});

/**
 * Cross-process refresh campaign (issue 11): 10 app-servers × 20 rounds of forced refresh on one
 * CODEX_HOME against a token server that rotates refresh tokens and refuses a reused one, as the real
 * one does. No refresh token may be spent twice, and every process keeps its login.
 */
import { performance } from 'node:perf_hooks';
import { configToml, readAuthJson, startParent, writeAuthJson } from '../support/client';
import { USAGE_READ_RESULT, issuedTokens, startChatgptBackend, startTokenServer } from '../support/httpFakes';
import { trackResources } from '../support/resources';
import { printFigures, size } from './campaign';

const PROCESSES = size('refresh_processes', 10, 10);
const ROUNDS = size('refresh_rounds', 20, 50);

describe('cross-process refresh campaign', () => {
  const own = trackResources();

  it(`${PROCESSES} processes × ${ROUNDS} forced refresh rounds on one CODEX_HOME: 0 reuse, nobody logged out`, async () => {
    const tokens = own.server(await startTokenServer());
    const backend = own.server(await startChatgptBackend((token) => token === issuedTokens(tokens.rounds()).accessToken));
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, tokenUrl: `${tokens.origin}/oauth/token` }));
    writeAuthJson(home.dir, issuedTokens(0));
    const parents = await Promise.all(Array.from({ length: PROCESSES }, async () => own.parent(await startParent(home.dir))));
    const roundMs: number[] = [];
    const accounts = new Set<string>();
    for (let round = 0; round < ROUNDS; round += 1) {
      const started = performance.now();
      const reads = await Promise.all(parents.map((p) => p.client.readAccount({ refreshToken: true })));
      roundMs.push(performance.now() - started);
      for (const { account } of reads) {
        accounts.add(JSON.stringify(account?.type === 'chatgpt' ? { type: account.type, email: account.email, planType: account.planType } : account));
      }
    }
    const limits = await Promise.all(parents.map((p) => p.client.readRateLimits()));
    const failures = parents.filter((p) => /refresh_token_reused|could not be refreshed/.test(p.stderr())).length;
    roundMs.sort((a, b) => a - b);
    printFigures('cross-process refresh', {
      processes: PROCESSES,
      rounds: ROUNDS,
      'refresh grants': tokens.posts().length,
      'reused refresh tokens': tokens.reused,
      'processes that lost their login': failures,
      'round ms (median / max)': [Math.round(roundMs[Math.floor(roundMs.length / 2)]), Math.round(roundMs[roundMs.length - 1])],
    });
    expect(tokens.reused).toBe(0);
    expect(failures).toBe(0);
    expect([...accounts]).toEqual([JSON.stringify({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus' })]);
    expect(tokens.posts()).toHaveLength(PROCESSES * ROUNDS);
    expect(readAuthJson(home.dir).tokens.refresh_token).toBe(tokens.current());
    expect(limits).toEqual(Array(PROCESSES).fill(USAGE_READ_RESULT));
  });
});

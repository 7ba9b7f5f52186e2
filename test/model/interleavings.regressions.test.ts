/**
 * Defects the interleaving layer found (test/model/interleavings.ts), one regression test each, named
 * after the defect, replayed on the real bin with the burst that showed it.
 */
import { issuedTokens } from '../support/httpFakes';
import { fixtureOf, predict, type Scenario } from './interleavings';
import { replayScenario } from './interleavingsReplay';

describe('regressions found by the interleavings', () => {
  it('answers a rate-limit read written before an API-key login with the managed token it was allowed (was: -32603 "no ChatGPT access token is available (state savingApiKey)")', async () => {
    // Found by seed 59: managed | write [R#1, R#2, K#3] ▸ backend 200. The chart said `proceed` to the
    // reads in chatgpt mode, but AuthCore took the bearer a few turns later, once the login behind them
    // had put the chart in savingApiKey (no bearer: -32603), or in apiKey (the API key sent to the ChatGPT backend).
    const scenario: Scenario = {
      seed: 59,
      start: 'managed',
      bursts: [[{ id: 1, kind: 'rateLimits' }, { id: 2, kind: 'rateLimits' }, { id: 3, kind: 'loginApiKey' }]],
      actions: [{ kind: 'write', burst: 0 }, { kind: 'backend', status: 200 }],
    };
    const prediction = predict(scenario);
    expect(prediction.segments[1].messages.map((m) => m.message)).toEqual([
      expect.objectContaining({ id: 1, result: expect.anything() }),
      expect.objectContaining({ id: 2, result: expect.anything() }),
    ]);
    const figures = await replayScenario(scenario, prediction);
    const restored = (fixtureOf('managed').authJson as { tokens: { access_token: string } }).tokens.access_token;
    expect(figures.bearers).toEqual([restored, restored]);
    expect(figures.bearers).not.toContain('sk-model-key');
    expect(restored).not.toEqual(issuedTokens(1).accessToken);
  });
});

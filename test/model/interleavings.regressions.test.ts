/**
 * Defects the interleaving layer found (test/model/interleavings.ts), one regression test each, named
 * after the defect, replayed on the real bin with the burst that showed it.
 */
import { issuedTokens } from '../support/httpFakes';
import { fixtureOf, guaranteed, predict, type Scenario } from './interleavings';
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

  it('asks again, for a rate-limit read sent back by a logout that cut its refresh short, before the login written after the logout (the order was left to timing)', async () => {
    // managedExpired | write [R#1, L#2, K#3]: R's calls start the proactive refresh and wait on it; the
    // logout cuts it short and the chart sends them back (`again`). They used to queue again at the back,
    // racing the API-key login dispatched once the logout was answered: "codex account authentication
    // required" or "chatgpt authentication required" was up to the turns of the event loop (the first won
    // in practice, so this passed before too; the model counted the burst as not guaranteed). Their place
    // is now kept at the head of the queue, and the model requires this answer in every order.
    const scenario: Scenario = {
      seed: 0,
      start: 'managedExpired',
      bursts: [[{ id: 1, kind: 'rateLimits' }, { id: 2, kind: 'logout' }, { id: 3, kind: 'loginApiKey' }]],
      actions: [{ kind: 'write', burst: 0 }],
    };
    expect(guaranteed(scenario)).toBe(true);
    const prediction = predict(scenario);
    expect(prediction.segments[0].messages.find((m) => m.message.id === 1)?.message).toEqual({
      id: 1,
      error: { code: -32600, message: 'codex account authentication required to read rate limits' },
    });
    for (let round = 0; round < 5; round += 1) await replayScenario(scenario, prediction);
  });

  it('lets a rate-limit read sent back by an external login go ahead with those tokens, before the logout written behind them (the order was left to timing)', async () => {
    // Seed 26: managedExpired | write [R#1, E(bob)#2, read(refresh)#3, L#4] ▸ backend 200.
    const scenario: Scenario = {
      seed: 26,
      start: 'managedExpired',
      bursts: [[{ id: 1, kind: 'rateLimits' }, { id: 2, kind: 'loginBob' }, { id: 3, kind: 'readRefresh' }, { id: 4, kind: 'logout' }]],
      actions: [{ kind: 'write', burst: 0 }, { kind: 'backend', status: 200 }],
    };
    expect(guaranteed(scenario)).toBe(true);
    const figures = await replayScenario(scenario);
    expect(figures.bearers).toHaveLength(1);
    expect(figures.bearers[0]).not.toEqual((fixtureOf('managedExpired').authJson as { tokens: { access_token: string } }).tokens.access_token);
  });
});

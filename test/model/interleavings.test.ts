/**
 * Interleavings on the real bin (docs/testing.md, "Interleavings"): bursts of pipelined requests that
 * mix `account/rateLimits/read` with in-order requests, the fakes answering at moments the generator
 * chooses (during refreshes too), each replayed on `bin/authchart.js app-server` and compared with the
 * model of test/model/interleavings.ts. The count is fixed and seeded; `AUTHCHART_INTERLEAVINGS=N` runs
 * N, `AUTHCHART_INTERLEAVINGS_SEED=S` starts at another seed.
 */
import { generateScenarios } from './interleavingGenerator';
import { describeScenario, predict, type Scenario } from './interleavings';
import { replayScenario } from './interleavingsReplay';

/** How many interleavings CI replays (and the first seed): fixed, so every run replays the same ones. */
const CI_INTERLEAVINGS = 100;
const COUNT = Number(process.env.AUTHCHART_INTERLEAVINGS ?? CI_INTERLEAVINGS);
const FIRST_SEED = Number(process.env.AUTHCHART_INTERLEAVINGS_SEED ?? 1);
/** Scenarios replayed at once (each is one app-server process, mostly waiting on pipes). */
const PARALLEL = 3;

describe('interleavings of pipelined requests and fake answers, on the real bin', () => {
  const { scenarios, stats } = generateScenarios(COUNT, FIRST_SEED);

  it(`replays ${COUNT} generated interleavings and the server does what the model predicts`, async () => {
    const started = Date.now();
    const failures: string[] = [];
    const totals = { requests: 0, usageCalls: 0, grants: 0, segments: 0, duringRefresh: 0, discoveries: 0, exchanges: 0, switched: 0, switches: 0 };
    const queue: Scenario[] = [...scenarios];
    const worker = async () => {
      for (let scenario = queue.shift(); scenario; scenario = queue.shift()) {
        try {
          const prediction = predict(scenario);
          const figures = await replayScenario(scenario, prediction);
          totals.requests += figures.requests;
          totals.usageCalls += figures.usageCalls;
          totals.grants += figures.grants;
          totals.segments += prediction.segments.length;
          // The backend answering while a refresh is in flight (a 401 then meets the refresh).
          totals.duringRefresh += prediction.segments.filter((s, i) => s.action.kind === 'backend' && i > 0 && (prediction.segments[i - 1].tokenLive || prediction.segments[i - 1].parentLive !== null)).length;
          // Workspaces: discoveries and token exchanges answered, switches sent and switches that went through.
          totals.discoveries += scenario.actions.filter((a) => a.kind === 'discovery').length;
          totals.exchanges += scenario.actions.filter((a) => a.kind === 'switchToken').length;
          const switchIds = new Set(scenario.bursts.flat().filter((r) => r.kind === 'switchSecond' || r.kind === 'switchUnlisted').map((r) => r.id));
          totals.switches += switchIds.size;
          totals.switched += prediction.segments.flatMap((s) => s.messages).filter((m) => switchIds.has(m.message.id as number) && 'result' in m.message).length;
        } catch (error) {
          failures.push(`${describeScenario(scenario)}\n${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const byStart = Object.entries(
      scenarios.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s.start]: (acc[s.start] ?? 0) + 1 }), {}),
    ).map(([k, v]) => `${k} ${v}`);
    console.log(
      `interleavings: ${scenarios.length} replayed (seeds from ${FIRST_SEED}; ${byStart.join(', ')}), ${totals.requests} requests, ` +
        `${totals.segments} actions (${totals.duringRefresh} backend answers during a refresh), ${totals.usageCalls} usage calls, ${totals.grants} refresh grants, ` +
        `${totals.discoveries} discoveries answered, ${totals.switches} switches (${totals.switched} went through, ${totals.exchanges} token exchanges answered); ` +
        `${stats.pipelinedActions} actions followed at once by the next; left out: ${stats.unguaranteedActions} actions as not guaranteed, ` +
        `${stats.unobservableActions} as leaving nothing to wait for, ${stats.dropped} scenarios; ${failures.length} failed; ${Date.now() - started} ms`,
    );
    expect(failures.slice(0, 3)).toEqual([]);
  }, Math.max(240_000, COUNT * 3000));
});

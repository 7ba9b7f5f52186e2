/**
 * `npm run test:mutants`: the mutation score of the model-based suite (see mutants.ts for what killing
 * a mutant means). Prints one line per guard and the score; fails below 100 %.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { authMachine } from '../../machines/auth.machine';
import { chartShape } from './chart';
import { findKill, guardMutants, type Kill } from './mutants';
import { replaySessionPlan } from './replay';

const mutants = guardMutants();
type Result = { kill: Kill | null; confirmed: boolean; error?: string };
const results = new Map<string, Result>();

describe('mutation check: every guard of the chart, inverted, fails the model-based suite', () => {
  it.each(mutants.map((m) => [m.guard, m] as const))('inverting %s', async (_guard, mutant) => {
    const kill = findKill(mutant);
    const result: Result = { kill, confirmed: false };
    results.set(mutant.guard, result);
    expect(kill).not.toBeNull();
    if (kill!.kind === 'model') {
      result.confirmed = true; // nothing on the wire reaches these transitions: the edge oracle is the check
      return;
    }
    // Stage 2: the same session, up to the killing path, against the real bin must fail.
    const entries = kill!.plan!.entries.slice(0, kill!.entry + 1);
    const replayed = await replaySessionPlan(kill!.suite, kill!.plan!, entries).then(
      () => null,
      (error: Error) => error,
    );
    result.confirmed = replayed !== null;
    result.error = replayed?.message.split('\n').slice(0, 4).join(' | ');
    expect(replayed).not.toBeNull();
    // Generating a mutant's suite explores its whole chart: a few seconds each, more on a loaded machine.
  }, 300_000);

  afterAll(() => {
    const killed = mutants.filter((m) => results.get(m.guard)?.confirmed).length;
    const lines = mutants.map((m) => {
      const r = results.get(m.guard);
      if (!r) return `  ? ${m.guard}: not run`;
      if (!r.kill) return `  ✗ ${m.guard}: SURVIVED (no generated path observes it)`;
      const head = `  ${r.confirmed ? '✓' : '✗'} ${m.guard}: killed ${r.kill.kind === 'wire' ? 'on the wire' : 'by the edge oracle only'} at ${r.kill.where.split('\n').join(' ')}`;
      const detail = `      expected by the mutant: ${r.kill.expected}\n      real chart:             ${r.kill.actual}`;
      const replay =
        r.kill.kind === 'wire'
          ? `\n      replay against the bin: ${r.confirmed ? `failed as it must (${r.error})` : 'PASSED (not confirmed)'}`
          : '\n      (the wire cannot reach these transitions; see the coverage report)';
      return `${head}\n${detail}${replay}`;
    });
    const inline = chartShape(authMachine).inlineGuards.map((t) => `  – not mutated (inline guard; name it in setup() to mutate it): ${t}`);
    const byModel = mutants.filter((m) => results.get(m.guard)?.kill?.kind === 'model').length;
    const score = `Mutation score: ${killed}/${mutants.length} (${((100 * killed) / Math.max(1, mutants.length)).toFixed(1)} %), ${byModel} of them by the edge oracle only`;
    const report = ['Mutants (one per guard, inverted):', ...lines, ...inline, score].join('\n');
    const out = path.resolve(__dirname, '../../test-output');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'mutation-score.txt'), `${report}\n`);
    process.stdout.write(`\n${report}\n`);
  });
});

/**
 * `npm run test:mutants`: the mutation score of the model-based suite (see mutants.ts for what killing
 * a mutant means). Prints one line per guard and the score; fails below 100 %.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { authMachine } from '../../machines/auth.machine';
import { chartShape } from './chart';
import { findKill, guardMutants, mutantSuite, type Kill } from './mutants';
import { replaySessionPlan } from './replay';

const mutants = guardMutants();
const results = new Map<string, { kill: Kill | null; confirmed: boolean; error?: string }>();

describe('mutation check: every guard of the chart, inverted, fails the model-based suite', () => {
  it.each(mutants.map((m) => [m.guard, m] as const))('inverting %s', async (_guard, mutant) => {
    const kill = findKill(mutantSuite(mutant));
    const result: { kill: Kill | null; confirmed: boolean; error?: string } = { kill, confirmed: false };
    results.set(mutant.guard, result);
    expect(kill).not.toBeNull();
    // Stage 2: the same session, up to the killing path, against the real bin must fail.
    const entries = kill!.plan.entries.slice(0, kill!.entry + 1);
    const replayed = await replaySessionPlan(mutantSuite(mutant), kill!.plan, entries).then(
      () => null,
      (error: Error) => error,
    );
    result.confirmed = replayed !== null;
    result.error = replayed?.message.split('\n').slice(0, 4).join(' | ');
    expect(replayed).not.toBeNull();
  });

  afterAll(() => {
    const killed = mutants.filter((m) => results.get(m.guard)?.confirmed).length;
    const lines = mutants.map((m) => {
      const r = results.get(m.guard);
      if (!r) return `  ? ${m.guard}: not run`;
      if (!r.kill) return `  ✗ ${m.guard}: SURVIVED (no generated path observes it)`;
      return `  ${r.confirmed ? '✓' : '✗'} ${m.guard}: killed by ${r.kill.where.split('\n').join(' ')}\n` +
        `      expected by the mutant: ${r.kill.expected}\n      real chart:             ${r.kill.actual}\n` +
        `      replay against the bin: ${r.confirmed ? `failed as it must (${r.error})` : 'PASSED (not confirmed)'}`;
    });
    const inline = chartShape(authMachine).inlineGuards.map((t) => `  – not mutated (inline guard; name it in setup() to mutate it): ${t}`);
    const score = `Mutation score: ${killed}/${mutants.length} (${((100 * killed) / Math.max(1, mutants.length)).toFixed(1)} %)`;
    const report = ['Mutants (one per guard, inverted):', ...lines, ...inline, score].join('\n');
    const out = path.resolve(__dirname, '../../test-output');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'mutation-score.txt'), `${report}\n`);
    process.stdout.write(`\n${report}\n`);
  });
});

/**
 * Model-level checks of the generated suite (one generation, several checks): the catalogue can produce
 * everything the chart names, the pure stepper agrees with a running actor, the
 * chart walk agrees with xstate/graph, every (state, event) edge was tried, and the coverage report
 * (printed, and written to test-output/model-coverage.txt) shows every state and transition covered by
 * the model and by the replayed paths. The replays themselves run in replay.*.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createActor, fromPromise, type AnyStateMachine } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import type { AuthEmitted } from '../../machines/types';
import { catalogueGaps, isSettled, stimuliFor } from './catalogue';
import { chartShape } from './chart';
import { coverageGaps, coverageOf, formatCoverage } from './coverage';
import { pathSteps } from './explore';
import { modelSuite } from './suite';

const suite = modelSuite();

describe('model-based suite: generation and coverage', () => {
  it('has a generator for every event, invoke and timer the chart names', () => {
    expect(catalogueGaps(authMachine)).toEqual([]);
  });

  it('tries every stimulus once from every reachable state of every fixture (those the fixture explores)', () => {
    for (const explored of suite.explorations) {
      const explores = explored.fixture.explores ?? (() => true);
      for (const [key, snapshot] of explored.states) {
        const tried = (explored.edges.get(key) ?? []).map((e) => e.stimulus.label);
        expect(tried).toEqual(stimuliFor(snapshot).map((s) => s.label).filter((label) => explores(label, snapshot)));
      }
    }
  });

  it('starts and ends every request of every generated path in a settled state (a replay cannot stop mid-effect)', () => {
    for (const path of [...suite.paths, ...suite.walks]) {
      for (const group of path.groups) {
        expect([isSettled(group.steps[0].model.before), isSettled(group.steps.at(-1)!.model.after)]).toEqual([true, true]);
      }
    }
  });

  it('covers every state and every transition of the chart, by the model and by replay', () => {
    const coverage = coverageOf(authMachine, suite.explorations, [...suite.paths, ...suite.walks]);
    const report = [
      formatCoverage(coverage),
      '',
      `Fixtures: ${suite.explorations.map((e, i) => `${e.fixture.name} (${e.states.size} states, ${suite.graphs[i].states.size} settled)`).join(', ')}`,
      `Paths replayed: ${suite.paths.length} (shortest + simple, deduplicated), ${suite.walks.length} covering walks; ` +
        `${[...suite.paths, ...suite.walks].reduce((n, p) => n + p.groups.length, 0)} requests, ` +
        `${[...suite.paths, ...suite.walks].reduce((n, p) => n + pathSteps(p).length, 0)} model steps`,
      `Chart: ${chartShape(authMachine).states.length} state nodes, ${chartShape(authMachine).transitions.length} transitions`,
    ].join('\n');
    const out = path.resolve(__dirname, '../../test-output');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'model-coverage.txt'), `${report}\n`);
    // The totals only: the full list (~130 lines) is in the file.
    console.log(`${report.split('\n').slice(-6).join('\n')}\nFull report, with every state, transition and reason: test-output/model-coverage.txt`);
    expect(coverageGaps(coverage)).toEqual([]);
  });
});

/** The real machine with every actor replaced by one that never settles. */
function inertMachine() {
  const names = Object.keys((authMachine as AnyStateMachine).implementations.actors);
  const never = fromPromise(() => new Promise<never>(() => {}));
  return authMachine.provide({ actors: Object.fromEntries(names.map((name) => [name, never])) as never });
}

// The oracle checked against XState itself: the pure stepper (transition() with a recording scope) must
// say what a running actor of the same machine says, step for step: the same snapshot and the same
// emitted events as `actor.on('*')` receives. Effects are replaced by actors that never settle, so only
// the synthetic actor results of the path move the actor, exactly as they move the stepper.
describe('the pure stepper agrees with a running actor', () => {
  it.each(suite.explorations.map((e) => [e.fixture.name, e] as const))('on every shortest and simple path of %s', (_name, explored) => {
    const machine = inertMachine();
    for (const path of suite.paths.filter((p) => p.fixture === explored.fixture)) {
      const actor = createActor(machine, { input: explored.fixture.input, logger: () => {} });
      const emitted: AuthEmitted[] = [];
      actor.on('*', (event) => emitted.push(event as AuthEmitted));
      actor.start();
      try {
        expect(actor.getSnapshot().value).toEqual(explored.initial.after.value);
        for (const step of pathSteps(path)) {
          emitted.length = 0;
          actor.send(step.model.event as never);
          const snapshot = actor.getSnapshot();
          expect({ label: step.stimulus.label, value: snapshot.value, context: snapshot.context, emitted: [...emitted] }).toEqual({
            label: step.stimulus.label,
            value: step.model.after.value,
            context: step.model.after.context,
            emitted: step.model.emitted,
          });
        }
      } finally {
        actor.stop();
      }
    }
  });
});

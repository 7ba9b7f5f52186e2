/**
 * The oracle checked against XState itself: the pure stepper (transition() with a recording scope)
 * must say what a running actor of the same machine says, step for step: the same snapshot and the same
 * emitted events as `actor.on('*')` receives. Effects are replaced by actors that never settle, so only
 * the synthetic actor results of the path move the actor, exactly as they move the stepper.
 */
import { createActor, fromPromise, type AnyStateMachine } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import type { AuthEmitted } from '../../machines/types';
import { pathSteps } from './explore';
import { modelSuite } from './suite';

const suite = modelSuite();

/** The real machine with every actor replaced by one that never settles. */
function inertMachine() {
  const names = Object.keys((authMachine as AnyStateMachine).implementations.actors);
  const never = fromPromise(() => new Promise<never>(() => {}));
  return authMachine.provide({ actors: Object.fromEntries(names.map((name) => [name, never])) as never });
}

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

/**
 * Property-based layer, pure: random event sequences (catalogue stimuli, including commands sent while
 * the chart is busy, plus bad input: unknown events and unreadable tokens) against the chart's pure
 * transition, checking the invariants of invariants.ts after every step and every request.
 */
import fc from 'fast-check';
import type { AnyEventObject } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import { CATALOGUE_SECRETS, stimuliFor } from './catalogue';
import { chartShape } from './chart';
import { checkRequests, checkStep, newVacuity, type Vacuity } from './invariants';
import { ModelStepper, stateLabel, type ModelStep } from './model';
import { explore } from './explore';
import { FIXTURES } from './catalogue';

/** Every fixture explored at the event level: the random sequences start from any of their states. */
const suite = { explorations: FIXTURES.filter((f) => f.exploreEvents !== false).map((f) => explore(authMachine, f)) };

/** Token bytes handed over by external logins of the catalogue: never to be found in the chart. */
const SECRETS = CATALOGUE_SECRETS;


/** One pick of a random sequence. */
type Pick =
  | { kind: 'stimulus'; index: number }
  | { kind: 'unknown event'; type: string }
  | { kind: 'unreadable token'; reason: string };

const pickArbitrary: fc.Arbitrary<Pick> = fc.oneof(
  { weight: 10, arbitrary: fc.nat({ max: 1000 }).map((index) => ({ kind: 'stimulus' as const, index })) },
  // Not `xstate.*`: those are the runtime's own events (an unhandled xstate.error.* stops any machine).
  { weight: 1, arbitrary: fc.string({ maxLength: 24 }).filter((t) => !t.startsWith('xstate.')).map((type) => ({ kind: 'unknown event' as const, type })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((reason) => ({ kind: 'unreadable token' as const, reason })) },
);

/**
 * The event of a pick. While a request's effect runs (`effect`: the actors it started), only commands
 * (refused as busy) and those actors' results may come: anything else would be concurrent with the
 * request and could not be charged to it.
 */
function eventOf(pick: Pick, snapshot: ModelStep['after'], effect: Set<string> | null): { label: string; event: AnyEventObject } {
  switch (pick.kind) {
    case 'stimulus': {
      const available = stimuliFor(snapshot).filter((s) => !effect || s.kind === 'command' || (s.actor !== undefined && effect.has(s.actor)));
      const stimulus = available[pick.index % available.length];
      return { label: stimulus.label, event: stimulus.event(snapshot) };
    }
    case 'unknown event':
      return { label: `unknown event ${JSON.stringify(pick.type)}`, event: { type: pick.type } };
    case 'unreadable token':
      return { label: `login.externalTokens(unreadable: ${JSON.stringify(pick.reason)})`, event: {
        type: 'login.externalTokens',
        req: 901,
        tokens: { accessToken: new Secret('access-random-model-secret'), idToken: null },
        claims: { ok: false, reason: pick.reason },
      } };
  }
}

/** Runs picks on the pure chart; returns the violations (empty = every invariant held). */
/**
 * Runs picks on the pure chart from a reachable state (any state the exploration found, so rare ones such
 * as `failed` are starting points too); returns the violations (empty = every invariant held).
 */
function runPicks(fixtureIndex: number, stateIndex: number, picks: readonly Pick[], vacuity: Vacuity): string[] {
  const explored = suite.explorations[fixtureIndex % suite.explorations.length];
  const fixture = explored.fixture;
  const stepper = new ModelStepper(authMachine, fixture.input);
  const starts = [...explored.states.values()].filter((snapshot) => !snapshot.hasTag('busy'));
  let snapshot = starts[stateIndex % starts.length];
  const found: string[] = [];
  const labels: string[] = [];
  const violations = {
    push: (...what: string[]) => found.push(...what.map((w) => `[${fixture.name}] from ${stateLabel(starts[stateIndex % starts.length])}: ${labels.join(' → ')}: ${w}`)),
  };
  const steps: ModelStep[] = [];
  let nextReq = 1_000_000;
  // While a request's effect runs, only its own actors report (other results wait until it is over).
  let effect: Set<string> | null = null;
  for (const pick of picks) {
    const picked = eventOf(pick, snapshot, effect);
    labels.push(picked.label);
    // Every command its own request key, as AuthCore gives them: each answer belongs to one send.
    const event = 'req' in picked.event ? { ...picked.event, req: nextReq++ } : picked.event;
    const step = stepper.step(snapshot, event);
    violations.push(...checkStep(step, SECRETS, vacuity));
    steps.push(step);
    if ('req' in event && !step.before.hasTag('busy')) effect = new Set(step.spawned.map((c) => c.id));
    else if (effect) for (const child of step.spawned) effect.add(child.id);
    if (!step.after.hasTag('busy')) effect = null;
    snapshot = step.after;
  }
  violations.push(...checkRequests(steps, vacuity));
  return found;
}

describe('properties of the chart (pure transition)', () => {
  const vacuity = newVacuity();

  it('keeps every invariant over random event sequences, bad input included', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.array(pickArbitrary, { maxLength: 30 }), (fixtureIndex, stateIndex, picks) => {
        expect(runPicks(fixtureIndex, stateIndex, picks, vacuity)).toEqual([]);
      }),
      { numRuns: 1500 },
    );
  });

  it('exercised the conditional invariants wherever the chart has what they talk about', () => {
    const shape = chartShape(authMachine);
    expect(vacuity.requestsRefused).toBeGreaterThan(0);
    if (shape.states.some((s) => s.node.key === 'failed')) expect(vacuity.stepsFromFailed).toBeGreaterThan(0);
    if (shape.invokes.some((i) => /refresh/i.test(i.id))) expect(vacuity.stepsWithRefreshRunning).toBeGreaterThan(0);
    console.log(
      `invariants exercised: ${vacuity.requestsRefused} refused requests, ${vacuity.stepsFromFailed} steps from failed, ` +
        `${vacuity.stepsWithRefreshRunning} steps with a refresh running`,
    );
  });
});

/**
 * Mutation check of the model-based suite. For each guard the chart references, a mutant is the real
 * machine with that guard inverted (`.provide({ guards: { g: not(g) } })`). The suite is generated from
 * the mutant, as it would be if the chart had been written that way, and must then fail against the real
 * server, which runs the real chart.
 *
 * "The suite fails for a mutant" is established in two stages, to stay bounded in time:
 *   1. pure: every replay session of the mutant's suite is run against the real chart standing in for
 *      the server (the unmutated suite passing on the real server is what licenses the stand-in), group
 *      by group: the mutant's expected response, notifications and projection against the real chart's.
 *      The first difference names the path and request that kill the mutant;
 *   2. wire: that session, up to and including the killing path, is replayed against the real bin and
 *      must fail.
 * A mutant is killed when both stages fail the suite. A guard that only decides transitions the wire
 * cannot reach (commands into a busy state, results no real actor produces) cannot fail a replay: such
 * a mutant counts as killed when the event-level edge oracle, the real chart's answer to every stimulus
 * in every state both charts reach, sees its effect; the report says which kind of kill each one is.
 * The score is killed / mutants. Fixtures are generated one at a time and the search stops at the first
 * kill, so the run stays bounded.
 */
import { not, type AnyStateMachine } from 'xstate';
import { authMachine, type AuthMachine } from '../../machines/auth.machine';
import { chartShape } from './chart';
import { coveringWalks, explore, rerunGroup, wireGraph, type Edge, type Explored } from './explore';
import { projectionOf, stateLabel } from './model';
import { FIXTURES, type Fixture } from './catalogue';
import { batchPaths, explorationOf, pathsOf, WALK_LENGTH, type ModelSuite, type ReplaySessionPlan } from './suite';
import { expectedWire } from './wire';

/** One mutant: the chart with one guard inverted. */
export interface Mutant {
  guard: string;
  machine: AuthMachine;
}

/** Where the mutant's suite first disagrees with the real chart. */
export interface Kill {
  /** `wire`: a replay of the mutant's suite fails against the real server; `model`: only the edge oracle sees it. */
  kind: 'wire' | 'model';
  /** The suite generated for the fixture the kill is in (a wire kill replays its plan). */
  suite: ModelSuite;
  plan: ReplaySessionPlan | null;
  /** Index in `plan.entries` of the path that fails (entries after it are not needed). */
  entry: number;
  /** The path description and the request (or state and stimulus) that differs, for the report. */
  where: string;
  expected: string;
  actual: string;
}

/** A mutant per guard the chart's transitions reference by name. */
export function guardMutants(machine: AuthMachine = authMachine): Mutant[] {
  const guards = (machine as AnyStateMachine).implementations.guards as Record<string, unknown>;
  return chartShape(machine).guardNames.map((guard) => {
    const original = guards[guard];
    if (original === undefined) throw new Error(`guard ${guard} is referenced but has no implementation`);
    // A plain guard is inverted with its params passed on (XState's not() would drop them); a built-in
    // one (stateIn, or) with not().
    const inverted =
      typeof original === 'function' && !('check' in original)
        ? (args: unknown, params: unknown) => !(original as (a: unknown, p: unknown) => boolean)(args, params)
        : not(original as never);
    return { guard, machine: machine.provide({ guards: { [guard]: inverted } } as never) as AuthMachine };
  });
}

const shorten = (text: string) => (text.length > 160 ? `${text.slice(0, 160)}…` : text);

/** The real chart's exploration of each fixture, made once for the whole run (what every mutant is compared with). */
const realExplorations = new Map<Fixture, Explored>();
export function realExploration(fixture: Fixture): Explored {
  let explored = realExplorations.get(fixture);
  if (!explored) realExplorations.set(fixture, (explored = explore(authMachine, fixture, { events: fixture.exploreEvents !== false })));
  return explored;
}

/**
 * Runs replay plans of a mutant's suite against the real chart (pure stand-in for the server) and returns
 * the first place where the wire would differ. Each request is re-run on the real chart with the same
 * environment choices; when the real chart does not even reach those choices, the wire differs there too.
 */
function findWireKill(mutant: ModelSuite, plans: readonly ReplaySessionPlan[]): Kill | null {
  for (const plan of plans) {
    const realExplored = realExploration(plan.fixture);
    const mutantStart = explorationOf(mutant, plan.fixture).initial;
    let state = realExplored.initial.after;
    const startExpected = JSON.stringify(projectionOf(mutantStart.after));
    const startActual = JSON.stringify(projectionOf(state));
    if (startExpected !== startActual) {
      return { kind: 'wire', suite: mutant, plan, entry: 0, where: `[${plan.fixture.name}] start-up`, expected: startExpected, actual: startActual };
    }
    for (let e = 0; e < plan.entries.length; e += 1) {
      const entry = plan.entries[e];
      for (const group of [...entry.reset, ...entry.groups]) {
        const again = rerunGroup(realExplored, state, group);
        const expected = JSON.stringify(expectedWire(group));
        const actual = again ? JSON.stringify(expectedWire(again)) : 'the real chart does not reach the environment choices of this request';
        if (expected !== actual) {
          const where = `${shorten(entry.path.description)}\n    at ${group.label} from ${stateLabel(group.steps[0].model.before)}`;
          return { kind: 'wire', suite: mutant, plan, entry: e, where, expected, actual };
        }
        state = again!.steps.at(-1)!.model.after;
      }
    }
  }
  return null;
}

const observe = (edge: Edge) => JSON.stringify({ emitted: edge.step.emitted, to: edge.to });

/** The event-level edge oracle: every stimulus in every state both charts reach, answered the same way. */
function findModelKill(mutant: ModelSuite, explored: Explored): Kill | null {
  const realEdges = realExploration(explored.fixture).edges;
  for (const [key, edges] of explored.edges) {
    const theirs = realEdges.get(key);
    if (!theirs) continue;
    for (const edge of edges) {
      const other = theirs.find((e) => e.stimulus === edge.stimulus);
      if (!other) continue;
      if (observe(edge) !== observe(other)) {
        const where = `[${explored.fixture.name}] ${edge.stimulus.label} in ${stateLabel(explored.states.get(key)!)}`;
        return { kind: 'model', suite: mutant, plan: null, entry: 0, where, expected: observe(edge), actual: observe(other) };
      }
    }
  }
  return null;
}

/**
 * True when the mutant's event-level exploration of a fixture is the real chart's, state for state and
 * edge for edge: its suite there is the real suite, which passes, so the fixture cannot kill it.
 */
function sameExploration(explored: Explored): boolean {
  const real = realExploration(explored.fixture);
  if (explored.fixture.exploreEvents === false || explored.states.size !== real.states.size) return false;
  for (const [key, edges] of explored.edges) {
    const theirs = real.edges.get(key);
    if (!theirs || theirs.length !== edges.length) return false;
    if (edges.some((edge, i) => edge.stimulus !== theirs[i].stimulus || observe(edge) !== observe(theirs[i]))) return false;
  }
  return true;
}

/**
 * Fixtures in the order a kill is looked for: the ones whose real exploration is smallest first (most
 * mutants die in a narrow fixture; generating the mutant's suite of a wide one takes a minute or more).
 */
function fixturesByCost(): Fixture[] {
  return [...FIXTURES].sort((a, b) => realExploration(a).states.size - realExploration(b).states.size);
}

/**
 * Where a mutant's suite first fails, fixture by fixture, generating only what is needed and keeping
 * nothing of a fixture that does not kill it (the whole suite of a mutant at once outgrew a 4 GB heap):
 * the mutant's exploration; if it differs from the real one, its paths, then its covering walks, each
 * replayed against the real chart. A wire kill if any fixture has one, else a model kill, else null: the
 * mutant survives.
 */
export function findKill(mutant: Mutant): Kill | null {
  let modelKill: Kill | null = null;
  for (const fixture of fixturesByCost()) {
    const explored = explore(mutant.machine, fixture, { events: fixture.exploreEvents !== false });
    if (sameExploration(explored)) continue;
    const graph = wireGraph(explored);
    const suite: ModelSuite = { machine: mutant.machine, explorations: [explored], graphs: [graph], paths: pathsOf(graph), walks: [] };
    const byPaths = findWireKill(suite, batchPaths(suite, suite.paths));
    if (byPaths) return byPaths;
    suite.walks = coveringWalks(graph, WALK_LENGTH);
    const byWalks = findWireKill(suite, batchPaths(suite, suite.walks));
    if (byWalks) return byWalks;
    modelKill ??= findModelKill(suite, explored);
  }
  return modelKill;
}

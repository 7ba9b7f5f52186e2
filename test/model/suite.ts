/**
 * The model-based suite as data: for a chart (the real one, or a mutant), every fixture explored, the
 * generated paths and walks, and the server sessions that replay them. Deterministic, so the coverage
 * test, the replay tests and the mutation run all see the same plan.
 */
import { authMachine, type AuthMachine } from '../../machines/auth.machine';
import { FIXTURES, type Fixture } from './catalogue';
import { coveringWalks, explore, groupsOf, runStimuli, shortestPaths, simplePaths, type Explored, type ModelPath, type PathStep } from './explore';
import { projectionOf, stateKey } from './model';

/** Depth cap of simple paths (model steps; a request into a busy state and its result are two). */
export const SIMPLE_PATH_DEPTH = 3;
/** Requests per covering walk, so one failing walk still names a short enough path. */
export const WALK_LENGTH = 60;

/** The generated suite of one chart. */
export interface ModelSuite {
  machine: AuthMachine;
  explorations: Explored[];
  /** Shortest and bounded simple paths, deduplicated, in fixture order. */
  paths: ModelPath[];
  /** Walks that take every (idle state, request) edge of every fixture. */
  walks: ModelPath[];
}

const suites = new WeakMap<AuthMachine, ModelSuite>();

/** The suite generated from `machine` (memoized). */
export function modelSuite(machine: AuthMachine = authMachine, fixtures: readonly Fixture[] = FIXTURES): ModelSuite {
  const cached = fixtures === FIXTURES ? suites.get(machine) : undefined;
  if (cached) return cached;
  const explorations = fixtures.map((fixture) => explore(machine, fixture));
  const paths = explorations.flatMap((explored) => {
    const shortest = shortestPaths(explored);
    const known = new Set(shortest.map((p) => p.steps.map((s) => s.stimulus.label).join('|')));
    const simple = simplePaths(explored, SIMPLE_PATH_DEPTH).filter((p) => !known.has(p.steps.map((s) => s.stimulus.label).join('|')));
    return [...shortest, ...simple];
  });
  const walks = explorations.flatMap((explored) => coveringWalks(explored, WALK_LENGTH));
  const suite = { machine, explorations, paths, walks };
  if (fixtures === FIXTURES) suites.set(machine, suite);
  return suite;
}

/** The exploration of a fixture within a suite. */
export function explorationOf(suite: ModelSuite, fixture: Fixture): Explored {
  const found = suite.explorations.find((e) => e.fixture === fixture);
  if (!found) throw new Error(`fixture ${fixture.name} was not explored`);
  return found;
}

/** One path replayed inside a shared server session: the steps that bring the server back, then the path. */
export interface SessionEntry {
  path: ModelPath;
  /** Groups that take the server from the previous path's end to a state where `path` means the same. */
  reset: PathStep[];
  /** The path's stimuli as the model runs them from the end of `reset` (equivalent to `path.steps`). */
  steps: PathStep[];
}

/** Paths replayed one after the other over one server process. */
export interface ReplaySessionPlan {
  fixture: Fixture;
  entries: SessionEntry[];
}

/** Same transitions, same emitted events, same projection at every step: the path means the same. */
function equivalent(a: readonly PathStep[], b: readonly PathStep[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((step, i) => {
    const other = b[i].model;
    return (
      step.model.transitions.map((t) => t.key).join() === other.transitions.map((t) => t.key).join() &&
      JSON.stringify(step.model.emitted) === JSON.stringify(other.emitted) &&
      JSON.stringify(projectionOf(step.model.after)) === JSON.stringify(projectionOf(other.after))
    );
  });
}

/**
 * Batches paths over server processes where the model allows it: after a path, the shortest run of
 * requests (at most `maxReset`) that reaches a state from which the next path takes the same
 * transitions, emits the same events and shows the same projections as from the initial state. When
 * none exists (a restored start-up cannot be recreated without a restart), the next path gets a fresh
 * process.
 */
export function batchPaths(suite: ModelSuite, paths: readonly ModelPath[], maxReset = 3): ReplaySessionPlan[] {
  const plans: ReplaySessionPlan[] = [];
  let current: ReplaySessionPlan | null = null;
  let end: PathStep[] | null = null;
  for (const path of paths) {
    const explored = explorationOf(suite, path.fixture);
    const stimuli = path.steps.map((s) => s.stimulus);
    let entry: SessionEntry | null = null;
    if (current && current.fixture === path.fixture && end) {
      const endState = end.length ? end[end.length - 1].model.after : explored.initial.after;
      for (const route of resetRoutes(explored, stateKey(endState), maxReset)) {
        const reset = runStimuli(explored, route, endState);
        const from = reset.length ? reset[reset.length - 1].model.after : endState;
        const steps = runStimuli(explored, stimuli, from);
        if (equivalent(steps, path.steps)) {
          entry = { path, reset, steps };
          break;
        }
      }
    }
    if (!entry) {
      current = { fixture: path.fixture, entries: [] };
      plans.push(current);
      entry = { path, reset: [], steps: path.steps };
    }
    current!.entries.push(entry);
    end = [...entry.reset, ...entry.steps];
  }
  return plans;
}

/** Candidate resets from a state, shortest first: stimuli sequences of whole groups (breadth-first). */
function* resetRoutes(explored: Explored, from: string, maxGroups: number) {
  const groups = groupsOf(explored);
  yield [];
  let frontier: Array<{ at: string; route: PathStep[] }> = [{ at: from, route: [] }];
  const seen = new Set([from]);
  for (let depth = 0; depth < maxGroups; depth += 1) {
    const next: typeof frontier = [];
    for (const { at, route } of frontier) {
      for (const group of groups.get(at) ?? []) {
        if (seen.has(group.to)) continue;
        seen.add(group.to);
        const extended = [...route, ...group.steps];
        yield extended.map((s) => s.stimulus);
        next.push({ at: group.to, route: extended });
      }
    }
    frontier = next;
  }
}

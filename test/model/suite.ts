/**
 * The model-based suite as data: for a chart (the real one, or a mutant), every fixture explored at the
 * event level and at the request level, the generated paths and walks, and the server sessions that
 * replay them. Deterministic, so the coverage test, the replay tests and the mutation run see one plan.
 */
import { authMachine, type AuthMachine } from '../../machines/auth.machine';
import { FIXTURES, type Fixture } from './catalogue';
import { coveringWalks, explore, rerunPath, shortestPaths, simplePaths, wireGraph, type Explored, type Group, type ModelPath, type WireGraph } from './explore';
import { projectionOf, stateKey } from './model';

/** Depth cap of simple paths, in requests. */
export const SIMPLE_PATH_DEPTH = 2;
/** Requests per covering walk, so one failing walk still names a short enough path. */
export const WALK_LENGTH = 60;

/** The generated suite of one chart. */
export interface ModelSuite {
  machine: AuthMachine;
  explorations: Explored[];
  graphs: WireGraph[];
  /** Shortest and bounded simple paths, deduplicated, in fixture order. */
  paths: ModelPath[];
  /** Walks that take every (settled state, request, environment choice) group of every fixture. */
  walks: ModelPath[];
}

const suites = new WeakMap<AuthMachine, ModelSuite>();

/** The suite generated from `machine` (memoized for the catalogue's fixtures). */
export function modelSuite(machine: AuthMachine = authMachine, fixtures: readonly Fixture[] = FIXTURES): ModelSuite {
  const cached = fixtures === FIXTURES ? suites.get(machine) : undefined;
  if (cached) return cached;
  const explorations = fixtures.map((fixture) => explore(machine, fixture, { events: fixture.exploreEvents !== false }));
  const graphs = explorations.map((explored) => wireGraph(explored));
  const paths = graphs.flatMap(pathsOf);
  const walks = graphs.flatMap((graph) => coveringWalks(graph, WALK_LENGTH));
  const suite = { machine, explorations, graphs, paths, walks };
  if (fixtures === FIXTURES) suites.set(machine, suite);
  return suite;
}

/** The replay paths of one fixture's graph: shortest paths, then simple ones not already among them. */
export function pathsOf(graph: WireGraph): ModelPath[] {
  const shortest = shortestPaths(graph);
  if (graph.explored.fixture.simplePaths === false) return shortest;
  const known = new Set(shortest.map((p) => p.groups.map((g) => g.label).join('|')));
  const simple = simplePaths(graph, SIMPLE_PATH_DEPTH).filter((p) => !known.has(p.groups.map((g) => g.label).join('|')));
  return [...shortest, ...simple];
}

/** The exploration of a fixture within a suite. */
export function explorationOf(suite: ModelSuite, fixture: Fixture): Explored {
  const found = suite.explorations.find((e) => e.fixture === fixture);
  if (!found) throw new Error(`fixture ${fixture.name} was not explored`);
  return found;
}

function graphOf(suite: ModelSuite, fixture: Fixture): WireGraph {
  return suite.graphs.find((g) => g.explored.fixture === fixture)!;
}

/** One path replayed inside a shared server session: the requests that bring the server back, then the path. */
export interface SessionEntry {
  path: ModelPath;
  /** Requests that take the server from the previous path's end to a state where `path` means the same. */
  reset: Group[];
  /** The path's requests as the model runs them from the end of `reset` (equivalent to `path.groups`). */
  groups: Group[];
}

/** Paths replayed one after the other over one server process. */
export interface ReplaySessionPlan {
  fixture: Fixture;
  entries: SessionEntry[];
}

/** Same transitions, same emitted events, same projection at every step: the path means the same. */
function equivalent(a: readonly Group[], b: readonly Group[]): boolean {
  const steps = (groups: readonly Group[]) => groups.flatMap((g) => g.steps);
  const x = steps(a);
  const y = steps(b);
  if (x.length !== y.length) return false;
  return x.every((step, i) => {
    const other = y[i].model;
    return (
      step.stimulus === y[i].stimulus &&
      step.model.transitions.map((t) => t.key).join() === other.transitions.map((t) => t.key).join() &&
      JSON.stringify(step.model.emitted) === JSON.stringify(other.emitted) &&
      JSON.stringify(step.model.spawned) === JSON.stringify(other.spawned) &&
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
  let end: Group[] | null = null;
  for (const path of paths) {
    const explored = explorationOf(suite, path.fixture);
    let entry: SessionEntry | null = null;
    if (current && current.fixture === path.fixture && end) {
      const endState = end.length ? end[end.length - 1].steps.at(-1)!.model.after : explored.initial.after;
      for (const route of resetRoutes(graphOf(suite, path.fixture), stateKey(endState), maxReset)) {
        const reset = rerunPath(explored, route, endState);
        if (!reset) continue;
        const from = reset.length ? reset[reset.length - 1].steps.at(-1)!.model.after : endState;
        const groups = rerunPath(explored, path.groups, from);
        if (groups && equivalent(groups, path.groups)) {
          entry = { path, reset, groups };
          break;
        }
      }
    }
    if (!entry) {
      current = { fixture: path.fixture, entries: [] };
      plans.push(current);
      entry = { path, reset: [], groups: path.groups };
    }
    current!.entries.push(entry);
    end = [...entry.reset, ...entry.groups];
  }
  return plans;
}

/** Candidate resets from a state, shortest first (breadth-first over requests). */
function* resetRoutes(graph: WireGraph, from: string, maxGroups: number): Generator<Group[]> {
  yield [];
  let frontier: Array<{ at: string; route: Group[] }> = [{ at: from, route: [] }];
  const seen = new Set([from]);
  for (let depth = 0; depth < maxGroups; depth += 1) {
    const next: typeof frontier = [];
    for (const { at, route } of frontier) {
      for (const group of graph.groups.get(at) ?? []) {
        if (seen.has(group.to)) continue;
        seen.add(group.to);
        const extended = [...route, group];
        yield extended;
        next.push({ at: group.to, route: extended });
      }
    }
    frontier = next;
  }
}

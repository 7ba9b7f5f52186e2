/**
 * Walking the chart: the reachable state graph of one fixture (every catalogue stimulus tried from every
 * reachable state, via xstate/graph's adjacency map), and the paths generated from it:
 *
 *   shortest paths   TestModel (constructed directly: createTestModel refuses invokes) over the same events;
 *   simple paths     bounded depth, by a DFS over the adjacency map (xstate's getSimplePaths enumerates
 *                    every simple path to every state, which does not finish on this dense graph);
 *   covering walks   long walks that take every (idle state, stimulus) edge at least once, for replay
 *                    over one server process each.
 *
 * A replay cannot stop inside a busy state (the adapter answers a request only when the chart is idle
 * again), so paths are cut into "groups": one request plus the actor results that end the effect it
 * started. A path that would end inside a busy state is completed with each of its possible outcomes.
 */
import type { AnyEventObject, AnyStateMachine } from 'xstate';
import type { AdjacencyMap } from 'xstate/graph';
import { TestModel, getAdjacencyMap } from 'xstate/graph';
import type { AuthMachine } from '../../machines/auth.machine';
import type { AuthSnapshot } from '../../machines/views';
import { stimuliFor, type Fixture, type Stimulus } from './catalogue';
import { ModelStepper, stateKey, stateLabel, type ModelStep } from './model';

/** One stimulus and what the model did with it. */
export interface PathStep {
  stimulus: Stimulus;
  model: ModelStep;
}

/** A path from the fixture's initial state, with the model's verdict at every step. */
export interface ModelPath {
  fixture: Fixture;
  /** Where it came from: `shortest`, `simple`, `walk`. */
  origin: string;
  steps: PathStep[];
  description: string;
}

/** An edge of the state graph: a stimulus tried in a state. */
export interface Edge {
  from: string;
  stimulus: Stimulus;
  step: ModelStep;
  to: string;
}

/** The reachable state graph of one fixture. */
export interface Explored {
  machine: AuthMachine;
  fixture: Fixture;
  stepper: ModelStepper;
  initial: ModelStep;
  initialKey: string;
  states: Map<string, AuthSnapshot>;
  /** Every (state, stimulus) pair, in discovery order. */
  edges: Map<string, Edge[]>;
}

/** Traversal options shared by every xstate/graph call: our events and our state identity. */
function traversalOptions(fixture: Fixture, initial: AuthSnapshot) {
  return {
    input: fixture.input,
    fromState: initial,
    // A function of the snapshot: an events array would be taken as the whole event set (STACK.md trap 4).
    events: (snapshot: AuthSnapshot) => stimuliFor(snapshot).map((s) => s.event) as never[],
    serializeState: (snapshot: AuthSnapshot) => stateKey(snapshot),
  };
}

function stimulusOf(snapshot: AuthSnapshot, event: AnyEventObject): Stimulus {
  const found = stimuliFor(snapshot).find((s) => s.event === event);
  if (!found) throw new Error(`no catalogue stimulus for event ${event.type}`);
  return found;
}

/** Explores every state reachable from the fixture's initial state, trying every stimulus in each. */
export function explore(machine: AuthMachine, fixture: Fixture): Explored {
  const stepper = new ModelStepper(machine, fixture.input);
  const initial = stepper.initial();
  // The graph helpers are typed for `AnyStateMachine`; the emitted-event type of our chart does not unify with it.
  const adjacency: AdjacencyMap<AuthSnapshot, AnyEventObject> = getAdjacencyMap(machine as AnyStateMachine, traversalOptions(fixture, initial.after) as never);
  const states = new Map<string, AuthSnapshot>();
  const edges = new Map<string, Edge[]>();
  for (const [key, value] of Object.entries(adjacency)) {
    const snapshot = value.state;
    states.set(key, snapshot);
    const out: Edge[] = [];
    for (const transition of Object.values(value.transitions) as Array<{ event: AnyEventObject; state: AuthSnapshot }>) {
      const stimulus = stimulusOf(snapshot, transition.event);
      const step = stepper.step(snapshot, stimulus.event);
      const to = stateKey(step.after);
      if (to !== stateKey(transition.state)) {
        throw new Error(`xstate/graph and the model stepper disagree on ${stimulus.label} from ${stateLabel(snapshot)}`);
      }
      out.push({ from: key, stimulus, step, to });
    }
    edges.set(key, out);
  }
  return { machine, fixture, stepper, initial, initialKey: stateKey(initial.after), states, edges };
}

/** True while the chart runs an effect and the adapter holds requests back. */
export function isBusy(snapshot: AuthSnapshot): boolean {
  return snapshot.hasTag('busy');
}

/** A path's description, used as its test name. */
export function describePath(fixture: Fixture, steps: readonly PathStep[], origin: string): string {
  const labels = steps.map((s) => s.stimulus.label);
  const end = steps.length ? steps[steps.length - 1].model.after : null;
  return `[${fixture.name}] ${origin}: ${labels.length ? labels.join(' → ') : '(initial state)'}${end ? ` ⇒ ${stateLabel(end)}` : ''}`;
}

/** Re-runs stimuli from the initial state (paths carry the model's results, not just the events). */
export function runStimuli(explored: Explored, stimuli: readonly Stimulus[], from: AuthSnapshot = explored.initial.after): PathStep[] {
  const steps: PathStep[] = [];
  let snapshot = from;
  for (const stimulus of stimuli) {
    const model = explored.stepper.step(snapshot, stimulus.event);
    steps.push({ stimulus, model });
    snapshot = model.after;
  }
  return steps;
}

/** Completes a path that ends inside a busy state with every way the effect can end (recursively). */
export function completeInIdle(explored: Explored, steps: PathStep[], depth = 0): PathStep[][] {
  const end = steps.length ? steps[steps.length - 1].model.after : explored.initial.after;
  if (!isBusy(end)) return [steps];
  if (depth > 8) throw new Error('the chart stays busy for more than 8 actor results in a row');
  const outcomes = stimuliFor(end).filter((s) => s.wire.kind === 'outcome');
  if (outcomes.length === 0) throw new Error(`busy state ${stateLabel(end)} has no actor result in the catalogue`);
  return outcomes.flatMap((outcome) => completeInIdle(explored, [...steps, ...runStimuli(explored, [outcome], end)], depth + 1));
}

/** True when a replay can produce this edge: a request in an idle state, an actor result in a busy one. */
export function replayable(edge: Edge, explored: Explored): boolean {
  const busy = isBusy(explored.states.get(edge.from)!);
  return busy ? edge.stimulus.wire.kind === 'outcome' : edge.stimulus.wire.kind === 'request';
}

/** Drops paths that are prefixes of others (by stimulus labels) and exact duplicates. */
export function deduplicate(paths: ModelPath[]): ModelPath[] {
  const sequences = paths.map((p) => p.steps.map((s) => s.stimulus.label));
  const order = paths.map((_, i) => i).sort((a, b) => sequences[b].length - sequences[a].length);
  const kept: number[] = [];
  for (const i of order) {
    const isPrefix = kept.some((k) => sequences[i].every((label, j) => sequences[k][j] === label) && paths[k].fixture === paths[i].fixture);
    if (!isPrefix) kept.push(i);
  }
  return kept.sort((a, b) => a - b).map((i) => paths[i]);
}

/** Shortest paths to every reachable state, from xstate/graph's TestModel (deduplicated by it). */
export function shortestPaths(explored: Explored): ModelPath[] {
  const { machine, fixture } = explored;
  const model = new TestModel<AuthSnapshot, AnyEventObject, unknown>(machine as never, traversalOptions(fixture, explored.initial.after) as never);
  const paths = model.getShortestPaths().flatMap((path) => {
    // TestModel's steps start with the initial state under `xstate.init`; each later step holds the
    // event taken and the state it led to.
    const stimuli: Stimulus[] = [];
    for (let i = 1; i < path.steps.length; i += 1) {
      stimuli.push(stimulusOf(path.steps[i - 1].state, path.steps[i].event));
    }
    return completeInIdle(explored, runStimuli(explored, stimuli));
  });
  return deduplicate(paths.map((steps) => ({ fixture, origin: 'shortest', steps, description: describePath(fixture, steps, 'shortest') })));
}

/** Simple paths (no state twice) of at most `maxDepth` steps, over the same adjacency, deduplicated. */
export function simplePaths(explored: Explored, maxDepth: number): ModelPath[] {
  const { fixture } = explored;
  const found: PathStep[][] = [];
  const visit = (key: string, seen: Set<string>, steps: PathStep[]) => {
    found.push(steps);
    if (steps.length >= maxDepth) return;
    for (const edge of explored.edges.get(key) ?? []) {
      if (seen.has(edge.to) || !replayable(edge, explored)) continue;
      seen.add(edge.to);
      visit(edge.to, seen, [...steps, { stimulus: edge.stimulus, model: edge.step }]);
      seen.delete(edge.to);
    }
  };
  visit(explored.initialKey, new Set([explored.initialKey]), []);
  const complete = found.filter((steps) => steps.length > 0).flatMap((steps) => completeInIdle(explored, steps));
  return deduplicate(complete.map((steps) => ({ fixture, origin: `simple≤${maxDepth}`, steps, description: describePath(fixture, steps, `simple≤${maxDepth}`) })));
}

/** A macro edge: one request from an idle state, with the actor results that end its effect. */
export interface Group {
  from: string;
  to: string;
  steps: PathStep[];
  /** Identity: the idle state and the stimuli labels. */
  id: string;
}

const groupCache = new WeakMap<Explored, Map<string, Group[]>>();

/** Every group leaving every idle state: the replayable edges of the graph. */
export function groupsOf(explored: Explored): Map<string, Group[]> {
  const cached = groupCache.get(explored);
  if (cached) return cached;
  const groups = new Map<string, Group[]>();
  groupCache.set(explored, groups);
  for (const [key, snapshot] of explored.states) {
    if (isBusy(snapshot)) continue;
    const out: Group[] = [];
    for (const edge of explored.edges.get(key) ?? []) {
      if (edge.stimulus.wire.kind !== 'request') continue;
      for (const steps of completeInIdle(explored, [{ stimulus: edge.stimulus, model: edge.step }])) {
        const to = stateKey(steps[steps.length - 1].model.after);
        out.push({ from: key, to, steps, id: `${key}|${steps.map((s) => s.stimulus.label).join('|')}` });
      }
    }
    groups.set(key, out);
  }
  return groups;
}

/**
 * Walks that take every group at least once. The group graph has one-way parts (a restored mode is left
 * for good, a deep-history record is overwritten), so the order matters: from the current state the walk
 * goes, by the shortest route, to the untaken group that lies earliest in the graph's one-way order
 * (strongly connected components in topological order), taking the groups that stay inside a component
 * before those that leave it, nearest first. A walk ends when nothing untaken is reachable or it reaches
 * `maxGroups`; the next walk starts from the initial state (a fresh server process).
 */
export function coveringWalks(explored: Explored, maxGroups = 120): ModelPath[] {
  const { fixture } = explored;
  const groups = groupsOf(explored);
  const rank = componentRanks(groups, explored.initialKey);
  const untaken = new Set([...groups.values()].flat().map((g) => g.id));
  const walks: ModelPath[] = [];
  while (untaken.size > 0) {
    const steps: PathStep[] = [];
    let at = explored.initialKey;
    let taken = 0;
    while (taken < maxGroups) {
      const route = routeToUntaken(groups, rank, at, untaken);
      if (!route) break;
      for (const group of route) {
        untaken.delete(group.id);
        steps.push(...group.steps);
        at = group.to;
        taken += 1;
      }
    }
    if (taken === 0) break; // what remains is unreachable from the initial state; coverage reports it
    // Recompute along the walk so every step's `before` is exactly the previous step's `after`.
    const replayed = runStimuli(explored, steps.map((s) => s.stimulus));
    walks.push({ fixture, origin: `walk ${walks.length + 1}`, steps: replayed, description: describePath(fixture, replayed, `walk ${walks.length + 1}`) });
  }
  return walks;
}

/** Rank of each state's strongly connected component in topological order (Tarjan, iterative enough for ~100 states). */
function componentRanks(groups: Map<string, Group[]>, initial: string): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, number>();
  let counter = 0;
  let components = 0;
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const g of groups.get(v) ?? []) {
      if (!index.has(g.to)) {
        connect(g.to);
        low.set(v, Math.min(low.get(v)!, low.get(g.to)!));
      } else if (onStack.has(g.to)) {
        low.set(v, Math.min(low.get(v)!, index.get(g.to)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.set(w, components);
      } while (w !== v);
      components += 1;
    }
  };
  connect(initial);
  // Tarjan completes components sinks first: reverse for topological order.
  return new Map([...component].map(([state, c]) => [state, components - 1 - c]));
}

/** The route (groups) from `from` to the best untaken group: earliest component, staying inside it first, nearest. */
function routeToUntaken(groups: Map<string, Group[]>, rank: Map<string, number>, from: string, untaken: Set<string>): Group[] | null {
  const previous = new Map<string, { key: string; group: Group } | null>([[from, null]]);
  const distance = new Map([[from, 0]]);
  const queue = [from];
  let best: { group: Group; score: [number, number, number] } | null = null;
  while (queue.length) {
    const key = queue.shift()!;
    for (const group of groups.get(key) ?? []) {
      if (untaken.has(group.id)) {
        const score: [number, number, number] = [rank.get(key)!, rank.get(group.to) === rank.get(key) ? 0 : 1, distance.get(key)!];
        if (!best || score[0] < best.score[0] || (score[0] === best.score[0] && (score[1] < best.score[1] || (score[1] === best.score[1] && score[2] < best.score[2])))) {
          best = { group, score };
        }
      }
      if (previous.has(group.to)) continue;
      previous.set(group.to, { key, group });
      distance.set(group.to, distance.get(key)! + 1);
      queue.push(group.to);
    }
  }
  if (!best) return null;
  const route = [best.group];
  let back = previous.get(best.group.from);
  while (back) {
    route.unshift(back.group);
    back = previous.get(back.key);
  }
  return route;
}

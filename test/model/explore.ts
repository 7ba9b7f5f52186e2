/**
 * Walking the chart, at two levels.
 *
 *   Events: every state reachable from a fixture's initial state, every catalogue stimulus tried once in
 *   each (xstate/graph's adjacency map): the model-level edge coverage.
 *
 *   Requests: from every settled state (no effect or refresh under way, where a parent's request starts
 *   and ends), every wire action with every way the environment can end it, as a "group" of model
 *   steps. Paths for replay are sequences of groups: shortest paths (xstate/graph's TestModel over the
 *   chart as the wire sees it: createTestModel refuses invokes), simple paths up to a depth cap (a DFS:
 *   xstate's getSimplePaths enumerates every simple path to every state, which does not finish on this
 *   dense graph), and walks that take every group at least once.
 */
import { fromTransition, type AnyEventObject } from 'xstate';
import { TestModel, getAdjacencyMap, type AdjacencyMap } from 'xstate/graph';
import type { AuthMachine } from '../../machines/auth.machine';
import type { AuthSnapshot } from '../../machines/views';
import {
  WIRE_ACTIONS,
  eventsFor,
  fixtureAllows,
  isSettled,
  stimulusOfEvent,
  type Choice,
  type Fixture,
  type PathStep,
  type Stimulus,
  type WireAction,
} from './catalogue';
import { ModelStepper, projectionOf, stateKey, stateLabel, type ModelStep } from './model';
import { expectedWire } from './wire';

export type { PathStep } from './catalogue';

/** An edge of the event-level graph: a stimulus tried in a state. */
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

/** One request of a path: a wire action, the environment's choices, and the model steps they make. */
export interface Group {
  action: WireAction;
  choices: string[];
  steps: PathStep[];
  from: string;
  to: string;
  /** `action → choice → choice`: unique among the groups leaving one state. */
  label: string;
}

/** A path of requests from the fixture's initial state. */
export interface ModelPath {
  fixture: Fixture;
  /** Where it came from: `shortest`, `simple≤n`, `walk n`. */
  origin: string;
  groups: Group[];
  description: string;
}

/** The model steps of a path, in order. */
export function pathSteps(path: { groups: readonly Group[] }): PathStep[] {
  return path.groups.flatMap((g) => g.steps);
}

// ---------------------------------------------------------------------------------------------------
// Event level

/**
 * Explores every state reachable from the fixture's initial state, trying every stimulus in each, with
 * xstate/graph's adjacency map over the chart. The traversal steps the chart through the model stepper,
 * so each edge keeps what the chart emitted and which transitions it took. With `events: false` only the
 * initial state is computed (fixtures that replay a narrow slice, covered at the event level elsewhere).
 */
export function explore(machine: AuthMachine, fixture: Fixture, options: { events?: boolean } = {}): Explored {
  const stepper = new ModelStepper(machine, fixture.input);
  const initial = stepper.initial();
  const states = new Map<string, AuthSnapshot>();
  const edges = new Map<string, Edge[]>();
  const explored = { machine, fixture, stepper, initial, initialKey: stateKey(initial.after), states, edges };
  if (options.events === false) return explored;
  const steps = new WeakMap<AuthSnapshot, Map<AnyEventObject, ModelStep>>();
  // The chart as actor logic whose transition is the stepper's (one step per edge, remembered).
  const logic = {
    getInitialSnapshot: () => initial.after,
    transition: (snapshot: AuthSnapshot, event: AnyEventObject) => {
      const step = stepper.step(snapshot, event);
      let bySnapshot = steps.get(snapshot);
      if (!bySnapshot) steps.set(snapshot, (bySnapshot = new Map()));
      bySnapshot.set(event, step);
      return step.after;
    },
  };
  // A function of the snapshot: an events array would be taken as the whole event set (STACK.md trap 4).
  const adjacency: AdjacencyMap<AuthSnapshot, AnyEventObject> = getAdjacencyMap(logic as never, {
    fromState: initial.after,
    events: (snapshot: AuthSnapshot) => {
      const events = eventsFor(snapshot);
      const explores = fixture.explores;
      return explores ? events.filter((event) => explores(stimulusOfEvent(event).label, snapshot)) : events;
    },
    serializeState: (snapshot: AuthSnapshot) => stateKey(snapshot),
  } as never);
  for (const [key, value] of Object.entries(adjacency)) {
    const snapshot = value.state;
    states.set(key, snapshot);
    const out: Edge[] = [];
    for (const transition of Object.values(value.transitions) as Array<{ event: AnyEventObject; state: AuthSnapshot }>) {
      const step = steps.get(snapshot)?.get(transition.event);
      if (!step) throw new Error(`xstate/graph tried ${transition.event.type} without the model stepper`);
      out.push({ from: key, stimulus: stimulusOfEvent(transition.event), step, to: stateKey(step.after) });
    }
    edges.set(key, out);
  }
  // Every edge keeps the one snapshot of its target state rather than the copy its step made (snapshots of
  // one key are interchangeable: the key is what the model tells apart). Hundreds of thousands of copies
  // otherwise stay alive for the whole suite (the model suite ran out of its 4 GB heap).
  for (const out of edges.values()) for (const edge of out) edge.step.after = states.get(edge.to) ?? edge.step.after;
  return explored;
}

// ---------------------------------------------------------------------------------------------------
// Request level

class Impossible extends Error {}

/**
 * Runs a wire action from `from` with the given choices (by label; beyond them the first option), and
 * reports the options offered at each decision point so the caller can enumerate the others.
 */
function runAction(explored: Explored, from: AuthSnapshot, action: WireAction, forced: readonly string[]) {
  const steps: PathStep[] = [];
  const offered: string[][] = [];
  const chosen: string[] = [];
  const byKey = new Map<string, string>();
  let snapshot = from;
  const run = {
    get snapshot() {
      return snapshot;
    },
    send(stimulus: Stimulus): ModelStep {
      const model = explored.stepper.step(snapshot, stimulus.event(snapshot));
      steps.push({ stimulus, model });
      snapshot = model.after;
      return model;
    },
    choose(options: Choice[], key?: string): Choice {
      const allowed = options.filter((o) => fixtureAllows(explored.fixture, o.label, from));
      const repeated = key === undefined ? undefined : byKey.get(key);
      if (repeated !== undefined) {
        const again = allowed.find((o) => o.label === repeated);
        if (!again) throw new Impossible();
        return again;
      }
      const i = offered.length;
      offered.push(allowed.map((o) => o.label));
      const pick = i < forced.length ? allowed.find((o) => o.label === forced[i]) : allowed[0];
      if (!pick) throw new Impossible();
      chosen.push(pick.label);
      if (key !== undefined) byKey.set(key, pick.label);
      return pick;
    },
    skip(): never {
      throw new Impossible();
    },
  };
  action.script(run);
  return { steps, offered, chosen, after: snapshot };
}

function groupOf(action: WireAction, from: AuthSnapshot, steps: PathStep[], chosen: string[], after: AuthSnapshot): Group {
  return { action, choices: chosen, steps, from: stateKey(from), to: stateKey(after), label: [action.label, ...chosen].join(' → ') };
}

/** Every way a wire action can go from `from`: one group per combination of the environment's choices. */
export function expandAction(explored: Explored, from: AuthSnapshot, action: WireAction): Group[] {
  const groups: Group[] = [];
  const visit = (forced: string[]) => {
    let result;
    try {
      result = runAction(explored, from, action, forced);
    } catch (error) {
      if (error instanceof Impossible) return;
      throw error;
    }
    groups.push(groupOf(action, from, result.steps, result.chosen, result.after));
    for (let i = forced.length; i < result.offered.length; i += 1) {
      for (const alternative of result.offered[i].slice(1)) visit([...result.chosen.slice(0, i), alternative]);
    }
  };
  visit([]);
  return groups;
}

/** Re-runs a group's action and choices from another state (null when the choices are not offered there). */
export function rerunGroup(explored: Explored, from: AuthSnapshot, group: Pick<Group, 'action' | 'choices'>): Group | null {
  try {
    const result = runAction(explored, from, group.action, group.choices);
    if (result.chosen.length !== group.choices.length) return null;
    return groupOf(group.action, from, result.steps, result.chosen, result.after);
  } catch (error) {
    if (error instanceof Impossible) return null;
    throw error;
  }
}

/**
 * The request-level graph of a fixture: every settled state reachable by requests, with every group
 * leaving it, and its quotient by bisimulation. Context the wire never shows again (why the last refresh
 * failed, a history record the next effect overwrites) makes many states that no request can tell
 * apart: they are merged when every request from them gives the same wire output and takes the same
 * transitions, now and later (Moore-style partition refinement). Paths walk the quotient; every path is
 * then re-run from the initial state, so its steps hold exactly the snapshots the chart goes through.
 */
export interface WireGraph {
  explored: Explored;
  /** Settled states by key, each with the groups leaving it. */
  states: Map<string, AuthSnapshot>;
  groupsOf: Map<string, Group[]>;
  /** The quotient: one representative state per class; groups lead from class to class. */
  groups: Map<string, Group[]>;
  /** The class (its representative's key) of every settled state. */
  classOf: Map<string, string>;
}

const wireGraphs = new WeakMap<Explored, WireGraph>();

/** What a group shows on the wire and which transitions it takes: what bisimilar states must agree on. */
function observation(group: Group): string {
  const wire = expectedWire(group);
  return JSON.stringify([group.label, wire, group.steps.map((s) => s.model.transitions.map((t) => t.key))]);
}

/** Builds (once) the request-level graph of a fixture, breadth-first from its initial state, and its quotient. */
export function wireGraph(explored: Explored): WireGraph {
  const cached = wireGraphs.get(explored);
  if (cached) return cached;
  const states = new Map<string, AuthSnapshot>([[explored.initialKey, explored.initial.after]]);
  const groupsOf = new Map<string, Group[]>();
  const queue = [explored.initialKey];
  while (queue.length) {
    const key = queue.shift()!;
    const snapshot = states.get(key)!;
    if (!isSettled(snapshot)) throw new Error(`requests would start in an unsettled state: ${stateLabel(snapshot)}`);
    const out: Group[] = [];
    const seen = new Set<string>();
    for (const action of WIRE_ACTIONS) {
      if (!fixtureAllows(explored.fixture, action.label, snapshot) || (action.onlyIf && !action.onlyIf(snapshot))) continue;
      for (const group of expandAction(explored, snapshot, action)) {
        // Options that make the same steps (a refused request never reaches its effect) are one group.
        const identity = `${action.label}|${group.steps.map((s) => s.stimulus.label).join('|')}`;
        if (seen.has(identity)) continue;
        seen.add(identity);
        out.push(group);
        // A request the model never answers leaves the connection waiting: nothing comes after it.
        if (group.action.method && (!group.action.response(group.steps) || (group.action.overlap && !group.action.overlap.response(group.steps)))) continue;
        if (!isSettled(group.steps.at(-1)!.model.after)) {
          throw new Error(`${group.label} from ${stateLabel(snapshot)} answers but leaves the chart unsettled (${stateLabel(group.steps.at(-1)!.model.after)})`);
        }
        if (!states.has(group.to)) {
          states.set(group.to, group.steps[group.steps.length - 1].model.after);
          queue.push(group.to);
        }
      }
    }
    groupsOf.set(key, out);
  }
  const classOf = bisimulationClasses(states, groupsOf, explored.initialKey);
  const groups = new Map<string, Group[]>();
  for (const [key, list] of groupsOf) {
    if (classOf.get(key) !== key) continue;
    groups.set(
      key,
      list.map((g) => ({ ...g, from: key, to: classOf.get(g.to) ?? g.to })),
    );
  }
  const graph = { explored, states, groupsOf, groups, classOf };
  wireGraphs.set(explored, graph);
  return graph;
}

/** Partition refinement: states with the same observations whose groups lead to the same classes. */
function bisimulationClasses(states: Map<string, AuthSnapshot>, groupsOf: Map<string, Group[]>, initial: string): Map<string, string> {
  const keys = [...states.keys()];
  const observations = new Map(keys.map((k) => [k, (groupsOf.get(k) ?? []).map(observation)]));
  // Blocks are numbered afresh each round: a signature names the blocks of the last round by number, so it
  // stays the size of one state's groups (nesting the last round's signatures grew them round by round).
  const numbered = (signatures: Map<string, string>): Map<string, number> => {
    const ids = new Map<string, number>();
    return new Map([...signatures].map(([k, signature]) => [k, ids.get(signature) ?? ids.set(signature, ids.size).get(signature)!]));
  };
  let block = numbered(new Map(keys.map((k) => [k, JSON.stringify([projectionOf(states.get(k)!), observations.get(k)])])));
  for (let round = 0; round < keys.length + 1; round += 1) {
    const next = numbered(new Map(keys.map((k) => [k, JSON.stringify([block.get(k), (groupsOf.get(k) ?? []).map((g) => block.get(g.to))])])));
    const count = (m: Map<string, number>) => new Set(m.values()).size;
    const stable = count(next) === count(block);
    block = next;
    if (stable) break;
  }
  // Each class is named by its representative: the initial state for its own class, else the first found.
  const representative = new Map<number, string>();
  representative.set(block.get(initial)!, initial);
  for (const k of keys) if (!representative.has(block.get(k)!)) representative.set(block.get(k)!, k);
  return new Map(keys.map((k) => [k, representative.get(block.get(k)!)!]));
}

/** A path's description, used as its test name. */
export function describePath(fixture: Fixture, groups: readonly Group[], origin: string): string {
  const end = groups.length ? groups[groups.length - 1].steps.at(-1)!.model.after : null;
  const labels = groups.map((g) => g.label).join(' ▸ ');
  return `[${fixture.name}] ${origin}: ${labels || '(start-up)'}${end ? ` ⇒ ${stateLabel(end)}` : ''}`;
}

/** Re-runs groups one after the other from `from`, so every step's `before` is the previous step's `after`. */
export function rerunPath(explored: Explored, groups: readonly Pick<Group, 'action' | 'choices'>[], from: AuthSnapshot = explored.initial.after): Group[] | null {
  const out: Group[] = [];
  let at = from;
  for (const group of groups) {
    const again = rerunGroup(explored, at, group);
    if (!again) return null;
    out.push(again);
    at = again.steps.at(-1)!.model.after;
  }
  return out;
}

/**
 * A path of the graph, re-run from the initial state: the graph keeps one snapshot per state, but
 * counters it abstracts (the credential generation) differ along a real path, and every step must hold
 * exactly what the chart sees there.
 */
function modelPath(explored: Explored, groups: Group[], origin: string): ModelPath {
  const rerun = rerunPath(explored, groups);
  if (!rerun) throw new Error(`a path of the request graph cannot be re-run: ${groups.map((g) => g.label).join(' ▸ ')}`);
  return { fixture: explored.fixture, origin, groups: rerun, description: describePath(explored.fixture, rerun, origin) };
}

/** Drops paths that are prefixes of others (by group labels) and exact duplicates. */
export function deduplicate(paths: ModelPath[]): ModelPath[] {
  const sequences = paths.map((p) => p.groups.map((g) => g.label));
  const order = paths.map((_, i) => i).sort((a, b) => sequences[b].length - sequences[a].length);
  const kept: number[] = [];
  for (const i of order) {
    const isPrefix = kept.some((k) => paths[k].fixture === paths[i].fixture && sequences[i].every((label, j) => sequences[k][j] === label));
    if (!isPrefix) kept.push(i);
  }
  return kept.sort((a, b) => a - b).map((i) => paths[i]);
}

/** The chart as the wire sees it, as actor logic: a state is a settled snapshot, an event is one group. */
function wireLogic(graph: WireGraph) {
  return fromTransition(
    (state: { key: string }, event: { type: string }) => {
      const group = (graph.groups.get(state.key) ?? []).find((g) => g.label === event.type);
      if (!group) throw new Error(`no group ${event.type} from ${state.key}`);
      return { key: group.to };
    },
    { key: graph.explored.initialKey },
  );
}

/** Shortest request paths to every settled state, from xstate/graph's TestModel (deduplicated by it). */
export function shortestPaths(graph: WireGraph): ModelPath[] {
  const logic = wireLogic(graph);
  type WireSnapshot = ReturnType<typeof logic.getInitialSnapshot>;
  const model = new TestModel<WireSnapshot, { type: string }, unknown>(logic as never, {
    events: (snapshot: WireSnapshot) => (graph.groups.get(snapshot.context.key) ?? []).map((g) => ({ type: g.label })),
    serializeState: (snapshot: WireSnapshot) => snapshot.context.key,
    serializeEvent: (event: { type: string }) => event.type,
  } as never);
  const paths = model.getShortestPaths().map((path) => {
    const groups: Group[] = [];
    for (let i = 1; i < path.steps.length; i += 1) {
      const from = path.steps[i - 1].state.context.key;
      groups.push((graph.groups.get(from) ?? []).find((g) => g.label === path.steps[i].event.type)!);
    }
    return modelPath(graph.explored, groups, 'shortest');
  });
  return deduplicate(paths.filter((p) => p.groups.length > 0));
}

/** Simple request paths (no settled state twice) of at most `maxDepth` requests, deduplicated. */
export function simplePaths(graph: WireGraph, maxDepth: number): ModelPath[] {
  const found: Group[][] = [];
  const visit = (key: string, seen: Set<string>, groups: Group[]) => {
    if (groups.length) found.push(groups);
    if (groups.length >= maxDepth) return;
    for (const group of graph.groups.get(key) ?? []) {
      if (seen.has(group.to)) continue;
      seen.add(group.to);
      visit(group.to, seen, [...groups, group]);
      seen.delete(group.to);
    }
  };
  visit(graph.explored.initialKey, new Set([graph.explored.initialKey]), []);
  return deduplicate(found.map((groups) => modelPath(graph.explored, groups, `simple≤${maxDepth}`)));
}

/**
 * Walks that take every group at least once. The graph has one-way parts (a restored start-up is left
 * for good, a history record is overwritten), so the order matters: from the current state the walk goes,
 * by the shortest route, to the untaken group that lies earliest in the graph's one-way order (strongly
 * connected components in topological order), taking the groups that stay inside a component before
 * those that leave it, nearest first. A walk ends when nothing untaken is reachable or it reaches
 * `maxGroups`; the next walk starts from the initial state.
 */
export function coveringWalks(graph: WireGraph, maxGroups: number): ModelPath[] {
  const { groups, explored } = graph;
  const rank = componentRanks(groups, explored.initialKey);
  const untaken = new Set([...groups.entries()].flatMap(([key, list]) => list.map((g) => `${key}|${g.label}`)));
  const walks: ModelPath[] = [];
  while (untaken.size > 0) {
    const taken: Group[] = [];
    let at = explored.initialKey;
    while (taken.length < maxGroups) {
      const route = routeToUntaken(groups, rank, at, untaken);
      if (!route) break;
      for (const group of route) {
        untaken.delete(`${group.from}|${group.label}`);
        taken.push(group);
        at = group.to;
      }
    }
    if (taken.length === 0) break; // what remains is unreachable from the initial state; coverage reports it
    walks.push(modelPath(explored, taken, `walk ${walks.length + 1}`));
  }
  return walks;
}

/** Rank of each state's strongly connected component in topological order (Tarjan). */
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

/** The route from `from` to the best untaken group: earliest component, staying inside it first, nearest. */
function routeToUntaken(groups: Map<string, Group[]>, rank: Map<string, number>, from: string, untaken: Set<string>): Group[] | null {
  const previous = new Map<string, { key: string; group: Group } | null>([[from, null]]);
  const distance = new Map([[from, 0]]);
  const queue = [from];
  let best: { group: Group; score: [number, number, number] } | null = null;
  const better = (a: [number, number, number], b: [number, number, number]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  while (queue.length) {
    const key = queue.shift()!;
    for (const group of groups.get(key) ?? []) {
      if (untaken.has(`${key}|${group.label}`)) {
        const score: [number, number, number] = [rank.get(key)!, rank.get(group.to) === rank.get(key) ? 0 : 1, distance.get(key)!];
        if (!best || better(score, best.score) < 0) best = { group, score };
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

/**
 * A drawing model of a statechart, read from the machine's own state nodes (never a hand-drawn copy):
 * the state tree in definition order, with initial states, history nodes, invoked actors, and every
 * transition (`on`, `always`, `after`, invoke `onDone`/`onError`/`onSnapshot`, `onDone` of a state) with
 * its event, guard and actions named. Pure; the Mermaid and DOT writers and the live inspector (which
 * maps the transitions XState reports back to edge ids) all read this one model.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/** How a state node behaves: XState's own types. */
export type ChartNodeType = 'atomic' | 'compound' | 'parallel' | 'history' | 'final';

/** One transition of the chart, as drawn. */
export interface ChartTransition {
  /** Stable id: `<source id>:<event descriptor or "always">:<index among its candidates>`. */
  key: string;
  source: string;
  /** Target state node ids; empty for a targetless transition (actions only: a refusal, a self-answer). */
  targets: string[];
  /** The descriptor as XState knows it (`login.apiKey`, `xstate.done.actor.saveApiKey`, `""` for always). */
  eventType: string;
  /** A short readable name of the trigger: `login.apiKey`, `done(saveApiKey)`, `after(600000ms)`, `always`. */
  trigger: string;
  /** The guard's name (`externalActive`, `not(x)`, `and(a, b)`, `in(#auth.session.x)`), or null when unguarded. */
  guard: string | null;
  /** Names of the actions, in order. */
  actions: string[];
  /** True when XState re-enters the target (`reenter: true`). */
  reenter: boolean;
}

/** One state node, as drawn. */
export interface ChartNode {
  id: string;
  key: string;
  type: ChartNodeType;
  /** `'shallow'` or `'deep'` for history nodes. */
  history: 'shallow' | 'deep' | null;
  /** Ids of the initial child (compound states). */
  initial: string[];
  /** Invoked actors: their id (null when XState made it up) and the logic's name (null for inline logic). */
  invokes: Array<{ id: string | null; src: string | null }>;
  tags: string[];
  /** Names of entry and exit actions (delayed-event plumbing that XState adds itself is left out). */
  entry: string[];
  exit: string[];
  children: ChartNode[];
  /** Transitions defined on this node, in definition order. */
  transitions: ChartTransition[];
}

/** The whole chart. */
export interface ChartModel {
  id: string;
  root: ChartNode;
}

type GuardLike = string | { type: string; params?: unknown } | ((...args: never[]) => unknown) | undefined;

/** A readable name for a guard reference: a name, a `{type}` object, or an inline / higher-order guard. */
export function guardName(guard: GuardLike): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: GuardLike[]; stateValue?: unknown };
    if (fn.stateValue !== undefined) {
      return `in(${typeof fn.stateValue === 'string' ? fn.stateValue : JSON.stringify(fn.stateValue)})`;
    }
    if (Array.isArray(fn.guards)) {
      const inner = fn.guards.map((g) => guardName(g) ?? 'guard').join(', ');
      return `${fn.name || 'guard'}(${inner})`;
    }
    return fn.name || 'inline guard';
  }
  return typeof guard.type === 'string' ? guard.type : 'guard';
}

/** A readable name for an action reference. Inline `emit(...)`/`assign(...)` name their builtin kind. */
export function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const fn = action as { type?: unknown; name?: string };
    if (typeof fn.type === 'string') return fn.type.replace(/^xstate\./, '');
    return fn.name || 'inline action';
  }
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') {
    return (action as { type: string }).type;
  }
  return 'action';
}

const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';
const SNAPSHOT_ACTOR = 'xstate.snapshot.';
const DONE_STATE = 'xstate.done.state.';

/** A short name for an event descriptor; delayed transitions name their delay. */
export function triggerName(eventType: string, delay?: unknown): string {
  if (eventType === '') return 'always';
  if (delay !== undefined) return `after(${typeof delay === 'number' ? `${delay}ms` : String(delay)})`;
  if (eventType.startsWith(DONE_ACTOR)) return `done(${eventType.slice(DONE_ACTOR.length)})`;
  if (eventType.startsWith(ERROR_ACTOR)) return `error(${eventType.slice(ERROR_ACTOR.length)})`;
  if (eventType.startsWith(SNAPSHOT_ACTOR)) return `snapshot(${eventType.slice(SNAPSHOT_ACTOR.length)})`;
  if (eventType.startsWith(DONE_STATE)) return 'done';
  return eventType;
}

/** The stable key of a transition of a running or defined machine, or null if XState does not list it. */
export function transitionKey(transition: AnyTransitionDefinition): string | null {
  const source = transition.source;
  const candidates = transition.eventType === '' ? (source.always ?? []) : (source.transitions.get(transition.eventType) ?? []);
  const index = candidates.indexOf(transition);
  return index === -1 ? null : `${source.id}:${transition.eventType === '' ? 'always' : transition.eventType}:${index}`;
}

function isDelayedPlumbing(action: unknown): boolean {
  // `after` makes XState push a raise(xstate.after.*) on entry and a cancel on exit; they are not the author's.
  const fn = action as { type?: unknown; name?: unknown };
  return typeof action === 'function' && (fn.type === 'xstate.raise' || fn.type === 'xstate.cancel');
}

function describeTransitions(node: AnyStateNode): ChartTransition[] {
  const out: ChartTransition[] = [];
  const add = (eventType: string, list: readonly AnyTransitionDefinition[]) => {
    list.forEach((t, index) => {
      out.push({
        key: `${node.id}:${eventType === '' ? 'always' : eventType}:${index}`,
        source: node.id,
        targets: (t.target ?? []).map((target: AnyStateNode) => target.id),
        eventType,
        trigger: triggerName(eventType, (t as { delay?: unknown }).delay),
        guard: guardName(t.guard as GuardLike),
        actions: t.actions.map(actionName),
        reenter: t.reenter === true,
      });
    });
  };
  for (const [eventType, list] of node.transitions) add(eventType, list);
  if (node.always) add('', node.always);
  return out;
}

function describeNode(node: AnyStateNode): ChartNode {
  const children = Object.values(node.states as Record<string, AnyStateNode>).map(describeNode);
  const initial = node.type === 'compound' && node.initial ? node.initial.target.map((t: AnyStateNode) => t.id) : [];
  return {
    id: node.id,
    key: node.key,
    type: node.type as ChartNodeType,
    history: node.type === 'history' ? (node.history === 'deep' ? 'deep' : 'shallow') : null,
    initial,
    invokes: node.invoke.map((inv: { id: string; src: unknown }, index: number) => ({
      id: inv.id === `${index}.${node.id}` ? null : inv.id, // XState's generated id for an invoke without one
      src: typeof inv.src === 'string' && !inv.src.startsWith('xstate.invoke.') ? inv.src : null,
    })),
    tags: [...node.tags],
    entry: node.entry.filter((a: unknown) => !isDelayedPlumbing(a)).map(actionName),
    exit: node.exit.filter((a: unknown) => !isDelayedPlumbing(a)).map(actionName),
    children,
    transitions: describeTransitions(node),
  };
}

/** Reads the drawing model of a machine from its state nodes. */
export function chartModel(machine: AnyStateMachine): ChartModel {
  return { id: machine.root.id, root: describeNode(machine.root) };
}

/** Every node of the model, parents before children, in definition order. */
export function allNodes(model: ChartModel): ChartNode[] {
  const out: ChartNode[] = [];
  const visit = (node: ChartNode) => {
    out.push(node);
    node.children.forEach(visit);
  };
  visit(model.root);
  return out;
}

/** The id an SVG element of a state node carries (the inspector highlights by it). */
export function svgStateId(stateNodeId: string): string {
  return `state:${stateNodeId}`;
}

/** The id prefix of the SVG edge(s) of a transition (one edge per target: `<prefix>:<target index>`). */
export function svgEdgeIdPrefix(key: string): string {
  return `edge:${key}`;
}

/**
 * Introspection of the real chart: its state nodes, its transitions (the denominator of transition
 * coverage), the event descriptors it names, its invokes and its delays. Read from `machine.root`, so
 * whatever states and events the chart grows are counted without editing this file.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { getStateNodes } from 'xstate/graph';

/** One transition of the chart: a candidate in the list for (source, event), with its guard and targets. */
export interface ChartTransition {
  /** Stable across `.provide()` variants of the same chart: `source|event|index`. */
  key: string;
  /** Id of the state node that declares the transition. */
  source: string;
  /** The event descriptor (`login.apiKey`, `login.*`, `xstate.done.actor.x`), or `(always)`. */
  event: string;
  /** Position among the candidates for this (source, event); guards make them distinct transitions. */
  index: number;
  /** Guard name, or null when unguarded. */
  guard: string | null;
  /** Target state ids; empty for a targetless transition (actions only, the state stays). */
  targets: string[];
  definition: AnyTransitionDefinition;
}

/** What a state node is, for the report. */
export interface ChartState {
  id: string;
  type: AnyStateNode['type'];
  tags: string[];
  node: AnyStateNode;
}

/** Where an invoke lives and which results it can deliver. */
export interface ChartInvoke {
  id: string;
  src: string;
  source: string;
}

/** A structural view of a chart, computed once per machine. */
export interface ChartShape {
  states: ChartState[];
  transitions: ChartTransition[];
  /** Looks up the ChartTransition of a definition object taken by the machine. */
  byDefinition: Map<AnyTransitionDefinition, ChartTransition>;
  /** Every event descriptor the chart names, wildcards included; `(always)` excluded. */
  eventDescriptors: string[];
  invokes: ChartInvoke[];
  /** `xstate.after.<delay>.<stateId>` event types of every delayed transition. */
  delayedEvents: string[];
  /** Guard names the chart's transitions reference by name (the mutation targets). */
  guardNames: string[];
  /** Guards written inline in a transition (reported: `.provide()` cannot invert them). */
  inlineGuards: string[];
}

/** The event descriptor of eventless (`always`) transitions, as shown in the report. */
export const ALWAYS = '(always)';

/** Prefix of the name of a guard written inline (e.g. `stateIn(...)` in a transition), not referenced by name. */
export const INLINE_GUARD = 'inline ';

/** A guard as a readable name; inline guards are marked, since `.provide()` cannot replace them. */
export function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in (guard as object)) return String((guard as { type: unknown }).type);
  if (typeof guard === 'function') return `${INLINE_GUARD}${guard.name || 'guard'}`;
  return String(guard);
}

function chartTransition(source: AnyStateNode, event: string, index: number, definition: AnyTransitionDefinition): ChartTransition {
  return {
    key: `${source.id}|${event}|${index}`,
    source: source.id,
    event,
    index,
    guard: guardName(definition.guard),
    targets: (definition.target ?? []).map((target: AnyStateNode) => target.id),
    definition,
  };
}

const shapes = new WeakMap<AnyStateMachine, ChartShape>();

/** The shape of a machine (memoized per machine object). */
export function chartShape(machine: AnyStateMachine): ChartShape {
  const cached = shapes.get(machine);
  if (cached) return cached;
  const nodes = [machine.root, ...getStateNodes(machine.root)];
  const states: ChartState[] = nodes.map((node) => ({ id: node.id, type: node.type, tags: [...node.tags], node }));
  const transitions: ChartTransition[] = [];
  const invokes: ChartInvoke[] = [];
  const delayedEvents: string[] = [];
  for (const node of nodes) {
    for (const [event, list] of node.transitions) {
      list.forEach((definition, index) => transitions.push(chartTransition(node, event, index, definition)));
    }
    (node.always ?? []).forEach((definition, index) => transitions.push(chartTransition(node, ALWAYS, index, definition)));
    for (const invoke of node.invoke) invokes.push({ id: invoke.id, src: String(invoke.src), source: node.id });
    for (const delayed of node.after) delayedEvents.push(delayed.eventType);
  }
  const byDefinition = new Map(transitions.map((t) => [t.definition, t]));
  const eventDescriptors = [...new Set(transitions.map((t) => t.event).filter((e) => e !== ALWAYS))];
  const guards = [...new Set(transitions.map((t) => t.guard).filter((g): g is string => g !== null))];
  const guardNames = guards.filter((g) => !g.startsWith(INLINE_GUARD));
  const inlineGuards = transitions.filter((t) => t.guard?.startsWith(INLINE_GUARD)).map((t) => describeTransition(t));
  const shape = { states, transitions, byDefinition, eventDescriptors, invokes, delayedEvents, guardNames, inlineGuards };
  shapes.set(machine, shape);
  return shape;
}

/** True when an event type is matched by a descriptor (exact, `*`, or `prefix.*`). */
export function descriptorMatches(descriptor: string, eventType: string): boolean {
  if (descriptor === eventType || descriptor === '*') return true;
  if (!descriptor.endsWith('.*')) return false;
  const prefix = descriptor.slice(0, -2).split('.');
  const parts = eventType.split('.');
  return prefix.every((part, i) => parts[i] === part);
}

/** A transition as the report shows it: `source: event [guard] → target`. */
export function describeTransition(t: Pick<ChartTransition, 'source' | 'event' | 'guard' | 'targets'>): string {
  const strip = (id: string) => id.replace(/^auth\./, '');
  const guard = t.guard ? ` [${t.guard}]` : '';
  const target = t.targets.length === 0 ? '(stays)' : t.targets.map(strip).join(', ');
  return `${strip(t.source)}: ${t.event}${guard} → ${target}`;
}

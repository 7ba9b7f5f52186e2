/**
 * Turns XState's inspection stream of the root actor into what the inspector shows: one step per
 * processed event (the event, the state before and after, the transitions taken with their guards,
 * and the refusal it answered with, if any) and the current state (text, active state node ids,
 * context). Built from an allow-list projection: the raw inspection event never leaves this file.
 *
 * XState reports, for each event the root processes: `@xstate.event`, then `@xstate.action` and
 * `@xstate.microstep` for each microstep, then one `@xstate.snapshot`. The recorder collects between
 * snapshots and closes a step at each root snapshot, so start-up (`xstate.init`) is a step too.
 */
import type { AnyStateNode, AnyTransitionDefinition, InspectionEvent } from 'xstate';
import { activeStateText } from '../../machines/views';
import { guardName, transitionKey } from '../visualize/model';
import { safeEventFields, safeView, wireIdOf } from './projection';

/** A transition XState took, as shown. */
export interface StepTransition {
  /** Key of the drawn edge(s) (`<source>:<event>:<index>`); the SVG edges are `edge:<key>:<n>`. */
  key: string | null;
  source: string;
  targets: string[];
  guard: string | null;
}

/** One processed event. */
export interface InspectorStep {
  seq: number;
  /** ISO time the step finished. */
  at: string;
  /** The event: its type, the JSON-RPC id of the request it stands for (null if none), its other fields made safe. */
  event: { type: string; rpcId: string | number | null; fields: Record<string, unknown> };
  /** State text before (null for the first step) and after, as `activeStateText` writes it. */
  before: string | null;
  after: string;
  transitions: StepTransition[];
  /** The guard of the transition selected for the event itself (not of eventless follow-ups), or null. */
  guard: string | null;
  /** Set when the event was answered with a refusal: its code and message, and the guard that chose it. */
  refused: { code: number | null; message: string; guard: string | null } | null;
  /** Types of the events the chart emitted while processing (answers, notifications). */
  emitted: string[];
}

/** The chart's current state, as shown. */
export interface InspectorState {
  text: string;
  value: unknown;
  /** Ids of the active state nodes (root first); the SVG elements are `state:<id>` and `title:<id>`. */
  active: string[];
  context: unknown;
  status: string;
}

/** What the recorder needs. */
export interface RecorderOptions {
  /** How many past steps to keep for viewers who arrive later (default 500). */
  historyLimit?: number;
  /** The emitted event that means "this command was refused" (default `answer.refused`). */
  refusalEvent?: string;
  /** Called after each step, with the new state. Must not throw (a throw is caught and dropped). */
  onStep?: (step: InspectorStep, state: InspectorState) => void;
  /** Reports a failure inside the recorder (it never throws into XState). */
  onError?: (error: unknown) => void;
  now?: () => Date;
}

interface Pending {
  transitions: Array<{ eventType: string; transition: AnyTransitionDefinition }>;
  emitted: string[];
  refusal: { code: number | null; message: string } | null;
}

/** The active state node ids of a state value, walking the machine's tree. */
export function activeStateIds(root: AnyStateNode, value: unknown): string[] {
  const ids: string[] = [];
  const walk = (node: AnyStateNode, sub: unknown) => {
    ids.push(node.id);
    const states = node.states as Record<string, AnyStateNode>;
    if (typeof sub === 'string') {
      const child = states[sub];
      if (child) ids.push(child.id);
    } else if (sub && typeof sub === 'object') {
      for (const [key, childValue] of Object.entries(sub as Record<string, unknown>)) {
        const child = states[key];
        if (child) walk(child, childValue);
      }
    }
  };
  walk(root, value);
  return ids;
}

function describe(transition: AnyTransitionDefinition): StepTransition {
  return {
    key: transitionKey(transition),
    source: transition.source.id,
    targets: (transition.target ?? []).map((target: AnyStateNode) => target.id),
    guard: guardName(transition.guard as Parameters<typeof guardName>[0]),
  };
}

/** Collects inspection events of the root actor into steps. */
export class InspectionRecorder {
  private readonly steps: InspectorStep[] = [];
  private current: InspectorState | null = null;
  private pending: Pending = { transitions: [], emitted: [], refusal: null };
  private seq = 0;
  private readonly limit: number;
  private readonly refusalEvent: string;

  constructor(private readonly options: RecorderOptions = {}) {
    this.limit = options.historyLimit ?? 500;
    this.refusalEvent = options.refusalEvent ?? 'answer.refused';
  }

  /** The observer to pass as XState's `inspect` option. Never throws. */
  readonly observe = (event: InspectionEvent): void => {
    try {
      this.take(event);
    } catch (error) {
      this.options.onError?.(error);
    }
  };

  /** The current state, or null before the chart started. */
  state(): InspectorState | null {
    return this.current;
  }

  /** The kept steps, oldest first. */
  history(): InspectorStep[] {
    return [...this.steps];
  }

  private take(event: InspectionEvent): void {
    if (event.actorRef.sessionId !== event.rootId) return; // children (invoked promises…) are summed up by the root's events
    switch (event.type) {
      case '@xstate.microstep':
        for (const transition of event._transitions) this.pending.transitions.push({ eventType: event.event.type, transition });
        return;
      case '@xstate.action': {
        if (event.action.type !== 'xstate.emit') return;
        const emitted = (event.action.params as { event?: { type?: unknown; code?: unknown; message?: unknown } } | undefined)?.event;
        if (!emitted || typeof emitted.type !== 'string') return;
        this.pending.emitted.push(emitted.type);
        if (emitted.type === this.refusalEvent) {
          this.pending.refusal = {
            code: typeof emitted.code === 'number' ? emitted.code : null,
            message: String(safeView(typeof emitted.message === 'string' ? emitted.message : '')),
          };
        }
        return;
      }
      case '@xstate.snapshot':
        this.closeStep(event.event, event.snapshot as unknown as SnapshotLike);
        return;
      default:
        return;
    }
  }

  private closeStep(cause: { type: string }, snapshot: SnapshotLike): void {
    const value = snapshot.value;
    const state: InspectorState = {
      text: activeStateText(value),
      value: safeView(value),
      active: snapshot.machine?.root ? activeStateIds(snapshot.machine.root, value) : [],
      context: safeView(snapshot.context),
      status: String(snapshot.status),
    };
    const own = this.pending.transitions.filter((t) => t.eventType === cause.type).map((t) => describe(t.transition));
    const guard = own.find((t) => t.guard !== null)?.guard ?? null;
    this.seq += 1;
    const step: InspectorStep = {
      seq: this.seq,
      at: (this.options.now?.() ?? new Date()).toISOString(),
      event: { type: cause.type, rpcId: wireIdOf(cause), fields: safeEventFields(cause) },
      before: this.current?.text ?? null,
      after: state.text,
      transitions: this.pending.transitions.map((t) => describe(t.transition)),
      guard,
      refused: this.pending.refusal ? { ...this.pending.refusal, guard } : null,
      emitted: this.pending.emitted,
    };
    this.pending = { transitions: [], emitted: [], refusal: null };
    this.current = state;
    this.steps.push(step);
    if (this.steps.length > this.limit) this.steps.splice(0, this.steps.length - this.limit);
    try {
      this.options.onStep?.(step, state);
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}

interface SnapshotLike {
  value: unknown;
  context: unknown;
  status: unknown;
  machine?: { root: AnyStateNode };
}

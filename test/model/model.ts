/**
 * The chart as an oracle. A pure stepper over the real machine (or a `.provide()` variant of it): for a
 * snapshot and an event it returns the next snapshot, the events the chart emits (answers and
 * notifications) and the transitions it took, microstep by microstep. Nothing here is hand-written
 * expectation: the projection a replay checks is computed from these results with machines/views.ts.
 */
import { createActor, type AnyEventObject, type AnyTransitionDefinition, type ActorScope, type InspectionEvent } from 'xstate';
import type { AuthMachine } from '../../machines/auth.machine';
import type { AuthEmitted, AuthInput, AuthMode, WorkspaceRouting } from '../../machines/types';
import { accountViewOf, authModeOf, userIdOf, workspaceRoutingOf, type AccountView, type AuthSnapshot } from '../../machines/views';
import { chartShape, type ChartTransition } from './chart';

/** One step of the model. */
export interface ModelStep {
  event: AnyEventObject;
  before: AuthSnapshot;
  after: AuthSnapshot;
  /** Answers and notifications, in the order the chart emitted them. */
  emitted: AuthEmitted[];
  /** Transitions taken, in microstep order (several per microstep in parallel regions). */
  transitions: ChartTransition[];
  /** Ids of every state node active in any microstep of this step, transient ones included. */
  visited: string[];
  /** Actors the step invoked, with their input (e.g. what a refresh request to the parent carries). */
  spawned: Array<{ id: string; input: unknown }>;
}

/** What a client can observe of a snapshot. */
export interface Projection {
  account: AccountView;
  authMode: AuthMode | null;
  userId: string | null;
  /** What the last workspace discovery found (issue 14). */
  workspaceRouting: WorkspaceRouting | null;
}

/** Steps one machine for one input. Keeps a scope whose inspection hook records the transitions taken. */
export class ModelStepper {
  private transitionsTaken: AnyTransitionDefinition[] = [];
  private microstepSnapshots: AuthSnapshot[] = [];
  private actions: Array<{ type: string; params?: unknown }> = [];
  private readonly scope: ActorScope<AuthSnapshot, AnyEventObject>;

  constructor(
    readonly machine: AuthMachine,
    readonly input: AuthInput,
  ) {
    const onInspect = (event: InspectionEvent) => {
      if (event.type !== '@xstate.microstep') return;
      this.transitionsTaken.push(...event._transitions);
      this.microstepSnapshots.push(event.snapshot as AuthSnapshot);
    };
    // Never started: it only lends its system (with our inspection hook) and a parent ref for invokes.
    const self = createActor(machine, { input, inspect: onInspect, logger: () => {} });
    this.scope = {
      self: self as never,
      id: '',
      sessionId: '',
      logger: () => {},
      defer: () => {},
      emit: () => {},
      system: self.system,
      stopChild: () => {},
      // Pure: actions are collected, never executed (invokes are not started, emits are read back).
      actionExecutor: (action) => {
        this.actions.push(action as { type: string; params?: unknown });
      },
    };
  }

  /** The initial snapshot (after eventless transitions such as `restoring`), as a step from nothing. */
  initial(): ModelStep {
    this.reset();
    const after = this.machine.getInitialSnapshot(this.scope as never, this.input) as AuthSnapshot;
    return this.collect({ type: 'xstate.init' }, after, after);
  }

  /** The next snapshot for `event`, with what the chart emitted and the transitions it took. */
  step(before: AuthSnapshot, event: AnyEventObject): ModelStep {
    this.reset();
    const after = this.machine.transition(before, event as never, this.scope as never) as AuthSnapshot;
    return this.collect(event, before, after);
  }

  private reset(): void {
    this.transitionsTaken = [];
    this.microstepSnapshots = [];
    this.actions = [];
  }

  private collect(event: AnyEventObject, before: AuthSnapshot, after: AuthSnapshot): ModelStep {
    const shape = chartShape(this.machine);
    const transitions = this.transitionsTaken.map((definition) => {
      const known = shape.byDefinition.get(definition);
      if (!known) throw new Error(`the machine took a transition the chart shape does not list (${definition.eventType} from ${definition.source.id})`);
      return known;
    });
    const visited = new Set<string>();
    for (const snapshot of [...this.microstepSnapshots, after]) for (const node of snapshot._nodes) visited.add(node.id);
    // A transient state (e.g. `restoring`) is only ever seen as the source of the transition leaving it.
    for (const t of transitions) visited.add(t.source);
    const emitted = this.actions
      .filter((action) => action.type === 'xstate.emit')
      .map((action) => (action.params as { event: AuthEmitted }).event);
    const spawned = this.actions
      .filter((action) => action.type === 'xstate.spawnChild')
      .map((action) => {
        const params = action.params as { id: string; input?: unknown };
        return { id: params.id, input: params.input };
      });
    return { event, before, after, emitted, transitions, visited: [...visited], spawned };
  }
}

/** The observable projection of a model snapshot (what `account/read` and `getAuthStatus` report). */
export function projectionOf(snapshot: AuthSnapshot): Projection {
  return { account: accountViewOf(snapshot), authMode: authModeOf(snapshot), userId: userIdOf(snapshot), workspaceRouting: workspaceRoutingOf(snapshot) };
}

/**
 * Identity of a snapshot for traversal: state value, context and deep-history record. XState's
 * default `serializeSnapshot` leaves history out, which would merge "saving from apiKey" with
 * "saving from loggedOut" and lose the difference their failure paths make.
 */
export function stateKey(snapshot: AuthSnapshot): string {
  const history = Object.fromEntries(
    Object.entries(snapshot.historyValue ?? {}).map(([id, nodes]) => [id, (nodes as Array<{ id: string }>).map((n) => n.id)]),
  );
  const context: Record<string, unknown> = { ...snapshot.context };
  for (const field of RELATIVE_COUNTERS) if (field in context) context[field] = '(relative)';
  return JSON.stringify({ value: snapshot.value, context, history });
}

/**
 * Context counters that only matter relative to events generated from the same snapshot (a 401 names
 * the credential generation in use). They grow without bound, so state identity leaves them out; the
 * catalogue generates such events from the snapshot at hand, which keeps the abstraction exact.
 */
export const RELATIVE_COUNTERS = ['credentialGeneration'];

/** The session part of a snapshot as a dotted path, for names and reports. */
export function stateLabel(snapshot: AuthSnapshot): string {
  const flatten = (value: unknown): string[] => {
    if (typeof value === 'string') return [value];
    return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => flatten(child).map((rest) => `${key}.${rest}`));
  };
  return flatten(snapshot.value).join(' + ');
}

/** The answer the chart gave to request `req` in these emitted events (first one wins, as AuthCore settles it). */
export function answerTo(emitted: readonly AuthEmitted[], req: number): Extract<AuthEmitted, { type: 'answer.done' | 'answer.refused' }> | null {
  for (const event of emitted) {
    if ((event.type === 'answer.done' || event.type === 'answer.refused') && event.req === req) return event;
  }
  return null;
}

/** The notifications among emitted events. */
export function notificationsIn(emitted: readonly AuthEmitted[]): Array<Extract<AuthEmitted, { type: `notify.${string}` }>> {
  return emitted.filter((e): e is Extract<AuthEmitted, { type: `notify.${string}` }> => e.type.startsWith('notify.'));
}

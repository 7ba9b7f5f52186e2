/**
 * The wire traffic the model prescribes for one request: pure, shared by the replay (which compares the
 * real wire with it), the request-graph minimization and the mutation check.
 */
import { wireNotification, type PathStep, type WireAction, type WireResponse } from './catalogue';
import type { AuthEmitted } from '../../machines/types';
import { notificationsIn, projectionOf, type Projection } from './model';

/**
 * What the wire must show for a group, in order: requests to the parent, the notifications the chart
 * emitted before it answered the request, the response, the notifications after; then the projection.
 */
export interface WireExpectation {
  parentRequests: unknown[];
  /** Notified before the chart answered the request's command (a login that a newer one ends). */
  notificationsBefore: Array<{ method: string; params: unknown }>;
  response: WireResponse | null;
  notifications: Array<{ method: string; params: unknown }>;
  projection: Projection;
  /** Calls the fakes must receive: refresh grants at the token endpoint, usage calls at the backend. */
  tokenPosts: number;
  backendCalls: number;
  /** For two overlapping requests: the second's response, and what a read sent in between shows. */
  overlap?: { response: WireResponse | null; fence: Projection };
}

/** Backend calls the adapter makes in a group: one per backend.call the chart told to `proceed`. */
function backendCallsOf(steps: readonly PathStep[]): number {
  const calls = new Set(steps.filter((s) => s.model.event.type === 'backend.call').map((s) => Number(s.stimulus.req)));
  return steps
    .flatMap((s) => s.model.emitted)
    .filter((e) => e.type === 'answer.done' && calls.has(e.req) && e.value === 'proceed').length;
}

/**
 * The notifications of a group, split where the chart answered the request's own command: the server
 * writes what the chart notified before that answer at once (before the response), and holds what came
 * after it until the response is out. A request run beside others (a backend call) holds nothing.
 */
function splitNotifications(group: { action: WireAction; steps: readonly PathStep[] }, emitted: readonly AuthEmitted[]) {
  const own = group.action.method && !group.action.concurrent ? group.steps[0].stimulus.req : undefined;
  const at = own === undefined ? -1 : emitted.findIndex((e) => (e.type === 'answer.done' || e.type === 'answer.refused') && e.req === own);
  return {
    notificationsBefore: notificationsIn(at < 0 ? [] : emitted.slice(0, at)).map(wireNotification),
    notifications: notificationsIn(at < 0 ? emitted : emitted.slice(at)).map(wireNotification),
  };
}

/** The wire traffic the model prescribes for one group. */
export function expectedWire(group: { action: WireAction; steps: readonly PathStep[] }): WireExpectation {
  const { steps } = group;
  const emitted = steps.flatMap((s) => s.model.emitted);
  const spawned = steps.flatMap((s) => s.model.spawned);
  return {
    parentRequests: spawned.filter((s) => s.id === 'externalRefresh').map((s) => s.input),
    response: group.action.response(steps),
    ...splitNotifications(group, emitted),
    projection: projectionOf(steps[steps.length - 1].model.after),
    tokenPosts: spawned.filter((s) => s.id === 'managedRefresh').length,
    backendCalls: backendCallsOf(steps),
    ...(group.action.overlap && {
      overlap: {
        response: group.action.overlap.response(steps),
        fence: projectionOf(steps.find((s) => s.stimulus === group.action.overlap!.fenceAfter)!.model.after),
      },
    }),
  };
}


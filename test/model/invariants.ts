/**
 * Invariants of the auth chart, checked on every step of random event sequences (properties.test.ts
 * against the pure chart, properties.server.test.ts against the real server):
 *
 *   1. a refused request never changes the state (also when the refusal comes from a failed effect);
 *   2. every request sent while the chart is idle gets exactly one answer by the time it is idle again;
 *   3. external tokens are never in the chart (and, on the server, never on disk);
 *   4. `failed` is left only by a login or a logout (a browser login ends when its tokens are saved);
 *   5. at most one refresh is in flight.
 *
 * 4 and 5 name the states and actors of the refresh feature by convention (a state node keyed `failed`,
 * invoked actors whose id contains `refresh`); `Vacuity` counts how often each was actually exercised,
 * so a chart that has them but a run that never reached them is reported, not silently passed.
 */
import type { AuthEmitted } from '../../machines/types';
import type { AuthSnapshot } from '../../machines/views';
import { answerTo, type ModelStep } from './model';

/** How often the conditional invariants had something to check. */
export interface Vacuity {
  stepsFromFailed: number;
  stepsWithRefreshRunning: number;
  requestsRefused: number;
}

/** A fresh counter. */
export function newVacuity(): Vacuity {
  return { stepsFromFailed: 0, stepsWithRefreshRunning: 0, requestsRefused: 0 };
}

/** True when the snapshot is in a state node keyed `failed`. */
export function inFailed(snapshot: AuthSnapshot): boolean {
  return snapshot._nodes.some((node) => node.key === 'failed');
}

/** The invoked refresh actors running in a snapshot. */
export function refreshesRunning(snapshot: AuthSnapshot): string[] {
  return Object.keys(snapshot.children).filter((id) => /refresh/i.test(id));
}

/**
 * State value and context: what a refused request must leave as it was. History records may move, and
 * a refresh in flight is not part of it: an effect (saving, clearing) abandons a running refresh on
 * purpose and a failed effect returns to the mode `ready` (the chart's shallow `previous` history).
 */
export function observableState(snapshot: AuthSnapshot, withoutBrowserLogin = false): string {
  const settle = (value: unknown): unknown =>
    value === 'refreshing' ? 'ready' : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, settle(v)])) : value;
  const value = settle(snapshot.value) as Record<string, unknown>;
  // A refresh the refused request interrupted settles into ready; the calls that waited on it were answered.
  const context: Record<string, unknown> = { ...snapshot.context, pending: null, waiting: [] };
  if (withoutBrowserLogin) {
    delete value.managedLogin;
    delete context.managedLogin;
  }
  return JSON.stringify({ value, context });
}

function reqOf(step: ModelStep): number | null {
  const req = (step.event as { req?: unknown }).req;
  return typeof req === 'number' ? req : null;
}

/** A command: an event the chart answers (it carries a request key). */
export function isCommand(step: ModelStep): boolean {
  return reqOf(step) !== null;
}

/** Invariants 3–5 on one step; returns the violations. */
export function checkStep(step: ModelStep, secrets: readonly string[], vacuity: Vacuity): string[] {
  const violations: string[] = [];
  const dump = JSON.stringify({ value: step.after.value, context: step.after.context, children: Object.keys(step.after.children) });
  for (const secret of secrets) if (dump.includes(secret)) violations.push(`a token is in the chart after ${step.event.type}`);
  if (inFailed(step.before)) {
    vacuity.stepsFromFailed += 1;
    // A login or a logout, or the end of a browser login (its saved tokens raise managedLogin.succeeded).
    const byLogin = [step.event.type, ...step.transitions.map((t) => t.event)].some((type) => /^(login\.|logout$|managedLogin\.succeeded$)/.test(type));
    if (!inFailed(step.after) && !byLogin) violations.push(`failed was left by ${step.event.type}`);
  }
  const refreshes = refreshesRunning(step.after);
  if (refreshes.length > 0) vacuity.stepsWithRefreshRunning += 1;
  if (refreshes.length > 1) violations.push(`${refreshes.length} refreshes in flight after ${step.event.type}: ${refreshes.join(', ')}`);
  return violations;
}

/**
 * Invariants 1–2 on one request: `group` starts with the command and runs until the next command (a
 * command sent while busy is a group of one step, refused on the spot); `window` runs from the command to
 * the next time the same command is sent, and holds its one answer (which may come later than its
 * group: a call waiting on a refresh is answered when the refresh settles).
 */
export function checkRequest(group: readonly ModelStep[], window: readonly ModelStep[], vacuity: Vacuity): string[] {
  const [first] = group;
  if (!first || !isCommand(first)) return [];
  const violations: string[] = [];
  const req = reqOf(first)!;
  const last = group[group.length - 1];
  const emitted: AuthEmitted[] = window.flatMap((s) => s.emitted);
  const answers = emitted.filter((e) => (e.type === 'answer.done' || e.type === 'answer.refused') && e.req === req);
  const sentWhileIdle = !first.before.hasTag('busy');
  // Still held by the chart when the steps end (a refresh that has not settled yet): answered later.
  const held = window[window.length - 1].after.context;
  const stillWaiting = answers.length === 0 && (held.pending === req || held.waiting.some((call) => call.req === req));
  if (sentWhileIdle && answers.length !== 1 && !stillWaiting) violations.push(`${first.event.type} got ${answers.length} answers`);
  const answer = answerTo(emitted, req);
  // A call that waited on a refresh is refused for the refresh's outcome, which does change the state.
  const waitedOnRefresh = first.after.context.waiting.some((call) => call.req === req);
  if (answer?.type === 'answer.refused' && !waitedOnRefresh) {
    vacuity.requestsRefused += 1;
    // docs/protocol.md §8 (as Codex does): a new browser login, an accepted login of another kind or a logout
    // ends a pending browser login at once, before its own effect runs; if that effect then fails (the
    // new server cannot bind, the save or clear fails), the request is refused but the browser login
    // stays ended (and its login/completed is sent). Everything else must be as it was.
    const replacedLogin = /^(login\.|logout$)/.test(first.event.type) && first.before.matches({ managedLogin: { active: 'pending' } });
    const before = observableState(first.before, replacedLogin);
    const after = observableState(last.after, replacedLogin);
    if (after !== before) violations.push(`refused ${first.event.type} (${answer.message}) changed the state from ${before} to ${after}`);
    const notified = group.flatMap((s) => s.emitted).filter((e) => e.type.startsWith('notify.') && !(replacedLogin && e.type === 'notify.loginCompleted'));
    if (notified.length > 0) violations.push(`refused ${first.event.type} sent a notification`);
  }
  return violations;
}

/** Invariants 1–2 on every command of a request's steps (a rate-limit read holds several backend calls). */
export function checkRequests(steps: readonly ModelStep[], vacuity: Vacuity): string[] {
  const violations: string[] = [];
  for (let i = 0; i < steps.length; i += 1) {
    if (!isCommand(steps[i])) continue;
    const req = reqOf(steps[i]);
    // The request's own steps: until the chart is idle again (its effect ended), before the next command.
    let groupEnd = steps.findIndex((s, k) => k > i && isCommand(s) && !s.before.hasTag('busy'));
    if (groupEnd === -1) groupEnd = steps.length;
    const idleAt = steps.findIndex((s, k) => k >= i && !s.after.hasTag('busy'));
    if (idleAt !== -1) groupEnd = Math.min(groupEnd, idleAt + 1);
    // A command sent while busy is refused on the spot: its group is that one step.
    if (steps[i].before.hasTag('busy')) groupEnd = i + 1;
    let windowEnd = steps.findIndex((s, k) => k > i && isCommand(s) && reqOf(s) === req);
    if (windowEnd === -1) windowEnd = steps.length;
    violations.push(...checkRequest(steps.slice(i, groupEnd), steps.slice(i, windowEnd), vacuity));
  }
  return violations;
}

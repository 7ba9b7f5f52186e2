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
  const context: Record<string, unknown> = { ...snapshot.context, pending: null };
  if (withoutBrowserLogin) {
    delete value.browserLogin;
    delete context.browserLogin;
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
    // A login or a logout, or the end of a browser login (its saved tokens raise browserLogin.succeeded).
    const byLogin = [step.event.type, ...step.transitions.map((t) => t.event)].some((type) => /^(login\.|logout$|browserLogin\.succeeded$)/.test(type));
    if (!inFailed(step.after) && !byLogin) violations.push(`failed was left by ${step.event.type}`);
  }
  const refreshes = refreshesRunning(step.after);
  if (refreshes.length > 0) vacuity.stepsWithRefreshRunning += 1;
  if (refreshes.length > 1) violations.push(`${refreshes.length} refreshes in flight after ${step.event.type}: ${refreshes.join(', ')}`);
  return violations;
}

/**
 * Invariants 1–2 on one request: `steps` start with the command and run until the chart is idle again
 * (a command sent while busy is a group of one step, refused on the spot).
 */
export function checkRequest(steps: readonly ModelStep[], vacuity: Vacuity): string[] {
  const [first] = steps;
  if (!first || !isCommand(first)) return [];
  const violations: string[] = [];
  const req = reqOf(first)!;
  const last = steps[steps.length - 1];
  const emitted: AuthEmitted[] = steps.flatMap((s) => s.emitted);
  const answers = emitted.filter((e) => (e.type === 'answer.done' || e.type === 'answer.refused') && e.req === req);
  const sentWhileIdle = !first.before.hasTag('busy');
  if (sentWhileIdle && answers.length !== 1) violations.push(`${first.event.type} got ${answers.length} answers`);
  const answer = answerTo(emitted, req);
  if (answer?.type === 'answer.refused') {
    vacuity.requestsRefused += 1;
    // PROTOCOL.md §8 (as Codex does): a new browser login, an accepted login of another kind or a logout
    // ends a pending browser login at once, before its own effect runs; if that effect then fails (the
    // new server cannot bind, the save or clear fails), the request is refused but the browser login
    // stays ended (and its login/completed is sent). Everything else must be as it was.
    const replacedLogin = /^(login\.|logout$)/.test(first.event.type) && first.before.matches({ browserLogin: { active: 'pending' } });
    const before = observableState(first.before, replacedLogin);
    const after = observableState(last.after, replacedLogin);
    if (after !== before) violations.push(`refused ${first.event.type} (${answer.message}) changed the state from ${before} to ${after}`);
    const notified = emitted.filter((e) => e.type.startsWith('notify.') && !(replacedLogin && e.type === 'notify.loginCompleted'));
    if (notified.length > 0) violations.push(`refused ${first.event.type} sent a notification`);
  }
  return violations;
}

/** Invariants 1–2 on every command of a request's steps (a rate-limit read holds several backend calls). */
export function checkRequests(steps: readonly ModelStep[], vacuity: Vacuity): string[] {
  const violations: string[] = [];
  let start = -1;
  for (let i = 0; i <= steps.length; i += 1) {
    if (i === steps.length || isCommand(steps[i])) {
      if (start !== -1) violations.push(...checkRequest(steps.slice(start, i), vacuity));
      start = i;
    }
  }
  return violations;
}

/**
 * Interleavings: the model of what the app-server does with a burst of pipelined requests while its
 * fakes (the ChatGPT backend, the token endpoint, the parent) answer at chosen moments.
 *
 * Two models in one simulation. The chart's decisions come from the real chart, stepped purely
 * (ModelStepper): nothing here says what a command gets. The concurrency is modelled after the adapter:
 *
 *   connection   requests start in arrival order; an in-order one blocks the ones behind it until its
 *                response is written (with the notifications it held); `account/rateLimits/read` starts
 *                and runs beside later ones (src/rpc/connection.ts, src/rpc/server.ts);
 *   AuthCore     one FIFO of chart commands, each sent when the chart is idle (no `busy` tag); a caller
 *                resumes once its command is answered and the chart is idle (src/auth/core.ts);
 *   rate limits  the reset-credit listing and the usage call, each through authorizedFetch: ask the
 *                chart (`again` = ask again), fetch, on a 401 report it and retry once
 *                (src/auth/rateLimits.ts, resetCredits.ts, backend.ts).
 *
 * Every continuation is a "ready" item: a microtask, or an I/O completion (a store write, a fake's
 * answer) that only runs when no microtask is ready, as in Node. Which ready item runs first is not
 * modelled: the server does not guarantee it. Instead every action is simulated under several orders
 * (FIFO, LIFO, seeded shuffles); when they disagree on anything observable, the outcome is not
 * guaranteed and the generator does not pick that action (and counts it). So everything the model
 * predicts holds for every order the design allows.
 *
 * The test acts only when the server is quiet (it waits for what the model predicts: messages, calls
 * held at the backend, a refresh grant held at the token endpoint). An action that leaves nothing to
 * wait for is pipelined with the next one, and then their effects are explored in every order too.
 */
import type { AnyEventObject } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import { INTERNAL_ERROR, type AuthEmitted } from '../../machines/types';
import { accountViewOf, authModeOf, sessionPath, userIdOf, type AuthSnapshot } from '../../machines/views';
import { USAGE_READ_RESULT } from '../support/httpFakes';
import { ACTOR_RESULTS, EXTERNAL_LOGINS, FIXTURES, LOGIN_API_KEY, wireNotification } from './catalogue';
import { ModelStepper, projectionOf, stateKey, type Projection } from './model';
import { ENVIRONMENT_TEXT, MODEL_NOW, type Fixture } from './vocabulary';

// ---------------------------------------------------------------------------------------------------
// Vocabulary: requests, start modes, actions

/** The requests a burst is made of. */
export const REQUEST_KINDS = ['rateLimits', 'read', 'readRefresh', 'loginApiKey', 'loginAda', 'loginBob', 'loginBadToken', 'logout'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** One request of a burst, with its JSON-RPC id. */
export interface BurstRequest {
  id: number;
  kind: RequestKind;
}

/** The wire form of a request. */
export function wireRequest(request: BurstRequest): { id: number; method: string; params?: unknown } {
  switch (request.kind) {
    case 'rateLimits':
      return { id: request.id, method: 'account/rateLimits/read' };
    case 'read':
      return { id: request.id, method: 'account/read', params: {} };
    case 'readRefresh':
      return { id: request.id, method: 'account/read', params: { refreshToken: true } };
    case 'loginApiKey':
      return { id: request.id, method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-model-key' } };
    case 'loginAda':
      return { id: request.id, method: 'account/login/start', params: EXTERNAL_LOGINS[0].params };
    case 'loginBob':
      return { id: request.id, method: 'account/login/start', params: EXTERNAL_LOGINS[1].params };
    case 'loginBadToken':
      return { id: request.id, method: 'account/login/start', params: EXTERNAL_LOGINS[3].params };
    case 'logout':
      return { id: request.id, method: 'account/logout' };
  }
}

const concurrent = (kind: RequestKind) => kind === 'rateLimits';

/** Where a scenario starts. `external` is a fresh server that gets an external login (ada) first. */
export const START_MODES = ['loggedOut', 'apiKey', 'managed', 'managedExpired', 'external'] as const;
export type StartMode = (typeof START_MODES)[number];

/** The fixture (config.toml, auth.json, chart input) of a start mode. */
export function fixtureOf(start: StartMode): Fixture {
  const name = { loggedOut: 'fresh', apiKey: 'restored apiKey', managed: 'restored chatgpt', managedExpired: 'restored chatgpt, token expired', external: 'fresh' }[start];
  const fixture = FIXTURES.find((f) => f.name === name);
  if (!fixture) throw new Error(`no fixture named ${name}`);
  return fixture;
}

/** How the token endpoint answers a held refresh grant (the catalogue's labels). */
export const TOKEN_ANSWERS = { refreshes: 'token endpoint refreshes', unavailable: 'token endpoint unavailable', expired: 'token endpoint refuses (expired)' } as const;
/** How the parent answers a held `account/chatgptAuthTokens/refresh`. */
export const PARENT_ANSWERS = { tokens: 'parent refreshes (ada)', error: 'parent refuses' } as const;

/**
 * What the test does at a quiet moment: write the next burst, or let a fake answer what it holds.
 * `pipelined`: the next action follows at once, without waiting for the server to be quiet (this one
 * leaves nothing the test could wait for, e.g. a 401 that only makes a call wait on the refresh).
 */
export type Action = { pipelined?: boolean } & (
  | { kind: 'write'; burst: number }
  /**
   * The backend answers the usage calls it has held longest: those that arrived during the same earlier
   * action (calls of one moment cannot be told apart on the wire, so they get the same answer together).
   */
  | { kind: 'backend'; status: 200 | 401 }
  | { kind: 'tokenEndpoint'; answer: keyof typeof TOKEN_ANSWERS }
  | { kind: 'parent'; answer: keyof typeof PARENT_ANSWERS }
);

/** A generated interleaving. */
export interface Scenario {
  seed: number;
  start: StartMode;
  bursts: BurstRequest[][];
  actions: Action[];
}

/** A short text for reports: `managed | [R, L] ▸ backend 401 ▸ token refreshes`. */
export function describeScenario(scenario: Scenario): string {
  const short: Record<RequestKind, string> = { rateLimits: 'R', read: 'read', readRefresh: 'read(refresh)', loginApiKey: 'K', loginAda: 'E(ada)', loginBob: 'E(bob)', loginBadToken: 'E(bad)', logout: 'L' };
  const steps = scenario.actions.map((a) => {
    const text =
      a.kind === 'write'
        ? `write [${scenario.bursts[a.burst].map((r) => `${short[r.kind]}#${r.id}`).join(', ')}]`
        : a.kind === 'backend'
          ? `backend ${a.status}`
          : a.kind === 'tokenEndpoint'
            ? `token endpoint ${a.answer}`
            : `parent ${a.answer}`;
    return a.pipelined ? `${text} +` : text;
  });
  return `seed ${scenario.seed} | ${scenario.start} | ${steps.join(' ▸ ')}`;
}

// ---------------------------------------------------------------------------------------------------
// What the wire shows

/** A message the server writes, as the model predicts it. */
export interface Predicted {
  message: Record<string, unknown>;
  /** In-order responses and their notifications come in exactly this order; `free` ones anywhere in their segment. */
  order: 'inOrder' | 'free';
  /** A concurrent response comes after everything written for this in-order request (its predecessor). */
  after?: number;
}

/** What one action makes the server write and hold, once it is quiet again. */
export interface Segment {
  action: Action;
  messages: Predicted[];
  /** Usage calls the backend holds, a live refresh grant at the token endpoint, a live parent request. */
  heldUsage: number;
  tokenLive: boolean;
  parentLive: number | null;
  /** Usage calls and a refresh grant that arrived during this action (what the test can wait for). */
  newUsage: number;
  newGrant: boolean;
  /** The chart's state label after the segment (for reports). */
  state: string;
}

/** The whole prediction for a scenario. */
export interface Prediction {
  segments: Segment[];
  /** Parent requests the chart abandoned (logout, login): answered by the test at the end, ignored by the server. */
  orphanParents: number[];
  final: Projection;
  /** Every request id answered, with how many answers. */
  answers: Map<number, number>;
}

// ---------------------------------------------------------------------------------------------------
// The simulation

/** A chart answer; a `done` one carries what AuthCore reads the moment it is given (the call's credentials). */
type Answer = { ok: true; value?: unknown; ticket: { generation: number } | { noBearerIn: string } } | { ok: false; code: number; message: string };
type FetchResult = { status: number } | { refused: { code: number; message: string } };
type Op =
  | { op: 'command'; event: AnyEventObject }
  | { op: 'whenIdle' }
  | { op: 'fetch'; target: 'usage' | 'listing' }
  | { op: 'spawn'; body: () => Generator<Op, unknown, unknown> }
  | { op: 'join'; proc: Proc };

interface Proc {
  gen: Generator<Op, unknown, unknown>;
  done: boolean;
  result?: unknown;
  joiners: Proc[];
  /** The request a top-level process answers. */
  request?: BurstRequest;
  /** A place at the head of AuthCore's queue, kept for this process's next command (after `again`). */
  reservation?: { event?: AnyEventObject; proc: Proc };
}

/** How the next ready item is picked: every order the design allows is a legitimate one. */
export type Policy = 'fifo' | 'lifo' | { shuffle: number };

type WireResponseBody = { result: unknown } | { error: { code: number; message: string } };

const RATE_LIMITS_PURPOSE = 'read rate limits';
const USAGE_401 = `failed to fetch codex rate limits: GET ${ENVIRONMENT_TEXT}/wham/usage failed: 401 Unauthorized${ENVIRONMENT_TEXT}`;

function actorResult(actor: keyof typeof ACTOR_RESULTS, label: string): AnyEventObject {
  const stimulus = ACTOR_RESULTS[actor].find((s) => s.label === label);
  if (!stimulus) throw new Error(`the catalogue has no result '${label}' for ${actor}`);
  return stimulus.event(undefined as never);
}

/** A seeded PRNG (mulberry32): the same seed, the same interleavings. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One run of the server model over a scenario, under one ordering policy. */
class Simulation {
  private readonly stepper: ModelStepper;
  chart: AuthSnapshot;
  private nextReq = 1;
  /** AuthCore's queue; an entry without an event is a place kept for a call asking again. */
  private readonly fifo: Array<{ event?: AnyEventObject; proc: Proc }> = [];
  private deliveryScheduled = false;
  /** Commands sent to the chart and not answered yet: the process waiting, and the command's type. */
  private readonly awaiting = new Map<number, { proc: Proc; type: string }>();
  private idleWaiters: Array<{ proc: Proc; value: unknown }> = [];
  private ready: Array<{ io: boolean; run: () => void }> = [];
  private readonly pick: (n: number) => number;
  // The connection
  private queue: BurstRequest[] = [];
  private inOrderBusy = false;
  private held: { id: number; notes: Predicted[] } | null = null;
  private lastInOrder: number | null = null;
  private readonly predecessor = new Map<number, number | null>();
  // The fakes
  /** Usage calls the backend holds, with the action during which each arrived. */
  heldUsage: Array<{ proc: Proc; group: number }> = [];
  actionIndex = 0;
  tokenLive = false;
  /** The action during which the live refresh grant was sent. */
  tokenSentAt = -1;
  parentLive: number | null = null;
  readonly orphanParents: number[] = [];
  private nextOutgoingId = 0;
  // What was written
  out: Predicted[] = [];
  readonly answers = new Map<number, number>();

  constructor(
    readonly scenario: Scenario,
    policy: Policy,
  ) {
    const fixture = fixtureOf(scenario.start);
    this.stepper = new ModelStepper(authMachine, fixture.input);
    this.chart = this.stepper.initial().after;
    if (policy === 'fifo') this.pick = () => 0;
    else if (policy === 'lifo') this.pick = (n) => n - 1;
    else {
      const random = prng(policy.shuffle);
      this.pick = (n) => Math.floor(random() * n);
    }
  }

  private idle(): boolean {
    return !this.chart.hasTag('busy');
  }

  /** Runs every ready item: microtasks first, an I/O completion only when no microtask is ready. */
  drain(): void {
    for (let guard = 0; this.ready.length > 0; guard += 1) {
      if (guard > 10_000) throw new Error('the model does not settle');
      const micro = this.ready.filter((r) => !r.io);
      const pool = micro.length > 0 ? micro : this.ready;
      const item = pool[this.pick(pool.length)];
      this.ready.splice(this.ready.indexOf(item), 1);
      item.run();
    }
  }

  private later(run: () => void, io = false): void {
    this.ready.push({ io, run });
  }

  // --- processes

  private start(body: Generator<Op, unknown, unknown>, request?: BurstRequest): Proc {
    const proc: Proc = { gen: body, done: false, joiners: [], request };
    this.advance(proc, undefined);
    return proc;
  }

  private advance(proc: Proc, value: unknown): void {
    const step = proc.gen.next(value);
    if (step.done) {
      proc.done = true;
      proc.result = step.value;
      for (const joiner of proc.joiners) this.later(() => this.advance(joiner, step.value));
      if (proc.request) this.later(() => this.respond(proc.request!, step.value as WireResponseBody));
      return;
    }
    const op = step.value;
    switch (op.op) {
      case 'command':
        if (proc.reservation) {
          proc.reservation.event = op.event;
          proc.reservation = undefined;
        } else this.fifo.push({ event: op.event, proc });
        this.scheduleDelivery();
        return;
      case 'whenIdle':
        this.later(() => this.resumeWhenIdle(proc, undefined));
        return;
      case 'fetch':
        if (op.target === 'listing') this.later(() => this.advance(proc, { status: 404 }), true);
        else this.heldUsage.push({ proc, group: this.actionIndex });
        return;
      case 'spawn': {
        const child = this.start(op.body());
        this.advance(proc, child);
        return;
      }
      case 'join':
        if (op.proc.done) this.later(() => this.advance(proc, op.proc.result));
        else op.proc.joiners.push(proc);
        return;
    }
  }

  private resumeWhenIdle(proc: Proc, value: unknown): void {
    if (this.idle()) this.advance(proc, value);
    else this.idleWaiters.push({ proc, value });
  }

  // --- AuthCore: the FIFO of chart commands

  private scheduleDelivery(): void {
    // A place kept at the head holds the turn until its call asks again.
    if (this.deliveryScheduled || this.fifo.length === 0 || !this.fifo[0].event || !this.idle()) return;
    this.deliveryScheduled = true;
    this.later(() => {
      this.deliveryScheduled = false;
      if (!this.idle() || this.fifo.length === 0 || !this.fifo[0].event) return this.scheduleDelivery();
      const { event, proc } = this.fifo.shift() as { event: AnyEventObject; proc: Proc };
      const req = this.nextReq++;
      this.awaiting.set(req, { proc, type: event.type });
      this.step({ ...event, req });
      if (this.awaiting.has(req) && !this.holds(req)) {
        this.awaiting.delete(req);
        this.later(() => this.resumeWhenIdle(proc, { ok: false, code: INTERNAL_ERROR, message: `the auth chart did not answer ${event.type}` }));
      }
      this.scheduleDelivery();
    });
  }

  private holds(req: number): boolean {
    return this.chart.context.pending === req || this.chart.context.waiting.some((call) => call.req === req);
  }

  /** Steps the chart and carries out what it emitted and started. */
  private step(event: AnyEventObject): void {
    const step = this.stepper.step(this.chart, event);
    this.chart = step.after;
    for (const emitted of step.emitted) this.onEmitted(emitted);
    if (this.tokenLive && !this.chart.matches({ session: { mode: { chatgpt: 'refreshing' } } })) this.tokenLive = false;
    if (this.parentLive !== null && !this.chart.matches({ session: { mode: { externalTokens: 'refreshing' } } })) {
      this.orphanParents.push(this.parentLive);
      this.parentLive = null;
    }
    for (const spawned of step.spawned) {
      if (spawned.id === 'saveApiKey') this.later(() => this.step(actorResult('saveApiKey', 'saved')), true);
      else if (spawned.id === 'clearCredentials') this.later(() => this.step(actorResult('clearCredentials', 'cleared')), true);
      else if (spawned.id === 'managedRefresh') {
        this.tokenLive = true;
        this.tokenSentAt = this.actionIndex;
      }
      else if (spawned.id === 'externalRefresh') {
        if (this.parentLive !== null) this.orphanParents.push(this.parentLive);
        this.parentLive = this.nextOutgoingId++;
        this.out.push({ message: { id: this.parentLive, method: 'account/chatgptAuthTokens/refresh', params: spawned.input }, order: 'free' });
      } else throw new Error(`the interleaving model does not drive the ${spawned.id} actor`);
    }
    if (this.idle()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const waiter of waiters) this.later(() => this.advance(waiter.proc, waiter.value));
      this.scheduleDelivery();
    }
  }

  private onEmitted(emitted: AuthEmitted): void {
    if (emitted.type === 'answer.done' || emitted.type === 'answer.refused') {
      const awaited = this.awaiting.get(emitted.req);
      if (!awaited) return; // AuthCore: an answer nobody waits for is logged and dropped
      this.awaiting.delete(emitted.req);
      const { proc } = awaited;
      // (A forced refresh is sent back `again` too, but its read does not ask again: no place kept.)
      if (awaited.type === 'backend.call' && emitted.type === 'answer.done' && emitted.value === 'again') {
        // AuthCore keeps the call's place: a turn at the head of the queue, reserved now.
        proc.reservation = { proc };
        this.fifo.unshift(proc.reservation);
      }
      const ticket = authModeOf(this.chart) === null ? { noBearerIn: sessionPath(this.chart) } : { generation: this.chart.context.credentialGeneration };
      const answer: Answer = emitted.type === 'answer.done' ? { ok: true, value: emitted.value, ticket } : { ok: false, code: emitted.code, message: emitted.message };
      this.later(() => this.resumeWhenIdle(proc, answer));
      return;
    }
    const note: Predicted = { message: wireNotification(emitted), order: 'inOrder' };
    if (this.held) this.held.notes.push(note);
    else this.out.push({ ...note, order: 'free' });
  }

  // --- the connection

  write(burst: readonly BurstRequest[]): void {
    for (const request of burst) {
      this.queue.push(request);
      if (concurrent(request.kind)) this.predecessor.set(request.id, this.lastInOrder);
      else this.lastInOrder = request.id;
    }
    this.pump();
  }

  private pump(): void {
    while (!this.inOrderBusy && this.queue.length > 0) {
      const request = this.queue.shift()!;
      if (!concurrent(request.kind)) {
        this.inOrderBusy = true;
        this.held = { id: request.id, notes: [] };
      }
      this.start(this.handler(request), request);
    }
  }

  private respond(request: BurstRequest, body: WireResponseBody): void {
    this.answers.set(request.id, (this.answers.get(request.id) ?? 0) + 1);
    if (concurrent(request.kind)) {
      const after = this.predecessor.get(request.id);
      this.out.push({ message: { id: request.id, ...body }, order: 'free', ...(after !== null && after !== undefined && { after }) });
      return;
    }
    this.out.push({ message: { id: request.id, ...body }, order: 'inOrder' });
    if (this.held?.id === request.id) {
      this.out.push(...this.held.notes);
      this.held = null;
    }
    this.later(() => {
      this.inOrderBusy = false;
      this.pump();
    });
  }

  // --- the fakes answer

  act(action: Action): void {
    this.actionIndex += 1;
    switch (action.kind) {
      case 'write':
        this.write(this.scenario.bursts[action.burst]);
        break;
      case 'backend': {
        const oldest = Math.min(...this.heldUsage.map((call) => call.group));
        const released = this.heldUsage.filter((call) => call.group === oldest);
        this.heldUsage = this.heldUsage.filter((call) => call.group !== oldest);
        for (const { proc } of released) this.later(() => this.advance(proc, { status: action.status }), true);
        break;
      }
      case 'tokenEndpoint':
        if (!this.tokenLive) throw new Error('no refresh grant is held');
        this.tokenLive = false;
        this.later(() => this.step(actorResult('managedRefresh', TOKEN_ANSWERS[action.answer])), true);
        break;
      case 'parent':
        if (this.parentLive === null) throw new Error('no parent request is held');
        this.parentLive = null;
        this.later(() => this.step(actorResult('externalRefresh', PARENT_ANSWERS[action.answer])), true);
        break;
    }
    // A pipelined action's effects run together with the next action's, in any order.
    if (!action.pipelined) this.drain();
  }

  /** What the test can do next. */
  choices(): Action[] {
    const next = this.scenario.actions.filter((a) => a.kind === 'write').length;
    return [
      ...(next < this.scenario.bursts.length ? [{ kind: 'write' as const, burst: next }] : []),
      ...(this.heldUsage.length > 0 ? [{ kind: 'backend' as const, status: 200 as const }, { kind: 'backend' as const, status: 401 as const }] : []),
      ...(this.tokenLive ? (Object.keys(TOKEN_ANSWERS) as Array<keyof typeof TOKEN_ANSWERS>).map((answer) => ({ kind: 'tokenEndpoint' as const, answer })) : []),
      ...(this.parentLive !== null ? (Object.keys(PARENT_ANSWERS) as Array<keyof typeof PARENT_ANSWERS>).map((answer) => ({ kind: 'parent' as const, answer })) : []),
    ];
  }

  // --- the adapter's handlers, as processes

  private *handler(request: BurstRequest): Generator<Op, WireResponseBody, unknown> {
    switch (request.kind) {
      case 'readRefresh':
        // A forced refresh (managed tokens; the chart answers at once elsewhere); its failure is only logged.
        yield { op: 'command', event: { type: 'refresh.requested' } };
        yield { op: 'whenIdle' };
        return { result: { account: accountViewOf(this.chart), userId: userIdOf(this.chart), requiresOpenaiAuth: true, workspaceRouting: null } };
      case 'read':
        yield { op: 'whenIdle' };
        return { result: { account: accountViewOf(this.chart), userId: userIdOf(this.chart), requiresOpenaiAuth: true, workspaceRouting: null } };
      case 'loginApiKey':
        return this.unwrap((yield { op: 'command', event: LOGIN_API_KEY.event(this.chart) }) as Answer, { type: 'apiKey' });
      case 'loginAda':
      case 'loginBob':
      case 'loginBadToken': {
        const login = EXTERNAL_LOGINS[{ loginAda: 0, loginBob: 1, loginBadToken: 3 }[request.kind]];
        return this.unwrap((yield { op: 'command', event: login.stimulus.event(this.chart) }) as Answer, { type: 'chatgptAuthTokens' });
      }
      case 'logout':
        return this.unwrap((yield { op: 'command', event: { type: 'logout' } }) as Answer, {});
      case 'rateLimits':
        return yield* this.rateLimits();
    }
  }

  private unwrap(answer: Answer, result: unknown): WireResponseBody {
    return answer.ok ? { result } : { error: { code: answer.code, message: answer.message } };
  }

  /** readRateLimits: the listing and the usage call at once; the listing never fails the read. */
  private *rateLimits(): Generator<Op, WireResponseBody, unknown> {
    const listing = (yield { op: 'spawn', body: () => this.authorizedFetch('listing') }) as Proc;
    const usage = (yield* this.authorizedFetch('usage')) as FetchResult;
    if ('refused' in usage) return { error: usage.refused };
    if (usage.status === 401) return { error: { code: INTERNAL_ERROR, message: USAGE_401 } };
    yield { op: 'join', proc: listing };
    return { result: USAGE_READ_RESULT };
  }

  /** authorizedFetch: a ticket from the chart, the call, and on a 401 the chart's verdict and one retry. */
  private *authorizedFetch(target: 'usage' | 'listing'): Generator<Op, FetchResult, unknown> {
    const ticket = yield* this.beginBackendCall();
    if ('refused' in ticket) return ticket;
    const first = (yield { op: 'fetch', target }) as { status: number };
    if (first.status !== 401) return first;
    const verdict = (yield { op: 'command', event: { type: 'auth.unauthorized', generation: ticket.generation } }) as Answer;
    if (!verdict.ok) return { refused: { code: verdict.code, message: verdict.message } };
    const again = yield* this.beginBackendCall();
    if ('refused' in again) return again;
    return (yield { op: 'fetch', target }) as { status: number };
  }

  private *beginBackendCall(): Generator<Op, { generation: number } | { refused: { code: number; message: string } }, unknown> {
    for (;;) {
      const answer = (yield { op: 'command', event: { type: 'backend.call', purpose: RATE_LIMITS_PURPOSE, now: MODEL_NOW } }) as Answer;
      if (!answer.ok) return { refused: { code: answer.code, message: answer.message } };
      if (answer.value === 'again') continue;
      // AuthCore takes the bearer and its generation when the chart answers, not when the caller resumes.
      if ('noBearerIn' in answer.ticket) {
        return { refused: { code: INTERNAL_ERROR, message: `no ChatGPT access token is available (state ${answer.ticket.noBearerIn})` } };
      }
      return answer.ticket;
    }
  }

  /** What a test can observe now (plus the process-internal state that decides the future). */
  signature(segmentStart: number): string {
    const segment = this.out.slice(segmentStart);
    return JSON.stringify({
      free: segment.filter((m) => m.order === 'free').map((m) => JSON.stringify(m)).sort(),
      inOrder: segment.filter((m) => m.order === 'inOrder').map((m) => JSON.stringify(m.message)),
      chart: stateKey(this.chart),
      usage: this.heldUsage.map((call) => call.group),
      token: this.tokenLive,
      parent: this.parentLive,
      orphans: this.orphanParents,
      answered: [...this.answers.entries()].sort(),
      fifo: this.fifo.length,
      waitingIdle: this.idleWaiters.length,
    });
  }
}

/** Runs a scenario in the model under one policy: the segment of each action and its signature. */
function simulate(scenario: Scenario, policy: Policy): { sim: Simulation; segments: Segment[]; signatures: string[] } {
  const sim = new Simulation(scenario, policy);
  const segments: Segment[] = [];
  const signatures: string[] = [];
  for (const action of scenario.actions) {
    const from = sim.out.length;
    sim.act(action);
    segments.push({
      action,
      messages: sim.out.slice(from),
      heldUsage: sim.heldUsage.length,
      tokenLive: sim.tokenLive,
      parentLive: sim.parentLive,
      newUsage: sim.heldUsage.filter((call) => call.group === sim.actionIndex).length,
      newGrant: sim.tokenLive && sim.tokenSentAt === sim.actionIndex,
      state: sessionPath(sim.chart),
    });
    signatures.push(sim.signature(from));
  }
  return { sim, segments, signatures };
}

/** The orders every action is checked under (plus the seeded shuffles). */
const POLICIES: Policy[] = ['fifo', 'lifo', { shuffle: 1 }, { shuffle: 2 }, { shuffle: 3 }];

/** True when every allowed order of the server gives the same observable outcome for the whole scenario. */
export function guaranteed(scenario: Scenario): boolean {
  const [first, ...others] = POLICIES.map((policy) => simulate(scenario, policy).signatures.join('\n'));
  return others.every((signature) => signature === first);
}

/**
 * True when the last action of a scenario leaves a trace the test can wait for: a message, or a fake
 * receiving something new. (Without one the test could not tell when the server is quiet again.)
 */
export function observable(scenario: Scenario): boolean {
  const { segments } = simulate(scenario, 'fifo');
  const last = segments.at(-1);
  if (!last) return true;
  // Parent requests are messages; calls and grants count when they arrived during this action.
  return last.messages.length > 0 || last.newUsage > 0 || last.newGrant;
}

/** The model's prediction for a scenario (which must be guaranteed). */
export function predict(scenario: Scenario): Prediction {
  const { sim, segments } = simulate(scenario, 'fifo');
  return { segments, orphanParents: sim.orphanParents, final: projectionOf(sim.chart), answers: sim.answers };
}

// ---------------------------------------------------------------------------------------------------
// The generator

/** Weights of the requests in a burst: the concurrent method often, so bursts mix. */
const WEIGHTS: Record<RequestKind, number> = { rateLimits: 8, read: 2, readRefresh: 2, loginApiKey: 2, loginAda: 2, loginBob: 1, loginBadToken: 1, logout: 2 };

/** Start modes where a refresh can happen come up more often: that is where the interleavings differ. */
const START_WEIGHTS: Record<StartMode, number> = { loggedOut: 1, apiKey: 1, managed: 3, managedExpired: 2, external: 3 };

function pickWeighted<K extends string>(weights: Record<K, number>, random: () => number): K {
  const keys = Object.keys(weights) as K[];
  const total = keys.reduce((sum, key) => sum + weights[key], 0);
  let at = random() * total;
  for (const key of keys) {
    at -= weights[key];
    if (at < 0) return key;
  }
  return keys[keys.length - 1];
}

const weighted = (random: () => number): RequestKind => pickWeighted(WEIGHTS, random);

/** A seeded Fisher–Yates shuffle. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Generator statistics, printed by the test. */
export interface GeneratorStats {
  generated: number;
  /** Actions left out because the server does not guarantee their outcome (the orders disagree). */
  unguaranteedActions: number;
  /** Actions left out because they leave nothing to wait for and no next action could follow at once. */
  unobservableActions: number;
  /** Actions followed at once by the next one (e.g. a 401 during a refresh, then the refresh's answer). */
  pipelinedActions: number;
  /** Scenarios dropped because no guaranteed action was left while requests were unanswered. */
  dropped: number;
}

/**
 * One scenario from a seed: a start mode, one or two bursts (2–5 requests, at least one rate-limit
 * read, at least one in-order request in the first), and the test's actions chosen at random among
 * those the model offers at each quiet moment, keeping only those whose outcome is guaranteed. Ends
 * when every request is answered and no fake holds anything (or drops the scenario).
 */
export function generateScenario(seed: number, stats: GeneratorStats): Scenario | null {
  const random = prng(seed);
  const start = pickWeighted(START_WEIGHTS, random);
  let nextId = 1;
  const bursts: BurstRequest[][] = [];
  if (start === 'external') bursts.push([{ id: nextId++, kind: 'loginAda' }]);
  const burstCount = random() < 0.5 ? 1 : 2;
  for (let b = 0; b < burstCount; b += 1) {
    const size = 2 + Math.floor(random() * 4);
    const kinds = Array.from({ length: size }, () => weighted(random));
    if (!kinds.includes('rateLimits')) kinds[Math.floor(random() * size)] = 'rateLimits';
    if (b === 0 && !kinds.some((kind) => !concurrent(kind))) kinds[size - 1] = REQUEST_KINDS[1 + Math.floor(random() * (REQUEST_KINDS.length - 1))];
    bursts.push(kinds.map((kind) => ({ id: nextId++, kind })));
  }
  const scenario: Scenario = { seed, start, bursts, actions: [] };
  if (start === 'external') scenario.actions.push({ kind: 'write', burst: 0 });
  for (let guard = 0; guard < 40; guard += 1) {
    const { sim } = simulate(scenario, 'fifo');
    const choices = sim.choices();
    if (choices.length === 0) break;
    // Writing the next burst waits a little, so it meets things in flight more often.
    // A 401 comes a little before a 200, and the backend answers sooner while a refresh is in flight,
    // so more calls meet a refresh.
    const refreshing = sim.tokenLive || sim.parentLive !== null;
    const bias = (c: Action) =>
      (c.kind === 'write' ? 0.3 : 0) + (c.kind === 'backend' && c.status === 401 ? -0.35 : 0) + (c.kind === 'backend' && refreshing ? -0.3 : 0);
    const order = choices.map((c) => ({ c, key: random() + bias(c) })).sort((a, b) => a.key - b.key);
    let taken = false;
    for (const { c } of order) {
      const candidate = { ...scenario, actions: [...scenario.actions, c] };
      if (!guaranteed(candidate)) {
        stats.unguaranteedActions += 1;
        continue;
      }
      if (observable(candidate)) {
        scenario.actions.push(c);
        taken = true;
        break;
      }
      // Nothing to wait for: the next action follows at once, if every order of the two agrees.
      const pipelined = { ...c, pipelined: true };
      const next = shuffled(simulate(candidate, 'fifo').sim.choices(), random);
      const pair = next.find((c2) => {
        const both = { ...scenario, actions: [...scenario.actions, pipelined, c2] };
        return guaranteed(both) && observable(both);
      });
      if (pair) {
        scenario.actions.push(pipelined, pair);
        stats.pipelinedActions += 1;
        taken = true;
        break;
      }
      stats.unobservableActions += 1;
    }
    if (!taken) {
      stats.dropped += 1;
      return null;
    }
  }
  const { sim } = simulate(scenario, 'fifo');
  const all = bursts.flat();
  const unanswered = all.filter((r) => sim.answers.get(r.id) !== 1);
  if (unanswered.length > 0 || sim.choices().length > 0) {
    throw new Error(`the model leaves requests unanswered or fakes holding: ${describeScenario(scenario)}: ${unanswered.map((r) => r.id).join(', ')}`);
  }
  stats.generated += 1;
  return scenario;
}

/** `count` scenarios from consecutive seeds starting at `firstSeed`. */
export function generateScenarios(count: number, firstSeed: number): { scenarios: Scenario[]; stats: GeneratorStats } {
  const stats: GeneratorStats = { generated: 0, unguaranteedActions: 0, unobservableActions: 0, pipelinedActions: 0, dropped: 0 };
  const scenarios: Scenario[] = [];
  for (let seed = firstSeed; scenarios.length < count; seed += 1) {
    const scenario = generateScenario(seed, stats);
    if (scenario) scenarios.push(scenario);
    if (seed - firstSeed > count * 20) throw new Error('the generator drops almost every scenario');
  }
  return { scenarios, stats };
}

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
 *   workspaces   a discovery the chart starts asks it for the call like any backend call (a background
 *                one: it never starts a refresh early), then fetches `accounts/check`, held until the test
 *                answers; a discovery the chart stops meanwhile is aborted (its result never reaches the
 *                chart) though its question, already queued, is still asked. A switch's token exchange
 *                is held likewise (src/auth/workspaces.ts, workspaceSwitch.ts, effects.ts).
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
import { accountViewOf, authModeOf, sessionPath, userIdOf, workspaceRoutingOf, type AuthSnapshot } from '../../machines/views';
import { USAGE_READ_RESULT } from '../support/httpFakes';
import { ACTOR_RESULTS, EXTERNAL_LOGINS, LOGIN_API_KEY, SESSION_LIST, SESSION_SWITCHES, sessionListOf, switchResultOf, wireNotification } from './catalogue';
import {
  DISCOVERY_ANSWERS,
  PARENT_ANSWERS,
  SWITCH_ANSWERS,
  TOKEN_ANSWERS,
  concurrent,
  fixtureOf,
  prng,
  type Action,
  type BurstRequest,
  type Predicted,
  type Prediction,
  type Scenario,
  type Segment,
} from './interleavingVocabulary';
import { ModelStepper, projectionOf, stateKey } from './model';
import { ENVIRONMENT_TEXT, MODEL_NOW } from './vocabulary';

export * from './interleavingVocabulary';

/** A chart answer; a `done` one carries what AuthCore reads the moment it is given (the call's credentials). */
type Answer = { ok: true; value?: unknown; ticket: { generation: number } | { noBearerIn: string } } | { ok: false; code: number; message: string };
type FetchResult = { status: number } | { refused: { code: number; message: string } };
type Op =
  | { op: 'command'; event: AnyEventObject }
  | { op: 'whenIdle' }
  | { op: 'fetch'; target: 'usage' | 'listing' | 'discovery' }
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
const DISCOVERY_PURPOSE = 'discover the workspace';
const USAGE_401 = `failed to fetch codex rate limits: GET ${ENVIRONMENT_TEXT}/wham/usage failed: 401 Unauthorized${ENVIRONMENT_TEXT}`;

/** The catalogue's result `label` of `actor`, generated for the chart as it is (some results name its account). */
function actorResult(actor: keyof typeof ACTOR_RESULTS, label: string, chart: AuthSnapshot): AnyEventObject {
  const stimulus = ACTOR_RESULTS[actor].find((s) => s.label === label);
  if (!stimulus) throw new Error(`the catalogue has no result '${label}' for ${actor}`);
  return stimulus.event(chart);
}


/** One run of the server model over a scenario, under one ordering policy. */
export class Simulation {
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
  /**
   * The in-order request under way: once the chart has answered its command, notifications wait for its
   * response (src/rpc/server.ts); before that, they are written at once, ahead of it.
   */
  private held: { id: number; notes: Predicted[]; answered: boolean } | null = null;
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
  /** The discovery the chart runs now (counted up at each start), and the one whose accounts/check the backend holds. */
  private discoveryEpoch = 0;
  heldDiscovery: { proc: Proc; epoch: number } | null = null;
  /** A workspace-token exchange the backend holds. */
  switchLive = false;
  /** The start-up discovery's accounts/check is held before the test's first action. */
  startDiscoveryHeld = false;
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
    // A restored ChatGPT login starts its discovery with the chart: its question is the first one asked,
    // and the test waits for its accounts/check before acting.
    if ('discoverWorkspace' in this.chart.children) {
      this.startDiscovery();
      this.drain();
    }
    this.startDiscoveryHeld = this.heldDiscovery !== null;
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
        else if (op.target === 'discovery') this.heldDiscovery = { proc, epoch: this.discoveryEpoch };
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
    // A discovery the chart stopped is aborted: its held accounts/check closes, its result is never taken.
    if (!('discoverWorkspace' in this.chart.children)) this.discoveryEpoch += 1;
    if (this.heldDiscovery && this.heldDiscovery.epoch !== this.discoveryEpoch) this.heldDiscovery = null;
    if (this.switchLive && !('switchWorkspace' in this.chart.children)) this.switchLive = false;
    for (const spawned of step.spawned) {
      if (spawned.id === 'saveApiKey') this.actorEnds('saveApiKey', 'saved');
      else if (spawned.id === 'clearCredentials') this.actorEnds('clearCredentials', 'cleared');
      else if (spawned.id === 'managedRefresh') {
        this.tokenLive = true;
        this.tokenSentAt = this.actionIndex;
      }
      else if (spawned.id === 'externalRefresh') {
        if (this.parentLive !== null) this.orphanParents.push(this.parentLive);
        this.parentLive = this.nextOutgoingId++;
        this.out.push({ message: { id: this.parentLive, method: 'account/chatgptAuthTokens/refresh', params: spawned.input }, order: 'free' });
      } else if (spawned.id === 'discoverWorkspace') {
        // A new discovery replaces whatever one ran before (that one is aborted).
        this.discoveryEpoch += 1;
        this.heldDiscovery = null;
        this.startDiscovery();
      } else if (spawned.id === 'switchWorkspace') this.switchLive = true;
      else throw new Error(`the interleaving model does not drive the ${spawned.id} actor`);
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
      if (this.held && proc.request?.id === this.held.id) this.held.answered = true;
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
    if (this.held?.answered) this.held.notes.push(note);
    else this.out.push({ ...note, order: this.held ? 'inOrder' : 'free' });
  }

  /** An effect's result reaches the chart when its I/O completes (a fake's answer, a file written). */
  private actorEnds(actor: keyof typeof ACTOR_RESULTS, label: string): void {
    this.later(() => this.step(actorResult(actor, label, this.chart)), true);
  }

  // --- workspace discovery

  /** The discovery the chart just started, as a process: its question to the chart, then accounts/check. */
  private startDiscovery(): void {
    const epoch = this.discoveryEpoch;
    this.start(this.discovery(epoch));
  }

  private *discovery(epoch: number): Generator<Op, unknown, unknown> {
    const ticket = yield* this.beginBackendCall(DISCOVERY_PURPOSE, true);
    // Stopped meanwhile: its signal is aborted and nothing is fetched; the chart took its result already.
    if (epoch !== this.discoveryEpoch) return undefined;
    if ('refused' in ticket) {
      this.later(() => this.discoveryEnds(epoch, 'unlisted'), true);
      return undefined;
    }
    const answer = (yield { op: 'fetch', target: 'discovery' }) as { outcome: keyof typeof DISCOVERY_ANSWERS };
    this.discoveryEnds(epoch, answer.outcome);
    return undefined;
  }

  /** The discovery's result reaches the chart, if the chart still runs that discovery. */
  private discoveryEnds(epoch: number, outcome: keyof typeof DISCOVERY_ANSWERS): void {
    if (epoch !== this.discoveryEpoch || !('discoverWorkspace' in this.chart.children)) return;
    this.step(actorResult('discoverWorkspace', DISCOVERY_ANSWERS[outcome], this.chart));
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
        this.held = { id: request.id, notes: [], answered: false };
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
        // The burst reaches the server as input: an I/O completion like a fake's answer, so after a
        // pipelined action it may be read before or after that action's effects.
        this.later(() => this.write(this.scenario.bursts[action.burst]), true);
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
        this.actorEnds('managedRefresh', TOKEN_ANSWERS[action.answer]);
        break;
      case 'parent':
        if (this.parentLive === null) throw new Error('no parent request is held');
        this.parentLive = null;
        this.actorEnds('externalRefresh', PARENT_ANSWERS[action.answer]);
        break;
      case 'discovery': {
        if (!this.heldDiscovery) throw new Error('no workspace discovery is held');
        const { proc } = this.heldDiscovery;
        this.heldDiscovery = null;
        this.later(() => this.advance(proc, { outcome: action.answer }), true);
        break;
      }
      case 'switchToken':
        if (!this.switchLive) throw new Error('no workspace-token exchange is held');
        this.switchLive = false;
        // The exchange answered; the actor saves the tokens (a file write), then the chart gets its result.
        this.actorEnds('switchWorkspace', SWITCH_ANSWERS[action.answer]);
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
      ...(this.heldDiscovery ? (Object.keys(DISCOVERY_ANSWERS) as Array<keyof typeof DISCOVERY_ANSWERS>).map((answer) => ({ kind: 'discovery' as const, answer })) : []),
      ...(this.switchLive ? (Object.keys(SWITCH_ANSWERS) as Array<keyof typeof SWITCH_ANSWERS>).map((answer) => ({ kind: 'switchToken' as const, answer })) : []),
    ];
  }

  // --- the adapter's handlers, as processes

  private *handler(request: BurstRequest): Generator<Op, WireResponseBody, unknown> {
    switch (request.kind) {
      case 'readRefresh':
        // A forced refresh (managed tokens; the chart answers at once elsewhere); its failure is only logged.
        yield { op: 'command', event: { type: 'refresh.requested' } };
        yield { op: 'whenIdle' };
        return this.accountRead();
      case 'read':
        yield { op: 'whenIdle' };
        return this.accountRead();
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
      case 'sessionList': {
        const answer = (yield { op: 'command', event: SESSION_LIST.event(this.chart) }) as Answer;
        return answer.ok ? { result: sessionListOf(answer.value, false) } : this.unwrap(answer, null);
      }
      case 'switchSecond':
      case 'switchUnlisted': {
        const { stimulus } = request.kind === 'switchSecond' ? SESSION_SWITCHES.toSecond : SESSION_SWITCHES.unlisted;
        for (;;) {
          const answer = (yield { op: 'command', event: stimulus.event(this.chart) }) as Answer;
          // It waited on a refresh: the adapter sends it again, and the mode the refresh left decides.
          if (answer.ok && (answer.value === 'proceed' || answer.value === 'again')) continue;
          return answer.ok ? { result: switchResultOf(answer.value) } : this.unwrap(answer, null);
        }
      }
    }
  }

  private accountRead(): WireResponseBody {
    return { result: { account: accountViewOf(this.chart), userId: userIdOf(this.chart), requiresOpenaiAuth: true, workspaceRouting: workspaceRoutingOf(this.chart) } };
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

  private *beginBackendCall(
    purpose = RATE_LIMITS_PURPOSE,
    background = false,
  ): Generator<Op, { generation: number } | { refused: { code: number; message: string } }, unknown> {
    for (;;) {
      const answer = (yield { op: 'command', event: { type: 'backend.call', purpose, now: MODEL_NOW, ...(background && { background }) } }) as Answer;
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
      discovery: this.heldDiscovery !== null,
      switching: this.switchLive,
      orphans: this.orphanParents,
      answered: [...this.answers.entries()].sort(),
      fifo: this.fifo.length,
      waitingIdle: this.idleWaiters.length,
    });
  }
}

/** Runs a scenario in the model under one policy: the segment of each action and its signature. */
export function simulate(scenario: Scenario, policy: Policy): { sim: Simulation; segments: Segment[]; signatures: string[] } {
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
      discoveryHeld: sim.heldDiscovery !== null,
      switchLive: sim.switchLive,
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
  // An order where an action finds nothing to answer (a pipelined request not started yet) disagrees too.
  const signatureUnder = (policy: Policy) => {
    try {
      return simulate(scenario, policy).signatures.join('\n');
    } catch {
      return null;
    }
  };
  const [first, ...others] = POLICIES.map(signatureUnder);
  return first !== null && others.every((signature) => signature === first);
}

/**
 * True when the last action of a scenario leaves a trace the test can wait for: a message, or a fake
 * receiving something new. (Without one the test could not tell when the server is quiet again.)
 */
export function observable(scenario: Scenario): boolean {
  const { sim, segments } = simulate(scenario, 'fifo');
  const last = segments.at(-1);
  if (!last) return true;
  // Parent requests are messages; calls and grants count when they arrived during this action, and so
  // do a discovery or a workspace-token exchange the backend holds now and did not before.
  const before = segments.at(-2) ?? { discoveryHeld: sim.startDiscoveryHeld, switchLive: false };
  return last.messages.length > 0 || last.newUsage > 0 || last.newGrant || (last.discoveryHeld && !before.discoveryHeld) || (last.switchLive && !before.switchLive);
}

/** The model's prediction for a scenario (which must be guaranteed). */
export function predict(scenario: Scenario): Prediction {
  const { sim, segments } = simulate(scenario, 'fifo');
  return { segments, orphanParents: sim.orphanParents, final: projectionOf(sim.chart), answers: sim.answers, startDiscoveryHeld: sim.startDiscoveryHeld };
}

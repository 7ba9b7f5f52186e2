/**
 * Replays model paths against the real app-server: `bin/authchart.js app-server` over real pipes, with a
 * real CODEX_HOME per fixture, a real fake backend and token endpoint on 127.0.0.1, and this process as
 * the parent. Each group of a path (one request with the environment's choices) is arranged, sent, and
 * then the wire is compared with the model, exactly:
 *
 *   server requests     = `account/chatgptAuthTokens/refresh` with the input of each refresh the model starts;
 *   the response        = what the wire action's mapping makes of the chart's answers;
 *   the notifications   = the chart's notify.* events, in order, and nothing else: those the chart emitted
 *                         before answering the request before its response, the others after it;
 *   `account/read`      = accountViewOf(model snapshot);
 *   `getAuthStatus`     = authModeOf(model snapshot), no token;
 *   the fakes           = as many token-endpoint POSTs and backend calls as the model makes.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { authMachine } from '../../machines/auth.machine';
import { EXTERNAL_REFRESH_METHOD } from '../../machines/types';
import { AppServerProcess, tempCodexHome, type Msg } from '../support/appServer';
import { CATALOGUE_SECRETS, ENVIRONMENT_TEXT, PLACEHOLDERS, configToml, type Fixture, type Undo } from './catalogue';
import { FakeParent, startFakes, type FakeBackend, type FakeIssuer, type ReplayEnv } from './env';
import type { Group } from './explore';
import { ModelStepper, projectionOf, stateLabel, type ModelStep } from './model';
import { explorationOf, type ModelSuite, type ReplaySessionPlan, type SessionEntry } from './suite';
import { expectedWire, type WireExpectation } from './wire';

export { expectedWire, type WireExpectation } from './wire';

/** Expected values may hold ENVIRONMENT_TEXT: such strings become matchers for "this, with any text there". */
export function withEnvironmentText(value: unknown): unknown {
  if (typeof value === 'string' && value.includes(ENVIRONMENT_TEXT)) {
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return expect.stringMatching(new RegExp(`^${value.split(ENVIRONMENT_TEXT).map(escape).join('.+')}$`, 's'));
  }
  if (value && typeof (value as { asymmetricMatch?: unknown }).asymmetricMatch === 'function') return value;
  if (Array.isArray(value)) return value.map(withEnvironmentText);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withEnvironmentText(v)]));
  return value;
}

/** A port that was free a moment ago (bound and released), for a fixture that fixes the login port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Every file under a directory, recursively (CODEX_HOME is small). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/** One server process, its CODEX_HOME and its fakes, driven request by request against the model. */
export class ReplaySession {
  private nextId = 1;
  private parentRequestsSeen = 0;
  private readonly secrets = new Set<string>(CATALOGUE_SECRETS);

  private constructor(
    readonly fixture: Fixture,
    readonly home: { dir: string; cleanup(): void },
    readonly server: AppServerProcess,
    readonly backend: FakeBackend,
    readonly tokens: FakeIssuer,
    readonly loginPort: number,
    readonly parent: FakeParent,
  ) {}

  /** Starts the fakes, writes the fixture's CODEX_HOME, spawns the real bin and completes the handshake. */
  static async start(fixture: Fixture): Promise<ReplaySession> {
    const { backend, tokens } = await startFakes('acct-R', { email: 'ada@example.com', plan: 'plus', accountId: 'acct-R' });
    const loginPort = fixture.fixedLoginPort ? await freePort() : 0;
    const home = tempCodexHome(configToml(fixture, { backend: backend.origin, issuer: tokens.origin, loginPort }));
    let server: AppServerProcess | null = null;
    try {
      if (fixture.authJson) writeFileSync(path.join(home.dir, 'auth.json'), `${JSON.stringify(fixture.authJson, null, 2)}\n`, { mode: 0o600 });
      server = AppServerProcess.spawn({ codexHome: home.dir });
      const parent = new FakeParent(server);
      await server.initialize();
      // When the chart starts discovering (a restored ChatGPT login), the model has that discovery at the
      // backend before the first request; on the wire its call could still be waiting for the chart (and a
      // refresh started by that request would decide it). The replay starts once the backend holds it.
      if ('discoverWorkspace' in new ModelStepper(authMachine, fixture.input).initial().after.children) await backend.discoveryHeld();
      return new ReplaySession(fixture, home, server, backend, tokens, loginPort, parent);
    } catch (error) {
      server?.kill();
      home.cleanup();
      await Promise.all([backend.close(), tokens.close()]);
      throw error;
    }
  }

  /** Placeholders of the model bound to the values the server chose (see PLACEHOLDERS). */
  private readonly bindings = new Map<string, string>();

  private get env(): ReplayEnv {
    return {
      codexHome: this.home.dir,
      server: this.server,
      backend: this.backend,
      tokens: this.tokens,
      parent: this.parent,
      bindings: this.bindings,
      loginPort: this.loginPort,
    };
  }

  /** A value with the model's placeholders replaced by what they are bound to (for requests). */
  private bound(value: unknown): unknown {
    if (typeof value === 'string' && value in PLACEHOLDERS) {
      const real = this.bindings.get(value);
      if (real === undefined) throw new Error(`the model refers to ${value}, which the server has not chosen yet`);
      return real;
    }
    if (Array.isArray(value)) return value.map((v) => this.bound(v));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.bound(v)]));
    return value;
  }

  /**
   * Expected messages with placeholders resolved: in a `login/start` result they match any value of their
   * shape and bind to it once the comparison passes; elsewhere they stand for what they are bound to.
   */
  private expecting(value: unknown, rebind: Map<string, string> | null): unknown {
    if (typeof value === 'string' && value in PLACEHOLDERS) {
      if (!rebind) return this.bindings.get(value) ?? value;
      const pattern = PLACEHOLDERS[value];
      return {
        asymmetricMatch: (actual: unknown) => typeof actual === 'string' && pattern.test(actual) && (rebind.set(value, actual), true),
        toString: () => `${value} (${pattern})`,
        toAsymmetricMatcher: () => `${value} (${pattern})`,
      };
    }
    if (Array.isArray(value)) return value.map((v) => this.expecting(v, rebind));
    if (value && typeof value === 'object' && typeof (value as { asymmetricMatch?: unknown }).asymmetricMatch !== 'function') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.expecting(v, rebind)]));
    }
    return value;
  }

  /** Checks the server's start-up state against the model's initial state (and that it said nothing). */
  async checkStart(initial: ModelStep): Promise<void> {
    const from = 1; // after the initialize response: anything else the server sent first must be accounted for
    const expected = await this.readBack(initial);
    this.expectSince(from, expected, `start-up in ${stateLabel(initial.after)}`);
  }

  /** Replays groups in order, checking the wire against the model after each. */
  async replay(groups: readonly Group[], context: string): Promise<void> {
    for (let i = 0; i < groups.length; i += 1) {
      const group = groups[i];
      const before = groups.slice(Math.max(0, i - 4), i).map((g) => g.label);
      const where =
        `${context}: request ${i + 1} of ${groups.length}: ${group.label}\n` +
        `  model: ${stateLabel(group.steps[0].model.before)} ⇒ ${stateLabel(group.steps.at(-1)!.model.after)}\n` +
        `  after: ${i > before.length ? '… ▸ ' : ''}${before.length ? before.join(' ▸ ') : '(start-up)'}`;
      await this.replayGroup(group, where);
    }
  }

  /** Adds token bytes that must never reach a file under CODEX_HOME (e.g. sent in bad input). */
  rememberSecrets(secrets: readonly string[]): void {
    secrets.forEach((s) => this.secrets.add(s));
  }

  /** Fails when any token handed over by an external login or refresh appears in a file under CODEX_HOME. */
  checkNoSecretsOnDisk(): void {
    this.parent.handedOut.forEach((s) => this.secrets.add(s));
    for (const file of filesUnder(this.home.dir)) {
      const text = readFileSync(file, 'utf8');
      for (const secret of this.secrets) {
        if (text.includes(secret)) throw new Error(`an external token was written to ${file}`);
      }
    }
  }

  /** Ends the process (stdin EOF; killed if it does not exit), removes CODEX_HOME, stops the fakes. */
  async close(): Promise<void> {
    try {
      this.server.child.stdin.end();
      const exited = await Promise.race([this.server.exited, new Promise<null>((resolve) => setTimeout(resolve, 5000, null).unref())]);
      if (exited === null) this.server.kill();
    } finally {
      this.server.kill();
      this.home.cleanup();
      await Promise.all([this.backend.close(), this.tokens.close()]);
    }
  }

  /** Replays one group (a request and the environment's choices); returns the response. */
  async replayGroup(group: Pick<Group, 'action' | 'steps'>, where: string): Promise<Msg> {
    const { action } = group;
    (action.secrets ?? []).forEach((s) => this.secrets.add(s));
    const expected = expectedWire(group);
    if (!expected.response && !action.trigger) {
      // The model's adapter would never answer: any answer from the server is a difference.
      const answer = await this.server.request(action.method!, this.bound(action.params), this.nextId++);
      throw new Error(`${where}\nthe model never answers this request, but the server answered ${JSON.stringify(answer)}`);
    }
    const undo: Undo[] = [];
    const arranged = new Set<string>();
    for (const step of group.steps) {
      if (!step.stimulus.arrange || arranged.has(step.stimulus.label)) continue;
      arranged.add(step.stimulus.label);
      undo.push(await step.stimulus.arrange(this.env));
    }
    const from = this.server.messages.length;
    const posts = this.tokens.posts().length;
    const calls = this.backend.usageCalls();
    if (action.trigger) {
      try {
        await action.trigger(this.env);
        await this.notificationsArrived(from, expected.notifications.length);
      } finally {
        for (const u of undo.reverse()) await u();
      }
      const readBack = await this.readBack(group.steps.at(-1)!.model);
      this.expectSince(from, this.expecting([...expected.notifications, ...readBack], null) as Msg[], where);
      this.expectCounts(where, { tokenPosts: this.tokens.posts().length - posts, backendCalls: this.backend.usageCalls() - calls }, expected);
      return { id: null };
    }
    const id = this.nextId++;
    let readBack: Msg[];
    let between: Msg[] = [];
    try {
      if (expected.overlap) {
        between = await this.overlap(group, id, expected.overlap);
        readBack = await this.readBack(group.steps.at(-1)!.model);
      } else {
        const request = this.server.request(action.method!, this.bound(action.params), id);
        // Pipelined, as real clients do: ordered requests queue behind this one and must see its outcome.
        // A request the server runs concurrently (a backend call) is read back after its response.
        if (action.concurrent) {
          await request;
          readBack = await this.readBack(group.steps.at(-1)!.model);
        } else {
          [, readBack] = await Promise.all([request, this.readBack(group.steps.at(-1)!.model)]);
        }
      }
    } finally {
      for (const u of undo.reverse()) await u();
    }
    const parentRequests = expected.parentRequests.map((params) => ({ id: this.parentRequestsSeen++, method: EXTERNAL_REFRESH_METHOD, params }));
    // Notifications name the login that ended (bound before); a login/start result binds the new one.
    const rebind = new Map<string, string>();
    // A browser login's id and URL are bound by the response that starts it (a switch may start one too).
    const binds = action.method === 'account/login/start' || action.method === 'accountSession/switch';
    const response = this.expecting({ id, ...expected.response }, binds ? rebind : null) as Msg;
    const others = (list: Msg[]) => this.expecting(list, null) as Msg[];
    this.expectSince(
      from,
      [...others(parentRequests), ...others(expected.notificationsBefore), ...others(between), response, ...others(expected.notifications), ...readBack],
      where,
    );
    rebind.forEach((real, placeholder) => this.bindings.set(placeholder, real));
    this.expectCounts(where, { tokenPosts: this.tokens.posts().length - posts, backendCalls: this.backend.usageCalls() - calls }, expected);
    return this.server.since(from).find((m) => m.id === id && !('method' in m))!;
  }

  /** Resolves once `count` notifications have arrived after message `from`. */
  private async notificationsArrived(from: number, count: number): Promise<void> {
    let at = from;
    for (let i = 0; i < count; i += 1) {
      const message = await this.server.waitFor((m) => 'method' in m && !('id' in m), `notification ${i + 1} of ${count}`, 15000, at);
      at = this.server.messages.indexOf(message) + 1;
    }
  }

  /**
   * Two overlapping requests: the first's refresh is held once it is in flight (the parent holds its
   * answer, or the token endpoint its reply), the second request is sent, and a `getAuthStatus` behind it
   * fences its first event into the chart (the server takes one message per turn of its event loop and
   * hands a request to the chart without waiting on I/O, so the fence's answer means the chart has it).
   * Then the refresh goes on and both requests complete. Returns what the wire must show between the
   * parent's request and the first response: the fence's answer and the second response (the two
   * responses may come in either order; the comparison puts them in request order).
   */
  private async overlap(group: Pick<Group, 'action' | 'steps'>, id: number, expected: NonNullable<WireExpectation['overlap']>): Promise<Msg[]> {
    const external = group.steps.some((s) => s.model.spawned.some((c) => c.id === 'externalRefresh'));
    const gate = external ? this.parent.hold() : this.tokens.hold();
    const first = this.server.request(group.action.method!, this.bound(group.action.params), id);
    await gate.reached();
    const secondId = this.nextId++;
    const second = this.server.request(group.action.overlap!.method, group.action.overlap!.params, secondId);
    const fenceId = this.nextId++;
    await this.server.request('getAuthStatus', {}, fenceId);
    gate.open();
    await Promise.all([first, second]);
    if (!expected.response) throw new Error('the model never answers the second request');
    this.overlapIds = [id, secondId];
    return [
      { id: fenceId, result: { authMethod: expected.fence.authMode, authToken: null, requiresOpenaiAuth: true } },
      { id: secondId, ...expected.response },
    ];
  }

  /** The ids of two overlapping requests whose responses may come in either order (null outside them). */
  private overlapIds: [number, number] | null = null;

  /**
   * Writes one raw line that is not a valid request of the catalogue (bad input), and checks the wire:
   * exactly `reply` (or nothing, for a notification) and no notification, then the projection of
   * `model` (which bad input must not have changed).
   */
  async sendBadLine(line: string, reply: Msg | null, model: ModelStep, where: string): Promise<void> {
    const from = this.server.messages.length;
    this.server.writeLine(line);
    const readBack = await this.readBack(model);
    this.expectSince(from, reply ? [reply, ...readBack] : readBack, where);
  }

  /** Checks `account/read` and `getAuthStatus` against a model state, with nothing else on the wire. */
  async checkProjection(model: ModelStep, where: string): Promise<void> {
    const from = this.server.messages.length;
    this.expectSince(from, await this.readBack(model), where);
  }

  /**
   * Sends `account/read` and `getAuthStatus` right away (behind whatever ordered request is in flight)
   * and resolves, once both are answered, with what the model says they must answer.
   */
  private async readBack(model: ModelStep): Promise<Msg[]> {
    const projection = projectionOf(model.after);
    const readId = this.nextId++;
    const statusId = this.nextId++;
    await Promise.all([this.server.request('account/read', {}, readId), this.server.request('getAuthStatus', {}, statusId)]);
    return [
      { id: readId, result: { account: projection.account, userId: projection.userId, requiresOpenaiAuth: true, workspaceRouting: projection.workspaceRouting } },
      { id: statusId, result: { authMethod: projection.authMode, authToken: null, requiresOpenaiAuth: true } },
    ];
  }

  private expectCounts(where: string, actual: { tokenPosts: number; backendCalls: number }, expected: WireExpectation): void {
    try {
      expect(actual).toEqual({ tokenPosts: expected.tokenPosts, backendCalls: expected.backendCalls });
    } catch (error) {
      (error as Error).message = `${where}\n(token endpoint POSTs and backend calls)\n\n${(error as Error).message}`;
      throw error;
    }
  }

  private expectSince(from: number, expected: Msg[], where: string): void {
    const actual = this.server.since(from);
    if (this.overlapIds) {
      // Responses of overlapping requests: compared in the order the expectation lists them.
      const [a, b] = this.overlapIds;
      this.overlapIds = null;
      const ia = actual.findIndex((m) => m.id === a && !('method' in m));
      const ib = actual.findIndex((m) => m.id === b && !('method' in m));
      const ea = expected.findIndex((m) => m.id === a && !('method' in m));
      const eb = expected.findIndex((m) => m.id === b && !('method' in m));
      if (ia !== -1 && ib !== -1 && ea !== -1 && eb !== -1 && Math.sign(ia - ib) !== Math.sign(ea - eb)) {
        [actual[ia], actual[ib]] = [actual[ib], actual[ia]];
      }
    }
    try {
      expect(actual).toEqual(withEnvironmentText(expected));
      // Strict clients drop the connection on a notification off Codex's schema.
      expect(this.server.schemaViolations).toEqual([]);
    } catch (error) {
      (error as Error).message = `${where}\n\n${(error as Error).message}\n\nserver stderr (tail):\n${this.server.stderr.slice(-2000)}`;
      throw error;
    }
  }
}

/** Replays a whole session plan (or its first entries) on one fresh server process; throws at the first mismatch. */
export async function replaySessionPlan(suite: ModelSuite, plan: ReplaySessionPlan, entries: readonly SessionEntry[] = plan.entries): Promise<void> {
  const session = await ReplaySession.start(plan.fixture);
  try {
    await session.checkStart(explorationOf(suite, plan.fixture).initial);
    for (const entry of entries) {
      if (entry.reset.length) await session.replay(entry.reset, `[${plan.fixture.name}] reset before ${entry.path.origin}`);
      await session.replay(entry.groups, `[${plan.fixture.name}] ${entry.path.origin}`);
    }
    session.checkNoSecretsOnDisk();
  } finally {
    await session.close();
  }
}

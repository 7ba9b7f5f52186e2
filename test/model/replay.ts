/**
 * Replays model paths against the real app-server: `bin/authchart.js app-server` over real pipes, with a
 * real CODEX_HOME per fixture. Each group of a path (one request and the actor results that end its
 * effect) becomes one JSON-RPC request, preceded by the environment arrangements its outcomes need; after
 * it the wire is compared with the model, exactly:
 *
 *   the response        = the chart's answer to the request (result encoded as the adapter does, or the
 *                         refusal's code and message);
 *   the notifications   = the chart's notify.* events, in order, after the response and nothing else;
 *   `account/read`      = accountViewOf(model snapshot);
 *   `getAuthStatus`     = authModeOf(model snapshot), no token.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess, tempCodexHome, type Msg } from '../support/appServer';
import { ENVIRONMENT_TEXT, wireNotification, type Fixture, type Undo } from './catalogue';
import type { PathStep } from './explore';
import { explorationOf, type ModelSuite, type ReplaySessionPlan, type SessionEntry } from './suite';
import { answerTo, notificationsIn, projectionOf, stateLabel, type ModelStep, type Projection } from './model';

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

/** What the wire must show for a group: the response (without its id), then the notifications, then the projection. */
export interface WireExpectation {
  response: { result: unknown } | { error: { code: number; message: string } } | null;
  notifications: Array<{ method: string; params: unknown }>;
  projection: Projection;
}

/** The wire traffic the model prescribes for one group (its request and the actor results ending its effect). */
export function expectedWire(group: readonly PathStep[]): WireExpectation {
  const [request] = group;
  const wire = request.stimulus.wire;
  if (wire.kind !== 'request') throw new Error(`a group must start with a request, not ${request.stimulus.label}`);
  const emitted = group.flatMap((s) => s.model.emitted);
  const answer = answerTo(emitted, Number(request.stimulus.event.req));
  return {
    response: !answer
      ? null
      : answer.type === 'answer.done'
        ? { result: wire.result(answer.value) }
        : { error: { code: answer.code, message: answer.message } },
    notifications: notificationsIn(emitted).map(wireNotification),
    projection: projectionOf(group[group.length - 1].model.after),
  };
}

/** Splits a path into groups: a request followed by the actor results that end its effect. */
export function groupSteps(steps: readonly PathStep[]): PathStep[][] {
  const groups: PathStep[][] = [];
  for (const step of steps) {
    if (step.stimulus.wire.kind === 'request') groups.push([step]);
    else if (groups.length === 0) throw new Error(`${step.stimulus.label} cannot start a replay group: nothing on the wire produces it on its own`);
    else groups[groups.length - 1].push(step);
  }
  return groups;
}

/** Every file under a directory, recursively (CODEX_HOME is small). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/** One server process and its CODEX_HOME, driven step by step against the model. */
export class ReplaySession {
  private nextId = 1;
  private readonly secrets = new Set<string>();

  private constructor(
    readonly fixture: Fixture,
    readonly home: { dir: string; cleanup(): void },
    readonly server: AppServerProcess,
  ) {}

  /** Creates the fixture's CODEX_HOME, spawns the real bin and completes the handshake. */
  static async start(fixture: Fixture): Promise<ReplaySession> {
    const home = tempCodexHome(fixture.configToml);
    let server: AppServerProcess | null = null;
    try {
      if (fixture.authJson) writeFileSync(path.join(home.dir, 'auth.json'), `${JSON.stringify(fixture.authJson, null, 2)}\n`, { mode: 0o600 });
      server = await AppServerProcess.started({ codexHome: home.dir });
      return new ReplaySession(fixture, home, server);
    } catch (error) {
      server?.kill();
      home.cleanup();
      throw error;
    }
  }

  /** Checks the server's start-up state against the model's initial state (and that it said nothing). */
  async checkStart(initial: ModelStep): Promise<void> {
    const from = 1; // after the initialize response: anything else the server sent first must be accounted for
    const expected = await this.readBack(initial);
    this.expectSince(from, expected, `start-up in ${stateLabel(initial.after)}`);
  }

  /** Replays steps group by group, checking the wire against the model after each. */
  async replay(steps: readonly PathStep[], context: string): Promise<void> {
    const groups = groupSteps(steps);
    for (let i = 0; i < groups.length; i += 1) {
      const group = groups[i];
      const before = groups.slice(Math.max(0, i - 4), i).map((g) => g.map((s) => s.stimulus.label).join(' → '));
      const where =
        `${context}: request ${i + 1} of ${groups.length}: ${group.map((s) => s.stimulus.label).join(' → ')}\n` +
        `  model: ${stateLabel(group[0].model.before)} ⇒ ${stateLabel(group[group.length - 1].model.after)}\n` +
        `  after: ${i > before.length ? '… → ' : ''}${before.length ? before.join(' → ') : '(start-up)'}`;
      await this.replayGroup(group, where);
    }
  }

  /** Adds token bytes that must never reach a file under CODEX_HOME (e.g. sent in bad input). */
  rememberSecrets(secrets: readonly string[]): void {
    secrets.forEach((s) => this.secrets.add(s));
  }

  /** Fails when any token handed over by an external login appears in a file under CODEX_HOME. */
  checkNoSecretsOnDisk(): void {
    for (const file of filesUnder(this.home.dir)) {
      const text = readFileSync(file, 'utf8');
      for (const secret of this.secrets) {
        if (text.includes(secret)) throw new Error(`an external token was written to ${file}`);
      }
    }
  }

  /** Ends the process (stdin EOF; killed if it does not exit) and removes CODEX_HOME. */
  async close(): Promise<void> {
    try {
      this.server.child.stdin.end();
      const exited = await Promise.race([this.server.exited, new Promise<null>((resolve) => setTimeout(resolve, 5000, null).unref())]);
      if (exited === null) this.server.kill();
    } finally {
      this.server.kill();
      this.home.cleanup();
    }
  }

  /** Replays one group (a request and the actor results that end its effect); returns the response. */
  async replayGroup(group: PathStep[], where: string): Promise<Msg> {
    const [request, ...outcomes] = group;
    const wire = request.stimulus.wire;
    if (wire.kind !== 'request') throw new Error(`${where}: a group must start with a request`);
    (wire.secrets ?? []).forEach((s) => this.secrets.add(s));
    const undo: Undo[] = [];
    for (const outcome of outcomes) {
      if (outcome.stimulus.wire.kind !== 'outcome') throw new Error(`${where}: ${outcome.stimulus.label} is not an actor result`);
      undo.push(await outcome.stimulus.wire.arrange({ codexHome: this.home.dir, server: this.server }));
    }
    const expected = expectedWire(group);
    if (!expected.response) throw new Error(`${where}: the model never answers this request`);
    const from = this.server.messages.length;
    const id = this.nextId++;
    let readBack: Msg[];
    try {
      // Pipelined, as real clients do: the reads are queued behind the request and must see its outcome.
      [, readBack] = await Promise.all([this.server.request(wire.method, wire.params, id), this.readBack(group[group.length - 1].model)]);
    } finally {
      for (const u of undo.reverse()) await u();
    }
    this.expectSince(from, [{ id, ...expected.response }, ...expected.notifications, ...readBack], where);
    return this.server.since(from)[0];
  }

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

  /** Sends `account/read` and `getAuthStatus`; returns what the model says they must answer. */
  /**
   * Sends `account/read` and `getAuthStatus` right away (behind whatever is in flight: the server handles
   * requests in arrival order, as pipelining clients rely on) and resolves, once both are answered, with
   * what the model says they must answer.
   */
  private async readBack(model: ModelStep): Promise<Msg[]> {
    const projection = projectionOf(model.after);
    const readId = this.nextId++;
    const statusId = this.nextId++;
    await Promise.all([this.server.request('account/read', {}, readId), this.server.request('getAuthStatus', {}, statusId)]);
    return [
      { id: readId, result: { account: projection.account, requiresOpenaiAuth: true } },
      { id: statusId, result: { authMethod: projection.authMode, authToken: null, requiresOpenaiAuth: true } },
    ];
  }


  private expectSince(from: number, expected: Msg[], where: string): void {
    const actual = this.server.since(from);
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
      await session.replay(entry.steps, `[${plan.fixture.name}] ${entry.path.origin}`);
    }
    session.checkNoSecretsOnDisk();
  } finally {
    await session.close();
  }
}

/**
 * Replays a generated interleaving (test/model/interleavings.ts) on the real bin: fakes that hold every
 * usage call, refresh grant and parent refresh request until the scenario lets them answer, one burst
 * per write, and after each action a wait for the server to be quiet (the messages and held requests
 * the model predicts), then the comparison of what it wrote with the model:
 *
 *   the segment's messages   = the predicted ones, as a multiset (no more, no fewer);
 *   in-order responses       = in arrival order, each followed at once by its notifications;
 *   a concurrent response    = after everything written for the in-order request before it;
 *   at the end               = every request answered exactly once, `account/read` and `getAuthStatus`
 *                              equal the model's final state, and stdin EOF ends the process with 0.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { EXTERNAL_REFRESH_METHOD } from '../../machines/types';
import { AppServerProcess, tempCodexHome, type Msg } from '../support/appServer';
import { USAGE_BODY, issuedTokens } from '../support/httpFakes';
import { ENVIRONMENT_TEXT, REFRESHED_ADA, configToml } from './catalogue';
import { discoveryAnswer, ioDelivered, switchedTokensBody } from './env';
import {
  describeScenario,
  fixtureOf,
  predict,
  wireRequest,
  type DISCOVERY_ANSWERS,
  type Predicted,
  type Prediction,
  type Scenario,
  type SWITCH_ANSWERS,
  type TOKEN_ANSWERS,
} from './interleavings';
import { withEnvironmentText } from './replay';

/** How long the test waits for the server to reach the quiet state the model predicts. */
const QUIET_TIMEOUT_MS = 10_000;

/** Something whose state changes; `until` resolves when a condition holds (checked on every change). */
class Watched {
  private waiters: Array<() => void> = [];

  protected changed(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }

  /** Resolves when `condition()` holds; rejects after QUIET_TIMEOUT_MS with `what`. */
  until(condition: () => boolean, what: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what()}`)), QUIET_TIMEOUT_MS);
      const check = () => {
        if (condition()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }
}

/** An HTTP fake on 127.0.0.1 (port 0) that holds some requests until told to answer them. */
abstract class HoldingServer extends Watched {
  protected readonly server: Server;
  /** Requests held and still open (a client that gave up closes its socket and leaves the list). */
  protected readonly held: ServerResponse[] = [];
  origin = '';

  constructor() {
    super();
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => this.handle(req, res, body));
    });
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse, body: string): void;

  protected hold(res: ServerResponse): void {
    this.holdIn(this.held, res, res);
  }

  /** Holds `entry` (answering `res`) in `list` until it is answered or its client hangs up. */
  protected holdIn<T>(list: T[], entry: T, res: ServerResponse): void {
    list.push(entry);
    res.on('close', () => {
      const at = list.indexOf(entry);
      if (at !== -1) list.splice(at, 1);
      this.changed();
    });
    this.changed();
  }

  protected static reply(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get heldCount(): number {
    return this.held.length;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The ChatGPT backend: usage calls are held until released (all at once); a workspace discovery
 * (accounts/check) and a workspace-token exchange are held until the scenario answers them; the
 * reset-credit listing is 404.
 */
class HoldingBackend extends HoldingServer {
  usageCalls = 0;
  /** Workspace discoveries that arrived. */
  discoveries = 0;
  /** Held discoveries and exchanges, with the workspace each names (open ones; a closed one leaves). */
  private readonly discoveryHeld: Array<{ res: ServerResponse; accountId: string }> = [];
  private readonly switchHeld: Array<{ res: ServerResponse; workspace: string }> = [];
  /** The bearer of every usage call, in arrival order. */
  readonly bearers: string[] = [];
  /** The scenario's action under way: each held call remembers the one it arrived during. */
  action = 0;
  private readonly groups = new Map<ServerResponse, number>();

  protected handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    if (req.url?.endsWith('/wham/usage')) {
      this.usageCalls += 1;
      this.bearers.push(String(req.headers.authorization ?? '').replace(/^Bearer /, ''));
      this.groups.set(res, this.action);
      this.hold(res);
    } else if (req.url?.endsWith('/wham/accounts/check')) {
      this.discoveries += 1;
      this.holdIn(this.discoveryHeld, { res, accountId: String(req.headers['chatgpt-account-id'] ?? '') }, res);
    } else if (req.method === 'POST' && req.url?.endsWith('/accounts/switch-workspace-token')) {
      const workspace = (JSON.parse(body || '{}') as { workspace_id?: string }).workspace_id ?? '';
      this.holdIn(this.switchHeld, { res, workspace }, res);
    } else HoldingServer.reply(res, 404, { detail: 'Not Found' });
  }

  get heldDiscoveries(): number {
    return this.discoveryHeld.length;
  }

  get heldSwitches(): number {
    return this.switchHeld.length;
  }

  /** Answers the held discovery: the login's workspace and SECOND_WORKSPACE listed, or the login's left out. */
  releaseDiscovery(answer: keyof typeof DISCOVERY_ANSWERS): void {
    if (this.discoveryHeld.length !== 1) throw new Error(`expected one held workspace discovery, found ${this.discoveryHeld.length}`);
    const [{ res, accountId }] = this.discoveryHeld.splice(0);
    HoldingServer.reply(res, 200, discoveryAnswer(accountId, answer));
    this.changed();
  }

  /** Answers the held workspace-token exchange: the workspace's tokens (SWITCH_USER), or 403. */
  releaseSwitch(answer: keyof typeof SWITCH_ANSWERS): void {
    if (this.switchHeld.length !== 1) throw new Error(`expected one held workspace-token exchange, found ${this.switchHeld.length}`);
    const [{ res, workspace }] = this.switchHeld.splice(0);
    if (answer === 'refused') HoldingServer.reply(res, 403, { detail: 'workspace requires sign-in' });
    else HoldingServer.reply(res, 200, switchedTokensBody(workspace));
    this.changed();
  }

  /** Answers the usage calls held longest (those that arrived during the same action) with 200 (the usage body) or 401. */
  release(status: 200 | 401): void {
    const oldest = Math.min(...this.held.map((res) => this.groups.get(res)!));
    const released = this.held.filter((res) => this.groups.get(res) === oldest);
    this.held.splice(0, this.held.length, ...this.held.filter((res) => this.groups.get(res) !== oldest));
    for (const res of released) {
      HoldingServer.reply(res, status, status === 200 ? USAGE_BODY : { error: { code: 'token_expired', message: 'Unauthorized' } });
    }
    this.changed();
  }
}

/** The token endpoint: refresh grants are held until released; each success rotates the tokens. */
class HoldingIssuer extends HoldingServer {
  private round = 0;
  grants = 0;
  /** Most grants held (and open) at once: the single flight, seen from the token endpoint. */
  maxHeld = 0;

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'POST' && req.url === '/oauth/token') {
      this.grants += 1;
      this.hold(res);
      this.maxHeld = Math.max(this.maxHeld, this.held.length);
    } else HoldingServer.reply(res, 404, { error: 'not found' });
  }

  /** Answers the one grant held (its refresh is the chart's live one). */
  release(answer: keyof typeof TOKEN_ANSWERS): void {
    if (this.held.length !== 1) throw new Error(`expected one held refresh grant, found ${this.held.length}`);
    const [res] = this.held.splice(0);
    if (answer === 'refreshes') {
      this.round += 1;
      const next = issuedTokens(this.round, 'acct-R');
      HoldingServer.reply(res, 200, { id_token: next.idToken, access_token: next.accessToken, refresh_token: next.refreshToken });
    } else if (answer === 'unavailable') HoldingServer.reply(res, 503, { error: 'try later' });
    else HoldingServer.reply(res, 401, { error: { code: 'refresh_token_expired' } });
    this.changed();
  }
}

/** The parent: holds every `account/chatgptAuthTokens/refresh` until the scenario answers it. */
class HoldingParent {
  private readonly held = new Map<number, { resolve(result: unknown): void; reject(error: unknown): void }>();

  constructor(server: AppServerProcess) {
    server.onRequest(EXTERNAL_REFRESH_METHOD, (_params, message) => new Promise((resolve, reject) => this.held.set(message.id as number, { resolve, reject })));
  }

  release(id: number, answer: 'tokens' | 'error' | 'late'): void {
    const held = this.held.get(id);
    if (!held) throw new Error(`the parent holds no refresh request ${id} (it holds ${JSON.stringify([...this.held.keys()])})`);
    this.held.delete(id);
    if (answer === 'tokens') held.resolve(REFRESHED_ADA.answer);
    else if (answer === 'late') held.resolve({ accessToken: 'late-answer-model-secret', chatgptAccountId: 'acct-late' });
    else held.reject({ code: -32001, message: 'the parent could not refresh' });
  }
}

/**
 * Deep equality where expected strings holding ENVIRONMENT_TEXT match any text there (as the replay's
 * withEnvironmentText, without building a failure message for each of the many misses of a multiset match).
 */
export function matches(actual: unknown, expected: unknown): boolean {
  // An asymmetric matcher (expect.any(Number): the time a session was last used is the server's).
  if (expected && typeof (expected as { asymmetricMatch?: unknown }).asymmetricMatch === 'function') {
    return (expected as { asymmetricMatch(value: unknown): boolean }).asymmetricMatch(actual);
  }
  if (typeof expected === 'string' && expected.includes(ENVIRONMENT_TEXT)) {
    return typeof actual === 'string' && (withEnvironmentText(expected) as { asymmetricMatch(value: unknown): boolean }).asymmetricMatch(actual);
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((item, i) => matches(actual[i], item));
  }
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const keys = (value: object) => Object.keys(value).filter((key) => (value as Record<string, unknown>)[key] !== undefined).sort();
    const [a, e] = [keys(actual), keys(expected)];
    return a.length === e.length && e.every((key, i) => a[i] === key && matches((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key]));
  }
  return Object.is(actual, expected);
}

/**
 * Checks one segment: the same messages as predicted (a multiset), in-order ones in their order, each
 * concurrent response after what its in-order predecessor wrote. Returns the first difference, or null.
 */
export function checkSegment(actual: Msg[], predicted: readonly Predicted[]): string | null {
  const used = new Set<number>();
  const position = new Map<number, number>(); // predicted index → actual index
  for (let a = 0; a < actual.length; a += 1) {
    const p = predicted.findIndex((item, i) => !used.has(i) && matches(actual[a], item.message));
    if (p === -1) return `unexpected message ${JSON.stringify(actual[a])}`;
    used.add(p);
    position.set(p, a);
  }
  if (used.size !== predicted.length) {
    return `missing ${predicted.filter((_, i) => !used.has(i)).map((m) => JSON.stringify(m.message)).join(', ')}`;
  }
  const inOrder = predicted.map((item, i) => ({ item, i })).filter(({ item }) => item.order === 'inOrder');
  for (let k = 1; k < inOrder.length; k += 1) {
    if (position.get(inOrder[k].i)! < position.get(inOrder[k - 1].i)!) {
      return `${JSON.stringify(inOrder[k].item.message)} came before ${JSON.stringify(inOrder[k - 1].item.message)}`;
    }
  }
  const late: string[] = [];
  predicted.forEach((item, i) => {
    if (item.after === undefined) return;
    // Everything written for the predecessor: its response and the notifications right after it.
    const start = predicted.findIndex((m) => m.order === 'inOrder' && (m.message as { id?: unknown }).id === item.after);
    if (start === -1) return; // answered in an earlier segment
    let end = start;
    while (end + 1 < predicted.length && predicted[end + 1].order === 'inOrder' && !('id' in predicted[end + 1].message)) end += 1;
    if (position.get(i)! < position.get(end)!) late.push(`concurrent response ${JSON.stringify(item.message)} came before what request ${item.after} wrote`);
  });
  return late[0] ?? null;
}

/** What a replay measured. */
export interface ReplayFigures {
  requests: number;
  /** Usage calls and refresh grants the fakes received (orphaned grants included). */
  usageCalls: number;
  grants: number;
  /** The bearer each usage call carried. */
  bearers: string[];
}

/** Replays one scenario on a fresh `bin/authchart.js app-server`; throws at the first difference. */
export async function replayScenario(scenario: Scenario, prediction: Prediction = predict(scenario)): Promise<ReplayFigures> {
  const fixture = fixtureOf(scenario.start);
  const backend = await new HoldingBackend().listen();
  const issuer = await new HoldingIssuer().listen();
  const home = tempCodexHome(configToml(fixture, { backend: backend.origin, issuer: issuer.origin, loginPort: 0 }));
  let server: AppServerProcess | null = null;
  const where = (i: number) => `${describeScenario(scenario)}\n  at action ${i + 1} (${JSON.stringify(scenario.actions[i])})`;
  try {
    if (fixture.authJson) writeFileSync(path.join(home.dir, 'auth.json'), `${JSON.stringify(fixture.authJson, null, 2)}\n`, { mode: 0o600 });
    server = AppServerProcess.spawn({ codexHome: home.dir });
    const parent = new HoldingParent(server);
    await server.initialize();
    // A restored ChatGPT login's discovery asks the chart first; the scenario starts once its call is held.
    if (prediction.startDiscoveryHeld) await backend.until(() => backend.heldDiscoveries === 1, () => `${describeScenario(scenario)}: the start-up discovery never reached the backend`);
    const running = server;
    let from = running.messages.length;
    let parentLive: number | null = null;
    for (let i = 0; i < prediction.segments.length; i += 1) {
      const segment = prediction.segments[i];
      const action = segment.action;
      backend.action = i + 1;
      if (action.kind === 'write') {
        running.child.stdin.write(scenario.bursts[action.burst].map((r) => `${JSON.stringify(wireRequest(r))}\n`).join(''));
      } else if (action.kind === 'backend') backend.release(action.status);
      else if (action.kind === 'tokenEndpoint') issuer.release(action.answer);
      else if (action.kind === 'discovery') backend.releaseDiscovery(action.answer);
      else if (action.kind === 'switchToken') backend.releaseSwitch(action.answer);
      else parent.release(parentLive!, action.answer);
      parentLive = segment.parentLive;
      // Nothing to wait for after a pipelined action (the model checked that its effects may run in any
      // order with the next action's): the next one follows at once.
      if (action.pipelined) continue;
      const count = segment.messages.length;
      const quiet = () =>
        `${where(i)}: ${count} messages (got ${running.messages.length - from}), ${segment.heldUsage} held usage calls (got ${backend.heldCount}), ` +
        `${segment.tokenLive ? 1 : 0} held refresh grants (got ${issuer.heldCount}), ${segment.discoveryHeld ? 1 : 0} held discoveries (got ${backend.heldDiscoveries}), ` +
        `${segment.switchLive ? 1 : 0} held workspace-token exchanges (got ${backend.heldSwitches}); model state ${segment.state}\n` +
        `predicted: ${JSON.stringify(segment.messages.map((m) => m.message))}\nactual: ${JSON.stringify(running.since(from))}\nstderr: ${running.stderr.slice(-1500)}`;
      if (count > 0) await running.waitFor(() => running.messages.length >= from + count, `segment ${i + 1}`, QUIET_TIMEOUT_MS, from).catch(() => Promise.reject(new Error(`timed out: ${quiet()}`)));
      await backend.until(() => backend.heldCount === segment.heldUsage, quiet);
      await issuer.until(() => issuer.heldCount === (segment.tokenLive ? 1 : 0), quiet);
      // A discovery the chart stopped may have hung up unread yet: counted as held, it would pass for the live one.
      await ioDelivered();
      await backend.until(() => backend.heldDiscoveries === (segment.discoveryHeld ? 1 : 0) && backend.heldSwitches === (segment.switchLive ? 1 : 0), quiet);
      const actual = running.messages.slice(from, from + count);
      const difference = checkSegment(actual, segment.messages);
      if (difference) throw new Error(`${where(i)}: ${difference}\npredicted: ${JSON.stringify(segment.messages, null, 1)}\nactual: ${JSON.stringify(actual, null, 1)}`);
      from += count;
    }
    // Abandoned parent requests get their (late) answers: the server must ignore them.
    for (const id of prediction.orphanParents) parent.release(id, 'late');
    await running.request('account/read', {}, 'final-read');
    await running.request('getAuthStatus', {}, 'final-status');
    const final = prediction.final;
    const expected = [
      { id: 'final-read', result: { account: final.account, userId: final.userId, requiresOpenaiAuth: true, workspaceRouting: final.workspaceRouting } },
      { id: 'final-status', result: { authMethod: final.authMode, authToken: null, requiresOpenaiAuth: true } },
    ];
    const tail = running.since(from);
    if (!matches(tail, expected)) throw new Error(`${describeScenario(scenario)}\nat the end: ${JSON.stringify(tail)}\nexpected ${JSON.stringify(expected)}`);
    // Every request exactly once: count the responses per id.
    const ids = scenario.bursts.flat().map((r) => r.id);
    const responses = running.messages.filter((m) => 'id' in m && !('method' in m) && typeof m.id === 'number' && m.id !== 0);
    const counts = ids.map((id) => responses.filter((m) => m.id === id).length);
    if (counts.some((c) => c !== 1) || responses.length !== ids.length) {
      throw new Error(`${describeScenario(scenario)}\nanswers per request ${JSON.stringify(Object.fromEntries(ids.map((id, k) => [id, counts[k]])))}, ${responses.length} responses`);
    }
    if (issuer.maxHeld > 1) throw new Error(`${describeScenario(scenario)}\n${issuer.maxHeld} refresh grants were in flight at once`);
    expect(running.schemaViolations).toEqual([]);
    const exited = await running.close();
    if (exited.code !== 0) throw new Error(`${describeScenario(scenario)}\nthe app-server exited with ${JSON.stringify(exited)} at end of input`);
    return { requests: ids.length, usageCalls: backend.usageCalls, grants: issuer.grants, bearers: backend.bearers };
  } finally {
    server?.kill();
    home.cleanup();
    await Promise.all([backend.close(), issuer.close()]);
  }
}

/**
 * The 401 recovery of the chart itself (docs/protocol.md §6), with effects replaced by controllable promises
 * and timers by XState's SimulatedClock: one refreshing state per mode, stale 401s, `failed`, the external
 * timeout, logout interrupting a refresh, proactive refresh.
 */
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import {
  authMachine,
  formatSeconds,
  refreshDue,
  refreshTimedOutMessage,
  refreshWorkspaceMessage,
} from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEmitted, AuthInput, ExternalRefreshOutput, ManagedRefreshOutput } from '../../machines/types';
import { sessionPath } from '../../machines/views';

const ACCOUNT: AccountInfo = { email: 'ada@example.com', planType: 'plus', accountId: 'acct-1', userId: null };

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function managedOutput(): ManagedRefreshOutput {
  const s = new Secret('x');
  return {
    credentials: { tokens: { idToken: s, accessToken: s, refreshToken: s, accountId: 'acct-1' }, lastRefresh: null, apiKey: null },
    account: { ...ACCOUNT, planType: 'pro' },
    timing: { expiresAt: null, lastRefreshAt: 0 },
    source: 'refreshed',
  };
}

/** Starts the chart with refresh effects that count their runs and settle when the test says. */
function start(input: Partial<AuthInput> = {}) {
  const managedRuns: ReturnType<typeof deferred<ManagedRefreshOutput>>[] = [];
  const externalRuns: ReturnType<typeof deferred<ExternalRefreshOutput>>[] = [];
  const aborted: string[] = [];
  const clock = new SimulatedClock();
  const machine = authMachine.provide({
    actors: {
      managedRefresh: fromPromise(({ signal }) => {
        const run = deferred<ManagedRefreshOutput>();
        managedRuns.push(run);
        signal.addEventListener('abort', () => aborted.push('managed'));
        return run.promise;
      }),
      externalRefresh: fromPromise(({ signal }) => {
        const run = deferred<ExternalRefreshOutput>();
        externalRuns.push(run);
        signal.addEventListener('abort', () => aborted.push('external'));
        return run.promise;
      }),
      clearCredentials: fromPromise<void, void>(async () => {}),
      saveApiKey: fromPromise<void, { apiKey: Secret }>(async () => {}),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      policy: { forcedLoginMethod: null, forcedWorkspaceIds: null, externalRefreshTimeoutMs: 300, ...input.policy },
      restored: input.restored === undefined ? { mode: 'chatgpt', account: ACCOUNT } : input.restored,
    },
  });
  const emitted: AuthEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();
  let req = 0;
  /** A backend call at `now` (default: a clock no token is due at); returns its answer if given at once. */
  const call = (now = 0) => {
    req += 1;
    const key = req;
    actor.send({ type: 'backend.call', req: key, purpose: 'read rate limits', now });
    return emitted.find((e) => 'req' in e && e.req === key);
  };
  /** A 401 for the bearer of `generation`; returns its request key (its answer may come later). */
  const unauthorized = (generation: number) => {
    req += 1;
    actor.send({ type: 'auth.unauthorized', req, generation });
    return req;
  };
  /** The answer emitted for `key`, if any yet. */
  const answerOf = (key: number) => emitted.find((e) => 'req' in e && e.req === key);
  const externalLogin = (accountId = 'acct-1') => {
    req += 1;
    actor.send({
      type: 'login.externalTokens',
      req,
      tokens: { accessToken: new Secret('a'), idToken: null },
      claims: { ok: true, account: { ...ACCOUNT, accountId } },
    });
  };
  return { actor, clock, managedRuns, externalRuns, aborted, call, unauthorized, answerOf, externalLogin, state: () => sessionPath(actor.getSnapshot()), context: () => actor.getSnapshot().context };
}

describe('the chart’s 401 recovery', () => {
  it('runs one managed refresh however many 401s report the same generation', async () => {
    const t = start();
    const keys = [0, 1, 2, 3, 4].map(() => t.unauthorized(0));
    expect(t.state()).toBe('chatgpt.refreshing');
    expect(t.managedRuns).toHaveLength(1);
    expect(keys.map(t.answerOf)).toEqual([undefined, undefined, undefined, undefined, undefined]); // all wait
    t.managedRuns[0].resolve(managedOutput());
    await flush();
    expect(t.state()).toBe('chatgpt.ready');
    // Every waiting call is told to retry with the new credentials.
    expect(keys.map(t.answerOf)).toEqual(keys.map((req) => ({ type: 'answer.done', req, value: 'proceed' })));
    expect(t.context().credentialGeneration).toBe(1);
    expect(t.context().account?.planType).toBe('pro');
  });

  it('ignores a 401 reported for tokens a refresh already replaced', async () => {
    const t = start();
    t.unauthorized(0);
    t.managedRuns[0].resolve(managedOutput());
    await flush();
    const stale = t.unauthorized(0); // raced the refresh: retried at once with the new token
    expect(t.answerOf(stale)).toEqual({ type: 'answer.done', req: stale });
    expect(t.state()).toBe('chatgpt.ready');
    expect(t.managedRuns).toHaveLength(1);
  });

  it('records a transient failure and refreshes again on the next 401', async () => {
    const t = start();
    const refused = t.unauthorized(0);
    t.managedRuns[0].reject({ kind: 'transient', message: 'endpoint down' });
    await flush();
    expect(t.state()).toBe('chatgpt.ready');
    expect(t.context().lastRefreshError).toBe('endpoint down');
    // The chart's verdict for the call the backend refused: the refresh's reason.
    expect(t.answerOf(refused)).toEqual({ type: 'answer.refused', req: refused, code: -32603, message: 'endpoint down' });
    t.unauthorized(0);
    expect(t.managedRuns).toHaveLength(2);
  });

  it('goes to failed on a permanent failure, refuses calls with its message, and leaves on login', async () => {
    const t = start();
    const waiting = t.unauthorized(0);
    t.managedRuns[0].reject({ kind: 'permanent', message: 'Your access token could not be refreshed. Please log out and sign in again.' });
    await flush();
    expect(t.state()).toBe('failed');
    // Leaving chatgpt asks the waiting call to try again: `failed` then refuses it with the failure.
    expect(t.answerOf(waiting)).toEqual({ type: 'answer.done', req: waiting, value: 'again' });
    expect(t.call()).toEqual({ type: 'answer.refused', req: 2, code: -32603, message: 'Your access token could not be refreshed. Please log out and sign in again.' });
    t.actor.send({ type: 'refresh.requested', req: 50 });
    t.unauthorized(0);
    expect(t.managedRuns).toHaveLength(1);
    t.actor.send({ type: 'login.apiKey', req: 99, apiKey: new Secret('sk-x') });
    await flush();
    expect(t.state()).toBe('apiKey');
    expect(t.context().failure).toBeNull();
  });

  it('lets a logout interrupt a refresh: the refresh is aborted and its result discarded', async () => {
    const t = start();
    const waiting = t.unauthorized(0);
    t.actor.send({ type: 'logout', req: 7 });
    expect(t.aborted).toEqual(['managed']);
    expect(t.answerOf(waiting)).toEqual({ type: 'answer.done', req: waiting, value: 'again' });
    t.managedRuns[0].resolve(managedOutput());
    await flush();
    expect(t.state()).toBe('loggedOut');
    expect(t.context().account).toBeNull();
  });

  it('starts a proactive refresh when the token is due and still lets the call go ahead', () => {
    const now = 1_000_000_000_000;
    const t = start({ restored: { mode: 'chatgpt', account: ACCOUNT, timing: { expiresAt: now + 60_000, lastRefreshAt: null } } });
    expect(t.call(now - 3_600_000)).toEqual({ type: 'answer.done', req: 1, value: 'proceed' }); // an hour before: not due
    expect(t.state()).toBe('chatgpt.ready');
    expect(t.call(now)).toBeUndefined(); // due: it waits for the refresh it started
    expect(t.state()).toBe('chatgpt.refreshing');
    expect(t.call(now)).toBeUndefined(); // a call during the refresh waits for it too
    expect(t.managedRuns).toHaveLength(1);
  });

  it('lets calls waiting on a failed proactive refresh go ahead with the still-valid token', async () => {
    const now = 1_000_000_000_000;
    const t = start({ restored: { mode: 'chatgpt', account: ACCOUNT, timing: { expiresAt: now + 60_000, lastRefreshAt: null } } });
    t.call(now);
    t.managedRuns[0].reject({ kind: 'transient', message: 'endpoint down' });
    await flush();
    expect(t.answerOf(1)).toEqual({ type: 'answer.done', req: 1, value: 'proceed' });
    expect(t.managedRuns).toHaveLength(1);
  });

  it('times an external refresh out after the configured delay, keeping the tokens', async () => {
    const t = start({ restored: null });
    t.externalLogin();
    const waiting = t.unauthorized(1);
    expect(t.state()).toBe('externalTokens.refreshing');
    t.clock.increment(299);
    expect(t.state()).toBe('externalTokens.refreshing');
    t.clock.increment(1);
    expect(t.state()).toBe('externalTokens.ready');
    expect(t.context().lastRefreshError).toBe('auth refresh request timed out after 0.3s');
    expect(t.answerOf(waiting)).toEqual({ type: 'answer.refused', req: waiting, code: -32603, message: 'auth refresh request timed out after 0.3s' });
    expect(t.aborted).toEqual(['external']);
    t.externalRuns[0].resolve({ tokens: { accessToken: new Secret('late'), idToken: null }, account: ACCOUNT });
    await flush();
    expect(t.context().credentialGeneration).toBe(1); // the late answer changed nothing
  });

  it('refuses an external refresh answer outside the forced workspace', async () => {
    const t = start({ restored: null, policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['acct-1'] } });
    t.externalLogin('acct-1');
    t.unauthorized(1);
    t.externalRuns[0].resolve({ tokens: { accessToken: new Secret('b'), idToken: null }, account: { ...ACCOUNT, accountId: 'acct-2' } });
    await flush();
    expect(t.state()).toBe('externalTokens.ready');
    expect(t.context().lastRefreshError).toBe('external auth refresh returned workspace "acct-2", expected "acct-1"');
    expect(t.context().credentialGeneration).toBe(1);
  });

  it('refuses backend calls when logged out or with an API key', () => {
    const t = start({ restored: null });
    expect(t.call()).toEqual({ type: 'answer.refused', req: 1, code: -32600, message: 'codex account authentication required to read rate limits' });
    const k = start({ restored: { mode: 'apiKey' } });
    expect(k.call()).toEqual({ type: 'answer.refused', req: 1, code: -32600, message: 'chatgpt authentication required to read rate limits' });
    const retried = k.unauthorized(0);
    expect(k.answerOf(retried)).toEqual({ type: 'answer.done', req: retried });
    expect(k.state()).toBe('apiKey');
  });
});

describe('refresh helpers', () => {
  it('formats timeouts in seconds that read well', () => {
    expect(formatSeconds(10_000)).toBe('10s');
    expect(formatSeconds(300)).toBe('0.3s');
    expect(formatSeconds(1_250)).toBe('1.25s');
    expect(refreshTimedOutMessage(10_000)).toBe('auth refresh request timed out after 10s');
  });

  it('names one or several forced workspaces', () => {
    expect(refreshWorkspaceMessage(['a'], 'b')).toBe('external auth refresh returned workspace "b", expected "a"');
    expect(refreshWorkspaceMessage(['a', 'c'], null)).toBe('external auth refresh returned workspace "", expected one of ["a","c"]');
  });

  it('decides a proactive refresh by exp within the skew, else by an 8-day-old last refresh', () => {
    const now = Date.parse('2026-02-01T00:00:00Z');
    expect(refreshDue({ expiresAt: now + 300_000, lastRefreshAt: null }, now, 300)).toBe(true);
    expect(refreshDue({ expiresAt: now + 301_000, lastRefreshAt: null }, now, 300)).toBe(false);
    expect(refreshDue({ expiresAt: null, lastRefreshAt: now - 8 * 86_400_000 - 1 }, now, 300)).toBe(true);
    expect(refreshDue({ expiresAt: null, lastRefreshAt: now - 7 * 86_400_000 }, now, 300)).toBe(false);
    expect(refreshDue({ expiresAt: null, lastRefreshAt: null }, now, 300)).toBe(false);
    expect(refreshDue(null, now, 300)).toBe(false);
  });
});

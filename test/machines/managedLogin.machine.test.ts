/**
 * The managedLogin region of the chart, with a scripted `loginFlow` actor standing in for the browser's
 * callback server or the device-code polling, and a simulated clock for the login timeouts.
 */
import { SimulatedClock, createActor, fromCallback, fromPromise } from 'xstate';
import { MESSAGES, authMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEmitted, AuthInput, LoginFlowCommand, LoginFlowEvent, LoginFlowInput } from '../../machines/types';
import { sessionPath } from '../../machines/views';

const account: AccountInfo = { email: 'ada@example.com', planType: 'plus', accountId: 'ws-1', userId: 'u-1' };
const tokens = { idToken: new Secret('id'), accessToken: new Secret('at'), refreshToken: new Secret('rt') };
const LOGIN_ID = '11111111-1111-4111-8111-111111111111';
const timing = { expiresAt: 1_900_000_000_000, lastRefreshAt: 1_800_000_000_000 };

function start(input: Partial<AuthInput> = {}, options: { saveFails?: boolean } = {}) {
  const servers: Array<{ kind: string; send(event: LoginFlowEvent): void; received: LoginFlowCommand[]; stopped: boolean }> = [];
  const saved: unknown[] = [];
  const refreshSignals: AbortSignal[] = [];
  const machine = authMachine.provide({
    actors: {
      loginFlow: fromCallback<LoginFlowCommand, LoginFlowInput, LoginFlowEvent>(({ input, sendBack, receive }) => {
        const server = { kind: input.kind, send: sendBack, received: [] as LoginFlowCommand[], stopped: false };
        servers.push(server);
        receive((command) => server.received.push(command));
        return () => {
          server.stopped = true;
        };
      }),
      saveChatgptTokens: fromPromise(async ({ input }) => {
        if (options.saveFails) throw new Error('disk full');
        saved.push(input);
        return { timing };
      }),
      // A managed refresh that never finishes by itself: the test sees whether the chart abandons it.
      managedRefresh: fromPromise(({ signal }) => {
        refreshSignals.push(signal);
        return new Promise<never>(() => {});
      }),
      saveApiKey: fromPromise(async () => {}),
      clearCredentials: fromPromise(async () => {}),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: null }, restored: null, ...input },
    clock,
  });
  const emitted: AuthEmitted[] = [];
  actor.on('*', (event) => emitted.push(event as AuthEmitted));
  actor.start();
  return { actor, emitted, servers, saved, clock, refreshSignals };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const completedWith = (success: boolean, error: string | null, loginId: string | null = LOGIN_ID) => ({
  type: 'notify.loginCompleted',
  loginId,
  success,
  error,
});

/** Starts a login and lets its server report that it listens. */
function pendingLogin(started: ReturnType<typeof start>) {
  started.actor.send({ type: 'login.chatgpt', req: 1, originator: 'test' });
  expect(started.actor.getSnapshot().hasTag('busy')).toBe(true);
  started.servers.at(-1)!.send({ type: 'loginFlow.started', start: { loginId: LOGIN_ID, authUrl: 'http://issuer/oauth/authorize?x' } });
  expect(started.actor.getSnapshot().matches({ managedLogin: { active: { pending: 'waiting' } } })).toBe(true);
  started.emitted.length = 0;
}

describe('the managedLogin region (browser)', () => {
  it('answers login/start with the loginId and authUrl once the server listens', () => {
    const { actor, emitted, servers } = start();
    actor.send({ type: 'login.chatgpt', req: 7, originator: 'test' });
    expect(emitted).toEqual([]);
    servers[0].send({ type: 'loginFlow.started', start: { loginId: LOGIN_ID, authUrl: 'http://issuer/a'} });
    expect(emitted).toEqual([{ type: 'answer.done', req: 7, value: { loginId: LOGIN_ID, authUrl: 'http://issuer/a' } }]);
    expect(actor.getSnapshot().hasTag('busy')).toBe(false);
    expect(actor.getSnapshot().context.managedLogin).toEqual({ kind: 'browser', loginId: LOGIN_ID, account: null });
  });

  it('on success: persists, tells the browser, then login/completed before account/updated, and the server stops', async () => {
    const started = start({ restored: { mode: 'apiKey' } });
    pendingLogin(started);
    const server = started.servers[0];
    server.send({ type: 'loginFlow.authorized' });
    server.send({ type: 'loginFlow.exchanged', tokens, account });
    expect(started.actor.getSnapshot().hasTag('busy')).toBe(true);
    await settle();
    expect(started.saved).toEqual([{ tokens, accountId: 'ws-1' }]);
    expect(server.received).toEqual([{ type: 'loginFlow.respond', outcome: { ok: true } }]);
    expect(server.stopped).toBe(true);
    expect(started.emitted).toEqual([completedWith(true, null), { type: 'notify.accountUpdated', authMode: 'chatgpt', planType: 'plus' }]);
    expect(sessionPath(started.actor.getSnapshot())).toBe('chatgpt.ready');
    expect(started.actor.getSnapshot().context).toMatchObject({ account, timing, credentialGeneration: 1 });
    expect(started.actor.getSnapshot().matches({ managedLogin: 'idle' })).toBe(true);
    expect(started.actor.getSnapshot().context.managedLogin).toBeNull();
  });

  it('a login that succeeds during a managed refresh abandons the refresh (it saves nothing) and takes over', async () => {
    const other: AccountInfo = { ...account, email: 'old@example.com', accountId: 'ws-old' };
    const started = start({ restored: { mode: 'chatgpt', account: other } });
    started.actor.send({ type: 'refresh.requested', req: 77 });
    expect(started.actor.getSnapshot().matches({ session: { mode: { chatgpt: 'refreshing' } } })).toBe(true);
    pendingLogin(started);
    started.servers[0].send({ type: 'loginFlow.authorized' });
    started.servers[0].send({ type: 'loginFlow.exchanged', tokens, account });
    await settle();
    expect(started.refreshSignals).toHaveLength(1);
    expect(started.refreshSignals[0].aborted).toBe(true);
    expect(sessionPath(started.actor.getSnapshot())).toBe('chatgpt.ready');
    expect(started.actor.getSnapshot().context.account).toEqual(account);
  });

  it('refuses an account outside the forced workspace: 403 for the browser, the §8 text, the session untouched', () => {
    const started = start({ policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['ws-9'] } });
    pendingLogin(started);
    started.servers[0].send({ type: 'loginFlow.authorized' });
    started.servers[0].send({ type: 'loginFlow.exchanged', tokens, account });
    expect(started.servers[0].received).toEqual([
      { type: 'loginFlow.respond', outcome: { ok: false, status: 403, message: 'Login is restricted to workspace id ws-9.' } },
    ]);
    expect(started.emitted).toEqual([completedWith(false, 'Login server error: Login is restricted to workspace id ws-9.')]);
    expect(started.servers[0].stopped).toBe(true);
    expect(sessionPath(started.actor.getSnapshot())).toBe('loggedOut');
  });

  it('reports a failed save as a failed login and leaves the session as it was', async () => {
    const started = start({}, { saveFails: true });
    pendingLogin(started);
    started.servers[0].send({ type: 'loginFlow.authorized' });
    started.servers[0].send({ type: 'loginFlow.exchanged', tokens, account });
    await settle();
    const message = 'Sign-in completed but the credentials could not be saved: disk full';
    expect(started.servers[0].received).toEqual([{ type: 'loginFlow.respond', outcome: { ok: false, status: 500, message } }]);
    expect(started.emitted).toEqual([completedWith(false, `Login server error: ${message}`)]);
    expect(sessionPath(started.actor.getSnapshot())).toBe('loggedOut');
  });

  it('times out after 10 minutes by default (simulated clock), and not a moment before', () => {
    const started = start();
    pendingLogin(started);
    started.clock.increment(599_999);
    expect(started.emitted).toEqual([]);
    started.clock.increment(1);
    expect(started.emitted).toEqual([completedWith(false, 'Login timed out')]);
    expect(started.servers[0].stopped).toBe(true);
  });

  it('does not time out while the tokens are being saved', async () => {
    const started = start();
    pendingLogin(started);
    started.servers[0].send({ type: 'loginFlow.authorized' });
    started.servers[0].send({ type: 'loginFlow.exchanged', tokens, account });
    started.clock.increment(600_000);
    await settle();
    expect(started.emitted[0]).toEqual(completedWith(true, null));
  });

  it('is cancelled by an accepted external login but not by a refused one', () => {
    const started = start({ policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['ws-1'] } });
    pendingLogin(started);
    const external = { accessToken: new Secret('a'), idToken: null };
    started.actor.send({ type: 'login.externalTokens', req: 2, tokens: external, claims: { ok: false, reason: 'bad' } });
    started.actor.send({ type: 'login.externalTokens', req: 3, tokens: external, claims: { ok: true, account: { ...account, accountId: 'ws-2' } } });
    expect(started.servers[0].stopped).toBe(false);
    started.actor.send({ type: 'login.externalTokens', req: 4, tokens: external, claims: { ok: true, account } });
    expect(started.servers[0].stopped).toBe(true);
    // The pending login ends before the external login is answered and announced.
    expect(started.emitted.filter((e) => e.type === 'notify.loginCompleted' || (e.type === 'answer.done' && e.req === 4))).toEqual([
      completedWith(false, 'Login server error: Login was not completed'),
      { type: 'answer.done', req: 4 },
      completedWith(true, null, null),
    ]);
    // Now refused while external tokens are active.
    started.actor.send({ type: 'login.chatgpt', req: 5, originator: 'test' });
    expect(started.emitted.at(-1)).toEqual({ type: 'answer.refused', req: 5, code: -32600, message: MESSAGES.externalAuthActive });
  });

  it('is not cancelled by a refused API-key login', () => {
    const started = start({ policy: { forcedLoginMethod: 'chatgpt', forcedWorkspaceIds: null } });
    pendingLogin(started);
    started.actor.send({ type: 'login.apiKey', req: 2, apiKey: new Secret('sk') });
    expect(started.emitted).toEqual([{ type: 'answer.refused', req: 2, code: -32600, message: MESSAGES.apiKeyLoginDisabled }]);
    expect(started.servers[0].stopped).toBe(false);
  });

  it('a newer login stops the first server before the next one starts, and completes the first as cancelled (as Codex does)', () => {
    const started = start();
    pendingLogin(started);
    started.actor.send({ type: 'login.chatgpt', req: 2, originator: 'test' });
    expect(started.servers).toHaveLength(2);
    expect(started.servers[0].stopped).toBe(true);
    expect(started.servers[1].stopped).toBe(false);
    // Emitted before the new login is answered (its answer waits for the new server).
    expect(started.emitted).toEqual([completedWith(false, 'Login server error: Login cancelled')]);
    expect(started.actor.getSnapshot().matches({ managedLogin: { active: 'starting' } })).toBe(true);
  });

  it('maps GET /cancel, a failed flow and a failed start to their texts', () => {
    const cancelled = start();
    pendingLogin(cancelled);
    cancelled.servers[0].send({ type: 'loginFlow.cancelRequested' });
    expect(cancelled.emitted).toEqual([completedWith(false, 'Login server error: Login cancelled')]);

    const failed = start();
    pendingLogin(failed);
    failed.servers[0].send({ type: 'loginFlow.failed', message: 'Sign-in failed: access_denied' });
    expect(failed.servers[0].received).toEqual([
      { type: 'loginFlow.respond', outcome: { ok: false, status: 500, message: 'Sign-in failed: access_denied' } },
    ]);
    expect(failed.emitted).toEqual([completedWith(false, 'Login server error: Sign-in failed: access_denied')]);

    const busyPort = start();
    busyPort.actor.send({ type: 'login.chatgpt', req: 9, originator: 'test' });
    busyPort.servers[0].send({ type: 'loginFlow.startFailed', message: 'Port 127.0.0.1:1455 is already in use' });
    expect(busyPort.emitted).toEqual([
      { type: 'answer.refused', req: 9, code: -32603, message: 'failed to start login server: Port 127.0.0.1:1455 is already in use' },
    ]);
    expect(busyPort.actor.getSnapshot().matches({ managedLogin: 'idle' })).toBe(true);
  });

  it('keeps no secret in context', async () => {
    const started = start();
    pendingLogin(started);
    started.servers[0].send({ type: 'loginFlow.authorized' });
    started.servers[0].send({ type: 'loginFlow.exchanged', tokens, account });
    expect(JSON.stringify(started.actor.getSnapshot().context)).not.toMatch(/"(id|at|rt)"/);
    await settle();
  });
});

const DEVICE_START = { loginId: LOGIN_ID, verificationUrl: 'http://issuer/codex/device', userCode: 'ABCD-1234' };

/** Starts a device login and lets its flow report the user code. */
function pendingDeviceLogin(started: ReturnType<typeof start>) {
  started.actor.send({ type: 'login.deviceCode', req: 1 });
  expect(started.actor.getSnapshot().hasTag('busy')).toBe(true);
  expect(started.servers.at(-1)!.kind).toBe('device');
  started.servers.at(-1)!.send({ type: 'loginFlow.started', start: DEVICE_START });
  expect(started.actor.getSnapshot().matches({ managedLogin: { active: { pending: 'waiting' } } })).toBe(true);
  started.emitted.length = 0;
}

describe('the managedLogin region (device code, docs/protocol.md §13.1)', () => {
  it('answers login/start with the user code, then succeeds as a browser login does, without a prefix anywhere', async () => {
    const started = start();
    started.actor.send({ type: 'login.deviceCode', req: 7 });
    started.servers[0].send({ type: 'loginFlow.started', start: DEVICE_START });
    expect(started.emitted).toEqual([{ type: 'answer.done', req: 7, value: DEVICE_START }]);
    started.emitted.length = 0;
    started.servers[0].send({ type: 'loginFlow.authorized' });
    started.servers[0].send({ type: 'loginFlow.exchanged', tokens, account });
    await settle();
    expect(started.emitted).toEqual([completedWith(true, null), { type: 'notify.accountUpdated', authMode: 'chatgpt', planType: 'plus' }]);
    expect(started.saved).toHaveLength(1);
    expect(started.servers[0].stopped).toBe(true);
  });

  it('refuses to start as a browser login is refused (§7), and maps a start failure to its code', () => {
    const disabled = start({ policy: { forcedLoginMethod: 'api', forcedWorkspaceIds: null } });
    disabled.actor.send({ type: 'login.deviceCode', req: 2 });
    expect(disabled.emitted).toEqual([{ type: 'answer.refused', req: 2, code: -32600, message: MESSAGES.chatgptLoginDisabled }]);
    expect(disabled.servers).toHaveLength(0);

    const notEnabled = start();
    notEnabled.actor.send({ type: 'login.deviceCode', req: 3 });
    notEnabled.servers[0].send({ type: 'loginFlow.startFailed', message: 'device code login is not enabled', notEnabled: true });
    expect(notEnabled.emitted).toEqual([{ type: 'answer.refused', req: 3, code: -32600, message: 'device code login is not enabled' }]);

    const failed = start();
    failed.actor.send({ type: 'login.deviceCode', req: 4 });
    failed.servers[0].send({ type: 'loginFlow.startFailed', message: 'failed to request device code: boom' });
    expect(failed.emitted).toEqual([{ type: 'answer.refused', req: 4, code: -32603, message: 'failed to request device code: boom' }]);
    expect(failed.actor.getSnapshot().matches({ managedLogin: 'idle' })).toBe(true);
  });

  it('ends with the device texts: cancel, failure, workspace, timeout after 15 minutes', () => {
    const cancelled = start();
    pendingDeviceLogin(cancelled);
    cancelled.actor.send({ type: 'login.cancel', req: 5, loginId: LOGIN_ID });
    expect(cancelled.emitted).toEqual([{ type: 'answer.done', req: 5, value: { status: 'canceled' } }, completedWith(false, 'Login was not completed')]);
    expect(cancelled.servers[0].stopped).toBe(true);

    const failed = start();
    pendingDeviceLogin(failed);
    failed.servers[0].send({ type: 'loginFlow.failed', message: 'device auth failed with status 500 Internal Server Error' });
    expect(failed.emitted).toEqual([completedWith(false, 'device auth failed with status 500 Internal Server Error')]);

    const refused = start({ policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['ws-9', 'ws-8'] } });
    pendingDeviceLogin(refused);
    refused.servers[0].send({ type: 'loginFlow.authorized' });
    refused.servers[0].send({ type: 'loginFlow.exchanged', tokens, account });
    expect(refused.emitted).toEqual([completedWith(false, 'Login is restricted to workspace id(s) ws-9, ws-8.')]);
    expect(refused.saved).toHaveLength(0);

    const slow = start();
    pendingDeviceLogin(slow);
    slow.clock.increment(899_999);
    expect(slow.emitted).toEqual([]);
    slow.clock.increment(1);
    expect(slow.emitted).toEqual([completedWith(false, 'device auth timed out after 15 minutes')]);
    expect(slow.servers[0].stopped).toBe(true);
  });

  it('a configured timeout is said as configured', () => {
    const started = start({ policy: { forcedLoginMethod: null, forcedWorkspaceIds: null, deviceLoginTimeoutMs: 1500 } });
    pendingDeviceLogin(started);
    started.clock.increment(1500);
    expect(started.emitted).toEqual([completedWith(false, 'device auth timed out after 1.5s')]);
  });

  it('one managed login at a time: a device login and a browser login replace each other, the older ending first', () => {
    const started = start();
    pendingLogin(started);
    started.actor.send({ type: 'login.deviceCode', req: 2 });
    expect(started.servers[0].stopped).toBe(true);
    expect(started.servers[1].kind).toBe('device');
    expect(started.emitted).toEqual([completedWith(false, 'Login server error: Login was not completed')]);
    started.servers[1].send({ type: 'loginFlow.started', start: { ...DEVICE_START, loginId: '22222222-2222-4222-8222-222222222222' } });
    started.emitted.length = 0;
    started.actor.send({ type: 'login.chatgpt', req: 3, originator: 'test' });
    expect(started.servers[1].stopped).toBe(true);
    expect(started.servers[2].kind).toBe('browser');
    expect(started.emitted).toEqual([completedWith(false, 'Login was not completed', '22222222-2222-4222-8222-222222222222')]);
  });

  it('is ended by a logout and by an accepted API-key login, with the device text', () => {
    const loggedOut = start();
    pendingDeviceLogin(loggedOut);
    loggedOut.actor.send({ type: 'logout', req: 2 });
    expect(loggedOut.emitted[0]).toEqual(completedWith(false, 'Login was not completed'));
    expect(loggedOut.servers[0].stopped).toBe(true);

    const apiKey = start();
    pendingDeviceLogin(apiKey);
    apiKey.actor.send({ type: 'login.apiKey', req: 2, apiKey: new Secret('sk') });
    expect(apiKey.emitted[0]).toEqual(completedWith(false, 'Login was not completed'));
  });
});

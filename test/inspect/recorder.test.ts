/**
 * The recorder, fed by the real auth chart's inspection stream: one step per processed event, the state
 * before and after, the transitions taken (with keys that match the drawn edges), the guard that chose a
 * refusal, the active state node ids, and a redacted context, with no Secret anywhere.
 */
import { createActor, fromPromise } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEvent, WorkspaceKnowledge } from '../../machines/types';
import { InspectionRecorder, type InspectorState, type InspectorStep } from '../../src/inspect/recorder';
import { allNodes, chartModel } from '../../src/visualize/model';

const account: AccountInfo = { email: 'dev@example.com', planType: 'plus', accountId: 'acct-1', userId: 'user-1' };

function start(recorder: InspectionRecorder, saveFails = false) {
  const machine = authMachine.provide({
    actors: {
      saveApiKey: fromPromise<void, { apiKey: Secret }>(async () => {
        if (saveFails) throw new Error('disk full');
      }),
      clearCredentials: fromPromise<void, void>(async () => {}),
      // Workspace discovery runs in the background after a ChatGPT login; here it never answers.
      discoverWorkspace: fromPromise<WorkspaceKnowledge, { accountId: string | null }>(() => new Promise(() => {})),
    },
  });
  const actor = createActor(machine, {
    input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: null }, restored: null },
    inspect: recorder.observe,
  });
  actor.start();
  return actor;
}

const externalLogin = (req: number): AuthEvent => ({
  type: 'login.externalTokens',
  req,
  tokens: { accessToken: new Secret('access-SECRET-1'), idToken: new Secret('id-SECRET-1') },
  claims: { ok: true, account },
});

/** A recorder plus `until(predicate)`, which resolves at the first step (past or future) matching it. */
function watched(options: ConstructorParameters<typeof InspectionRecorder>[0] = {}) {
  const waiters: Array<{ predicate: (step: InspectorStep) => boolean; resolve: () => void }> = [];
  const recorder = new InspectionRecorder({
    ...options,
    onStep: (step, state) => {
      options.onStep?.(step, state);
      for (const waiter of waiters.filter((w) => w.predicate(step))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
  });
  const until = (predicate: (step: InspectorStep) => boolean) =>
    recorder.history().some(predicate) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ predicate, resolve }));
  return { recorder, until };
}

describe('InspectionRecorder', () => {
  it('records each event with the state before and after, and the guard that refused', async () => {
    const seen: Array<{ step: InspectorStep; state: InspectorState }> = [];
    const { recorder, until } = watched({ onStep: (step, state) => seen.push({ step, state }), now: () => new Date(0) });
    const actor = start(recorder);

    actor.send(externalLogin(1));
    actor.send({ type: 'login.apiKey', req: 2, apiKey: new Secret('sk-SECRET-2') });
    actor.send({ type: 'login.chatgpt', req: 3, originator: 'test' });
    // The adapter adds the JSON-RPC id the parent sent (`rpcId`) to command events.
    actor.send({ type: 'logout', req: 4, rpcId: 'wire-9' } as Parameters<typeof actor.send>[0]);
    await until((step) => step.event.type === 'xstate.done.actor.clearCredentials');
    actor.stop();

    const steps = recorder.history();
    expect(steps.map((s) => [s.event.type, s.before, s.after, s.guard, s.refused?.guard ?? null])).toEqual([
      ['xstate.init', null, 'loggedOut', null, null],
      ['login.externalTokens', 'loggedOut', 'externalTokens.ready', null, null],
      ['login.apiKey', 'externalTokens.ready', 'externalTokens.ready', 'externalActive', 'externalActive'],
      ['login.chatgpt', 'externalTokens.ready', 'externalTokens.ready', 'externalActive', 'externalActive'],
      ['logout', 'externalTokens.ready', 'loggingOut', null, null],
      ['xstate.done.actor.clearCredentials', 'loggingOut', 'loggedOut', null, null],
      ['xstate.stop', 'loggedOut', 'loggedOut', null, null],
    ]);
    expect(steps[2].refused).toEqual({
      code: -32600,
      message: 'External auth is active. Use account/login/start (chatgptAuthTokens) to update it or account/logout to clear it.',
      guard: 'externalActive',
    });
    expect(steps[1].emitted).toEqual(['answer.done', 'notify.loginCompleted', 'notify.accountUpdated']);
    expect(steps[0].transitions).toEqual([
      { key: expect.stringMatching(/^auth\.session\.mode\.restoring:always:\d+$/), source: 'auth.session.mode.restoring', targets: ['auth.session.mode.loggedOut'], guard: null },
      { key: expect.stringMatching(/^auth\.workspace\.starting:always:\d+$/), source: 'auth.workspace.starting', targets: ['auth.workspace.unknown'], guard: null },
    ]);
    expect(steps[1].transitions).toEqual([
      { key: expect.stringMatching(/^auth\.session\.mode:login\.externalTokens:\d+$/), source: 'auth.session.mode', targets: ['auth.session.mode.externalTokens'], guard: null },
      // The accepted login raises its announcement (ending a pending managed login first, then the
      // login's own notifications), taken in the same macrostep.
      { key: expect.stringMatching(/^auth\.session\.mode:externalLogin\.announce:\d+$/), source: 'auth.session.mode', targets: [], guard: null },
      // The raised workspace.discover: the background discovery of the new login starts.
      { key: 'auth.workspace.unknown:workspace.discover:0', source: 'auth.workspace.unknown', targets: ['auth.workspace.discovering'], guard: null },
    ]);
    // The internal request counter is not shown; the wire id is, where the event carries one.
    expect(steps[1].event.fields).toEqual({ claims: { ok: true, account } });
    expect(steps[2].event).toEqual({ type: 'login.apiKey', rpcId: null, fields: {} });
    expect(steps[4].event).toEqual({ type: 'logout', rpcId: 'wire-9', fields: {} });

    // Every transition key names an edge (or an internal transition) of the drawn chart.
    const drawn = new Set(allNodes(chartModel(authMachine)).flatMap((node) => node.transitions.map((t) => t.key)));
    for (const step of steps) for (const t of step.transitions) expect(drawn.has(t.key!)).toBe(true);

    const external = seen[1].state;
    expect(external.active).toEqual([
      'auth',
      'auth.session',
      'auth.session.mode',
      'auth.session.mode.externalTokens',
      'auth.session.mode.externalTokens.ready',
      'auth.managedLogin',
      'auth.managedLogin.idle',
      'auth.workspace',
      'auth.workspace.discovering',
    ]);
    expect(external.context).toEqual({
      policy: { forcedLoginMethod: null, forcedWorkspaceIds: null },
      account,
      pending: null,
      failure: null,
      restored: null,
      credentialGeneration: 1,
      lastRefreshError: null,
      timing: null,
      managedLogin: null,
      waiting: [],
      workspace: null,
      discoveryMode: 'chatgptAuthTokens',
      switching: null,
    });
    expect(JSON.stringify({ steps, seen })).not.toContain('SECRET');
  });

  it('shows a failed effect returning to the mode it left (through the history state)', async () => {
    const { recorder, until } = watched();
    const actor = start(recorder, true);
    actor.send({ type: 'login.apiKey', req: 1, apiKey: new Secret('sk-SECRET') });
    await until((step) => step.event.type === 'xstate.error.actor.saveApiKey');
    actor.stop();
    const failed = recorder.history().find((s) => s.event.type === 'xstate.error.actor.saveApiKey')!;
    expect(failed).toMatchObject({ before: 'savingApiKey', after: 'loggedOut', refused: { code: -32603, message: 'failed to save the API key: disk full', guard: null } });
    expect(failed.event.fields).toEqual({ actorId: 'saveApiKey', error: { error: 'Error', message: 'disk full' } });
  });

  it('keeps a bounded history, and a failing listener never reaches XState', () => {
    const errors: unknown[] = [];
    const recorder = new InspectionRecorder({
      historyLimit: 3,
      onStep: () => {
        throw new Error('viewer code is broken');
      },
      onError: (error) => errors.push(error),
    });
    const actor = start(recorder);
    for (let req = 1; req <= 5; req += 1) actor.send({ type: 'login.cancel', req, loginId: '00000000-0000-4000-8000-000000000000' });
    actor.stop();
    expect(recorder.history().map((s) => s.seq)).toEqual([5, 6, 7]);
    expect(errors.length).toBe(7);
    expect(() => recorder.observe({ type: '@xstate.snapshot' } as never)).not.toThrow();
  });
});

import { createActor, fromPromise } from 'xstate';
import { authMachine, MESSAGES, workspaceMismatchMessage } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AuthEmitted, AuthInput, ClaimsResult } from '../../machines/types';
import { accountViewOf, sessionPath } from '../../machines/views';

const account = { email: 'e@example.com', planType: 'plus' as const, accountId: 'ws-1', userId: null };
const okClaims: ClaimsResult = { ok: true, account };
const tokens = { accessToken: new Secret('a'), idToken: null };

function start(input: Partial<AuthInput> = {}, saveFails = false) {
  const machine = authMachine.provide({
    actors: {
      saveApiKey: fromPromise(async () => {
        if (saveFails) throw new Error('disk full');
      }),
      clearCredentials: fromPromise(async () => {}),
    },
  });
  const actor = createActor(machine, {
    input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: null }, restored: null, ...input },
  });
  const emitted: AuthEmitted[] = [];
  actor.on('*', (event) => emitted.push(event as AuthEmitted));
  actor.start();
  return { actor, emitted };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('the auth chart', () => {
  it('starts in the mode the store was left in', () => {
    expect(sessionPath(start().actor.getSnapshot())).toBe('loggedOut');
    expect(sessionPath(start({ restored: { mode: 'apiKey' } }).actor.getSnapshot())).toBe('apiKey');
    const restored = start({ restored: { mode: 'chatgpt', account } }).actor.getSnapshot();
    expect(sessionPath(restored)).toBe('chatgpt.ready');
    expect(accountViewOf(restored)).toEqual({ type: 'chatgpt', email: 'e@example.com', planType: 'plus', workspaceName: null });
  });

  it('saves an API key, then answers and notifies in order', async () => {
    const { actor, emitted } = start();
    actor.send({ type: 'login.apiKey', req: 1, apiKey: new Secret('sk') });
    expect(actor.getSnapshot().hasTag('busy')).toBe(true);
    await settle();
    expect(sessionPath(actor.getSnapshot())).toBe('apiKey');
    expect(emitted).toEqual([
      { type: 'answer.done', req: 1, value: undefined },
      { type: 'notify.loginCompleted', loginId: null, success: true, error: null },
      { type: 'notify.accountUpdated', authMode: 'apikey', planType: null },
    ]);
  });

  it('returns to the previous state when saving fails', async () => {
    const { actor, emitted } = start({ restored: { mode: 'chatgpt', account } }, true);
    actor.send({ type: 'login.apiKey', req: 4, apiKey: new Secret('sk') });
    await settle();
    expect(sessionPath(actor.getSnapshot())).toBe('chatgpt.ready');
    expect(emitted).toEqual([{ type: 'answer.refused', req: 4, code: -32603, message: 'failed to save the API key: disk full' }]);
  });

  it('refuses commands while an effect is under way', () => {
    const { actor, emitted } = start();
    actor.send({ type: 'login.apiKey', req: 1, apiKey: new Secret('sk') });
    actor.send({ type: 'logout', req: 2 });
    expect(emitted).toEqual([{ type: 'answer.refused', req: 2, code: -32603, message: MESSAGES.busy }]);
  });

  it('checks the §7 table in order: forced method before token validity before workspace', () => {
    const { actor, emitted } = start({ policy: { forcedLoginMethod: 'api', forcedWorkspaceIds: ['ws-x'] } });
    actor.send({ type: 'login.externalTokens', req: 1, tokens, claims: { ok: false, reason: 'bad' } });
    const { actor: other, emitted: otherEmitted } = start({ policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['ws-x'] } });
    other.send({ type: 'login.externalTokens', req: 2, tokens, claims: { ok: false, reason: 'bad' } });
    other.send({ type: 'login.externalTokens', req: 3, tokens, claims: okClaims });
    expect(emitted).toEqual([{ type: 'answer.refused', req: 1, code: -32600, message: MESSAGES.externalLoginDisabled }]);
    expect(otherEmitted).toEqual([
      { type: 'answer.refused', req: 2, code: -32600, message: 'invalid id token: bad' },
      { type: 'answer.refused', req: 3, code: -32600, message: workspaceMismatchMessage(['ws-x'], 'ws-1') },
    ]);
    expect(sessionPath(other.getSnapshot())).toBe('loggedOut');
  });

  it('accepts external tokens over a managed login and refuses API keys and browser logins while they are active', () => {
    const { actor, emitted } = start({ restored: { mode: 'apiKey' } });
    actor.send({ type: 'login.externalTokens', req: 1, tokens, claims: okClaims });
    expect(sessionPath(actor.getSnapshot())).toBe('externalTokens.ready');
    actor.send({ type: 'login.apiKey', req: 2, apiKey: new Secret('sk') });
    actor.send({ type: 'login.chatgpt', req: 3, originator: 'test' });
    expect(emitted.slice(3)).toEqual([
      { type: 'answer.refused', req: 2, code: -32600, message: MESSAGES.externalAuthActive },
      { type: 'answer.refused', req: 3, code: -32600, message: MESSAGES.externalAuthActive },
    ]);
    expect(actor.getSnapshot().context).not.toHaveProperty('tokens');
    expect(JSON.stringify(actor.getSnapshot().context)).not.toContain('"a"');
  });

  it('formats the workspace message for one id and for a list', () => {
    expect(workspaceMismatchMessage(['a'], null)).toBe('External auth must use workspace a, but received "".');
    expect(workspaceMismatchMessage(['a', 'b'], 'c')).toBe('External auth must use one of workspace(s) ["a","b"], but received "c".');
  });
});

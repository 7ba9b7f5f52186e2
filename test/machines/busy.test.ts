/**
 * The chart answers every command exactly once, even in the states AuthCore never sends commands into
 * (it waits for the chart to be idle): while the session saves or clears credentials, and while the
 * browser login binds its server or saves its tokens. Each such command is refused as busy and changes
 * nothing — except a cancel while the browser login is idle: there is nothing to cancel, so `notFound`.
 */
import { createActor, fromCallback, fromPromise } from 'xstate';
import { MESSAGES, authMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEmitted, AuthEvent, LoginFlowCommand, LoginFlowEvent, LoginFlowInput, SavedLoginOutput } from '../../machines/types';

const account: AccountInfo = { email: 'ada@example.com', planType: 'plus', accountId: 'ws-1', userId: 'u-1' };
const LOGIN_ID = '11111111-1111-4111-8111-111111111111';
/** An effect that never finishes, so the chart stays in its busy state. */
const never = <T>() => new Promise<T>(() => {});

function start() {
  const servers: Array<(event: LoginFlowEvent) => void> = [];
  const machine = authMachine.provide({
    actors: {
      loginFlow: fromCallback<LoginFlowCommand, LoginFlowInput, LoginFlowEvent>(({ sendBack }) => {
        servers.push(sendBack);
      }),
      saveChatgptTokens: fromPromise(() => never<SavedLoginOutput>()),
      saveApiKey: fromPromise(() => never<void>()),
      clearCredentials: fromPromise(() => never<void>()),
    },
  });
  const actor = createActor(machine, { input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: null }, restored: null } });
  const emitted: AuthEmitted[] = [];
  actor.on('*', (event) => emitted.push(event as AuthEmitted));
  actor.start();
  return { actor, emitted, servers };
}

const commands = (req: number): AuthEvent[] => [
  { type: 'login.apiKey', req, apiKey: new Secret('sk') },
  { type: 'login.externalTokens', req: req + 1, tokens: { accessToken: new Secret('a'), idToken: null }, claims: { ok: true, account } },
  { type: 'login.chatgpt', req: req + 2, originator: 'test' },
  { type: 'login.cancel', req: req + 3, loginId: LOGIN_ID },
  { type: 'logout', req: req + 4 },
  { type: 'login.deviceCode', req: req + 5 },
];

type Started = ReturnType<typeof start>;
const into: Record<string, (s: Started) => void> = {
  'session.savingApiKey': ({ actor }) => actor.send({ type: 'login.apiKey', req: 1, apiKey: new Secret('sk') }),
  'session.loggingOut': ({ actor }) => actor.send({ type: 'logout', req: 1 }),
  'managedLogin.active.starting': ({ actor }) => actor.send({ type: 'login.chatgpt', req: 1, originator: 'test' }),
  'managedLogin.active.starting (device)': ({ actor }) => actor.send({ type: 'login.deviceCode', req: 1 }),
  'managedLogin.active.persisting': ({ actor, servers }) => {
    actor.send({ type: 'login.chatgpt', req: 1, originator: 'test' });
    servers[0]({ type: 'loginFlow.started', start: { loginId: LOGIN_ID, authUrl: 'http://issuer/a' } });
    servers[0]({ type: 'loginFlow.authorized' } as LoginFlowEvent);
    servers[0]({ type: 'loginFlow.exchanged', tokens: { idToken: new Secret('i'), accessToken: new Secret('a'), refreshToken: new Secret('r') }, account });
  },
};

describe('commands while an effect is under way', () => {
  it.each(Object.keys(into))('are each answered once, as busy, in %s, and change nothing', (where) => {
    const started = start();
    into[where](started);
    const before = started.actor.getSnapshot();
    expect(before.hasTag('busy')).toBe(true);
    started.emitted.length = 0;
    for (const command of commands(100)) started.actor.send(command);
    const answers = started.emitted.filter((e) => e.type === 'answer.done' || e.type === 'answer.refused');
    expect(answers).toEqual(
      commands(100)
        .map((c) => ({ req: (c as { req: number }).req, type: c.type }))
        .map(({ req, type }) =>
          type === 'login.cancel' && where.startsWith('session.')
            ? { type: 'answer.done', req, value: { status: 'notFound' } }
            : expect.objectContaining({ type: 'answer.refused', req, message: MESSAGES.busy }),
        ),
    );
    expect(started.emitted.filter((e) => e.type.startsWith('notify.'))).toEqual([]);
    expect(started.actor.getSnapshot().value).toEqual(before.value);
  });
});

/**
 * The device login effect (PROTOCOL.md §13.1) against the loopback mock issuer: what it reports to the
 * chart, in order; failures at each step with their exact texts; and a stop that ends polling at once.
 */
import { createActor, createMachine } from 'xstate';
import type { LoginFlowEvent } from '../../machines/types';
import { runDeviceLogin } from '../../src/auth/deviceLogin';
import { loginFlowActor } from '../../src/auth/loginFlow';
import { silentLogger } from '../../src/log';
import { MockIssuer, REFRESH_TOKEN, USER_CODE } from '../support/mockIssuer';
import { trackResources } from '../support/resources';

describe('the device login effect', () => {
  const own = trackResources();
  let issuer: MockIssuer;
  beforeEach(async () => {
    issuer = own.server(await MockIssuer.start());
  });

  const run = async (pollOptions = {}) => {
    const events: LoginFlowEvent[] = [];
    await runDeviceLogin({ config: { issuer: issuer.url }, pollOptions }, new AbortController().signal, (e) => events.push(e));
    return events;
  };

  it('reports the user code, then the exchanged tokens', async () => {
    issuer.behaviour.device = { pendingPolls: 2 };
    const events = await run({ sleep: async () => undefined });
    expect(events.map((e) => e.type)).toEqual(['loginFlow.started', 'loginFlow.authorized', 'loginFlow.exchanged']);
    expect(events[0]).toEqual({
      type: 'loginFlow.started',
      start: { loginId: expect.stringMatching(/^[0-9a-f-]{36}$/), verificationUrl: `${issuer.url}/codex/device`, userCode: USER_CODE },
    });
    const exchanged = events[2] as Extract<LoginFlowEvent, { type: 'loginFlow.exchanged' }>;
    expect(exchanged.tokens.refreshToken.reveal()).toBe(REFRESH_TOKEN);
    expect(exchanged.account.accountId).toBe('ws-1');
    expect(issuer.pollRequests).toHaveLength(3);
  });

  it('no user code: startFailed, marked notEnabled on a 404 (the chart answers -32600 then)', async () => {
    issuer.behaviour.device = { usercodeReply: { status: 404, body: '' } };
    expect(await run()).toEqual([
      {
        type: 'loginFlow.startFailed',
        notEnabled: true,
        message: 'device code login is not enabled for this Codex server. Use the browser login or verify the server URL.',
      },
    ]);
    issuer.behaviour.device = { usercodeReply: { status: 500, body: '' } };
    expect(await run()).toEqual([
      { type: 'loginFlow.startFailed', notEnabled: false, message: 'failed to request device code: device code request failed with status 500 Internal Server Error' },
    ]);
  });

  it.each([
    ['a poll error', { tokenReply: { status: 500, body: '' } }, 'device auth failed with status 500 Internal Server Error'],
    ['a bad body', { tokenReply: { status: 200, body: '[]' } }, 'error decoding response body'],
  ])('%s after the code was shown: failed with the exact text', async (_what, device, message) => {
    issuer.behaviour.device = device;
    expect((await run()).slice(1)).toEqual([{ type: 'loginFlow.failed', message }]);
  });

  it('an exchange refusal: failed with the exact text', async () => {
    issuer.behaviour.tokenError = { status: 401, body: '{"error_description":"nope"}' };
    expect((await run()).slice(1)).toEqual([
      { type: 'loginFlow.authorized' },
      { type: 'loginFlow.failed', message: 'device code exchange failed: token endpoint returned status 401 Unauthorized: nope' },
    ]);
  });

  it('as the loginFlow actor of a device login: stopping it ends polling at once and reports nothing more', async () => {
    issuer.behaviour.device = { pendingPolls: 1_000_000, interval: '60' };
    const received: LoginFlowEvent[] = [];
    let pollsWhenStopped = 0;
    const parent = createActor(
      createMachine({
        invoke: {
          id: 'loginFlow',
          src: loginFlowActor({ config: { issuer: issuer.url, loginPort: 0, forcedWorkspaceIds: null }, logger: silentLogger }),
          input: { kind: 'device', originator: '' },
        },
        on: { '*': { actions: ({ event }) => received.push(event as LoginFlowEvent) } },
      }),
    );
    parent.start();
    await new Promise<void>((resolve) => {
      const check = () => (issuer.pollRequests.length > 0 ? resolve() : setImmediate(check));
      check();
    });
    parent.stop();
    pollsWhenStopped = issuer.pollRequests.length;
    expect(received.map((e) => e.type)).toEqual(['loginFlow.started']);
    expect(pollsWhenStopped).toBe(1);
  });
});

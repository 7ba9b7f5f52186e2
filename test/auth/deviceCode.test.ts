/**
 * The device-code login's effects (PROTOCOL.md §13.1) against a loopback mock issuer: the user code,
 * polling (first at once, then at the issuer's interval; 403/404 pending; abortable), the code exchange,
 * and every error text exactly.
 */
import {
  DEVICE_CODE_MESSAGES,
  DeviceCodeError,
  MIN_POLL_INTERVAL_MS,
  exchangeDeviceAuthorization,
  pollForAuthorization,
  readTokenPollResponse,
  readUserCodeResponse,
  requestUserCode,
  type UserCode,
} from '../../src/auth/deviceCode';
import { CLIENT_ID, DEVICE_AUTH_ID, MockIssuer, REFRESH_TOKEN, USER_CODE } from '../support/mockIssuer';
import { trackResources } from '../support/resources';

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: DeviceCodeError) => ({ name: error.name, notEnabled: error.notEnabled, message: error.message }),
  );

/** A sleep that records each pause and returns at once (no wall-clock waits in tests). */
function recordingSleep() {
  const pauses: number[] = [];
  return { pauses, sleep: async (ms: number) => void pauses.push(ms) };
}

describe('device code: the user code (step 1)', () => {
  const own = trackResources();
  let issuer: MockIssuer;
  beforeEach(async () => {
    issuer = own.server(await MockIssuer.start());
  });

  it('POSTs the client id as JSON and answers the verification URL of the issuer (not the one in the answer)', async () => {
    issuer.behaviour.device = { interval: ' 5 ' };
    const code = await requestUserCode({ issuer: `${issuer.url}/` });
    expect(code).toEqual({ verificationUrl: `${issuer.url}/codex/device`, userCode: USER_CODE, deviceAuthId: DEVICE_AUTH_ID, intervalSeconds: 5 });
    expect(issuer.usercodeRequests).toEqual([{ contentType: 'application/json', body: { client_id: CLIENT_ID }, receivedAt: expect.any(Number) }]);
  });

  it('reads `usercode` as well as `user_code`, a numeric interval, and a missing one as 0', () => {
    expect(readUserCodeResponse('https://i', 200, '{"device_auth_id":"d","usercode":"U-1","interval":7}')).toEqual({
      verificationUrl: 'https://i/codex/device',
      userCode: 'U-1',
      deviceAuthId: 'd',
      intervalSeconds: 7,
    });
    expect(readUserCodeResponse('https://i', 200, '{"device_auth_id":"d","user_code":"U"}').intervalSeconds).toBe(0);
  });

  it('404: not enabled, a -32600 with Codex\'s text', async () => {
    issuer.behaviour.device = { usercodeReply: { status: 404, body: 'nope' } };
    expect(await failure(requestUserCode({ issuer: issuer.url }))).toEqual({
      name: 'DeviceCodeError',
      notEnabled: true,
      message: 'device code login is not enabled for this Codex server. Use the browser login or verify the server URL.',
    });
  });

  it('another status: -32603 failed to request device code with the status and reason', async () => {
    issuer.behaviour.device = { usercodeReply: { status: 500, body: '{"error":"boom"}' } };
    expect(await failure(requestUserCode({ issuer: issuer.url }))).toEqual({
      name: 'DeviceCodeError',
      notEnabled: false,
      message: 'failed to request device code: device code request failed with status 500 Internal Server Error',
    });
  });

  it.each([
    ['not JSON', 'hello'],
    ['no device_auth_id', '{"user_code":"U"}'],
    ['no user code', '{"device_auth_id":"d"}'],
    ['an interval that is no number', '{"device_auth_id":"d","user_code":"U","interval":"soon"}'],
  ])('a 200 with %s is a decode error', (_what, body) => {
    expect(() => readUserCodeResponse('https://i', 200, body)).toThrow('failed to request device code: error decoding response body');
  });

  it('an issuer that is not there: -32603 naming the reason', async () => {
    const gone = await MockIssuer.start();
    const url = gone.url;
    await gone.close();
    expect(await failure(requestUserCode({ issuer: url }))).toEqual({ name: 'DeviceCodeError', notEnabled: false, message: 'failed to request device code: ECONNREFUSED' });
  });
});

describe('device code: polling (step 2)', () => {
  const own = trackResources();
  let issuer: MockIssuer;
  let code: UserCode;
  beforeEach(async () => {
    issuer = own.server(await MockIssuer.start());
    code = { verificationUrl: `${issuer.url}/codex/device`, userCode: USER_CODE, deviceAuthId: DEVICE_AUTH_ID, intervalSeconds: 3 };
  });

  it('polls at once, then once per interval while pending (here 404; 403 is the default pending answer), and returns the issuer\'s code and PKCE pair', async () => {
    issuer.behaviour.device = { pendingPolls: 2, pendingStatus: 404 };
    const { pauses, sleep } = recordingSleep();
    const granted = await pollForAuthorization(code, { issuer: issuer.url, sleep });
    expect(pauses).toEqual([3000, 3000]);
    expect(issuer.pollRequests).toEqual(
      Array(3).fill({ contentType: 'application/json', body: { device_auth_id: DEVICE_AUTH_ID, user_code: USER_CODE }, receivedAt: expect.any(Number) }),
    );
    expect(granted.authorizationCode.reveal()).toMatch(/^devcode_/);
    expect(granted.codeVerifier.reveal()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('never polls in a tight loop: an interval of 0 pauses the minimum', async () => {
    issuer.behaviour.device = { pendingPolls: 1 };
    const { pauses, sleep } = recordingSleep();
    await pollForAuthorization({ ...code, intervalSeconds: 0 }, { issuer: issuer.url, sleep });
    expect(pauses).toEqual([MIN_POLL_INTERVAL_MS]);
  });

  it('another status ends it: device auth failed with status <code> <reason>', async () => {
    issuer.behaviour.device = { tokenReply: { status: 500, body: '{}' } };
    expect(await failure(pollForAuthorization(code, { issuer: issuer.url }))).toEqual({
      name: 'DeviceCodeError',
      notEnabled: false,
      message: 'device auth failed with status 500 Internal Server Error',
    });
  });

  it('a 200 of another shape: error decoding response body', async () => {
    issuer.behaviour.device = { tokenReply: { status: 200, body: '{"authorization_code":"c"}' } };
    expect((await failure(pollForAuthorization(code, { issuer: issuer.url })))?.message).toBe('error decoding response body');
    expect(() => readTokenPollResponse(200, 'not json')).toThrow('error decoding response body');
  });

  it('gives up after 15 minutes of pending, by the clock it is given', async () => {
    issuer.behaviour.device = { pendingPolls: 1000 };
    let clock = 0;
    const pauses: number[] = [];
    const sleep = async (ms: number) => {
      pauses.push(ms);
      clock += ms;
    };
    const result = await failure(pollForAuthorization({ ...code, intervalSeconds: 400 }, { issuer: issuer.url, sleep, now: () => clock }));
    expect(result?.message).toBe(DEVICE_CODE_MESSAGES.timedOut);
    expect(result?.message).toBe('device auth timed out after 15 minutes');
    expect(pauses).toEqual([400_000, 400_000, 100_000]);
    expect(issuer.pollRequests).toHaveLength(4);
  });

  it('stops at once when aborted, in a pause or before a poll, and polls no more', async () => {
    issuer.behaviour.device = { pendingPolls: 1000 };
    const controller = new AbortController();
    let pausedOnce!: () => void;
    const paused = new Promise<void>((resolve) => (pausedOnce = resolve));
    const sleep = (ms: number, signal?: AbortSignal) =>
      new Promise<void>((_resolve, reject) => {
        pausedOnce();
        signal?.addEventListener('abort', () => reject(new DeviceCodeError('the login was cancelled')));
      });
    const polling = failure(pollForAuthorization(code, { issuer: issuer.url, sleep, signal: controller.signal }));
    await paused;
    controller.abort();
    expect((await polling)?.message).toBe('the login was cancelled');
    expect(issuer.pollRequests).toHaveLength(1);
    expect((await failure(pollForAuthorization(code, { issuer: issuer.url, signal: controller.signal })))?.message).toBe('the login was cancelled');
    expect(issuer.pollRequests).toHaveLength(1);
  });
});

describe('device code: the code exchange (step 3)', () => {
  const own = trackResources();
  let issuer: MockIssuer;
  beforeEach(async () => {
    issuer = own.server(await MockIssuer.start());
  });

  it('exchanges the granted code with the issuer\'s verifier and the device redirect URI', async () => {
    const code = await requestUserCode({ issuer: issuer.url });
    const granted = await pollForAuthorization(code, { issuer: issuer.url });
    const exchanged = await exchangeDeviceAuthorization(granted, { issuer: issuer.url });
    expect(exchanged.tokens.refreshToken.reveal()).toBe(REFRESH_TOKEN);
    expect(exchanged.account).toEqual(expect.objectContaining({ email: 'ada@example.com', planType: 'plus', accountId: 'ws-1' }));
    const form = issuer.tokenRequests[0].form;
    expect(issuer.tokenRequests[0].contentType).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'authorization_code',
      code: granted.authorizationCode.reveal(),
      redirect_uri: `${issuer.url}/deviceauth/callback`,
      client_id: CLIENT_ID,
      code_verifier: granted.codeVerifier.reveal(),
    });
  });

  it('a refusal: device code exchange failed: token endpoint returned status <code> <reason>: <error_description>', async () => {
    const granted = await pollForAuthorization(await requestUserCode({ issuer: issuer.url }), { issuer: issuer.url });
    issuer.behaviour.tokenError = { status: 400, body: JSON.stringify({ error: 'invalid_grant', error_description: 'code expired' }) };
    expect(await failure(exchangeDeviceAuthorization(granted, { issuer: issuer.url }))).toEqual({
      name: 'DeviceCodeError',
      notEnabled: false,
      message: 'device code exchange failed: token endpoint returned status 400 Bad Request: code expired',
    });
  });
});

/** The refresh grant's response classification (docs/protocol.md §6): permanent 401s by code, the rest transient. */
import { PERMANENT_REFRESH_MESSAGES, RefreshError, readRefreshResponse, refreshErrorCode, sendRefreshRequest } from '../../src/auth/tokenEndpoint';
import { Secret } from '../../machines/secret';
import { startFakeServer } from '../support/httpFakes';

const URL = 'http://127.0.0.1:9/oauth/token';
const respond = (status: number, body: unknown, statusText = '') =>
  new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, statusText });
const failureOf = (promise: Promise<unknown>) => promise.then(() => null, (error: RefreshError) => ({ kind: error.kind, message: error.message }));

describe('token endpoint responses', () => {
  it('reads the error code from error.code, code, or a string error', () => {
    expect(refreshErrorCode({ error: { code: 'refresh_token_expired', message: 'x' } })).toBe('refresh_token_expired');
    expect(refreshErrorCode({ code: 'refresh_token_reused' })).toBe('refresh_token_reused');
    expect(refreshErrorCode({ error: 'refresh_token_invalidated' })).toBe('refresh_token_invalidated');
    expect(refreshErrorCode({ error: { message: 'no code' } })).toBeNull();
    expect(refreshErrorCode('not an object')).toBeNull();
  });

  it.each([
    [{ error: { code: 'refresh_token_expired' } }, PERMANENT_REFRESH_MESSAGES.refresh_token_expired],
    [{ code: 'refresh_token_reused' }, PERMANENT_REFRESH_MESSAGES.refresh_token_reused],
    [{ error: 'refresh_token_invalidated' }, PERMANENT_REFRESH_MESSAGES.refresh_token_invalidated],
    [{ error: { code: 'other' } }, 'Your access token could not be refreshed. Please log out and sign in again.'],
    ['<html>not json</html>', 'Your access token could not be refreshed. Please log out and sign in again.'],
  ])('classifies a 401 with %j as permanent', async (body, message) => {
    expect(await failureOf(readRefreshResponse(respond(401, body), URL))).toEqual({ kind: 'permanent', message });
  });

  it.each([
    [500, 'Internal Server Error'],
    [429, 'Too Many Requests'],
    [400, 'Bad Request'],
    [403, 'Forbidden'],
  ])('classifies %i as transient', async (status, statusText) => {
    expect(await failureOf(readRefreshResponse(respond(status, { error: { code: 'refresh_token_expired' } }, statusText), URL))).toEqual({
      kind: 'transient',
      message: `could not refresh the ChatGPT access token: the token endpoint answered ${status} ${statusText} (${URL}). The saved credentials were kept; the next request tries again.`,
    });
  });

  it('keeps absent tokens absent and refuses malformed ones as transient', async () => {
    const tokens = await readRefreshResponse(respond(200, { access_token: 'a' }), URL);
    expect(tokens.idToken).toBeNull();
    expect(tokens.refreshToken).toBeNull();
    expect(tokens.accessToken?.reveal()).toBe('a');
    expect(await failureOf(readRefreshResponse(respond(200, { access_token: 7 }), URL))).toMatchObject({ kind: 'transient' });
    expect(await failureOf(readRefreshResponse(respond(200, 'not json'), URL))).toMatchObject({ kind: 'transient' });
  });

  it('turns an unreachable endpoint and a timeout into transient failures', async () => {
    const gone = await startFakeServer(() => ({ status: 200 }));
    await gone.close(); // its port is now closed
    const goneUrl = `${gone.origin}/oauth/token`;
    const unreachable = await failureOf(sendRefreshRequest(goneUrl, new Secret('rt_0123456789'), { timeoutMs: 5_000 }));
    expect(unreachable).toEqual({
      kind: 'transient',
      message: `could not refresh the ChatGPT access token: the token endpoint is unreachable: ECONNREFUSED (${goneUrl}). The saved credentials were kept; the next request tries again.`,
    });
    let answer!: () => void;
    const silent = await startFakeServer(() => new Promise((resolve) => (answer = () => resolve({ status: 200, body: {} }))));
    try {
      const url = `${silent.origin}/oauth/token`;
      expect(await failureOf(sendRefreshRequest(url, new Secret('rt_0123456789'), { timeoutMs: 100 }))).toEqual({
        kind: 'transient',
        message: `could not refresh the ChatGPT access token: the token endpoint did not answer within 0.1s (${url}). The saved credentials were kept; the next request tries again.`,
      });
    } finally {
      answer?.();
      await silent.close();
    }
  });
});

/**
 * Revoke (PROTOCOL.md §13.2): the URL resolution, the exact bodies, and a revoke that is bounded, never
 * throws and logs, against the loopback mock issuer (recording, refusing, hanging).
 */
import { Secret } from '../../machines/secret';
import { parseConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { resolveRevokeUrl, revokeBody, revokeInBackground, revokesInFlight, sendRevoke, waitForRevokes } from '../../src/auth/revoke';
import { CLIENT_ID, MockIssuer } from '../support/mockIssuer';
import { trackResources } from '../support/resources';

const tokens = { refreshToken: new Secret('rt_to_revoke_123456'), accessToken: new Secret('at_in_use') };

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }) };
}

describe('the revoke URL', () => {
  const config = (toml: string, env: NodeJS.ProcessEnv = {}) => parseConfig(toml, '/h', env);

  it('is {issuer}/oauth/revoke by default, also for an issuer with a path', async () => {
    expect(resolveRevokeUrl(await config(''), {})).toBe('https://auth.openai.com/oauth/revoke');
    expect(resolveRevokeUrl(await config('[authchart]\nissuer = "http://127.0.0.1:9/auth/"\n'), {})).toBe('http://127.0.0.1:9/auth/oauth/revoke');
  });

  it('follows the origin of a token URL set by [authchart] token_url or CODEX_REFRESH_TOKEN_URL_OVERRIDE', async () => {
    expect(resolveRevokeUrl(await config('[authchart]\ntoken_url = "http://127.0.0.1:7/x/token"\n'), {})).toBe('http://127.0.0.1:7/oauth/revoke');
    const env = { CODEX_REFRESH_TOKEN_URL_OVERRIDE: 'http://127.0.0.1:6/t' };
    expect(resolveRevokeUrl(await config('', env), {})).toBe('http://127.0.0.1:6/oauth/revoke');
  });

  it('takes [authchart] revoke_url over the token URL, and CODEX_REVOKE_TOKEN_URL_OVERRIDE over both', async () => {
    const c = await config('[authchart]\ntoken_url = "http://127.0.0.1:7/t"\nrevoke_url = "http://127.0.0.1:5/r"\n');
    expect(resolveRevokeUrl(c, {})).toBe('http://127.0.0.1:5/r');
    expect(resolveRevokeUrl(c, { CODEX_REVOKE_TOKEN_URL_OVERRIDE: 'http://127.0.0.1:4/o' })).toBe('http://127.0.0.1:4/o');
    expect(() => resolveRevokeUrl(c, { CODEX_REVOKE_TOKEN_URL_OVERRIDE: 'file:///x' })).toThrow('CODEX_REVOKE_TOKEN_URL_OVERRIDE must be an http(s) URL, got "file:///x"');
    await expect(config('[authchart]\nrevoke_url = 3\n')).rejects.toThrow('key authchart.revoke_url must be an http(s) URL string, got 3.');
  });
});

describe('the revoke request', () => {
  const own = trackResources();
  let issuer: MockIssuer;
  beforeEach(async () => {
    issuer = own.server(await MockIssuer.start());
  });

  it('sends the refresh token with its hint and the client id, as JSON', async () => {
    expect(await sendRevoke(tokens, { url: `${issuer.url}/oauth/revoke` })).toBeNull();
    expect(issuer.revokeRequests).toEqual([
      { contentType: 'application/json', body: { token: 'rt_to_revoke_123456', token_type_hint: 'refresh_token', client_id: CLIENT_ID }, receivedAt: expect.any(Number) },
    ]);
    expect(revokeBody(tokens)).toBe(`{"token":"rt_to_revoke_123456","token_type_hint":"refresh_token","client_id":"${CLIENT_ID}"}`);
  });

  it('sends the access token (no client id) when there is no refresh token', async () => {
    await sendRevoke({ refreshToken: null, accessToken: tokens.accessToken }, { url: `${issuer.url}/oauth/revoke` });
    expect(issuer.revokeRequests.map((r) => r.body)).toEqual([{ token: 'at_in_use', token_type_hint: 'access_token' }]);
  });

  it('reports a refusal, an unreachable endpoint and a hanging one (bounded) without throwing', async () => {
    issuer.behaviour.revoke = { status: 400, body: '{"error":"unsupported_token_type"}' };
    expect(await sendRevoke(tokens, { url: `${issuer.url}/oauth/revoke` })).toBe('the revoke endpoint answered 400 Bad Request');
    issuer.behaviour.revoke = 'hang';
    expect(await sendRevoke(tokens, { url: `${issuer.url}/oauth/revoke`, timeoutMs: 200 })).toBe('the revoke endpoint did not answer within 0.2s');
    const gone = await MockIssuer.start();
    const goneUrl = gone.url;
    await gone.close();
    expect(await sendRevoke(tokens, { url: `${goneUrl}/oauth/revoke` })).toBe('the revoke endpoint is unreachable: ECONNREFUSED');
  });

  it('in the background: returns at once, logs the outcome without the token, and an exiting process can wait for it', async () => {
    issuer.behaviour.revoke = 'hang';
    const { lines, logger } = recordingLogger();
    void revokeInBackground(tokens, 'logout', { url: `${issuer.url}/oauth/revoke`, logger });
    expect(revokesInFlight()).toBe(1);
    await issuer.revokesArrived(1);
    expect(await waitForRevokes(50)).toBe(false); // still held: the wait is bounded
    issuer.releaseRevokes();
    expect(await waitForRevokes(10_000)).toBe(true);
    expect(revokesInFlight()).toBe(0);
    expect(lines.join('')).toBe(`authchart info: revoked the refresh token at ${issuer.url}/oauth/revoke (logout)\n`);
  });

  it('in the background: a failure or a bad override is logged, never thrown', async () => {
    issuer.behaviour.revoke = { status: 503, body: '' };
    const { lines, logger } = recordingLogger();
    await revokeInBackground(tokens, 'replaced by a new login', { url: `${issuer.url}/oauth/revoke`, logger });
    await revokeInBackground(tokens, 'logout', {
      url: () => resolveRevokeUrl({ issuer: issuer.url, tokenUrl: `${issuer.url}/oauth/token`, revokeUrl: null }, { CODEX_REVOKE_TOKEN_URL_OVERRIDE: 'nope' }),
      logger,
    });
    expect(lines).toEqual([
      `authchart warn: could not revoke the refresh token at ${issuer.url}/oauth/revoke (replaced by a new login): the revoke endpoint answered 503 Service Unavailable; the local credentials are removed anyway\n`,
      'authchart warn: did not revoke the refresh token (logout): CODEX_REVOKE_TOKEN_URL_OVERRIDE must be an http(s) URL, got "nope"\n',
    ]);
    expect(lines.join('')).not.toContain('rt_to_revoke');
  });
});

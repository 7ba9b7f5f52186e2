/**
 * No token or API key ever leaves authchart through stderr, error messages or notifications, whatever
 * path a refresh takes (success, parent error, bad answer, permanent and transient token endpoint
 * failures). Every secret here is a canary; debug logging is on.
 */
import type { ExternalTokens } from '../../src/client';
import { configToml, startParent, writeAuthJson, type TestParent } from '../support/client';
import { startChatgptBackend, startTokenServer } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const canaryJwt = (name: string) => chatgptJwt({ accountId: 'acct-1', email: 'ada@example.com', extra: { canary: `CANARY_${name}` } });

/** Asserts that no secret (nor a JWT's payload segment) appears in what the server said or logged. */
function expectNoSecrets(parent: TestParent, secrets: string[]): void {
  const said = parent.wire.filter((w) => w.direction === 'receive').map((w) => JSON.stringify(w.message)).join('\n');
  const logged = parent.stderr();
  expect(logged).toContain('authchart debug'); // the logs were really on
  for (const secret of secrets) {
    const needles = secret.split('.').length === 3 ? [secret, secret.split('.')[1]] : [secret];
    for (const needle of needles) {
      expect(said).not.toContain(needle);
      expect(logged).not.toContain(needle);
    }
  }
}

describe('secrets stay out of stderr, errors and notifications', () => {
  const own = trackResources();

  it('in external mode', async () => {
    const old = canaryJwt('EXT_OLD');
    const fresh = canaryJwt('EXT_NEW');
    const apiKey = 'sk-CANARY_APIKEY_0123456789';
    const backend = own.server(await startChatgptBackend((token) => token === fresh));
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/` }));
    const answers: (() => ExternalTokens)[] = [
      () => {
        throw { code: -32000, message: `cannot refresh ${old}` }; // a careless parent echoing a token
      },
      () => ({ accessToken: 'CANARY_not_a_jwt', chatgptAccountId: 'acct-1' }),
      () => ({ accessToken: fresh, chatgptAccountId: 'acct-1' }),
    ];
    const parent = own.parent(await startParent(home.dir, { refreshTokens: () => answers.shift()!() }));
    await parent.client.loginWithApiKey(apiKey);
    await parent.client.readRateLimits().catch(() => undefined);
    await parent.client.loginWithTokens({ idToken: old, accessToken: old });
    for (let i = 0; i < 3; i += 1) await parent.client.readRateLimits().catch(() => undefined);
    await parent.client.logout();
    expect(parent.serverRequests('account/chatgptAuthTokens/refresh')).toHaveLength(3);
    expectNoSecrets(parent, [old, fresh, apiKey, 'CANARY_not_a_jwt']);
  });

  it('in managed mode', async () => {
    const login = { idToken: canaryJwt('MGD_ID'), accessToken: canaryJwt('MGD_ACCESS'), refreshToken: 'rt_CANARY_REFRESH_000' };
    const tokens = own.server(await startTokenServer());
    const backend = own.server(await startChatgptBackend(() => false));
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, tokenUrl: `${tokens.origin}/oauth/token` }));
    writeAuthJson(home.dir, login);
    const parent = own.parent(await startParent(home.dir));
    tokens.override({ status: 500, body: { error: `boom ${login.refreshToken}` } });
    await parent.client.readRateLimits().catch(() => undefined);
    tokens.override({ status: 401, body: { error: { code: 'refresh_token_reused' } } });
    await parent.client.readRateLimits().catch(() => undefined);
    await parent.client.readRateLimits().catch(() => undefined);
    await parent.client.readAccount({ refreshToken: true });
    await parent.client.logout();
    expect(tokens.posts()).toHaveLength(2);
    expectNoSecrets(parent, [login.idToken, login.accessToken, login.refreshToken]);
  });
});

/**
 * Bugs the model-based layers found, one regression test each, named after the bug, over the real bin.
 */
import { mkdirSync, renameSync, rmdirSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess } from '../support/appServer';
import { configToml, writeAuthJson } from '../support/client';
import { issuedTokens, startChatgptBackend, startTokenServer } from '../support/httpFakes';
import { trackResources } from '../support/resources';

const EXPIRED = 'Your access token could not be refreshed because your refresh token has expired. Please log out and sign in again.';

describe('regressions found by the model-based tests', () => {
  const own = trackResources();

  it('keeps the reason of a dead refresh token when an API-key save fails from failed (was: "authentication failed")', async () => {
    const T0 = issuedTokens(0);
    const backend = own.server(await startChatgptBackend((token) => token !== T0.accessToken));
    const tokens = own.server(await startTokenServer());
    const home = own.home(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, tokenUrl: `${tokens.origin}/oauth/token` }));
    writeAuthJson(home.dir, T0);
    const server = await AppServerProcess.started({ codexHome: home.dir });
    try {
      tokens.override({ status: 401, body: { error: { code: 'refresh_token_expired' } } });
      expect((await server.request('account/rateLimits/read')).error).toEqual({ code: -32603, message: EXPIRED });

      // auth.json as a directory: the save fails for real, and the chart returns to `failed`.
      const file = path.join(home.dir, 'auth.json');
      renameSync(file, `${file}.aside`);
      mkdirSync(file);
      const save = await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-regression' });
      rmdirSync(file);
      renameSync(`${file}.aside`, file);
      expect(save.error).toEqual({ code: -32603, message: expect.stringMatching(/^failed to save the API key: /) });

      expect((await server.request('account/rateLimits/read')).error).toEqual({ code: -32603, message: EXPIRED });
      expect(tokens.posts()).toHaveLength(1); // and still no network call from failed
    } finally {
      server.kill();
    }
  });
});

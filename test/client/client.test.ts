/**
 * authchart/client: spawning the real bin, typed notifications, the refresh callback (and its absence),
 * and attaching to an app-server's streams (here one running in-process).
 */
import { PassThrough } from 'node:stream';
import { AuthCore } from '../../src/auth/core';
import { EphemeralCredentialStore } from '../../src/auth/credentials';
import { AuthchartClient, AuthchartRpcError, defaultBinPath } from '../../src/client';
import { parseConfig } from '../../src/config';
import { silentLogger } from '../../src/log';
import { AppServer } from '../../src/rpc/server';
import { BIN, loopbackBackend, tempCodexHome } from '../support/appServer';
import { configToml } from '../support/client';
import { startChatgptBackend, type FakeServer } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';

const TOKEN = chatgptJwt({ email: 'ada@example.com', plan: 'plus', accountId: 'acct-1' });

describe('authchart/client', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let client: AuthchartClient | undefined;
  let backend: FakeServer | undefined;

  beforeEach(() => {
    home = tempCodexHome(loopbackBackend());
  });
  afterEach(async () => {
    client?.kill();
    client = undefined;
    await backend?.close();
    backend = undefined;
    home.cleanup();
  });

  it('finds the bin from source and from dist', () => {
    expect(defaultBinPath()).toBe(BIN);
  });

  it('spawns the app-server, types the account methods and delivers notifications in order', async () => {
    const seen: string[] = [];
    client = await AuthchartClient.start({ codexHome: home.dir, stderr: 'ignore', clientInfo: { name: 'typed', version: '1' } });
    client.on('account/login/completed', (p) => seen.push(`completed ${p.success} ${p.loginId}`));
    client.on('account/updated', (p) => seen.push(`updated ${p.authMode} ${p.planType}`));
    const updated = client.next('account/updated');
    expect(await client.loginWithTokens({ accessToken: TOKEN, chatgptAccountId: 'acct-1', chatgptPlanType: 'pro' })).toEqual({ type: 'chatgptAuthTokens' });
    await updated;
    expect(seen).toEqual(['completed true null', 'updated chatgptAuthTokens pro']);
    expect(await client.readAccount()).toEqual({ account: { type: 'chatgpt', email: 'ada@example.com', planType: 'pro', workspaceName: null }, userId: null, requiresOpenaiAuth: true, workspaceRouting: null });
    const refused = await client.loginWithApiKey('sk-test-0123456789').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AuthchartRpcError);
    expect(refused).toMatchObject({ code: -32600 });
    expect(await client.logout()).toEqual({});
    expect(await client.close()).toEqual({ code: 0, signal: null });
  });

  it('answers the refresh request with -32601 when the parent has no refreshTokens callback', async () => {
    backend = await startChatgptBackend(() => false);
    home.cleanup();
    home = tempCodexHome(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/` }));
    client = await AuthchartClient.start({ codexHome: home.dir, stderr: 'ignore' });
    await client.loginWithTokens({ accessToken: TOKEN, chatgptAccountId: 'acct-1' });
    await expect(client.readRateLimits()).rejects.toMatchObject({
      code: -32603,
      message: 'auth refresh request failed: code=-32601 message=Method not found: account/chatgptAuthTokens/refresh',
    });
  });

  it('attaches to an app-server’s streams, and an in-process core refreshes through it', async () => {
    const fresh = chatgptJwt({ accountId: 'acct-1', extra: { fresh: true } });
    backend = await startChatgptBackend((token) => token === fresh);
    const config = await parseConfig(configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/` }), home.dir, {});
    const core = await AuthCore.open({ config, store: new EphemeralCredentialStore() });
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    const server = new AppServer({ input: toServer, output: toClient, core, config, logger: silentLogger, version: '0.0.0-test' });
    server.listen();
    client = AuthchartClient.attach(
      { input: toClient, output: toServer },
      { refreshTokens: ({ previousAccountId }) => ({ accessToken: fresh, chatgptAccountId: previousAccountId ?? 'none' }) },
    );
    try {
      expect((await client.initialize({ name: 'attached', version: '1' })).codexHome).toBe(home.dir);
      await client.loginWithTokens({ accessToken: TOKEN, chatgptAccountId: 'acct-1' });
      expect((await client.readRateLimits()).rateLimits.planType).toBe('pro');
    } finally {
      await client.close();
      server.close();
      core.stop();
    }
  });
});

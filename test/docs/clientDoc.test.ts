/**
 * docs/client.md tells a parent what to expect without reading the source: its examples must stay true.
 * The usage payload and the result it documents are read from the page itself and checked against the
 * real bin, a real backend on 127.0.0.1, and tokens made the way the page says.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AuthchartClient } from '../../src/client';
import { tempCodexHome } from '../support/appServer';
import { bearerOf, startFakeServer, type FakeServer } from '../support/httpFakes';

const PAGE = readFileSync(path.resolve(__dirname, '../../docs/client.md'), 'utf8');

/** The JSON blocks of the page, parsed. */
const jsonBlocks = [...PAGE.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1]) as Record<string, unknown>);

// The page's way of making a token in a test, word for word.
const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function testJwt(claims: Record<string, unknown>): string {
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.test-signature`;
}

describe('docs/client.md', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let backend: FakeServer | undefined;
  let client: AuthchartClient | undefined;

  beforeEach(() => {
    home = tempCodexHome();
  });
  afterEach(async () => {
    client?.kill();
    client = undefined;
    await backend?.close();
    backend = undefined;
    home.cleanup();
  });

  it('holds the page\'s example code', () => {
    expect(PAGE).toContain("const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');");
    expect(PAGE).toContain('return `${part({ alg: \'none\', typ: \'JWT\' })}.${part(claims)}.test-signature`;');
  });

  it('documents the usage payload of a test backend and the result it becomes, the tokens, the refresh and the notifications', async () => {
    const usageBody = jsonBlocks.find((block) => 'rate_limit' in block);
    const documentedResult = jsonBlocks.find((block) => 'rateLimits' in block);
    expect(usageBody).toBeDefined();
    expect(documentedResult).toBeDefined();

    const first = testJwt({
      email: 'ada@example.com',
      'https://api.openai.com/auth': { chatgpt_account_id: 'ws-1', chatgpt_plan_type: 'plus', chatgpt_user_id: 'user-1' },
    });
    const second = testJwt({ email: 'ada@example.com' });
    backend = await startFakeServer((request) => {
      if (request.path !== '/backend-api/wham/usage') return { status: 404 };
      // The first token is refused once: the server asks refreshTokens, then calls again.
      return bearerOf(request) === first ? { status: 401, body: { error: 'expired' } } : { status: 200, body: usageBody };
    });
    writeFileSync(path.join(home.dir, 'config.toml'), `chatgpt_base_url = "${backend.origin}/backend-api/"\n`);

    const asked: unknown[] = [];
    client = await AuthchartClient.start({
      codexHome: home.dir,
      clientInfo: { name: 'my_app', version: '1.0.0' },
      stderr: 'ignore',
      refreshTokens: async (params) => {
        asked.push(params);
        return { accessToken: second, chatgptAccountId: 'ws-1' };
      },
    });
    const updated = client.next('account/updated');
    const completed = client.next('account/login/completed');
    expect(await client.loginWithTokens({ accessToken: first, chatgptAccountId: 'ws-1', chatgptPlanType: 'plus' })).toEqual({ type: 'chatgptAuthTokens' });
    expect(await completed).toEqual({ loginId: null, success: true, error: null });
    expect(await updated).toEqual({ authMode: 'chatgptAuthTokens', planType: 'plus', reason: null });
    expect(await client.readAccount()).toEqual({
      account: { type: 'chatgpt', email: 'ada@example.com', planType: 'plus', workspaceName: null },
      userId: 'user-1',
      requiresOpenaiAuth: true,
      workspaceRouting: null,
    });

    expect(await client.readRateLimits()).toEqual(documentedResult);
    expect(asked).toEqual([{ reason: 'unauthorized', previousAccountId: 'ws-1' }]);
    const calls = backend.seen.filter((request) => request.path === '/backend-api/wham/usage');
    expect(calls.map((request) => [bearerOf(request), request.headers['chatgpt-account-id']])).toEqual([
      [first, 'ws-1'],
      [second, 'ws-1'],
    ]);
    expect(await client.close()).toEqual({ code: 0, signal: null });
    client = undefined;
  });

  it('documents the workspaces of a login, the list they become, and the switch', async () => {
    const accountsCheck = jsonBlocks.find((block) => 'accounts' in block);
    const documentedList = jsonBlocks.find((block) => 'activeSessionId' in block) as { sessions: Array<Record<string, unknown>> } | undefined;
    expect(accountsCheck).toBeDefined();
    expect(documentedList).toBeDefined();
    const claims = (accountId: string) => ({
      email: 'ada@example.com',
      exp: 4102444800,
      'https://api.openai.com/auth': { chatgpt_account_id: accountId, chatgpt_plan_type: 'plus', chatgpt_user_id: 'user-1' },
    });
    backend = await startFakeServer((request) => {
      if (request.path === '/backend-api/wham/accounts/check') return { status: 200, body: accountsCheck };
      if (request.path === '/backend-api/accounts/switch-workspace-token') {
        return { status: 200, body: { access_token: testJwt(claims('ws-2')), refresh_token: 'rt-2', id_token: testJwt(claims('ws-2')) } };
      }
      return { status: 404 };
    });
    writeFileSync(path.join(home.dir, 'config.toml'), `chatgpt_base_url = "${backend.origin}/backend-api/"\n`);
    const tokens = { id_token: testJwt(claims('ws-1')), access_token: testJwt(claims('ws-1')), refresh_token: 'rt-1', account_id: 'ws-1' };
    writeFileSync(path.join(home.dir, 'auth.json'), JSON.stringify({ auth_mode: 'chatgpt', OPENAI_API_KEY: null, tokens, last_refresh: '2026-01-01T00:00:00Z' }), { mode: 0o600 });

    client = await AuthchartClient.start({ codexHome: home.dir, clientInfo: { name: 'my_app', version: '1.0.0' }, stderr: 'ignore' });
    const ready = await new Promise((resolve) => {
      const stop = client!.on('account/updated', (params) => {
        if (params.reason !== 'workspaceRoutingReady') return;
        stop();
        resolve(params);
      });
    });
    expect(ready).toEqual({ authMode: 'chatgpt', planType: 'plus', reason: 'workspaceRoutingReady' });
    expect(await client.listAccountSessions({ refreshWorkspaceMetadata: true })).toEqual(documentedList);
    const switched = await client.switchAccountSession({ sessionId: 'user-1', accountId: 'ws-2' });
    expect(switched).toMatchObject({ activeSessionId: 'user-1', sessions: [{ selectedWorkspaceAccountId: 'ws-2' }] });
    expect(JSON.parse(readFileSync(path.join(home.dir, 'auth.json'), 'utf8')).tokens.account_id).toBe('ws-2');
    expect(await client.close()).toEqual({ code: 0, signal: null });
    client = undefined;
  });
});

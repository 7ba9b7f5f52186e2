/**
 * The keyring store end to end (PROTOCOL.md §13.3): the real bin (app-server and CLI) on a real, private
 * Secret Service, entries checked with `secret-tool`; `auto` with and without a Secret Service; `keyring`
 * without one (no session bus, a dead bus address); and the cross-process refresh on the keyring store.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AuthchartClient, type AuthchartRpcError } from '../../src/client';
import { keyringAccountFor } from '../../src/auth/keyringStore';
import { BIN, loopbackBackend } from '../support/appServer';
import { configToml } from '../support/client';
import { issuedTokens, startChatgptBackend, startTokenServer } from '../support/httpFakes';
import { trackResources } from '../support/resources';
import { deadBusAddress, readIfExists, startSecretService, withoutBus, type SecretService } from '../support/secretService';

const KEY = 'sk-proj-keyring-canary-8d1f0a';

/** The environment of the processes under test: debug logs, and the bus given (or none). */
function envWith(bus: string | null): NodeJS.ProcessEnv {
  const { CODEX_REFRESH_TOKEN_URL_OVERRIDE: _t, CODEX_HOME: _h, ...env } = withoutBus();
  return { ...env, AUTHCHART_LOG: 'debug', ...(bus === null ? {} : { DBUS_SESSION_BUS_ADDRESS: bus }) };
}

/** Runs `authchart <args>`; resolves with its exit code and output. */
function cli(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const entryText = (home: string) => `the OS keyring (service "Codex Auth", account "${keyringAccountFor(home)}")`;

describe('cli_auth_credentials_store = "keyring" on a real Secret Service', () => {
  const own = trackResources();
  let service: SecretService;

  beforeEach(async () => {
    service = own.server(await startSecretService());
  });

  async function parentOn(home: string, bus: string | null = service.env.DBUS_SESSION_BUS_ADDRESS) {
    let stderr = '';
    const client = await AuthchartClient.start({ codexHome: home, env: envWith(bus), stderr: (c) => void (stderr += c), clientInfo: { name: 'keyring_test', version: '0' } });
    own.server({ close: async () => void (await client.close()) });
    return { client, stderr: () => stderr };
  }

  it('an API key login lands in the keyring only; it survives a restart; status says where; logout removes it', async () => {
    const home = own.home('cli_auth_credentials_store = "keyring"\n');
    const first = await parentOn(home.dir);
    expect(await first.client.loginWithApiKey(KEY)).toEqual({ type: 'apiKey' });
    const items = service.search({ service: 'Codex Auth' });
    expect(items.map((i) => [i.attributes.username, JSON.parse(i.secret)])).toEqual([[keyringAccountFor(home.dir), { auth_mode: 'apikey', OPENAI_API_KEY: KEY }]]);
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
    await first.client.close();

    const second = await parentOn(home.dir);
    expect((await second.client.readAccount()).account).toEqual({ type: 'apiKey' });
    await second.client.close();

    const env = envWith(service.env.DBUS_SESSION_BUS_ADDRESS);
    const status = await cli(['status', '--json', '--codex-home', home.dir], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ authMode: 'apikey', email: null, planType: null, accountId: null, store: entryText(home.dir) });
    const logout = await cli(['logout', '--codex-home', home.dir], env);
    expect(logout).toEqual({ code: 0, stdout: `Logged out; removed the credentials from ${entryText(home.dir)}.\n`, stderr: expect.any(String) });
    expect(service.search({ service: 'Codex Auth' })).toEqual([]);
    for (const output of [status, logout]) expect(output.stdout + output.stderr + first.stderr() + second.stderr()).not.toContain(KEY);
  });

  it('uses a ChatGPT login that Codex saved in the keyring (its exact attributes), and logout removes it', async () => {
    // The login's discovery and its revoke at logout go to loopback ports nothing listens on.
    const home = own.home(loopbackBackend('cli_auth_credentials_store = "keyring"\n[authchart]\nrevoke_url = "http://127.0.0.1:1/oauth/revoke"\n'));
    const account = keyringAccountFor(home.dir);
    const t = issuedTokens(0);
    const secret = JSON.stringify({
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: { id_token: t.idToken, access_token: t.accessToken, refresh_token: t.refreshToken, account_id: 'acct-1' },
      last_refresh: new Date().toISOString(),
    });
    service.store(`${account}@Codex Auth:default`, { service: 'Codex Auth', username: account, target: 'default', application: 'rust-keyring' }, secret);
    const parent = await parentOn(home.dir);
    expect((await parent.client.readAccount()).account).toMatchObject({ type: 'chatgpt', email: 'ada@example.com', planType: 'plus' });
    expect(await parent.client.logout()).toEqual({});
    expect(service.search({ service: 'Codex Auth' })).toEqual([]);
  });

  it('auto with a Secret Service saves to the keyring, without a warning', async () => {
    const home = own.home('cli_auth_credentials_store = "auto"\n');
    const env = envWith(service.env.DBUS_SESSION_BUS_ADDRESS);
    const login = await cli(['login', '--api-key', '--codex-home', home.dir], env, `${KEY}\n`);
    expect(login.stdout).toBe(`Logged in using an API key (saved to ${entryText(home.dir)}).\n`);
    expect(login.stderr).not.toMatch(/warn/);
    expect(service.search({ service: 'Codex Auth' })).toHaveLength(1);
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
  });

  it(`two processes × rounds of forced refresh on the keyring store: no refresh token spent twice`, async () => {
    const tokens = own.server(await startTokenServer());
    const backend = own.server(await startChatgptBackend((token) => token === issuedTokens(tokens.rounds()).accessToken));
    const home = own.home(
      `cli_auth_credentials_store = "keyring"\n${configToml({ chatgptBaseUrl: `${backend.origin}/backend-api/`, tokenUrl: `${tokens.origin}/oauth/token` })}`,
    );
    const account = keyringAccountFor(home.dir);
    const t = issuedTokens(0);
    service.store(
      `${account}@Codex Auth:default`,
      { service: 'Codex Auth', username: account, target: 'default', application: 'rust-keyring' },
      JSON.stringify({ auth_mode: 'chatgpt', OPENAI_API_KEY: null, tokens: { id_token: t.idToken, access_token: t.accessToken, refresh_token: t.refreshToken, account_id: 'acct-1' }, last_refresh: new Date().toISOString() }),
    );
    const parents = [await parentOn(home.dir), await parentOn(home.dir), await parentOn(home.dir)];
    const ROUNDS = 4;
    for (let round = 0; round < ROUNDS; round += 1) {
      const reads = await Promise.all(parents.map((p) => p.client.readAccount({ refreshToken: true })));
      expect(reads.map((r) => r.account?.type)).toEqual(['chatgpt', 'chatgpt', 'chatgpt']);
    }
    expect(tokens.reused).toBe(0);
    expect(tokens.posts()).toHaveLength(parents.length * ROUNDS);
    const saved = service.search({ service: 'Codex Auth' });
    expect(saved).toHaveLength(1);
    expect(JSON.parse(saved[0].secret).tokens.refresh_token).toBe(tokens.current());
    const limits = await Promise.all(parents.map((p) => p.client.readRateLimits().then(() => 'ok', (e: AuthchartRpcError) => e.message)));
    expect(limits).toEqual(['ok', 'ok', 'ok']);
    for (const p of parents) expect(p.stderr()).not.toMatch(/refresh_token_reused|could not be refreshed/);
  });
});

describe('the keyring store without a Secret Service', () => {
  const own = trackResources();

  async function parentOn(home: string, bus: string | null) {
    let stderr = '';
    const client = await AuthchartClient.start({ codexHome: home, env: envWith(bus), stderr: (c) => void (stderr += c), clientInfo: { name: 'keyring_test', version: '0' } });
    own.server({ close: async () => void (await client.close()) });
    return { client, stderr: () => stderr };
  }

  it.each([
    ['no session bus', () => null],
    ['a dead bus address', () => deadBusAddress()],
  ])('keyring with %s: reads logged out with a warning, refuses a login clearly, still logs out', async (_what, bus) => {
    const home = own.home('cli_auth_credentials_store = "keyring"\n');
    writeFileSync(path.join(home.dir, 'auth.json'), JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-not-read-in-keyring-mode' }));
    const parent = await parentOn(home.dir, bus());
    expect((await parent.client.readAccount()).account).toBeNull();
    expect(parent.stderr()).toMatch(/warn: ignoring the saved credentials at the OS keyring \(service "Codex Auth", account "cli\|[0-9a-f]{16}"\): the keyring cannot be read \(.+\)\. cli_auth_credentials_store = "keyring" needs a running, unlocked Secret Service/);
    const refused = await parent.client.loginWithApiKey(KEY).then(() => null, (e: AuthchartRpcError) => ({ code: e.code, message: e.message }));
    expect(refused?.code).toBe(-32603);
    expect(refused?.message).toMatch(/^failed to save the API key: failed to write credentials to keyring: .+\. cli_auth_credentials_store = "keyring" needs a running, unlocked Secret Service \(e\.g\. gnome-keyring\) in this session; or choose "auto" or "file" in config\.toml$/);
    expect(await parent.client.logout()).toEqual({});
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
    expect(parent.stderr()).not.toContain(KEY);
  });

  it('auto with no session bus: auth.json, a warning, status says where and why; logout removes it', async () => {
    const home = own.home('cli_auth_credentials_store = "auto"\n');
    const env = envWith(null);
    const file = path.join(home.dir, 'auth.json');
    const login = await cli(['login', '--api-key', '--codex-home', home.dir], env, `${KEY}\n`);
    expect(login.code).toBe(0);
    expect(login.stderr).toMatch(/warn: cli_auth_credentials_store = "auto": the OS keyring is not reachable \(.+\); reading .*auth\.json instead/);
    expect(login.stderr).toMatch(/debug: cli_auth_credentials_store = "auto": the OS keyring is not reachable \(.+\); saving to .*auth\.json instead/);
    expect(JSON.parse(readIfExists(file)!)).toEqual({ auth_mode: 'apikey', OPENAI_API_KEY: KEY });
    const status = await cli(['status', '--codex-home', home.dir], env);
    expect(status.stdout).toMatch(new RegExp(`^Logged in using an API key\\n(?:  key: .*\\n)?  stored in:  ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(auto: the OS keyring is not reachable: .+\\)\\n$`));
    const logout = await cli(['logout', '--codex-home', home.dir], env);
    expect(logout.code).toBe(0);
    expect(readIfExists(file)).toBeNull();
  });
});

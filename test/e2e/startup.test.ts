import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess, BIN, loopbackBackend, tempCodexHome } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { trackResources } from '../support/resources';

const track = trackResources();

/** Runs the bin to completion with empty stdin. */
function runBin(args: string[], codexHome: string) {
  return spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, CODEX_HOME: codexHome }, input: '', encoding: 'utf8' });
}

describe('start-up with existing credentials (docs/protocol.md §10)', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess;

  beforeEach(() => {
    home = track.home(loopbackBackend());
  });

  it('starts in apiKey mode from a Codex auth.json holding an API key', async () => {
    writeFileSync(path.join(home.dir, 'auth.json'), JSON.stringify({ OPENAI_API_KEY: 'sk-from-codex' }));
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    expect((await server.request('account/read', {})).result).toEqual({ account: { type: 'apiKey' }, userId: null, requiresOpenaiAuth: true, workspaceRouting: null });
    expect((await server.request('getAuthStatus', { includeToken: true })).result.authToken).toBe('sk-from-codex');
  });

  it('starts in chatgpt mode from a Codex auth.json holding ChatGPT tokens (no auth_mode member)', async () => {
    const idToken = chatgptJwt({ email: 'codex-user@example.com', plan: 'business', accountId: 'ws-9' });
    writeFileSync(
      path.join(home.dir, 'auth.json'),
      JSON.stringify({
        OPENAI_API_KEY: null,
        tokens: { id_token: idToken, access_token: 'at-1', refresh_token: 'rt-1', account_id: 'ws-9' },
        last_refresh: '2026-01-29T23:46:04.123Z',
      }),
    );
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    expect((await server.request('account/read', {})).result).toEqual({
      account: { type: 'chatgpt', email: 'codex-user@example.com', planType: 'business', workspaceName: null },
      userId: null, requiresOpenaiAuth: true, workspaceRouting: null,
    });
    expect((await server.request('getAuthStatus', { includeToken: true })).result).toEqual({
      authMethod: 'chatgpt',
      authToken: 'at-1',
      requiresOpenaiAuth: true,
    });
  });

  it.each([
    ['is not JSON', '{"OPENAI_API_KEY": "sk-half', 'not valid JSON'],
    ['has a wrongly typed member', '{"OPENAI_API_KEY": 42}', 'OPENAI_API_KEY must be a string or null'],
    ['has tokens without an id token', '{"auth_mode":"chatgpt","tokens":{"access_token":"a","refresh_token":"r"}}', 'tokens.id_token must be a non-empty string'],
  ])('reports an auth.json that %s, starts logged out and leaves the file untouched', async (_what, content, reason) => {
    const file = path.join(home.dir, 'auth.json');
    writeFileSync(file, content);
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    expect((await server.request('account/read', {})).result).toEqual({ account: null, userId: null, requiresOpenaiAuth: true, workspaceRouting: null });
    expect(server.stderr).toContain(`ignoring the saved credentials at ${file}: `);
    expect(server.stderr).toContain(reason);
    await server.close();
    expect(readFileSync(file, 'utf8')).toBe(content);
  });

  it('tightens a world-readable auth.json and CODEX_HOME to 0600/0700 when it writes', async () => {
    const file = path.join(home.dir, 'auth.json');
    writeFileSync(file, JSON.stringify({ OPENAI_API_KEY: 'sk-old' }));
    chmodSync(file, 0o644);
    chmodSync(home.dir, 0o755);
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    await server.request('account/logout');
    await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-new' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(home.dir).mode & 0o777).toBe(0o700);
  });

  it('creates a missing CODEX_HOME on the first login', async () => {
    const nested = path.join(home.dir, 'does', 'not', 'exist');
    server = track.process(await AppServerProcess.started({ codexHome: nested }));
    expect((await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-1' })).result).toEqual({ type: 'apiKey' });
    expect(statSync(path.join(nested, 'auth.json')).mode & 0o777).toBe(0o600);
  });

  it('answers a failed save with -32603 naming the file, and stays in the previous state', async () => {
    mkdirSync(path.join(home.dir, 'auth.json')); // a directory where the file should go: the rename fails
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    const response = await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-1' });
    expect(response.error.code).toBe(-32603);
    expect(response.error.message).toBe(
      `failed to save the API key: could not write ${path.join(home.dir, 'auth.json')} (EISDIR); check that the directory exists and is writable by this user`,
    );
    expect(response.error.message).not.toContain('sk-1');
    expect((await server.request('account/read', {})).result.account).toBeNull();
  });

  it('uses the ephemeral store without touching the disk', async () => {
    writeFileSync(path.join(home.dir, 'config.toml'), 'cli_auth_credentials_store = "ephemeral"\n');
    server = track.process(await AppServerProcess.started({ codexHome: home.dir }));
    await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-mem' });
    expect((await server.request('account/read', {})).result.account).toEqual({ type: 'apiKey' });
    await server.close();
    expect(() => statSync(path.join(home.dir, 'auth.json'))).toThrow();
  });
});

describe('configuration errors stop start-up with exit code 2 (docs/protocol.md §9)', () => {
  let home: ReturnType<typeof tempCodexHome>;

  it.each([
    ['malformed TOML', 'forced_login_method = \n', /config\.toml:1:\d+: config\.toml is not valid TOML/],
    ['a wrongly typed key', '# comment\nforced_login_method = "password"\n', /config\.toml:2: key forced_login_method must be "chatgpt" or "api", got "password"\./],
    ['a wrongly typed [authchart] key', '[authchart]\nlogin_port = "1455"\n', /config\.toml:2: key authchart\.login_port must be an integer from 0 to 65535, got "1455"\./],
    ['an empty workspace list', 'forced_chatgpt_workspace_id = []\n', /config\.toml:1: key forced_chatgpt_workspace_id must be a non-empty string or a list of them/],
  ])('%s', (_what, toml, message) => {
    home = track.home(toml);
    const result = runBin(['app-server'], home.dir);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain(path.join(home.dir, 'config.toml'));
  });

  it('refuses a --listen URL other than stdio://', () => {
    home = track.home();
    const result = runBin(['app-server', '--listen', 'ws://127.0.0.1:4000'], home.dir);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('unsupported --listen URL "ws://127.0.0.1:4000"');
  });

  it('accepts --listen stdio:// and --codex-home', async () => {
    home = track.home();
    const other = track.home();
    const server = track.process(await AppServerProcess.started({ codexHome: home.dir, args: ['--listen', 'stdio://', '--codex-home', other.dir] }));
    expect(server.messages[0].result.codexHome).toBe(other.dir);
    expect(await server.close()).toEqual({ code: 0, signal: null });
  });
});

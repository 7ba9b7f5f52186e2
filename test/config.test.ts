import { AUTHCHART_KEYS, ConfigError, closestKey, editDistance, lineOfKey, parseConfig, resolveCodexHome } from '../src/config';

describe('configuration (docs/protocol.md, Configuration)', () => {
  it('reads [authchart] discovery_timeout_ms (the bound of one workspace discovery)', async () => {
    expect((await parseConfig('[authchart]\ndiscovery_timeout_ms = 2500\n', '/h', {})).discoveryTimeoutMs).toBe(2500);
    await expect(parseConfig('[authchart]\ndiscovery_timeout_ms = 0\n', '/h', {})).rejects.toThrow(
      '/h/config.toml:2: key authchart.discovery_timeout_ms must be a positive integer of milliseconds up to 2147483647 (about 24 days), got 0.',
    );
  });

  it('has the documented defaults', async () => {
    expect(await parseConfig(null, '/h', {})).toEqual({
      codexHome: '/h',
      configFile: '/h/config.toml',
      forcedWorkspaceIds: null,
      forcedLoginMethod: null,
      credentialsStore: 'file',
      chatgptBaseUrl: 'https://chatgpt.com/backend-api/',
      externalRefreshTimeoutMs: 10000,
      issuer: 'https://auth.openai.com',
      tokenUrl: 'https://auth.openai.com/oauth/token',
      revokeUrl: null,
      loginPort: 1455,
      loginTimeoutMs: 600000,
      deviceLoginTimeoutMs: 900000,
      discoveryTimeoutMs: 15000,
      proactiveRefreshSkewSeconds: 300,
      warnings: [],
    });
  });

  it('reads Codex keys and the [authchart] table, ignoring keys it does not know', async () => {
    const text = [
      'model = "gpt-5"',
      'forced_chatgpt_workspace_id = ["a", "b"]',
      'forced_login_method = "api"',
      'cli_auth_credentials_store = "ephemeral"',
      'chatgpt_base_url = "http://127.0.0.1:9/backend-api/"',
      '[authchart]',
      'external_refresh_timeout_ms = 300',
      'issuer = "http://127.0.0.1:8/"',
      'login_port = 0',
      '[profiles.x]',
      'model = "o3"',
    ].join('\n');
    expect(await parseConfig(text, '/h', {})).toMatchObject({
      forcedWorkspaceIds: ['a', 'b'],
      forcedLoginMethod: 'api',
      credentialsStore: 'ephemeral',
      chatgptBaseUrl: 'http://127.0.0.1:9/backend-api/',
      externalRefreshTimeoutMs: 300,
      issuer: 'http://127.0.0.1:8',
      tokenUrl: 'http://127.0.0.1:8/oauth/token',
      loginPort: 0,
    });
  });

  it('lets CODEX_REFRESH_TOKEN_URL_OVERRIDE win over [authchart] token_url', async () => {
    const config = await parseConfig('[authchart]\ntoken_url = "http://127.0.0.1:1/t"\n', '/h', { CODEX_REFRESH_TOKEN_URL_OVERRIDE: 'http://127.0.0.1:2/o' });
    expect(config.tokenUrl).toBe('http://127.0.0.1:2/o');
    await expect(parseConfig(null, '/h', { CODEX_REFRESH_TOKEN_URL_OVERRIDE: 'nope' })).rejects.toThrow('CODEX_REFRESH_TOKEN_URL_OVERRIDE must be an http(s) URL');
  });

  it.each([
    ['forced_login_method = 3', 'key forced_login_method must be "chatgpt" or "api", got 3.', 1],
    ['x = 1\n\nforced_chatgpt_workspace_id = [1]', 'key forced_chatgpt_workspace_id must be a non-empty string or a list of them', 3],
    ['[authchart]\nexternal_refresh_timeout_ms = -5', 'key authchart.external_refresh_timeout_ms must be a positive integer of milliseconds up to 2147483647 (about 24 days), got -5.', 2],
    ['authchart.login_timeout_ms = 1.5', 'key authchart.login_timeout_ms must be a positive integer of milliseconds up to 2147483647 (about 24 days), got 1.5.', 1],
    // Node fires a longer timer after 1 ms: such a value would end every browser login at once.
    ['[authchart]\nlogin_timeout_ms = 2147483648', 'key authchart.login_timeout_ms must be a positive integer of milliseconds up to 2147483647 (about 24 days), got 2147483648.', 2],
    ['chatgpt_base_url = "ftp://x"', 'key chatgpt_base_url must be an http(s) URL string', 1],
    ['authchart = 5', 'key authchart must be a table', 1],
  ])('refuses %j naming file, line and key', async (text, message, line) => {
    const attempt = parseConfig(text, '/h', {});
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(`/h/config.toml:${line}: ${message}`);
  });

  it('warns about an unknown [authchart] key, naming its line and the closest known key, and keeps the defaults', async () => {
    const config = await parseConfig('model = "o3"\n[authchart]\nlogin_prot = 1455\nissuer_url = "x"\n', '/h', {});
    expect(config.loginPort).toBe(1455);
    expect(config.warnings).toEqual([
      `/h/config.toml:3: unknown key authchart.login_prot is ignored; did you mean login_port? (known keys: ${AUTHCHART_KEYS.join(', ')})`,
      `/h/config.toml:4: unknown key authchart.issuer_url is ignored; did you mean issuer? (known keys: ${AUTHCHART_KEYS.join(', ')})`,
    ]);
    // Unknown top-level keys belong to Codex: no warning.
    expect((await parseConfig('model = "o3"\nfoo = 1\n', '/h', {})).warnings).toEqual([]);
  });

  it('reads every [authchart] key it knows without a warning, and knows every key it reads', async () => {
    const text = [
      '[authchart]',
      'external_refresh_timeout_ms = 5000',
      'issuer = "http://127.0.0.1:1"',
      'token_url = "http://127.0.0.1:2/token"',
      'revoke_url = "http://127.0.0.1:3/revoke"',
      'login_port = 0',
      'login_timeout_ms = 1000',
      'device_login_timeout_ms = 2000',
      'proactive_refresh_skew_seconds = 60',
      'discovery_timeout_ms = 3000',
    ].join('\n');
    const config = await parseConfig(text, '/h', {});
    expect(config.warnings).toEqual([]);
    expect(text.split('\n').slice(1).map((line) => line.split(' = ')[0])).toEqual([...AUTHCHART_KEYS]);
    expect(config).toMatchObject({
      externalRefreshTimeoutMs: 5000,
      issuer: 'http://127.0.0.1:1',
      tokenUrl: 'http://127.0.0.1:2/token',
      revokeUrl: 'http://127.0.0.1:3/revoke',
      loginPort: 0,
      loginTimeoutMs: 1000,
      deviceLoginTimeoutMs: 2000,
      proactiveRefreshSkewSeconds: 60,
      discoveryTimeoutMs: 3000,
    });
  });

  it('counts a swap of two neighbours as one edit', () => {
    expect(editDistance('login_prot', 'login_port')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closestKey('token_uri', AUTHCHART_KEYS)).toBe('token_url');
    expect(closestKey('login_timeout', AUTHCHART_KEYS)).toBe('login_timeout_ms');
  });

  it.each([
    ['a = "abc\nb = 1\n', 1, 5],
    ['[authchart]\nissuer = \'http://x\n', 2, 10],
    ['a = "abc', 1, 5],
  ])('says where a string that is not closed opens: %j', async (text, line, column) => {
    await expect(parseConfig(text, '/h', {})).rejects.toThrow(`/h/config.toml:${line}:${column}: config.toml has a string that is not closed`);
  });

  it('keeps the parser\'s words for other syntax errors', async () => {
    await expect(parseConfig('a = = 1', '/h', {})).rejects.toThrow(/^\/h\/config.toml:1:\d+: config.toml is not valid TOML \(Invalid TOML document: /);
  });

  it('caps timeouts at what a Node timer can hold', async () => {
    await expect(parseConfig('[authchart]\nexternal_refresh_timeout_ms = 2147483648', '/h', {})).rejects.toThrow(
      'must be a positive integer of milliseconds up to 2147483647',
    );
  });

  it('finds the line of a key in a table', () => {
    expect(lineOfKey('a = 1\n[t]\nb = 2\n[u]\nb = 3', 'u', 'b')).toBe(5);
    expect(lineOfKey('a = 1', 'x', 'a')).toBe(0);
  });

  it('resolves CODEX_HOME from the flag, then the env, then ~/.codex', () => {
    expect(resolveCodexHome('rel', { CODEX_HOME: '/env' })).toBe(`${process.cwd()}/rel`);
    expect(resolveCodexHome(undefined, { CODEX_HOME: '/env' })).toBe('/env');
    expect(resolveCodexHome(undefined, {})).toMatch(/\/\.codex$/);
  });
});

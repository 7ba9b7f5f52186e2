/**
 * The keyring store (PROTOCOL.md §13.3) against a real, private Secret Service (gnome-keyring on a
 * session bus of our own), entries checked with `secret-tool`; and the ways a keyring is missing: no
 * session bus, a dead bus address, a bus that never answers.
 */
import { realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Secret } from '../../machines/secret';
import type { ManagedCredentials } from '../../src/auth/credentials';
import { KeyringCredentialStore, keyringAccountFor, keyringSecretOf } from '../../src/auth/keyringStore';
import { createCredentialStore } from '../../src/auth/stores';
import { parseConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { issuedTokens } from '../support/httpFakes';
import { trackResources } from '../support/resources';
import { deadBusAddress, hungBus, readIfExists, startSecretService, withoutBus, type SecretService } from '../support/secretService';

const chatgpt = (round = 0): ManagedCredentials => {
  const t = issuedTokens(round);
  return {
    mode: 'chatgpt',
    apiKey: null,
    tokens: { idToken: new Secret(t.idToken), accessToken: new Secret(t.accessToken), refreshToken: new Secret(t.refreshToken), accountId: 'acct-1' },
    lastRefresh: '2026-12-04T07:00:00.000Z',
  };
};

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }) };
}

describe('the keyring entry of a CODEX_HOME', () => {
  const own = trackResources();

  it('is cli| + the first 16 hex chars of sha256(realpath of CODEX_HOME), as Codex computes it', () => {
    const home = own.home();
    const link = `${home.dir}-link`;
    symlinkSync(home.dir, link);
    own.server({ close: async () => rmSync(link, { force: true }) });
    const expected = `cli|${createHash('sha256').update(realpathSync(home.dir)).digest('hex').slice(0, 16)}`;
    expect(keyringAccountFor(home.dir)).toBe(expected);
    expect(keyringAccountFor(link)).toBe(expected);
    expect(keyringAccountFor('/no/such/codex-home')).toBe(`cli|${createHash('sha256').update('/no/such/codex-home').digest('hex').slice(0, 16)}`);
  });

  it('holds the compact auth.json JSON', () => {
    const secret = keyringSecretOf(chatgpt());
    expect(secret).not.toContain('\n');
    expect(JSON.parse(secret)).toEqual({
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: { id_token: issuedTokens(0).idToken, access_token: issuedTokens(0).accessToken, refresh_token: issuedTokens(0).refreshToken, account_id: 'acct-1' },
      last_refresh: '2026-12-04T07:00:00.000Z',
    });
  });
});

describe('the keyring store on a real Secret Service', () => {
  const own = trackResources();
  let service: SecretService;

  beforeEach(async () => {
    service = own.server(await startSecretService());
  });

  const storeOn = (home: string, mode: 'keyring' | 'auto', env: NodeJS.ProcessEnv = { ...process.env, ...service.env }) => {
    const log = recordingLogger();
    return { store: new KeyringCredentialStore(home, mode, { env, logger: log.logger }), log };
  };

  it('saves, reads and deletes one entry with the attributes Codex uses, and removes auth.json on save', async () => {
    const home = own.home();
    writeFileSync(path.join(home.dir, 'auth.json'), '{"OPENAI_API_KEY":"sk-stale-file-copy"}');
    const { store } = storeOn(home.dir, 'keyring');
    await store.save(chatgpt());
    const account = keyringAccountFor(home.dir);
    const items = service.search({ service: 'Codex Auth' });
    expect(items).toHaveLength(1);
    // What the binding writes: Codex's search attributes (service, username) and target. It cannot set
    // Codex's extra `application` attribute or its label; Codex finds entries by service + username.
    expect(items[0].attributes).toEqual({ service: 'Codex Auth', username: account, target: 'default' });
    expect(items[0].label).toBe(`keyring:${account}@Codex Auth`);
    expect(items[0].secret).toBe(keyringSecretOf(chatgpt()));
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
    expect(store.location).toBe(`the OS keyring (service "Codex Auth", account "${account}")`);

    const loaded = await store.load();
    expect(loaded).toEqual({ status: 'ok', credentials: chatgpt() });

    await store.save(chatgpt(1)); // updated in place, not a second entry
    expect(service.search({ service: 'Codex Auth' }).map((i) => i.secret)).toEqual([keyringSecretOf(chatgpt(1))]);

    await store.clear();
    expect(service.search({ service: 'Codex Auth' })).toEqual([]);
    expect(await store.load()).toEqual({ status: 'empty' });
  });

  it('reads, updates in place and deletes an entry Codex wrote (its exact attributes and label)', async () => {
    const home = own.home();
    const account = keyringAccountFor(home.dir);
    const codexAttributes = { service: 'Codex Auth', username: account, target: 'default', application: 'rust-keyring' };
    service.store(`${account}@Codex Auth:default`, codexAttributes, keyringSecretOf(chatgpt(2)));
    const { store } = storeOn(home.dir, 'keyring');

    expect(await store.load()).toEqual({ status: 'ok', credentials: chatgpt(2) });
    await store.save(chatgpt(3));
    const items = service.search({ service: 'Codex Auth' });
    expect(items).toEqual([{ label: `${account}@Codex Auth:default`, attributes: codexAttributes, secret: keyringSecretOf(chatgpt(3)) }]);
    await store.clear();
    expect(service.search({ service: 'Codex Auth' })).toEqual([]);
  });

  it('keeps the entries of two CODEX_HOMEs apart', async () => {
    const [a, b] = [own.home(), own.home()];
    await storeOn(a.dir, 'keyring').store.save(chatgpt(0));
    await storeOn(b.dir, 'keyring').store.save(chatgpt(1));
    expect(await storeOn(a.dir, 'keyring').store.load()).toEqual({ status: 'ok', credentials: chatgpt(0) });
    expect(await storeOn(b.dir, 'keyring').store.load()).toEqual({ status: 'ok', credentials: chatgpt(1) });
  });

  it('a locked keyring that no one can unlock: keyring fails clearly at once, auto falls back', async () => {
    const home = own.home();
    const { store } = storeOn(home.dir, 'keyring');
    await store.save(chatgpt());
    await service.lock();
    const loaded = await store.load();
    expect(loaded.status === 'corrupt' && loaded.reason).toMatch(/^the keyring cannot be read \(.*prompt.*\)\. cli_auth_credentials_store = "keyring" needs a running, unlocked Secret Service/);
    await expect(store.save(chatgpt())).rejects.toThrow(/^failed to write credentials to keyring: .*prompt/);
    const auto = storeOn(home.dir, 'auto');
    await auto.store.save(chatgpt());
    expect(readIfExists(path.join(home.dir, 'auth.json'))).not.toBeNull();
    expect(auto.log.lines.join('')).toMatch(/the OS keyring is not reachable/);
  });

  it('auto uses the keyring when it answers, and still reads a login saved earlier to auth.json', async () => {
    const home = own.home();
    writeFileSync(path.join(home.dir, 'auth.json'), '{"auth_mode":"apikey","OPENAI_API_KEY":"sk-from-the-file"}', { mode: 0o600 });
    const { store, log } = storeOn(home.dir, 'auto');
    const loaded = await store.load();
    expect(loaded.status === 'ok' && loaded.credentials.mode).toBe('apiKey');
    expect(store.location).toBe(path.join(home.dir, 'auth.json'));
    await store.save(chatgpt());
    expect(service.search({ service: 'Codex Auth' })).toHaveLength(1);
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
    expect(store.location).toMatch(/^the OS keyring/);
    expect(log.lines.filter((l) => l.includes('warn'))).toEqual([]);
  });
});

describe('the keyring store without a Secret Service', () => {
  const own = trackResources();

  it.each([
    ['no session bus', () => withoutBus()],
    ['a dead bus address', () => ({ ...process.env, DBUS_SESSION_BUS_ADDRESS: deadBusAddress() })],
  ])('keyring with %s: reads as logged out with the reason, refuses to save clearly, clears auth.json', async (_what, envOf) => {
    const home = own.home();
    const log = recordingLogger();
    const store = new KeyringCredentialStore(home.dir, 'keyring', { env: envOf(), logger: log.logger });
    const loaded = await store.load();
    expect(loaded.status).toBe('corrupt');
    expect(loaded.status === 'corrupt' && loaded.reason).toMatch(/^the keyring cannot be read \(.+\)\. cli_auth_credentials_store = "keyring" needs a running, unlocked Secret Service/);
    await expect(store.save(chatgpt())).rejects.toThrow(/^failed to write credentials to keyring: .+\. cli_auth_credentials_store = "keyring" needs/);
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
    writeFileSync(path.join(home.dir, 'auth.json'), '{"OPENAI_API_KEY":"sk-left-behind"}');
    await store.clear();
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
    expect(log.lines.join('')).toMatch(/could not remove the OS keyring .*auth\.json was removed.*secret-tool clear service "Codex Auth" username "cli\|/);
  });

  it('auto with no session bus falls back to auth.json, with a warning and a location that says so', async () => {
    const home = own.home();
    const log = recordingLogger();
    const store = new KeyringCredentialStore(home.dir, 'auto', { env: withoutBus(), logger: log.logger });
    expect(await store.load()).toEqual({ status: 'empty' });
    await store.save(chatgpt());
    expect(JSON.parse(readIfExists(path.join(home.dir, 'auth.json'))!)).toEqual(JSON.parse(keyringSecretOf(chatgpt())));
    expect(store.location).toMatch(new RegExp(`^${path.join(home.dir, 'auth.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(auto: the OS keyring is not reachable: .+\\)$`));
    // Warned once (on the first read); the save that follows says it again at debug level only.
    expect(log.lines.filter((l) => l.startsWith('authchart warn:'))).toEqual([
      expect.stringMatching(/^authchart warn: cli_auth_credentials_store = "auto": the OS keyring is not reachable \(.+\); reading .*auth\.json instead\n$/),
    ]);
    expect(log.lines.join('')).toMatch(/debug: cli_auth_credentials_store = "auto": the OS keyring is not reachable \(.+\); saving to .*auth\.json instead/);
    expect(await store.load()).toEqual({ status: 'ok', credentials: chatgpt() });
    await store.clear();
    expect(readIfExists(path.join(home.dir, 'auth.json'))).toBeNull();
  });

  it('bounds every call: a bus that never answers fails within the bound, for reads, saves and clears', async () => {
    const bus = own.server(await hungBus());
    const home = own.home();
    const store = new KeyringCredentialStore(home.dir, 'keyring', { env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: bus.address }, timeoutMs: 300 });
    const loaded = await store.load();
    expect(loaded.status === 'corrupt' && loaded.reason).toMatch(/the OS keyring did not answer within 0\.3s/);
    await expect(store.save(chatgpt())).rejects.toThrow(/failed to write credentials to keyring: the OS keyring did not answer within 0\.3s/);
    await store.clear();
  });

  it('createCredentialStore picks the keyring store for "keyring" and "auto", with its code deferred to first use', async () => {
    const home = own.home();
    for (const kind of ['keyring', 'auto'] as const) {
      const config = await parseConfig(`cli_auth_credentials_store = "${kind}"\n`, home.dir, {});
      const store = createCredentialStore(config);
      expect(store.location).toBe(`the OS keyring (cli_auth_credentials_store = "${kind}")`);
    }
  });
});

/**
 * Picks the credential store `cli_auth_credentials_store` asks for (PROTOCOL.md §9, §13.3). This module
 * is on the app-server's spawn path, so the keyring store's code (src/auth/keyringStore.ts) loads only
 * when a keyring store is first used, never for the file store.
 */
import type { AuthchartConfig } from '../config';
import { silentLogger, type Logger } from '../log';
import { EphemeralCredentialStore, FileCredentialStore, type CredentialStore, type LoadResult, type ManagedCredentials } from './credentials';
import type { KeyringCredentialStore, KeyringMode } from './keyringStore';

/** A keyring store whose module loads on first use; it then forwards every call to it. */
class LazyKeyringStore implements CredentialStore {
  private loading: Promise<KeyringCredentialStore> | null = null;
  private loaded: KeyringCredentialStore | null = null;

  constructor(
    private readonly codexHome: string,
    private readonly mode: KeyringMode,
    private readonly logger: Logger,
  ) {}

  private store(): Promise<KeyringCredentialStore> {
    this.loading ??= import('./keyringStore.js').then(({ KeyringCredentialStore: Store }) => {
      this.loaded = new Store(this.codexHome, this.mode, { logger: this.logger });
      return this.loaded;
    });
    return this.loading;
  }

  get location(): string {
    return this.loaded?.location ?? `the OS keyring (cli_auth_credentials_store = "${this.mode}")`;
  }

  async load(): Promise<LoadResult> {
    return (await this.store()).load();
  }

  async save(credentials: ManagedCredentials): Promise<void> {
    return (await this.store()).save(credentials);
  }

  async clear(): Promise<void> {
    return (await this.store()).clear();
  }

  async withLock<T>(critical: () => Promise<T>, logger?: Logger): Promise<T> {
    return (await this.store()).withLock(critical, logger);
  }
}

/** The store for a configuration; `logger` receives the store's warnings (auth.json's mode, `auto` falling back to auth.json). */
export function createCredentialStore(config: AuthchartConfig, logger: Logger = silentLogger): CredentialStore {
  switch (config.credentialsStore) {
    case 'file':
      return new FileCredentialStore(config.codexHome, { logger });
    case 'ephemeral':
      return new EphemeralCredentialStore();
    case 'keyring':
    case 'auto':
      return new LazyKeyringStore(config.codexHome, config.credentialsStore, logger);
  }
}

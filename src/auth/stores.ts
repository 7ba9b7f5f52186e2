/**
 * Picks the credential store `cli_auth_credentials_store` asks for.
 */
import { ConfigError, type AuthchartConfig } from '../config';
import type { Logger } from '../log';
import { EphemeralCredentialStore, FileCredentialStore, type CredentialStore } from './credentials';

/** The store for a configuration (warnings about its files go to `logger`); `keyring` is refused until a keyring backend exists. */
export function createCredentialStore(config: AuthchartConfig, logger?: Logger): CredentialStore {
  switch (config.credentialsStore) {
    case 'file':
    case 'auto': // auto = keyring, else file; there is no keyring backend yet, so file.
      return new FileCredentialStore(config.codexHome, { logger });
    case 'ephemeral':
      return new EphemeralCredentialStore();
    case 'keyring':
      throw new ConfigError(
        `${config.configFile}: cli_auth_credentials_store = "keyring" is not supported yet by authchart. ` +
          'Use "file" (auth.json), "auto" or "ephemeral" instead.',
      );
  }
}

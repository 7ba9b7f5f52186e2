/**
 * The OS keyring as a credential store (`cli_auth_credentials_store = "keyring" | "auto"`, PROTOCOL.md
 * §13.3), in Codex's entry format so a login saved by `codex login` is used here and the other way round:
 * service `Codex Auth`, account (`username`) `cli|` + the first 16 hex chars of sha256(realpath of
 * CODEX_HOME), target `default`; the secret is the compact auth.json JSON of §10.
 *
 * `keyring` keeps credentials only there: saving removes auth.json, a keyring that cannot be reached
 * fails the save at once with a clear message, and reads as logged out with a warning. `auto` uses the
 * keyring when it answers, else auth.json, and says so on stderr (Codex falls back silently). Clearing
 * removes the entry and auth.json in both modes, whatever the keyring says. The cross-process lock is the
 * file store's (`auth.json.lock` in CODEX_HOME), so every authchart and store kind on a home shares it.
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { silentLogger, type Logger } from '../log';
import { FileCredentialStore, formatAuthJson, parseAuthJson, type CredentialStore, type LoadResult, type ManagedCredentials } from './credentials';
import { callKeyring, KeyringError, type KeyringEntryName, type KeyringOperation } from './keyringCall';

/** Codex's keyring service name. */
export const KEYRING_SERVICE = 'Codex Auth';
/** Codex's keyring target. */
export const KEYRING_TARGET = 'default';

/** Codex's account name for a CODEX_HOME: `cli|` + the first 16 hex chars of sha256(realpath). */
export function keyringAccountFor(codexHome: string): string {
  let canonical = codexHome;
  try {
    canonical = realpathSync(codexHome);
  } catch {
    // Not created yet: Codex hashes the path as given then, and so do we.
  }
  return `cli|${createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 16)}`;
}

/** The entry of a CODEX_HOME. */
export function keyringEntryFor(codexHome: string): KeyringEntryName {
  return { target: KEYRING_TARGET, service: KEYRING_SERVICE, account: keyringAccountFor(codexHome) };
}

/** The secret Codex stores: auth.json's JSON without the indentation. */
export function keyringSecretOf(credentials: ManagedCredentials): string {
  return JSON.stringify(JSON.parse(formatAuthJson(credentials)));
}

/** How a keyring store behaves when the keyring fails. */
export type KeyringMode = 'keyring' | 'auto';

/** Options of {@link KeyringCredentialStore}. */
export interface KeyringStoreOptions {
  logger?: Logger;
  /** Bound of each keyring call (default KEYRING_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Environment of the keyring calls (default: this process's; tests point it at their own session bus). */
  env?: NodeJS.ProcessEnv;
  /** Runs a keyring call (tests may swap it; default: a bounded child process). */
  call?: (name: KeyringEntryName, operation: KeyringOperation) => Promise<string | boolean | null>;
}

/** Credentials in the OS keyring (with auth.json as the fallback of `auto`). */
export class KeyringCredentialStore implements CredentialStore {
  readonly entry: KeyringEntryName;
  private readonly file: FileCredentialStore;
  private readonly logger: Logger;
  private readonly call: NonNullable<KeyringStoreOptions['call']>;
  /** True when the credentials are in auth.json (auto only: a fallback, or a login saved there earlier). */
  private inFile = false;
  private fallbackReason: string | null = null;
  /** The fallback is a warning once per process, then debug lines (a refresh reads and saves each time). */
  private warnedFallback = false;

  constructor(
    readonly codexHome: string,
    readonly mode: KeyringMode,
    options: KeyringStoreOptions = {},
  ) {
    this.entry = keyringEntryFor(codexHome);
    this.logger = options.logger ?? silentLogger;
    this.file = new FileCredentialStore(codexHome, { logger: this.logger });
    this.call = options.call ?? ((name, operation) => callKeyring(name, operation, { timeoutMs: options.timeoutMs, env: options.env }));
  }

  /** The keyring entry, in words (service and account, as `secret-tool` would find it). */
  get entryDescription(): string {
    return `the OS keyring (service "${this.entry.service}", account "${this.entry.account}")`;
  }

  /** Where the credentials live now: the keyring entry, or auth.json with the reason `auto` fell back. */
  get location(): string {
    if (!this.inFile) return this.entryDescription;
    return this.fallbackReason ? `${this.file.location} (auto: the OS keyring is not reachable: ${this.fallbackReason})` : this.file.location;
  }

  private fallBack(what: string, error: unknown): void {
    this.fallbackReason = (error as Error).message;
    this.inFile = true;
    const message = `cli_auth_credentials_store = "auto": the OS keyring is not reachable (${this.fallbackReason}); ${what} ${this.file.location} instead`;
    if (this.warnedFallback) this.logger.debug(message);
    else this.logger.warn(message);
    this.warnedFallback = true;
  }

  async load(): Promise<LoadResult> {
    let secret: string | null;
    try {
      secret = (await this.call(this.entry, { op: 'get' })) as string | null;
    } catch (error) {
      if (this.mode === 'auto') {
        this.fallBack('reading', error);
        return this.file.load();
      }
      return {
        status: 'corrupt',
        reason:
          `the keyring cannot be read (${(error as Error).message}). cli_auth_credentials_store = "keyring" needs a running, ` +
          'unlocked Secret Service (e.g. gnome-keyring) in this session; or choose "auto" or "file" in config.toml',
      };
    }
    this.fallbackReason = null;
    if (secret === null) {
      this.inFile = false;
      if (this.mode === 'keyring') return { status: 'empty' };
      // auto: nothing in the keyring yet, so a login Codex or authchart saved to auth.json still counts.
      const fromFile = await this.file.load();
      this.inFile = fromFile.status !== 'empty';
      return fromFile;
    }
    this.inFile = false;
    try {
      const credentials = parseAuthJson(secret);
      return credentials ? { status: 'ok', credentials } : { status: 'empty' };
    } catch (error) {
      return { status: 'corrupt', reason: `the keyring entry is not auth.json JSON: ${(error as Error).message}` };
    }
  }

  async save(credentials: ManagedCredentials): Promise<void> {
    try {
      await this.call(this.entry, { op: 'set', secret: keyringSecretOf(credentials) });
    } catch (error) {
      if (this.mode === 'auto') {
        this.fallBack('saving to', error);
        return this.file.save(credentials);
      }
      throw new KeyringError(
        `failed to write credentials to keyring: ${(error as Error).message}. cli_auth_credentials_store = "keyring" needs a running, ` +
          'unlocked Secret Service (e.g. gnome-keyring) in this session; or choose "auto" or "file" in config.toml',
      );
    }
    this.inFile = false;
    this.fallbackReason = null;
    // One copy only: a stale auth.json would be read by a file-store process and spend an old refresh token.
    await this.file.clear();
  }

  /** Removes the entry and auth.json; a keyring that cannot be reached is reported, never blocks a logout. */
  async clear(): Promise<void> {
    await this.file.clear();
    try {
      await this.call(this.entry, { op: 'delete' });
      this.inFile = false;
      this.fallbackReason = null;
    } catch (error) {
      this.logger.warn(
        `could not remove ${this.entryDescription} (${(error as Error).message}); auth.json was removed. If an entry is left, ` +
          `remove it with: secret-tool clear service "${this.entry.service}" username "${this.entry.account}"`,
      );
    }
  }

  /** The file store's lock (`auth.json.lock`), shared with every process and store kind on this CODEX_HOME. */
  withLock<T>(critical: () => Promise<T>, logger?: Logger): Promise<T> {
    return this.file.withLock(critical, logger ?? this.logger);
  }
}

/**
 * Credential stores (docs/protocol.md §10): where managed credentials (an API key, or ChatGPT tokens the
 * server refreshes itself) are kept between runs. External tokens never come here: see ExternalTokenVault.
 */
import { mkdir, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { Secret } from '../../machines/secret';
import type { ChatgptCredentials } from '../../machines/types';
import type { Logger } from '../log';
import { withFileLock } from './lock';
import { prepareHome, readAuthFile, removeLeftovers, writeFileAtomically, writeTarget } from './storeFiles';

export type { ChatgptTokens } from '../../machines/types';

/** What a store holds. */
export type ManagedCredentials = { mode: 'apiKey'; apiKey: Secret } | ({ mode: 'chatgpt' } & ChatgptCredentials);

/** The outcome of reading a store. `corrupt` carries a reason safe to log (never file contents). */
export type LoadResult =
  | { status: 'empty' }
  | { status: 'ok'; credentials: ManagedCredentials }
  | { status: 'corrupt'; reason: string };

/** A place to keep managed credentials. */
export interface CredentialStore {
  /** Where the credentials live, for messages (a path, or "memory"). */
  readonly location: string;
  load(): Promise<LoadResult>;
  save(credentials: ManagedCredentials): Promise<void>;
  clear(): Promise<void>;
  /**
   * Runs `critical` while no other writer (another process on the same CODEX_HOME) can change the store:
   * a refresh re-reads, spends the refresh token and saves inside it. Throws StoreLockError after 15 s.
   */
  withLock<T>(critical: () => Promise<T>, logger?: Logger): Promise<T>;
}

/** Keeps credentials in memory only (`cli_auth_credentials_store = "ephemeral"`). */
export class EphemeralCredentialStore implements CredentialStore {
  readonly location = 'memory (ephemeral store)';
  private credentials: ManagedCredentials | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  /** Only this process sees the store: holders just take turns. */
  withLock<T>(critical: () => Promise<T>): Promise<T> {
    const turn = this.queue.then(critical);
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  async load(): Promise<LoadResult> {
    return this.credentials ? { status: 'ok', credentials: this.credentials } : { status: 'empty' };
  }

  async save(credentials: ManagedCredentials): Promise<void> {
    this.credentials = credentials;
  }

  async clear(): Promise<void> {
    this.credentials = null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(owner: Record<string, unknown>, key: string, where: string): string {
  const value = owner[key];
  if (typeof value !== 'string' || value.length === 0) throw new Error(`${where}${key} must be a non-empty string`);
  return value;
}

/** Parses the text of an auth.json; throws an Error whose message names the faulty field. */
export function parseAuthJson(text: string): ManagedCredentials | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON (${(error as Error).message})`);
  }
  if (!isRecord(doc)) throw new Error('the top level must be a JSON object');
  const apiKeyRaw = doc.OPENAI_API_KEY;
  if (apiKeyRaw !== undefined && apiKeyRaw !== null && typeof apiKeyRaw !== 'string') {
    throw new Error('OPENAI_API_KEY must be a string or null');
  }
  const apiKey = typeof apiKeyRaw === 'string' && apiKeyRaw.length > 0 ? new Secret(apiKeyRaw) : null;
  const modeRaw = doc.auth_mode ?? (apiKey ? 'apikey' : 'chatgpt');
  if (modeRaw !== 'apikey' && modeRaw !== 'chatgpt' && modeRaw !== 'apiKey') {
    throw new Error(`auth_mode must be "apikey" or "chatgpt", got ${JSON.stringify(modeRaw)}`);
  }
  if (modeRaw !== 'chatgpt') {
    if (!apiKey) throw new Error('auth_mode is "apikey" but OPENAI_API_KEY is missing');
    return { mode: 'apiKey', apiKey };
  }
  if (doc.tokens === undefined || doc.tokens === null) return null;
  if (!isRecord(doc.tokens)) throw new Error('tokens must be an object');
  const tokens = doc.tokens;
  const accountId = tokens.account_id;
  if (accountId !== undefined && accountId !== null && typeof accountId !== 'string') {
    throw new Error('tokens.account_id must be a string or null');
  }
  const lastRefresh = doc.last_refresh;
  if (lastRefresh !== undefined && lastRefresh !== null && (typeof lastRefresh !== 'string' || Number.isNaN(Date.parse(lastRefresh)))) {
    throw new Error('last_refresh must be an RFC 3339 date string');
  }
  return {
    mode: 'chatgpt',
    apiKey,
    tokens: {
      idToken: new Secret(nonEmptyString(tokens, 'id_token', 'tokens.')),
      accessToken: new Secret(nonEmptyString(tokens, 'access_token', 'tokens.')),
      refreshToken: new Secret(nonEmptyString(tokens, 'refresh_token', 'tokens.')),
      accountId: typeof accountId === 'string' ? accountId : null,
    },
    lastRefresh: typeof lastRefresh === 'string' ? lastRefresh : null,
  };
}

/** Serializes credentials in the auth.json layout Codex reads and writes. */
export function formatAuthJson(credentials: ManagedCredentials): string {
  const doc =
    credentials.mode === 'apiKey'
      ? { auth_mode: 'apikey', OPENAI_API_KEY: credentials.apiKey.reveal() }
      : {
          auth_mode: 'chatgpt',
          OPENAI_API_KEY: credentials.apiKey ? credentials.apiKey.reveal() : null,
          tokens: {
            id_token: credentials.tokens.idToken.reveal(),
            access_token: credentials.tokens.accessToken.reveal(),
            refresh_token: credentials.tokens.refreshToken.reveal(),
            account_id: credentials.tokens.accountId,
          },
          last_refresh: credentials.lastRefresh,
        };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * `$CODEX_HOME/auth.json`: mode 0600 in a 0700 directory, replaced atomically (temp file + rename), read
 * only as a regular file of bounded size, never written through a link that leaves CODEX_HOME
 * (src/auth/storeFiles.ts). Temp files a killed writer left are removed on the next start or save.
 */
export class FileCredentialStore implements CredentialStore {
  readonly location: string;
  private logger: Logger | null;
  private warnedMode = false;
  private warnedHome = false;

  constructor(
    readonly codexHome: string,
    options: { logger?: Logger } = {},
  ) {
    this.location = path.join(codexHome, 'auth.json');
    this.logger = options.logger ?? null;
  }

  async load(): Promise<LoadResult> {
    await this.removeLeftovers(false);
    const read = await readAuthFile(this.location);
    if (read.status === 'missing') return { status: 'empty' };
    if (read.status === 'unreadable') return { status: 'corrupt', reason: read.reason };
    if ((read.mode & 0o077) !== 0 && !this.warnedMode) {
      this.warnedMode = true;
      this.logger?.warn(
        `${this.location} can be read by other users (mode ${read.mode.toString(8).padStart(4, '0')}); it holds credentials. ` +
          `Run: chmod 600 ${this.location} (authchart also rewrites it 0600 on its next save).`,
      );
    }
    try {
      const credentials = parseAuthJson(read.text);
      return credentials ? { status: 'ok', credentials } : { status: 'empty' };
    } catch (error) {
      return { status: 'corrupt', reason: (error as Error).message };
    }
  }

  async save(credentials: ManagedCredentials): Promise<void> {
    await prepareHome(this.codexHome, (message) => {
      if (this.warnedHome) return;
      this.warnedHome = true;
      this.logger?.warn(message);
    });
    const target = await writeTarget(this.codexHome, this.location);
    await this.removeLeftovers(true);
    await writeFileAtomically(target, formatAuthJson(credentials));
  }

  /** Removes auth.json (a link there is removed, never what it points to). */
  async clear(): Promise<void> {
    try {
      await unlink(this.location);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await this.removeLeftovers(true);
  }

  /** Holds `auth.json.lock` (shared with every authchart process on this CODEX_HOME) while `critical` runs. */
  async withLock<T>(critical: () => Promise<T>, logger?: Logger): Promise<T> {
    this.logger ??= logger ?? null;
    await mkdir(this.codexHome, { recursive: true, mode: 0o700 });
    return withFileLock(this.location, critical, { logger });
  }

  private async removeLeftovers(holdingLock: boolean): Promise<void> {
    const removed = await removeLeftovers(this.codexHome, path.basename(this.location), { holdingLock });
    if (removed.length > 0) {
      this.logger?.info(`removed ${removed.length} temp file(s) an interrupted save left in ${this.codexHome}: ${removed.join(', ')}`);
    }
  }
}

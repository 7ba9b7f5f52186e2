/**
 * The in-memory home of external ChatGPT tokens (docs/protocol.md §4): never written to disk, keyring, logs
 * or the inspector. The chart decides when tokens are stored or dropped; this only keeps them.
 */
import type { AccountInfo, ExternalTokens } from '../../machines/types';

/** External tokens with the claims they were accepted with. */
export interface ExternalCredentials {
  tokens: ExternalTokens;
  account: AccountInfo;
}

/** Holds the parent's tokens for the life of the process. */
export class ExternalTokenVault {
  private current: ExternalCredentials | null = null;

  /** The tokens in use, or null. */
  get(): ExternalCredentials | null {
    return this.current;
  }

  /** Replaces the tokens in use. */
  set(credentials: ExternalCredentials): void {
    this.current = credentials;
  }

  /** Forgets the tokens. */
  clear(): void {
    this.current = null;
  }
}

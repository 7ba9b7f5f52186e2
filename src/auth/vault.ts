/**
 * The in-memory home of external ChatGPT tokens (docs/protocol.md §4): never written to disk, keyring, logs
 * or the inspector. The chart decides when tokens are stored or dropped; this only keeps them.
 */
import type { ExternalTokens } from '../../machines/types';

/** Holds the parent's tokens for the life of the process. */
export class ExternalTokenVault {
  private current: ExternalTokens | null = null;

  /** The tokens in use, or null. */
  get(): ExternalTokens | null {
    return this.current;
  }

  /** Replaces the tokens in use. */
  set(tokens: ExternalTokens): void {
    this.current = tokens;
  }

  /** Forgets the tokens. */
  clear(): void {
    this.current = null;
  }
}

/**
 * The error of a failed keyring call, in a file of its own: the auth effects test for it on every start,
 * and importing it from keyringCall.ts loaded `node:child_process` (~0.4 MiB) for users who never touch a
 * keyring (docs/performance.md: new code loads lazily off the spawn path).
 */

/** A keyring call that failed or timed out; `message` is safe to show (never the secret). */
export class KeyringError extends Error {
  override readonly name = 'KeyringError';
}

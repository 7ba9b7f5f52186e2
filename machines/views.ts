/**
 * Read-only projections of an auth snapshot: what `account/read`, `getAuthStatus` and
 * `account/updated` report. Derived from the state itself (not from flags copied into context).
 */
import type { SnapshotFrom } from 'xstate';
import type { AuthMachine } from './auth.machine';
import type { AuthMode, PlanType } from './types';

/** A snapshot of the auth chart. */
export type AuthSnapshot = SnapshotFrom<AuthMachine>;

/** The account as `account/read` shows it. */
export type AccountView = null | { type: 'apiKey' } | { type: 'chatgpt'; email: string | null; planType: PlanType };

/** The wire auth mode of a snapshot, or null when logged out. */
export function authModeOf(snapshot: AuthSnapshot): AuthMode | null {
  if (snapshot.matches({ session: 'apiKey' })) return 'apikey';
  if (snapshot.matches({ session: 'externalTokens' })) return 'chatgptAuthTokens';
  if (snapshot.matches({ session: 'chatgpt' })) return 'chatgpt';
  return null;
}

/** The account of a snapshot, as `account/read` reports it. */
export function accountViewOf(snapshot: AuthSnapshot): AccountView {
  const mode = authModeOf(snapshot);
  if (mode === 'apikey') return { type: 'apiKey' };
  if (mode === null) return null;
  const account = snapshot.context.account;
  return { type: 'chatgpt', email: account?.email ?? null, planType: account?.planType ?? 'unknown' };
}

/** The session region's state as a dotted path (`externalTokens.ready`), for logs and the inspector. */
export function sessionPath(snapshot: AuthSnapshot): string {
  const value = (snapshot.value as { session: unknown }).session;
  const parts: string[] = [];
  let node: unknown = value;
  while (node && typeof node === 'object') {
    const [key, child] = Object.entries(node as Record<string, unknown>)[0];
    parts.push(key);
    node = child;
  }
  if (typeof node === 'string') parts.push(node);
  return parts.join('.');
}

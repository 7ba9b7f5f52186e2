/**
 * Read-only projections of an auth snapshot: what `account/read`, `getAuthStatus` and
 * `account/updated` report. Derived from the state itself (not from flags copied into context).
 */
import type { SnapshotFrom } from 'xstate';
import type { AuthMachine } from './auth.machine';
import type { AuthMode, PlanType, WorkspaceRouting } from './types';

/** A snapshot of the auth chart. */
export type AuthSnapshot = SnapshotFrom<AuthMachine>;

/** The account as `account/read` shows it. */
export type AccountView = null | { type: 'apiKey' } | { type: 'chatgpt'; email: string | null; planType: PlanType; workspaceName: string | null };

/**
 * The state of `session.mode` (`apiKey`, `chatgpt`, `failed`…), or null while the session is outside
 * it (an effect under way: `savingApiKey`, `loggingOut`). Read from the state value rather than with
 * `snapshot.matches()`: every `matches()` call parses and walks its argument and allocates, and
 * `account/read` asks for the mode twice per call, which grew the heap under a burst (docs/performance.md).
 */
function sessionModeOf(snapshot: AuthSnapshot): string | null {
  const session = (snapshot.value as { session?: unknown }).session;
  if (!session || typeof session !== 'object' || !('mode' in session)) return null;
  const mode = (session as { mode: unknown }).mode;
  if (typeof mode === 'string') return mode;
  // A compound mode (`chatgpt: 'ready'`) is an object with the mode as its one key.
  for (const name in mode as object) return name;
  return null;
}

/** The wire auth mode of a snapshot, or null when logged out. */
export function authModeOf(snapshot: AuthSnapshot): AuthMode | null {
  switch (sessionModeOf(snapshot)) {
    case 'apiKey':
      return 'apikey';
    case 'externalTokens':
      return 'chatgptAuthTokens';
    // `failed` is still a managed ChatGPT login (auth.json is kept); only its refresh token is dead.
    case 'chatgpt':
    case 'failed':
      return 'chatgpt';
    default:
      return null;
  }
}

/** The account of a snapshot, as `account/read` reports it. */
export function accountViewOf(snapshot: AuthSnapshot): AccountView {
  const mode = authModeOf(snapshot);
  if (mode === 'apikey') return { type: 'apiKey' };
  if (mode === null) return null;
  const account = snapshot.context.account;
  return { type: 'chatgpt', email: account?.email ?? null, planType: account?.planType ?? 'unknown', workspaceName: snapshot.context.workspace?.workspaceName ?? null };
}

/** `account/read`'s `workspaceRouting`: what the last discovery of the ChatGPT login in use found, else null (§12.1). */
export function workspaceRoutingOf(snapshot: AuthSnapshot): WorkspaceRouting | null {
  const mode = authModeOf(snapshot);
  if (mode === null || mode === 'apikey') return null;
  return snapshot.context.workspace?.routing ?? null;
}

/** The ChatGPT user id of a snapshot's account (`account/read`'s `userId`); null without a ChatGPT login. */
export function userIdOf(snapshot: AuthSnapshot): string | null {
  const mode = authModeOf(snapshot);
  if (mode === null || mode === 'apikey') return null;
  return snapshot.context.account?.userId ?? null;
}

/**
 * The session region's state as a dotted path, for logs and the inspector: the mode without its
 * structural wrapper (`loggedOut`, `externalTokens.ready`), or the effect under way (`savingApiKey`).
 */
export function sessionPath(snapshot: AuthSnapshot): string {
  const session = (snapshot.value as { session: unknown }).session;
  const value = session && typeof session === 'object' && 'mode' in session ? (session as { mode: unknown }).mode : session;
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

/** A state value as a dotted path when it has no parallel part (`externalTokens.ready`), else null. */
function dottedPath(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return null;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length !== 1) return null;
  const rest = dottedPath(entries[0][1]);
  return rest === null ? null : `${entries[0][0]}.${rest}`;
}

/**
 * The chart's whole state as one line of text, as the inspector's `#active-state` shows it. The rule:
 * while the `managedLogin` region is `idle`, the `session` region's dotted path without the structural
 * `mode` wrapper, as `sessionPath` writes it (`loggedOut`, `apiKey`, `externalTokens.ready`, or the
 * effect under way: `savingApiKey`); otherwise the complete state value as JSON, regions in chart order
 * (`{"session":{"mode":"apiKey"},"managedLogin":"pending"}`). A value of any other shape is shown as JSON.
 */
export function activeStateText(value: unknown): string {
  if (value && typeof value === 'object') {
    const regions = value as Record<string, unknown>;
    if (regions.managedLogin === 'idle') {
      const session = regions.session;
      const wrapped = session && typeof session === 'object' && Object.keys(session).length === 1 && 'mode' in session;
      const path = dottedPath(wrapped ? (session as { mode: unknown }).mode : session);
      if (path !== null) return path;
    }
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

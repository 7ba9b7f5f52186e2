/**
 * The auth policy's words and pure rules: the exact messages of docs/protocol.md §6–8 and the small
 * functions the chart's guards use (workspace checks, refresh timing, failure classification).
 */
import { INTERNAL_ERROR, INVALID_REQUEST, STALE_REFRESH_AGE_MS, type AuthPolicy, type ManagedLoginKind, type TokenTiming } from './types';

/** Exact refusal messages of docs/protocol.md §7. */
export const MESSAGES = {
  externalAuthActive:
    'External auth is active. Use account/login/start (chatgptAuthTokens) to update it or account/logout to clear it.',
  apiKeyLoginDisabled: 'API key login is disabled. Use ChatGPT login instead.',
  chatgptLoginDisabled: 'ChatGPT login is disabled. Use API key login instead.',
  externalLoginDisabled: 'External ChatGPT auth is disabled. Use API key login instead.',
  busy: 'Another account request is still being processed; retry when it has finished.',
} as const;

/** How a managed login ended, before its kind's wording (see `loginEndedMessage`). */
export const LOGIN_MESSAGES = {
  /** Cancelled by `account/login/cancel`, a newer login, an accepted login of another kind, or a logout. */
  notCompleted: 'Login was not completed',
  /** `GET /cancel` on the callback server, which is also how a newer browser login takes the port over. */
  cancelled: 'Login cancelled',
} as const;

/** A browser login's completion error: what went wrong, behind Codex's `Login server error: ` prefix. */
export function loginServerError(message: string): string {
  return `Login server error: ${message}`;
}

/**
 * The `account/login/completed` error of a managed login that failed: a browser login's behind
 * `Login server error: ` (§8), a device login's as is (§13.1).
 */
export function loginEndedMessage(kind: ManagedLoginKind, message: string): string {
  return kind === 'browser' ? loginServerError(message) : message;
}

/**
 * How a pending managed login ends when a newer one starts: a browser login replaced by another browser
 * login ends as Codex's does, its port taken over through `/cancel`; any other replacement is "not completed".
 */
export function replacedLoginMessage(old: ManagedLoginKind, newer: ManagedLoginKind): string {
  return loginEndedMessage(old, old === 'browser' && newer === 'browser' ? LOGIN_MESSAGES.cancelled : LOGIN_MESSAGES.notCompleted);
}

/** The completion error of a managed login that timed out: Codex's texts (§8: `Login timed out`; §13.1). */
export function loginTimedOutMessage(kind: ManagedLoginKind, timeoutMs: number): string {
  if (kind === 'browser') return 'Login timed out';
  const wait = timeoutMs % 60_000 === 0 ? `${timeoutMs / 60_000} minutes` : formatSeconds(timeoutMs);
  return `device auth timed out after ${wait}`;
}

/** The browser is told this (and the parent, behind the prefix) when the tokens of a login could not be saved. */
export function loginSaveFailedMessage(reason: string): string {
  return `Sign-in completed but the credentials could not be saved: ${reason}`;
}

/** The refusal of a browser login whose callback server could not start (docs/protocol.md §8). */
export function loginServerStartMessage(reason: string): string {
  return `failed to start login server: ${reason}`;
}

/**
 * The refusal of a managed login that could not start: a browser's callback server that could not bind
 * (-32603, §8); a device login the issuer does not offer (-32600) or could not give a code for (-32603),
 * in the device flow's own words (§13.1).
 */
export function loginStartRefusal(kind: ManagedLoginKind, failure: { message: string; notEnabled?: boolean }): { code: number; message: string } {
  if (kind === 'browser') return { code: INTERNAL_ERROR, message: loginServerStartMessage(failure.message) };
  return { code: failure.notEnabled ? INVALID_REQUEST : INTERNAL_ERROR, message: failure.message };
}

/** The refusal of external tokens whose token is unreadable (docs/protocol.md §7). */
export function invalidTokenMessage(reason: string): string {
  return `invalid id token: ${reason}`;
}

/** The refusal of an API-key login whose key could not be saved (-32603). */
export function apiKeySaveFailedMessage(reason: string): string {
  return `failed to save the API key: ${reason}`;
}

/** The refusal of a logout whose saved credentials could not be removed (-32603). */
export function logoutFailedMessage(reason: string): string {
  return `failed to remove the saved credentials: ${reason}`;
}

/** Default browser-login timeout (docs/protocol.md §8: 10 minutes); AuthCore provides the configured one. */
export const DEFAULT_LOGIN_TIMEOUT_MS = 600_000;
/** Default device-code login timeout (docs/protocol.md §13.1: 15 minutes). */
export const DEFAULT_DEVICE_LOGIN_TIMEOUT_MS = 900_000;

/** How long a managed login of `kind` may wait for the user (and the issuer). */
export function loginTimeoutOf(policy: AuthPolicy, kind: ManagedLoginKind): number {
  return kind === 'device' ? (policy.deviceLoginTimeoutMs ?? DEFAULT_DEVICE_LOGIN_TIMEOUT_MS) : (policy.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS);
}

/** Codex's wording when the workspace asked for is outside `forced_chatgpt_workspace_id`: a device login's refusal and a switch's. */
export function workspacesRestrictedMessage(allowed: readonly string[]): string {
  return `Login is restricted to workspace id(s) ${allowed.join(', ')}.`;
}

/**
 * Why a managed login's account is refused by `forced_chatgpt_workspace_id`, in Codex's words: the
 * browser login's (§8) and the device login's (§13.1) differ.
 */
export function loginWorkspaceMessage(kind: ManagedLoginKind, allowed: readonly string[], got: string | null): string {
  if (kind === 'device') return workspacesRestrictedMessage(allowed);
  if (got === null) {
    return 'Login is restricted to a specific workspace, but the token did not include an chatgpt_account_id claim.';
  }
  return `Login is restricted to workspace id ${allowed.join(', ')}.`;
}

/** The message for an external login whose workspace is not the forced one. */
export function workspaceMismatchMessage(allowed: readonly string[], got: string | null): string {
  const want = allowed.length === 1 ? `workspace ${allowed[0]}` : `one of workspace(s) ${JSON.stringify(allowed)}`;
  return `External auth must use ${want}, but received ${JSON.stringify(got ?? '')}.`;
}

/** Refusal of a backend call while nobody is logged in (docs/protocol.md §4, `purpose` e.g. "read rate limits"). */
export function authRequiredMessage(purpose: string): string {
  return `codex account authentication required to ${purpose}`;
}

/** Refusal of a backend call made with an API key, which has no ChatGPT credentials. */
export function chatgptRequiredMessage(purpose: string): string {
  return `chatgpt authentication required to ${purpose}`;
}

/** A duration for a message: whole seconds as `10s`, anything else in decimal seconds (`0.3s`, `1.25s`). */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/** The failure of an external refresh the parent did not answer in time (docs/protocol.md §6). */
export function refreshTimedOutMessage(timeoutMs: number): string {
  return `auth refresh request timed out after ${formatSeconds(timeoutMs)}`;
}

/** The failure of an external refresh that answered with a workspace outside the forced one(s). */
export function refreshWorkspaceMessage(allowed: readonly string[], got: string | null): string {
  const want = allowed.length === 1 ? JSON.stringify(allowed[0]) : `one of ${JSON.stringify(allowed)}`;
  return `external auth refresh returned workspace ${JSON.stringify(got ?? '')}, expected ${want}`;
}

/** True when a managed token should be refreshed before use at `now` (ms): near `exp`, or old without one. */
export function refreshDue(timing: TokenTiming | null, now: number, skewSeconds: number): boolean {
  if (!timing) return false;
  if (timing.expiresAt !== null) return timing.expiresAt - now <= skewSeconds * 1000;
  return timing.lastRefreshAt !== null && now - timing.lastRefreshAt > STALE_REFRESH_AGE_MS;
}

/** True when a refresh error is a permanent failure (the token endpoint refused the refresh token). */
export function isPermanentFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { kind?: unknown }).kind === 'permanent';
}

/** True when `accountId` satisfies the forced-workspace policy. */
export function workspaceAllowed(allowed: readonly string[] | null, accountId: string | null): boolean {
  return allowed === null || (accountId !== null && allowed.includes(accountId));
}

/** The message of an effect's error: an Error, or any object with a string `message` (a RefreshFailure). */
export function errorText(error: unknown): string {
  const message = typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(error);
}

// --- workspaces (issue 14: docs/protocol.md §12.4): the switch's refusals and the rules its guards use ---

/** Codex's texts for a refused `accountSession/switch` (all -32600). */
export const SWITCH_MESSAGES = {
  notManaged: 'Workspace switching requires a managed ChatGPT login',
  otherSession: 'Only the active managed account session can be switched',
  emptyAccountId: 'accountId must not be empty',
  unavailable: 'The selected workspace is unavailable',
} as const;

/**
 * True when `accountId` may be selected: the workspace in use, or one the last discovery listed. Without a
 * discovery nothing else is known to exist, so nothing else is offered (and no exchange is attempted).
 */
export function workspaceListed(
  current: string | null,
  workspaces: ReadonlyArray<{ accountId: string }> | null,
  accountId: string,
): boolean {
  return accountId === current || (workspaces ?? []).some((w) => w.accountId === accountId);
}

/**
 * True when a failed exchange is the backend refusing the workspace for this bearer (an HTTP error, the
 * `rejected` kind), which a browser sign-in can overcome; a network failure or a bad answer cannot.
 */
export function isSwitchRejection(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { kind?: unknown }).kind === 'rejected';
}

/** The JSON-RPC code of a failed switch effect: the one it carries (the exchange's), else -32603. */
export function switchFailureCode(error: unknown): number {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : -32603;
}

/** The refusal of a switch whose new tokens could not be saved (-32603). */
export function switchSaveFailedMessage(reason: string): string {
  return `failed to save the switched workspace's credentials: ${reason}`;
}

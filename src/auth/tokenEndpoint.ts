/**
 * The OAuth token endpoint's refresh grant (docs/protocol.md §6), as a pair: `sendRefreshRequest` sends,
 * `readRefreshResponse` validates the Response. Failures are RefreshErrors: `permanent` when the endpoint
 * refused the refresh token (401, classified by its error code), `transient` for everything else.
 */
import { formatSeconds } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { RefreshFailure } from '../../machines/types';
import { redactText } from '../log';
import { httpFetch, type Fetch, type HttpResponse } from './http';
import { failureReason } from './httpFailure';

/** The OAuth client id of Codex, which authchart shares (auth.json works for both). */
export const CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';
/** How long the token endpoint may take to answer a refresh. */
export const TOKEN_REQUEST_TIMEOUT_MS = 30_000;

/** A failed refresh; `kind` tells the chart whether the login is dead (`permanent`) or may recover. */
export class RefreshError extends Error implements RefreshFailure {
  override readonly name = 'RefreshError';
  constructor(
    readonly kind: RefreshFailure['kind'],
    message: string,
  ) {
    super(message);
  }
}

/** Exact messages of a permanent failure, by the endpoint's error code (docs/protocol.md §6). */
export const PERMANENT_REFRESH_MESSAGES = {
  refresh_token_expired:
    'Your access token could not be refreshed because your refresh token has expired. Please log out and sign in again.',
  refresh_token_reused:
    'Your access token could not be refreshed because your refresh token was already used. Please log out and sign in again.',
  refresh_token_invalidated:
    'Your access token could not be refreshed because your refresh token was revoked. Please log out and sign in again.',
  other: 'Your access token could not be refreshed. Please log out and sign in again.',
} as const;

/** The message of a 401 from the token endpoint carrying `code` (null or unknown = the generic one). */
export function permanentRefreshMessage(code: string | null): string {
  if (code !== null && code !== 'other' && Object.hasOwn(PERMANENT_REFRESH_MESSAGES, code)) {
    return PERMANENT_REFRESH_MESSAGES[code as keyof typeof PERMANENT_REFRESH_MESSAGES];
  }
  return PERMANENT_REFRESH_MESSAGES.other;
}

/** The error code of a token endpoint error body: `error.code`, else `code`, else `error` when a string. */
export function refreshErrorCode(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const record = body as Record<string, unknown>;
  const error = record.error;
  if (typeof error === 'object' && error !== null && typeof (error as Record<string, unknown>).code === 'string') {
    return (error as Record<string, string>).code;
  }
  if (typeof record.code === 'string') return record.code;
  if (typeof error === 'string') return error;
  return null;
}

/** New tokens from the endpoint; each may be absent (the old value is then kept). */
export interface RefreshedTokens {
  idToken: Secret | null;
  accessToken: Secret | null;
  refreshToken: Secret | null;
}

function transient(tokenUrl: string, what: string): RefreshError {
  return new RefreshError(
    'transient',
    `could not refresh the ChatGPT access token: ${what} (${tokenUrl}). The saved credentials were kept; the next request tries again.`,
  );
}

/** POSTs the refresh grant as JSON. Network failures and the timeout become transient RefreshErrors. */
export async function sendRefreshRequest(
  tokenUrl: string,
  refreshToken: Secret,
  options: { signal?: AbortSignal; fetchImpl?: Fetch; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  const timeoutMs = options.timeoutMs ?? TOKEN_REQUEST_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    return await (options.fetchImpl ?? httpFetch)(tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ client_id: CLIENT_ID, grant_type: 'refresh_token', refresh_token: refreshToken.reveal() }),
      signal,
    });
  } catch (error) {
    if (timeout.aborted) throw transient(tokenUrl, `the token endpoint did not answer within ${formatSeconds(timeoutMs)}`);
    if (options.signal?.aborted) throw new RefreshError('transient', 'the refresh was abandoned (logout or login)');
    throw transient(tokenUrl, `the token endpoint is unreachable: ${redactText(failureReason(error))}`);
  }
}

function optionalToken(body: Record<string, unknown>, key: string, tokenUrl: string): Secret | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0) throw transient(tokenUrl, `the token endpoint answered a ${key} that is not a non-empty string`);
  return new Secret(value);
}

/** Validates the endpoint's answer: new tokens on 2xx, a classified RefreshError otherwise. */
export async function readRefreshResponse(response: Pick<HttpResponse, 'status' | 'statusText' | 'ok' | 'text'>, tokenUrl: string): Promise<RefreshedTokens> {
  const text = await response.text().catch(() => '');
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (response.status === 401) throw new RefreshError('permanent', permanentRefreshMessage(refreshErrorCode(body)));
  if (!response.ok) {
    throw transient(tokenUrl, `the token endpoint answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw transient(tokenUrl, `the token endpoint answered ${response.status} with a body that is not a JSON object`);
  }
  const record = body as Record<string, unknown>;
  return {
    idToken: optionalToken(record, 'id_token', tokenUrl),
    accessToken: optionalToken(record, 'access_token', tokenUrl),
    refreshToken: optionalToken(record, 'refresh_token', tokenUrl),
  };
}

/**
 * The OAuth 2 pieces of the browser login (docs/protocol.md §8): PKCE, state, the authorize URL, and the
 * authorization-code exchange, written as a pair (a function that sends, a pure function that judges
 * the response) so each can be tested on its own. Nothing here logs; errors carry safe messages only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Secret } from '../../machines/secret';
import type { AccountInfo, LoginTokens } from '../../machines/types';
import { scrubCredentialFields, scrubKnownSecrets } from '../log';
import { accountFromClaims, readClaims } from './jwt';
import { httpFetch, type HttpResponse } from './http';
import { failureReason } from './httpFailure';

/** Codex's OAuth client id, which the issuer knows. */
export const CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';
/** Scopes asked for (Codex's). */
export const SCOPES = 'openid profile email offline_access';

/** A PKCE pair: the verifier stays in the login server, the challenge goes into the authorize URL. */
export interface Pkce {
  verifier: Secret;
  challenge: string;
}

/** base64url(SHA-256(verifier)): the S256 code challenge (RFC 7636 §4.2). */
export function s256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** A fresh PKCE pair: 64 random bytes, base64url, as verifier. */
export function createPkce(): Pkce {
  const verifier = randomBytes(64).toString('base64url');
  return { verifier: new Secret(verifier), challenge: s256Challenge(verifier) };
}

/** A fresh `state`: 32 random bytes, base64url. */
export function createState(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Percent-encodes like Rust's `urlencoding::encode` (everything but `A-Za-z0-9-_.~`), so the URL is
 * byte-for-byte the one Codex builds; encodeURIComponent alone leaves `!'()*` as they are.
 */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The callback URL the issuer redirects to (always `localhost`, which the issuer allows). */
export function redirectUriFor(port: number): string {
  return `http://localhost:${port}/auth/callback`;
}

/** What the authorize URL is made of. */
export interface AuthorizeUrlParams {
  issuer: string;
  redirectUri: string;
  challenge: string;
  state: string;
  originator: string;
  /** The forced workspace ids, joined with `,` into `allowed_workspace_id`; null = none. */
  allowedWorkspaceIds: readonly string[] | null;
}

/** The exact `authUrl` of docs/protocol.md §8, parameters in Codex's order. */
export function buildAuthorizeUrl(params: AuthorizeUrlParams): string {
  const query: Array<[string, string]> = [
    ['response_type', 'code'],
    ['client_id', CLIENT_ID],
    ['redirect_uri', params.redirectUri],
    ['scope', SCOPES],
    ['code_challenge', params.challenge],
    ['code_challenge_method', 'S256'],
    ['id_token_add_organizations', 'true'],
    ['codex_cli_simplified_flow', 'true'],
    ['state', params.state],
    ['originator', params.originator],
  ];
  if (params.allowedWorkspaceIds && params.allowedWorkspaceIds.length > 0) {
    query.push(['allowed_workspace_id', params.allowedWorkspaceIds.join(',')]);
  }
  const qs = query.map(([key, value]) => `${key}=${encodeQueryValue(value)}`).join('&');
  return `${params.issuer.replace(/\/+$/, '')}/oauth/authorize?${qs}`;
}

/** Why a code exchange failed; `message` is safe to show the user and to log (never a token). */
export class TokenExchangeError extends Error {
  override readonly name = 'TokenExchangeError';
  constructor(
    message: string,
    /** HTTP status of the token endpoint, when it answered. */
    readonly status: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The tokens of a successful exchange, with the claims of the id token. */
export interface ExchangedTokens {
  tokens: LoginTokens;
  account: AccountInfo;
}

/**
 * The human part of a token endpoint error body: `error_description`, else `error.message`, else the
 * `error` code, else the body text itself (trimmed, capped), else `unknown error`. Codex's rule.
 */
export function tokenErrorDetail(body: string): string {
  const trimmed = body.trim();
  if (trimmed === '') return 'unknown error';
  try {
    const json = JSON.parse(trimmed) as Record<string, unknown>;
    if (json && typeof json === 'object') {
      const error = json.error;
      const code =
        typeof error === 'string' && error.trim() !== ''
          ? error
          : error && typeof error === 'object' && typeof (error as Record<string, unknown>).code === 'string'
            ? ((error as Record<string, unknown>).code as string)
            : null;
      if (typeof json.error_description === 'string' && json.error_description.trim() !== '') return json.error_description;
      const message = error && typeof error === 'object' ? (error as Record<string, unknown>).message : undefined;
      if (typeof message === 'string' && message.trim() !== '') return message;
      if (code) return code;
    }
  } catch {
    // Not JSON: the body itself is the detail.
  }
  return trimmed.length > 300 ? `${trimmed.slice(0, 300)}…` : trimmed;
}

/** {@link tokenErrorDetail}, scrubbed of credential fields (the endpoint may echo the request). */
function safeTokenErrorDetail(body: string): string {
  return scrubCredentialFields(tokenErrorDetail(body));
}

function requiredToken(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== 'string' || value.length === 0) {
    throw new TokenExchangeError(`the token endpoint answer has no ${key}`);
  }
  return value;
}

/** Judges the token endpoint's answer to a code exchange (pure: status and body text in, tokens out). */
export function parseCodeExchangeResponse(status: number, bodyText: string): ExchangedTokens {
  if (status < 200 || status > 299) {
    const reason = STATUS_CODES[status];
    throw new TokenExchangeError(
      `token endpoint returned status ${status}${reason ? ` ${reason}` : ''}: ${safeTokenErrorDetail(bodyText)}`,
      status,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    throw new TokenExchangeError('the token endpoint answer is not JSON', status);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new TokenExchangeError('the token endpoint answer is not a JSON object', status);
  }
  const record = body as Record<string, unknown>;
  const idToken = requiredToken(record, 'id_token');
  const accessToken = requiredToken(record, 'access_token');
  const refreshToken = requiredToken(record, 'refresh_token');
  let account: AccountInfo;
  try {
    account = accountFromClaims(readClaims(idToken));
  } catch (error) {
    throw new TokenExchangeError(`the token endpoint returned an invalid id token: ${(error as Error).message}`, status);
  }
  return {
    tokens: { idToken: new Secret(idToken), accessToken: new Secret(accessToken), refreshToken: new Secret(refreshToken) },
    account,
  };
}

/** What a code exchange needs. */
export interface CodeExchange {
  issuer: string;
  code: Secret;
  verifier: Secret;
  redirectUri: string;
  signal?: AbortSignal;
}

/** The form body of the exchange (`application/x-www-form-urlencoded`). */
export function codeExchangeBody(exchange: Pick<CodeExchange, 'code' | 'verifier' | 'redirectUri'>): string {
  return new URLSearchParams({
    grant_type: 'authorization_code',
    code: exchange.code.reveal(),
    redirect_uri: exchange.redirectUri,
    client_id: CLIENT_ID,
    code_verifier: exchange.verifier.reveal(),
  }).toString();
}

/** `POST {issuer}/oauth/token` with the code and the PKCE verifier; resolves with the tokens. */
export async function exchangeCode(exchange: CodeExchange): Promise<ExchangedTokens> {
  const url = `${exchange.issuer.replace(/\/+$/, '')}/oauth/token`;
  let response: HttpResponse;
  let text: string;
  try {
    response = await httpFetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: codeExchangeBody(exchange),
      signal: exchange.signal,
    });
    text = await response.text();
  } catch (error) {
    if (exchange.signal?.aborted) throw new TokenExchangeError('the code exchange was aborted', null, { cause: error });
    const reason = failureReason(error);
    throw new TokenExchangeError(scrubCredentialFields(`could not reach the token endpoint ${url} (${reason})`), null, { cause: error });
  }
  try {
    return parseCodeExchangeResponse(response.status, text);
  } catch (error) {
    if (!(error instanceof TokenExchangeError)) throw error;
    // The answer's text may quote the code or the verifier in any shape: remove their values too.
    throw new TokenExchangeError(scrubKnownSecrets(error.message, [exchange.code, exchange.verifier]), error.status);
  }
}

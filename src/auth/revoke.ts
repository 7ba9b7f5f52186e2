/**
 * Revoking managed ChatGPT tokens at the issuer (PROTOCOL.md §13.2): on logout, and when a login replaces
 * them. Best effort and never in the way: the caller has already removed the local credentials and does
 * not wait; each revoke is bounded, logs its outcome and never throws. A process that is exiting gives
 * the revokes still in flight a short, bounded chance to finish (`waitForRevokes`).
 *
 * Only managed ChatGPT credentials come here: API keys and the parent's external tokens are never sent
 * anywhere.
 */
import { STATUS_CODES } from 'node:http';
import { formatSeconds } from '../../machines/policy';
import type { Secret } from '../../machines/secret';
import type { AuthchartConfig } from '../config';
import { redactText, silentLogger, type Logger } from '../log';
import { CLIENT_ID } from './oauth';
import { httpFetch, type Fetch } from './http';
import { failureReason } from './httpFailure';

/** How long one revoke may take (Codex gives up after 10 s too). */
export const REVOKE_TIMEOUT_MS = 10_000;
/** How long an exiting process waits for revokes in flight (2 s). */
export const EXIT_REVOKE_GRACE_MS = 2_000;

/** The tokens a revoke may send: the refresh token when there is one, else the access token. */
export interface RevocableTokens {
  refreshToken: Secret | null;
  accessToken: Secret;
}

function httpUrl(value: string): boolean {
  try {
    const protocol = new URL(value).protocol;
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * The revoke endpoint: `CODEX_REVOKE_TOKEN_URL_OVERRIDE`, else `[authchart] revoke_url`, else
 * `/oauth/revoke` on the origin of a token URL set by `CODEX_REFRESH_TOKEN_URL_OVERRIDE` or
 * `[authchart] token_url`, else `{issuer}/oauth/revoke`. Throws when the override is not an http(s) URL.
 */
export function resolveRevokeUrl(config: Pick<AuthchartConfig, 'issuer' | 'tokenUrl' | 'revokeUrl'>, env: NodeJS.ProcessEnv = process.env): string {
  const override = env.CODEX_REVOKE_TOKEN_URL_OVERRIDE;
  if (override !== undefined && override !== '') {
    if (!httpUrl(override)) throw new Error(`CODEX_REVOKE_TOKEN_URL_OVERRIDE must be an http(s) URL, got ${JSON.stringify(override)}`);
    return override;
  }
  if (config.revokeUrl) return config.revokeUrl;
  // config.tokenUrl is `{issuer}/oauth/token` unless the env var or the config key set it.
  const issuer = config.issuer.replace(/\/+$/, '');
  if (config.tokenUrl !== `${issuer}/oauth/token`) return `${new URL(config.tokenUrl).origin}/oauth/revoke`;
  return `${issuer}/oauth/revoke`;
}

/** The JSON body of §13.2, members in Codex's order. */
export function revokeBody(tokens: RevocableTokens): string {
  if (tokens.refreshToken) {
    return JSON.stringify({ token: tokens.refreshToken.reveal(), token_type_hint: 'refresh_token', client_id: CLIENT_ID });
  }
  return JSON.stringify({ token: tokens.accessToken.reveal(), token_type_hint: 'access_token' });
}

/** Judges the endpoint's answer (pure): null when revoked, else why not (safe to log). */
export function revokeFailure(status: number): string | null {
  if (status >= 200 && status <= 299) return null;
  const reason = STATUS_CODES[status];
  return `the revoke endpoint answered ${status}${reason ? ` ${reason}` : ''}`;
}

/** What a revoke needs. */
export interface RevokeDeps {
  url: string;
  logger?: Logger;
  fetchImpl?: Fetch;
  timeoutMs?: number;
}

/** POSTs the revoke; resolves with null when revoked, else the reason. Never throws. */
export async function sendRevoke(tokens: RevocableTokens, deps: RevokeDeps): Promise<string | null> {
  const timeoutMs = deps.timeoutMs ?? REVOKE_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await (deps.fetchImpl ?? httpFetch)(deps.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: revokeBody(tokens),
      signal,
    });
    await response.discard();
    return revokeFailure(response.status);
  } catch (error) {
    if (signal.aborted) return `the revoke endpoint did not answer within ${formatSeconds(timeoutMs)}`;
    return `the revoke endpoint is unreachable: ${redactText(failureReason(error))}`;
  }
}

/** The revokes of this process still in flight, so that an exiting process can wait for them. */
const inFlight = new Set<Promise<void>>();

/**
 * Revokes `tokens` in the background: returns at once, logs the outcome, never throws. `what` names
 * the occasion in the log (`logout`, `replaced by a new login`).
 */
export function revokeInBackground(tokens: RevocableTokens, what: string, deps: Omit<RevokeDeps, 'url'> & { url: string | (() => string) }): Promise<void> {
  const logger = deps.logger ?? silentLogger;
  const kind = tokens.refreshToken ? 'refresh token' : 'access token';
  const run = (async () => {
    let url: string;
    try {
      url = typeof deps.url === 'string' ? deps.url : deps.url();
    } catch (error) {
      logger.warn(`did not revoke the ${kind} (${what}): ${(error as Error).message}`);
      return;
    }
    const failed = await sendRevoke(tokens, { ...deps, url });
    if (failed) logger.warn(`could not revoke the ${kind} at ${url} (${what}): ${failed}; the local credentials are removed anyway`);
    else logger.info(`revoked the ${kind} at ${url} (${what})`);
  })();
  inFlight.add(run);
  void run.finally(() => inFlight.delete(run));
  return run;
}

/** How many revokes are in flight. */
export function revokesInFlight(): number {
  return inFlight.size;
}

/** Waits for the revokes in flight, at most `maxMs`; resolves true when all finished in time. */
export async function waitForRevokes(maxMs: number = EXIT_REVOKE_GRACE_MS): Promise<boolean> {
  if (inFlight.size === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), maxMs);
  });
  try {
    return await Promise.race([Promise.all([...inFlight]).then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The managed refresh (docs/protocol.md §6, mode `chatgpt`): authchart refreshes its own tokens through the
 * OAuth token endpoint. Everything between reading the store and saving the result happens under the
 * store lock, so processes sharing a CODEX_HOME take turns and each spends only the newest refresh token.
 */
import type { AccountInfo, ChatgptCredentials, ManagedRefreshOutput, RefreshReason, TokenTiming } from '../../machines/types';
import type { Logger } from '../log';
import type { CredentialStore } from './credentials';
import { accountFromClaims, readClaims } from './jwt';
import { RefreshError, readRefreshResponse, sendRefreshRequest } from './tokenEndpoint';
import type { Fetch } from './http';

/**
 * The account of a managed ChatGPT login: the id token's claims, with the workspace of `tokens.account_id`
 * when it is set (a workspace switch that returned no id token keeps the old one, whose claim names the old
 * workspace; Codex sends `ChatGPT-Account-Id` from `account_id` too). Throws JwtFormatError when unreadable.
 */
export function accountOfManaged(credentials: ChatgptCredentials): AccountInfo {
  const account = accountFromClaims(readClaims(credentials.tokens.idToken.reveal()));
  return { ...account, accountId: credentials.tokens.accountId ?? account.accountId };
}

/** When the access token expires (its `exp`, if it is a JWT) and when it was last refreshed. */
export function timingOf(credentials: ChatgptCredentials): TokenTiming {
  let expiresAt: number | null = null;
  try {
    const exp = readClaims(credentials.tokens.accessToken.reveal()).exp;
    expiresAt = exp === null ? null : exp * 1000;
  } catch {
    expiresAt = null; // an opaque access token: fall back to last_refresh
  }
  const parsed = credentials.lastRefresh === null ? Number.NaN : Date.parse(credentials.lastRefresh);
  return { expiresAt, lastRefreshAt: Number.isNaN(parsed) ? null : parsed };
}

/** What a managed refresh needs besides the credentials in use. */
export interface ManagedRefreshDeps {
  store: CredentialStore;
  tokenUrl: string;
  logger: Logger;
  fetchImpl?: Fetch;
}

function describe(credentials: ChatgptCredentials, source: ManagedRefreshOutput['source'], tokenUrl: string): ManagedRefreshOutput {
  let account: AccountInfo;
  try {
    account = accountOfManaged(credentials);
  } catch (error) {
    throw new RefreshError('transient', `the token endpoint (${tokenUrl}) answered an id_token that is not a valid JWT: ${(error as Error).message}`);
  }
  return { credentials, account, timing: timingOf(credentials), source };
}

function sameAccount(a: ChatgptCredentials, b: ChatgptCredentials): boolean {
  const idOf = (c: ChatgptCredentials) => {
    try {
      return accountOfManaged(c).accountId;
    } catch {
      return c.tokens.accountId;
    }
  };
  return idOf(a) === idOf(b);
}

/**
 * Refreshes `current`. Under the store lock: re-read the store; if another process already refreshed
 * (a different access token for the same account) adopt that without a POST, unless the refresh is
 * forced; otherwise POST the store's newest refresh token, merge the answer, persist, and return it.
 * `signal` aborts when the chart abandons the refresh (logout, login): nothing is saved after that.
 */
export async function refreshManagedCredentials(
  current: ChatgptCredentials,
  reason: RefreshReason,
  signal: AbortSignal,
  deps: ManagedRefreshDeps,
): Promise<ManagedRefreshOutput> {
  const { store, tokenUrl, logger } = deps;
  return store.withLock(async () => {
    const loaded = await store.load();
    if (loaded.status === 'corrupt') {
      throw new RefreshError('transient', `cannot refresh: the saved credentials at ${store.location} are unreadable (${loaded.reason}). Log in again to replace them.`);
    }
    const saved = loaded.status === 'ok' && loaded.credentials.mode === 'chatgpt' ? loaded.credentials : null;
    if (!saved || !sameAccount(saved, current)) {
      throw new RefreshError(
        'transient',
        `cannot refresh: ${store.location} no longer holds the tokens of this ChatGPT account (another process logged out or logged in elsewhere). ` +
          'Log in again, or restart authchart to pick up the saved login.',
      );
    }
    if (reason !== 'forced' && !saved.tokens.accessToken.equals(current.tokens.accessToken)) {
      logger.info(`adopted the ChatGPT tokens another process saved in ${store.location} (no refresh needed)`);
      return describe(saved, 'reloaded', tokenUrl);
    }
    if (signal.aborted) throw new RefreshError('transient', 'the refresh was abandoned (logout or login)');
    const response = await sendRefreshRequest(tokenUrl, saved.tokens.refreshToken, { signal, fetchImpl: deps.fetchImpl });
    const fresh = await readRefreshResponse(response, tokenUrl);
    const merged: ChatgptCredentials = {
      apiKey: saved.apiKey,
      lastRefresh: new Date().toISOString(),
      tokens: {
        idToken: fresh.idToken ?? saved.tokens.idToken,
        accessToken: fresh.accessToken ?? saved.tokens.accessToken,
        refreshToken: fresh.refreshToken ?? saved.tokens.refreshToken,
        accountId: saved.tokens.accountId,
      },
    };
    const output = describe(merged, 'refreshed', tokenUrl);
    // A logout that interrupted this refresh must not find its credentials written back afterwards.
    if (signal.aborted) throw new RefreshError('transient', 'the refresh was abandoned (logout or login); its tokens were not saved');
    await store.save({ mode: 'chatgpt', ...merged });
    logger.info(`refreshed the ChatGPT access token (${reason}) and saved it to ${store.location}`);
    return output;
  }, logger).catch((error: unknown) => {
    if (error instanceof RefreshError) throw error;
    // Lock timeouts, unwritable files…: the tokens in use stay; the next request tries again.
    throw new RefreshError('transient', `could not refresh the ChatGPT access token: ${(error as Error).message}`);
  });
}

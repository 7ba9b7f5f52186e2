/**
 * The external refresh (docs/protocol.md §6, mode `chatgptAuthTokens`): ask the parent application for new
 * tokens with `account/chatgptAuthTokens/refresh` and decode its answer. The timeout is the chart's
 * (`after` in `externalTokens.refreshing`); when it fires, or a logout ends the refresh, `signal` aborts
 * and whatever the parent answers later is noted and dropped.
 */
import { formatSeconds } from '../../machines/auth.machine';
import { EXTERNAL_REFRESH_METHOD, type ExternalRefreshInput, type ExternalRefreshOutput } from '../../machines/types';
import { redactText, type Logger } from '../log';
import { decodeExternalTokens } from './externalTokens';

export { EXTERNAL_REFRESH_METHOD };

/** Sends a request to the parent application and resolves with its result (rejects with its error). */
export type ParentRequester = (method: string, params: unknown, options?: { signal?: AbortSignal }) => Promise<unknown>;

function isWireError(error: unknown): error is { code: number; message: string } {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number';
}

/** Asks the parent for new tokens; rejects with the exact messages of §6 for an error or a bad answer. */
export async function requestExternalRefresh(
  input: ExternalRefreshInput,
  signal: AbortSignal,
  deps: { send: ParentRequester | null; logger: Logger },
): Promise<ExternalRefreshOutput> {
  const { send, logger } = deps;
  if (!send) throw new Error(`auth refresh request failed: no parent application is connected to answer ${EXTERNAL_REFRESH_METHOD}`);
  const started = Date.now();
  signal.addEventListener('abort', () =>
    logger.warn(`stopped waiting for the parent's answer to ${EXTERNAL_REFRESH_METHOD} after ${formatSeconds(Date.now() - started)}; the previous tokens stay in use`),
  );
  // The signal aborts when the chart stops waiting (timeout, logout): the connection then forgets the
  // request, so a parent that never answers leaves nothing pending and a late answer is dropped there.
  const pending = Promise.resolve().then(() => send(EXTERNAL_REFRESH_METHOD, input, { signal })); // a sync throw becomes a failure too
  pending.catch(() => {}); // after an abort nobody awaits it
  let result: unknown;
  try {
    result = await pending;
  } catch (error) {
    if (isWireError(error)) throw new Error(`auth refresh request failed: code=${error.code} message=${redactText(error.message)}`);
    throw new Error(`auth refresh request canceled: ${redactText((error as Error).message ?? String(error))}`);
  }
  const decoded = decodeExternalTokens(result);
  if (!decoded.ok) throw new Error(`invalid auth refresh response: ${decoded.issues}`);
  if (!decoded.claims.ok) throw new Error(`external auth refresh returned an invalid token: ${decoded.claims.reason}`);
  logger.info(`the parent answered ${EXTERNAL_REFRESH_METHOD} with new tokens`);
  return { tokens: decoded.tokens, account: decoded.claims.account };
}

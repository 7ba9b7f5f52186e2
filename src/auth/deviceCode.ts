/**
 * The effects of the device-code login (PROTOCOL.md §13.1), for machines without a browser on the same
 * host (SSH, WSL, containers): ask the issuer for a user code, poll until the user has entered it, then
 * exchange the authorization code as in §8. Each HTTP step is a pair: a function that sends and a pure
 * function that judges the answer (status and body text in, a value or a DeviceCodeError out). Texts are
 * Codex's, exactly; none carries the `Login server error:` prefix of the browser login.
 */
import { STATUS_CODES } from 'node:http';
import { Secret } from '../../machines/secret';
import { CLIENT_ID, exchangeCode, type ExchangedTokens } from './oauth';
import { httpFetch, type Fetch } from './http';
import { failureReason } from './httpFailure';

/** How long polling goes on before giving up (15 minutes, as Codex). */
export const DEVICE_AUTH_MAX_WAIT_MS = 15 * 60_000;
/** The pause used when the issuer asks for an interval of 0 s: never poll in a tight loop. */
export const MIN_POLL_INTERVAL_MS = 1_000;
/** Bound of each HTTP request of the flow. */
export const DEVICE_REQUEST_TIMEOUT_MS = 30_000;

/** JSON-RPC codes a failed user-code request answers with. */

/** Exact texts of §13.1. */
export const DEVICE_CODE_MESSAGES = {
  notEnabled: 'device code login is not enabled for this Codex server. Use the browser login or verify the server URL.',
  decode: 'error decoding response body',
  timedOut: 'device auth timed out after 15 minutes',
} as const;

/** A failed step; `notEnabled`: the issuer does not offer device-code login (the chart answers -32600 then). */
export class DeviceCodeError extends Error {
  override readonly name = 'DeviceCodeError';
  constructor(
    message: string,
    readonly notEnabled = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the user needs (URL and code) and what polling needs (the device auth id, the interval). */
export interface UserCode {
  verificationUrl: string;
  userCode: string;
  deviceAuthId: string;
  /** Seconds between polls, as the issuer asked (0 when it did not say). */
  intervalSeconds: number;
}

/** What a successful poll returns: the code to exchange and its PKCE pair, chosen by the issuer. */
export interface DeviceAuthorization {
  authorizationCode: Secret;
  codeChallenge: string;
  codeVerifier: Secret;
}

/** Options shared by the steps. */
export interface DeviceCodeDeps {
  issuer: string;
  signal?: AbortSignal;
  fetchImpl?: Fetch;
}

function base(issuer: string): string {
  return issuer.replace(/\/+$/, '');
}

/** `<code> <reason>`, as Rust's StatusCode prints (e.g. `404 Not Found`). */
export function statusText(status: number): string {
  const reason = STATUS_CODES[status];
  return reason ? `${status} ${reason}` : `${status}`;
}

function parseObject(bodyText: string): Record<string, unknown> | null {
  try {
    const body: unknown = JSON.parse(bodyText);
    return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The issuer's interval: a string of seconds (trimmed), a number, or absent (0); null when unreadable. */
function readInterval(value: unknown): number | null {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
  return null;
}

/** Judges the answer to `POST …/deviceauth/usercode`. */
export function readUserCodeResponse(issuer: string, status: number, bodyText: string): UserCode {
  if (status === 404) throw new DeviceCodeError(DEVICE_CODE_MESSAGES.notEnabled, true);
  if (status < 200 || status > 299) {
    throw new DeviceCodeError(`failed to request device code: device code request failed with status ${statusText(status)}`);
  }
  const body = parseObject(bodyText);
  const userCode = body?.user_code ?? body?.usercode;
  const deviceAuthId = body?.device_auth_id;
  const intervalSeconds = readInterval(body?.interval);
  if (typeof userCode !== 'string' || userCode === '' || typeof deviceAuthId !== 'string' || deviceAuthId === '' || intervalSeconds === null) {
    throw new DeviceCodeError(`failed to request device code: ${DEVICE_CODE_MESSAGES.decode}`);
  }
  // A verification_uri in the answer is ignored, as Codex does: the page is always the issuer's.
  return { verificationUrl: `${base(issuer)}/codex/device`, userCode, deviceAuthId, intervalSeconds };
}

async function post(url: string, body: unknown, deps: DeviceCodeDeps): Promise<{ status: number; text: string }> {
  const timeout = AbortSignal.timeout(DEVICE_REQUEST_TIMEOUT_MS);
  const signal = deps.signal ? AbortSignal.any([deps.signal, timeout]) : timeout;
  const response = await (deps.fetchImpl ?? httpFetch)(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  return { status: response.status, text: await response.text() };
}

function unreachable(error: unknown, deps: DeviceCodeDeps): string {
  if (deps.signal?.aborted) return 'the login was cancelled';
  return failureReason(error);
}

/** Step 1: `POST {issuer}/api/accounts/deviceauth/usercode`; resolves with the code to show the user. */
export async function requestUserCode(deps: DeviceCodeDeps): Promise<UserCode> {
  let answer: { status: number; text: string };
  try {
    answer = await post(`${base(deps.issuer)}/api/accounts/deviceauth/usercode`, { client_id: CLIENT_ID }, deps);
  } catch (error) {
    throw new DeviceCodeError(`failed to request device code: ${unreachable(error, deps)}`, false, { cause: error });
  }
  return readUserCodeResponse(deps.issuer, answer.status, answer.text);
}

/** Judges one poll: the authorization on 200, `pending` on 403/404, a DeviceCodeError otherwise. */
export function readTokenPollResponse(status: number, bodyText: string): DeviceAuthorization | 'pending' {
  if (status === 403 || status === 404) return 'pending';
  if (status < 200 || status > 299) throw new DeviceCodeError(`device auth failed with status ${statusText(status)}`);
  const body = parseObject(bodyText);
  const code = body?.authorization_code;
  const challenge = body?.code_challenge;
  const verifier = body?.code_verifier;
  if (typeof code !== 'string' || code === '' || typeof challenge !== 'string' || typeof verifier !== 'string' || verifier === '') {
    throw new DeviceCodeError(DEVICE_CODE_MESSAGES.decode);
  }
  return { authorizationCode: new Secret(code), codeChallenge: challenge, codeVerifier: new Secret(verifier) };
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DeviceCodeError('the login was cancelled'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DeviceCodeError('the login was cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What polling needs besides the user code. */
export interface PollOptions extends DeviceCodeDeps {
  /** The clock (ms), for the 15-minute bound; tests pass a fake one. */
  now?: () => number;
  /** The pause between polls; tests record it. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  maxWaitMs?: number;
}

/**
 * Step 2: polls `POST {issuer}/api/accounts/deviceauth/token` (at once, then once per interval) until the
 * user has entered the code. Rejects with `device auth timed out after 15 minutes`, a status failure, a
 * decode failure, or as soon as `signal` aborts (nothing is polled after that).
 */
export async function pollForAuthorization(code: UserCode, options: PollOptions): Promise<DeviceAuthorization> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const maxWaitMs = options.maxWaitMs ?? DEVICE_AUTH_MAX_WAIT_MS;
  const intervalMs = Math.max(code.intervalSeconds * 1000, MIN_POLL_INTERVAL_MS);
  const started = now();
  const url = `${base(options.issuer)}/api/accounts/deviceauth/token`;
  for (;;) {
    if (options.signal?.aborted) throw new DeviceCodeError('the login was cancelled');
    let answer: { status: number; text: string };
    try {
      answer = await post(url, { device_auth_id: code.deviceAuthId, user_code: code.userCode }, options);
    } catch (error) {
      throw new DeviceCodeError(`device auth failed: ${unreachable(error, options)}`, false, { cause: error });
    }
    const verdict = readTokenPollResponse(answer.status, answer.text);
    if (verdict !== 'pending') return verdict;
    const elapsed = now() - started;
    if (elapsed >= maxWaitMs) throw new DeviceCodeError(DEVICE_CODE_MESSAGES.timedOut);
    await sleep(Math.min(intervalMs, maxWaitMs - elapsed), options.signal);
  }
}

/** The redirect URI the issuer registered for device logins. */
export function deviceRedirectUri(issuer: string): string {
  return `${base(issuer)}/deviceauth/callback`;
}

/** Step 3: the §8 code exchange with the issuer's code verifier; a refusal says `device code exchange failed: …`. */
export async function exchangeDeviceAuthorization(authorization: DeviceAuthorization, deps: DeviceCodeDeps): Promise<ExchangedTokens> {
  try {
    return await exchangeCode({
      issuer: deps.issuer,
      code: authorization.authorizationCode,
      verifier: authorization.codeVerifier,
      redirectUri: deviceRedirectUri(deps.issuer),
      signal: deps.signal,
    });
  } catch (error) {
    throw new DeviceCodeError(`device code exchange failed: ${(error as Error).message}`, false, { cause: error });
  }
}

/**
 * Workspace switching (issue 14; §12.4 of the shared spec), the effect side: the token exchange at
 * `POST …/accounts/switch-workspace-token` with the current bearer, the validation of the new tokens,
 * and the pure builders of the `accountSession/list` result from the login and its discovery. Which
 * workspace may be selected, and when, is the chart's to decide; the texts of its refusals are here so
 * that the adapter and the chart say the same words as Codex.
 */
import { STATUS_CODES } from 'node:http';
import { Secret } from '../../machines/secret';
import type { AccountInfo, ChatgptCredentials } from '../../machines/types';
import { redactText } from '../log';
import { backendBase } from './backendUrls';
import { JwtFormatError, accountFromClaims, readClaims } from './jwt';
import type { WorkspaceDiscovery, WorkspaceInfo } from './workspaces';
import { httpFetch, type Fetch, type HttpResponse } from './http';
import { failureReason } from './httpFailure';

/** Codex's texts for a refused switch (all -32600), by reason: the chart's (machines/policy.ts). */
export { SWITCH_MESSAGES } from '../../machines/policy';

/** JSON-RPC codes of a failed exchange: the backend refused (any HTTP error), or it could not be reached / answered nonsense. */
const INVALID_REQUEST = -32600;
const INTERNAL_ERROR = -32603;

/**
 * A failed token exchange; `code` is the JSON-RPC code to answer with, `message` the exact text. `kind`
 * `rejected`: the backend refused the workspace for this bearer (an HTTP error), which a browser sign-in
 * may overcome; `failed`: it could not be reached or answered nonsense.
 */
export class WorkspaceSwitchError extends Error {
  override readonly name = 'WorkspaceSwitchError';
  constructor(
    readonly code: number,
    message: string,
    readonly kind: 'rejected' | 'failed' = 'failed',
  ) {
    super(message);
  }
}

/** The tokens of the switched-to workspace, and the account their claims describe. */
export interface SwitchedLogin {
  tokens: { idToken: Secret | null; accessToken: Secret; refreshToken: Secret };
  account: AccountInfo;
}

/** The exchange URL: `{chatgpt_base_url}/accounts/switch-workspace-token`. */
export function switchWorkspaceTokenUrl(chatgptBaseUrl: string): string {
  return `${backendBase(chatgptBaseUrl)}/accounts/switch-workspace-token`;
}

/** `HTTP 403 Forbidden`: the status and its standard reason phrase. */
function httpStatus(status: number, statusText: string): string {
  return `HTTP ${status} ${statusText || STATUS_CODES[status] || ''}`.trimEnd();
}

function nonEmptyString(body: Record<string, unknown>, key: string, required: boolean): string | null {
  const value = body[key];
  if ((value === undefined || value === null) && !required) return null;
  if (typeof value !== 'string' || value.length === 0) throw new WorkspaceSwitchError(INTERNAL_ERROR, `Workspace switch returned an invalid response: ${key} must be a non-empty string`);
  return value;
}

/**
 * Validates the exchange's answer `{access_token, refresh_token, id_token?}` for `workspaceId` (pure):
 * the tokens must be JWTs naming that workspace (when they name one). The account is read from the id
 * token when there is one, else from the access token. Throws WorkspaceSwitchError (-32603).
 */
export function parseSwitchResponse(body: unknown, workspaceId: string): SwitchedLogin {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new WorkspaceSwitchError(INTERNAL_ERROR, 'Workspace switch returned an invalid response: not a JSON object');
  const fields = body as Record<string, unknown>;
  const accessToken = nonEmptyString(fields, 'access_token', true)!;
  const refreshToken = nonEmptyString(fields, 'refresh_token', true)!;
  const idToken = nonEmptyString(fields, 'id_token', false);
  let account: AccountInfo;
  try {
    const access = accountFromClaims(readClaims(accessToken));
    account = idToken === null ? access : accountFromClaims(readClaims(idToken));
  } catch (error) {
    if (!(error instanceof JwtFormatError)) throw error;
    throw new WorkspaceSwitchError(INTERNAL_ERROR, `Workspace switch returned an invalid response: ${error.message}`);
  }
  if (account.accountId !== null && account.accountId !== workspaceId) {
    throw new WorkspaceSwitchError(INTERNAL_ERROR, `Workspace switch returned workspace ${JSON.stringify(account.accountId)}, expected ${JSON.stringify(workspaceId)}`);
  }
  return {
    tokens: { idToken: idToken === null ? null : new Secret(idToken), accessToken: new Secret(accessToken), refreshToken: new Secret(refreshToken) },
    account: { ...account, accountId: workspaceId },
  };
}

/**
 * The managed login after a switch to `switched` (pure): the new tokens, `account_id` = the workspace, a
 * fresh `last_refresh`, the saved API key kept. Without a new id token the old one stays (same user);
 * `tokens.accountId` then carries the choice, as in Codex's auth.json.
 */
export function switchedCredentials(current: ChatgptCredentials, switched: SwitchedLogin, now: Date): ChatgptCredentials {
  return {
    tokens: {
      idToken: switched.tokens.idToken ?? current.tokens.idToken,
      accessToken: switched.tokens.accessToken,
      refreshToken: switched.tokens.refreshToken,
      accountId: switched.account.accountId,
    },
    lastRefresh: now.toISOString(),
    apiKey: current.apiKey,
  };
}

/** Options of {@link exchangeWorkspaceTokenWith}. */
export interface SwitchOptions {
  fetch?: Fetch;
  signal?: AbortSignal;
}

/** The exchange's answer: a refusal (any HTTP error, `rejected`), or the new tokens validated. */
function readExchange(response: HttpResponse, text: string, workspaceId: string): SwitchedLogin {
  if (!response.ok) throw new WorkspaceSwitchError(INVALID_REQUEST, `Workspace switch was rejected (${httpStatus(response.status, response.statusText)})`, 'rejected');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new WorkspaceSwitchError(INTERNAL_ERROR, 'Workspace switch returned an invalid response: not JSON');
  }
  return parseSwitchResponse(body, workspaceId);
}

/**
 * The exchange made with `bearer` directly, as the chart's `switchWorkspace` effect makes it: the chart is
 * busy with the switch (nothing else changes the tokens meanwhile), so the call does not go through the
 * chart's backend-call path; a 401 is the backend refusing this bearer (`rejected`), and the next ordinary
 * call recovers it. Throws WorkspaceSwitchError.
 */
export async function exchangeWorkspaceTokenWith(bearer: Secret, chatgptBaseUrl: string, workspaceId: string, options: SwitchOptions = {}): Promise<SwitchedLogin> {
  const url = switchWorkspaceTokenUrl(chatgptBaseUrl);
  let response: HttpResponse;
  let text: string;
  try {
    response = await (options.fetch ?? httpFetch)(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bearer.reveal()}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ workspace_id: workspaceId }),
      signal: options.signal,
    });
    text = await response.text().catch(() => '');
  } catch (error) {
    throw new WorkspaceSwitchError(INTERNAL_ERROR, `Workspace switch failed: ${redactText(failureReason(error))}`);
  }
  return readExchange(response, text, workspaceId);
}

/** One workspace in `accountSession/list`. */
export interface AccountWorkspace {
  accountId: string;
  name: string | null;
  imageUrl: string | null;
  kind: 'personal' | 'workspace' | null;
}

/** One session (the managed ChatGPT login) in `accountSession/list`. */
export interface AccountSession {
  sessionId: string;
  email: string | null;
  userId: string;
  displayName: string | null;
  imageUrl: string | null;
  /** Seconds since the epoch. */
  lastUsedAt: number;
  isActive: boolean;
  selectedWorkspaceAccountId: string | null;
  workspaces: AccountWorkspace[];
}

/** The result of `accountSession/list` (and of a completed `accountSession/switch`). */
export interface AccountSessionList {
  activeSessionId: string | null;
  sessions: AccountSession[];
}

/** What the list is built from. `account` is the managed ChatGPT login's, null in any other mode. */
export interface SessionListInput {
  account: AccountInfo | null;
  /** The last successful discovery for this login, if any. */
  discovery: WorkspaceDiscovery | null;
  /** `refreshWorkspaceMetadata`: list every discovered workspace, not only the selected one. */
  allWorkspaces: boolean;
  /** When the login was last used (e.g. its last refresh), seconds since the epoch. */
  lastUsedAt: number;
}

/** The list of a login that is not a managed ChatGPT login (logged out, API key, external tokens). */
export const NO_SESSIONS: AccountSessionList = { activeSessionId: null, sessions: [] };

function workspaceOf(info: WorkspaceInfo): AccountWorkspace {
  return { accountId: info.accountId, name: info.name, imageUrl: null, kind: info.kind };
}

/**
 * Builds `accountSession/list` (pure): one session whose id is the login's user id (none without a user
 * id or outside managed mode). Its workspaces are the selected one only, without metadata (as Codex
 * 0.169 answers), or, with `allWorkspaces`, every workspace the discovery listed, named and kinded
 * (the caller runs a fresh discovery for `refreshWorkspaceMetadata`, as Codex does).
 */
export function buildSessionList(input: SessionListInput): AccountSessionList {
  const { account, discovery } = input;
  if (!account?.userId) return NO_SESSIONS;
  const selectedId = account.accountId;
  const listed = discovery?.workspaces ?? [];
  let workspaces: AccountWorkspace[];
  if (input.allWorkspaces && listed.length > 0) workspaces = listed.map(workspaceOf);
  // Codex 0.169 names no metadata without a refresh: the selected id only.
  else workspaces = selectedId === null ? [] : [{ accountId: selectedId, name: null, imageUrl: null, kind: null }];
  return {
    activeSessionId: account.userId,
    sessions: [
      {
        sessionId: account.userId,
        email: account.email,
        userId: account.userId,
        displayName: null,
        imageUrl: null,
        lastUsedAt: input.lastUsedAt,
        isActive: true,
        selectedWorkspaceAccountId: selectedId,
        workspaces,
      },
    ],
  };
}

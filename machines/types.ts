/**
 * The vocabulary of the auth chart: its context, the events it accepts and the events it emits.
 * Pure types and tiny pure helpers only; nothing here performs I/O or imports from src/.
 */
import type { Secret } from './secret';

/** Plan types as they appear on the wire (PROTOCOL.md §3). */
export const PLAN_TYPES = ['free', 'go', 'plus', 'pro', 'team', 'business', 'enterprise', 'edu', 'unknown'] as const;
/** A ChatGPT plan, normalized. */
export type PlanType = (typeof PLAN_TYPES)[number];

/** Wire values of `authMode` (note the lower-case k in `apikey`). */
export type AuthMode = 'apikey' | 'chatgpt' | 'chatgptAuthTokens';

/** `forced_login_method` from config.toml. */
export type ForcedLoginMethod = 'chatgpt' | 'api';

/** The policy knobs the chart's guards read. Fixed for the life of the actor. */
export interface AuthPolicy {
  forcedLoginMethod: ForcedLoginMethod | null;
  /** Allowed workspace (account) ids; null when no workspace is forced. */
  forcedWorkspaceIds: readonly string[] | null;
}

/** What the chart knows about a ChatGPT account: claims only, never a token. */
export interface AccountInfo {
  email: string | null;
  planType: PlanType;
  accountId: string | null;
  userId: string | null;
}

/** Decoded claims of a login's tokens, or why they could not be decoded. */
export type ClaimsResult = { ok: true; account: AccountInfo } | { ok: false; reason: string };

/** ChatGPT tokens handed in by the parent application. Secrets only; claims travel separately. */
export interface ExternalTokens {
  accessToken: Secret;
  /** Present for protocol generation A (`{idToken, accessToken}`). */
  idToken: Secret | null;
}

/** Credentials found in the store at start-up. */
export type RestoredAuth = { mode: 'apiKey' } | { mode: 'chatgpt'; account: AccountInfo } | null;

/** What the machine is created with. */
export interface AuthInput {
  policy: AuthPolicy;
  restored: RestoredAuth;
}

/** Correlates a command event with the answer the machine emits for it (chosen by the adapter). */
export type RequestKey = number;

/** Context of the auth chart. No secret is ever stored here. */
export interface AuthContext {
  policy: AuthPolicy;
  /** The active ChatGPT account (managed or external); null in loggedOut and apiKey. */
  account: AccountInfo | null;
  /** The command waiting for an effect (saving, clearing) to finish, so its answer can be sent. */
  pending: RequestKey | null;
  /** Why the last managed refresh failed permanently; set only in `failed`. */
  failure: string | null;
  /** The mode found in the credential store at start-up; read once by `restoring`. */
  restored: 'apiKey' | 'chatgpt' | null;
}

/** JSON-RPC error codes the chart answers with. */
export const INVALID_REQUEST = -32600;
export const INTERNAL_ERROR = -32603;

/** Events the chart accepts. */
export type AuthEvent =
  | { type: 'login.apiKey'; req: RequestKey; apiKey: Secret }
  | { type: 'login.chatgpt'; req: RequestKey }
  | { type: 'login.externalTokens'; req: RequestKey; tokens: ExternalTokens; claims: ClaimsResult }
  | { type: 'login.cancel'; req: RequestKey; loginId: string }
  | { type: 'logout'; req: RequestKey };

/** Events the chart emits: answers to commands and protocol notifications. */
export type AuthEmitted =
  | { type: 'answer.done'; req: RequestKey; value?: unknown }
  | { type: 'answer.refused'; req: RequestKey; code: number; message: string }
  | { type: 'notify.loginCompleted'; loginId: string | null; success: boolean; error: string | null }
  | { type: 'notify.accountUpdated'; authMode: AuthMode | null; planType: PlanType | null };

/** Normalizes any plan string to a wire PlanType (case-insensitive; `education` → `edu`; else `unknown`). */
export function normalizePlanType(raw: unknown): PlanType {
  if (typeof raw !== 'string') return 'unknown';
  const lower = raw.toLowerCase();
  if (lower === 'education') return 'edu';
  return (PLAN_TYPES as readonly string[]).includes(lower) ? (lower as PlanType) : 'unknown';
}

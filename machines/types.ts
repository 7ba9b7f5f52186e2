/**
 * The vocabulary of the auth chart: its context, the events it accepts and the events it emits.
 * Pure types and tiny pure helpers only; nothing here performs I/O or imports from src/.
 */
import type { Secret } from './secret';

/** Plan types as they appear on the wire (docs/protocol.md §3). */
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
  /** How long the parent may take to answer `account/chatgptAuthTokens/refresh` (default 10 000). */
  externalRefreshTimeoutMs?: number;
  /** Refresh a managed access token this close to its `exp` before using it (default 300). */
  proactiveRefreshSkewSeconds?: number;
  /** How long a browser login may wait for the browser and the issuer (default 600 000, 10 minutes). */
  loginTimeoutMs?: number;
  /** How long a device-code login may wait for the code to be entered (default 900 000, 15 minutes). */
  deviceLoginTimeoutMs?: number;
}

/** Default of `[authchart] external_refresh_timeout_ms` (docs/protocol.md §9). */
export const DEFAULT_EXTERNAL_REFRESH_TIMEOUT_MS = 10_000;
/** Default of `[authchart] proactive_refresh_skew_seconds` (docs/protocol.md §9). */
export const DEFAULT_PROACTIVE_REFRESH_SKEW_SECONDS = 300;
/** Without an `exp` claim, a managed token is refreshed once `last_refresh` is older than this (8 days). */
export const STALE_REFRESH_AGE_MS = 8 * 24 * 60 * 60 * 1000;

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

/** ChatGPT OAuth tokens of a managed login (kept by the credential store, never in context). */
export interface ChatgptTokens {
  idToken: Secret;
  accessToken: Secret;
  refreshToken: Secret;
  accountId: string | null;
}

/** A managed ChatGPT login as the credential store holds it. */
export interface ChatgptCredentials {
  tokens: ChatgptTokens;
  /** RFC 3339 time of the last refresh (auth.json `last_refresh`). */
  lastRefresh: string | null;
  /** An API key saved beside the tokens (auth.json `OPENAI_API_KEY`), kept as found. */
  apiKey: Secret | null;
}

/** When a managed access token needs a proactive refresh: its expiry and last refresh, ms since the epoch. */
export interface TokenTiming {
  expiresAt: number | null;
  lastRefreshAt: number | null;
}

/** Credentials found in the store at start-up. */
export type RestoredAuth = { mode: 'apiKey' } | { mode: 'chatgpt'; account: AccountInfo; timing?: TokenTiming } | null;

/** Why a refresh runs; the managed refresh reloads the store first and, unless forced, adopts newer tokens found there. */
export type RefreshReason = 'unauthorized' | 'proactive' | 'forced';

/** What a managed refresh produced: new credentials (persisted already) and their claims. */
export interface ManagedRefreshOutput {
  credentials: ChatgptCredentials;
  account: AccountInfo;
  timing: TokenTiming;
  /** `reloaded`: another process had refreshed and the store's tokens were adopted without a POST. */
  source: 'reloaded' | 'refreshed';
}

/** What the parent answered to `account/chatgptAuthTokens/refresh`, decoded. */
export interface ExternalRefreshOutput {
  tokens: ExternalTokens;
  account: AccountInfo;
}

/** The server→client request that asks the parent for new external tokens (docs/protocol.md §6). */
export const EXTERNAL_REFRESH_METHOD = 'account/chatgptAuthTokens/refresh';

/** Parameters of `account/chatgptAuthTokens/refresh` (docs/protocol.md §6). */
export interface ExternalRefreshInput {
  reason: 'unauthorized';
  previousAccountId: string | null;
}

/**
 * How a refresh failed. Effects throw errors carrying `kind`; only a managed `permanent` failure
 * (the token endpoint answered 401) ends in `failed`.
 */
export interface RefreshFailure {
  kind: 'permanent' | 'transient';
  message: string;
}

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
  /**
   * Bumps whenever the bearer credential changes (login, refresh, logout). A 401 reports the generation
   * it was sent with, so a 401 that raced a refresh already done does not start another one.
   */
  credentialGeneration: number;
  /** Why the last refresh failed (transient failures; the tokens in use were kept); null after a success. */
  lastRefreshError: string | null;
  /** Expiry and last refresh of the managed access token, for proactive refresh; null outside managed ChatGPT. */
  timing: TokenTiming | null;
  /** The managed login under way (its kind, its id once started, the account once the tokens are in); null when idle. */
  managedLogin: ManagedLoginInfo | null;
  /** Backend calls and 401 reports waiting for the refresh under way; the chart answers each when it settles. */
  waiting: WaitingCall[];
  // --- workspaces (issue 14): discovery and switching ---
  /** What the last successful workspace discovery found for the login in use (never a token); null when unknown. */
  workspace: WorkspaceKnowledge | null;
  /** The wire auth mode the discovery under way (or done) is for: the mode its `account/updated` names. */
  discoveryMode: 'chatgpt' | 'chatgptAuthTokens' | null;
  /** The workspace switch under way (its target and whether it may fall back to a browser sign-in). */
  switching: SwitchRequest | null;
}

/**
 * A request held until the refresh under way settles. `call`: a backend call (or a forced refresh) that
 * goes ahead with whatever token is in use afterwards; `retry`: a call the backend refused with a 401,
 * which is retried only when the refresh produced new credentials.
 */
export interface WaitingCall {
  req: RequestKey;
  kind: 'call' | 'retry';
}

/**
 * What the chart answers a `backend.call` with: `proceed` (take the credentials in use now) or `again`
 * (the mode changed while the call waited: ask again, the new mode decides).
 */
export type CallVerdict = 'proceed' | 'again';

/** The two managed ChatGPT logins: in a browser (§8) and with a device code (§13.1). */
export type ManagedLoginKind = 'browser' | 'device';

/**
 * What the chart knows of a managed login: its kind, its id (once started) and claims, never the PKCE
 * verifier, the device code, the authorization code or the tokens.
 */
export interface ManagedLoginInfo {
  kind: ManagedLoginKind;
  loginId: string | null;
  account: AccountInfo | null;
}

/** The tokens a managed login obtained from the issuer. Secrets only; claims travel separately. */
export interface LoginTokens {
  idToken: Secret;
  accessToken: Secret;
  refreshToken: Secret;
}

/** How the browser's callback request is to be answered, decided by the chart. */
export type BrowserOutcome = { ok: true } | { ok: false; status: number; message: string };

/** JSON-RPC error codes the chart answers with. */
export const INVALID_REQUEST = -32600;
export const INTERNAL_ERROR = -32603;

/** What every command carries: the key its answer is correlated by, and the JSON-RPC id it came with (for display). */
export interface CommandMeta {
  req: RequestKey;
  /** The id of the JSON-RPC request behind the command, shown by the inspector; the chart never reads it. */
  rpcId?: string | number;
}

/**
 * What AuthCore sends the chart: client requests and the reports of backend calls, each answered with
 * exactly one `answer.*` (at once, or when the refresh it waits for settles).
 */
export type AuthCommandEvent = CommandMeta &
  (
    | { type: 'login.apiKey'; apiKey: Secret }
    /** A browser login; `originator` is the client's name, passed on to the issuer in the authorize URL. */
    | { type: 'login.chatgpt'; originator: string }
    /** A device-code login (docs/protocol.md §13.1). */
    | { type: 'login.deviceCode' }
    | { type: 'login.externalTokens'; tokens: ExternalTokens; claims: ClaimsResult }
    | { type: 'login.cancel'; loginId: string }
    | { type: 'logout' }
    /**
     * A backend call with ChatGPT credentials is about to be made (`purpose` completes the refusal texts,
     * e.g. "read rate limits"). `now` (ms) lets a pure guard decide a proactive refresh. Answered with a
     * CallVerdict, or refused.
     */
    | { type: 'backend.call'; purpose: string; now: number; background?: boolean }
    /** The backend answered 401 to a call made with the bearer of `generation`: answered done = retry, or refused. */
    | { type: 'auth.unauthorized'; generation: number }
    /** Refresh the managed tokens now (`account/read {"refreshToken":true}`); answered once it settled. */
    | { type: 'refresh.requested' }
    // --- workspaces (issue 14) ---
    /** `accountSession/list`: answered with the SessionSnapshot of a managed login, or null (no session). */
    | { type: 'accountSession.list' }
    /**
     * `accountSession/switch`: answered with the SessionSnapshot after the switch (or at once when nothing
     * changes), `{loginId, authUrl}` when it became a browser sign-in, a refusal, or `proceed`/`again`
     * when it waited on a refresh (then it is sent again and decided in the mode the refresh left).
     */
    | { type: 'accountSession.switch'; sessionId: string; accountId: string; allowBrowserLogin: boolean; originator: string }
  );

/** What a managed login's `login/start` is answered with, once the flow has started. */
export type LoginStartAnswer =
  | { loginId: string; authUrl: string }
  | { loginId: string; verificationUrl: string; userCode: string };

/**
 * What a managed login's flow (the `loginFlow` actor: the browser's callback server, or the device-code
 * polling) reports to the chart. Both kinds speak this one vocabulary; `cancelRequested` only comes from
 * a browser (`GET /cancel`).
 */
export type LoginFlowEvent =
  /** Started: the parent may open `authUrl`, or show `verificationUrl` and `userCode`. */
  | { type: 'loginFlow.started'; start: LoginStartAnswer }
  /**
   * Could not start: the callback server could not bind (`message` follows `failed to start login
   * server: `), or the issuer gave no user code (`notEnabled`: device-code login is off at this issuer).
   */
  | { type: 'loginFlow.startFailed'; message: string; notEnabled?: boolean }
  /** The user signed in (a callback with the right state, or the device code was entered); the code exchange started. */
  | { type: 'loginFlow.authorized' }
  /** The issuer answered the code exchange with tokens. */
  | { type: 'loginFlow.exchanged'; tokens: LoginTokens; account: AccountInfo }
  /** The flow failed (token endpoint error, OAuth error on the callback, polling refused…). */
  | { type: 'loginFlow.failed'; message: string }
  /** `GET /cancel` on the browser login's callback server. */
  | { type: 'loginFlow.cancelRequested' };

/** What the chart tells the `loginFlow` actor: how to answer the browser (a device flow has nobody to answer). */
export type LoginFlowCommand = { type: 'loginFlow.respond'; outcome: BrowserOutcome };

/** What the `loginFlow` actor is started with. */
export interface LoginFlowInput {
  kind: ManagedLoginKind;
  /** The client's name, passed on to the issuer in a browser login's authorize URL. */
  originator: string;
}

/** Raised by the managedLogin region when a managed login has persisted its tokens. */
export type ManagedLoginSucceeded = { type: 'managedLogin.succeeded'; account: AccountInfo; timing: TokenTiming };

/** What saving a managed login's tokens yields: the new access token's timing, for proactive refresh. */
export interface SavedLoginOutput {
  timing: TokenTiming;
}

/**
 * Raised by the session region when it accepts an API-key or external login: a pending managed login
 * ends on it (the coupling of the two regions, one edge in the picture).
 */
export type LoginAccepted = { type: 'login.accepted' };

/**
 * Raised by the session region right after `login.accepted` for an external login: by then a pending
 * managed login has ended (and said so), and the external login is answered and announced.
 */
export type ExternalLoginAnnounce = { type: 'externalLogin.announce' };

/** Events the chart accepts. */
export type AuthEvent = AuthCommandEvent | LoginFlowEvent | ManagedLoginSucceeded | LoginAccepted | ExternalLoginAnnounce | WorkspaceEvent;

/** Events the chart emits: answers to commands and protocol notifications. */
export type AuthEmitted =
  | { type: 'answer.done'; req: RequestKey; value?: unknown }
  | { type: 'answer.refused'; req: RequestKey; code: number; message: string }
  | { type: 'notify.loginCompleted'; loginId: string | null; success: boolean; error: string | null }
  | { type: 'notify.accountUpdated'; authMode: AuthMode | null; planType: PlanType | null; reason?: AccountUpdatedReason };

/** Normalizes any plan string to a wire PlanType (case-insensitive; `education` → `edu`; else `unknown`). */
export function normalizePlanType(raw: unknown): PlanType {
  if (typeof raw !== 'string') return 'unknown';
  const lower = raw.toLowerCase();
  if (lower === 'education') return 'edu';
  return (PLAN_TYPES as readonly string[]).includes(lower) ? (lower as PlanType) : 'unknown';
}

// --- workspaces (issue 14: discovery and switching, docs/protocol.md §12.1, §12.4) ---

/** `reason` of `account/updated` (§12.2): null for logins, logout and switches. */
export type AccountUpdatedReason = 'workspaceRoutingReady' | null;

/** The values of `accountRoutingOverride`. */
export const ROUTING_OVERRIDES = ['NO_CONSTRAINT', 'us', 'us_cr'] as const;
/** Where the backend routes a workspace. */
export type RoutingOverride = (typeof ROUTING_OVERRIDES)[number];

/** `workspaceRouting` of `account/read`. */
export interface WorkspaceRouting {
  chatgptAccountId: string;
  backendOrigin: string;
  accountRoutingOverride: RoutingOverride;
}

/** One workspace of the login, as discovery lists it. */
export interface WorkspaceInfo {
  accountId: string;
  name: string | null;
  planType: string | null;
  kind: 'personal' | 'workspace' | null;
}

/** What a successful discovery knows: the routing and name of the login's workspace, and all its workspaces. */
export interface WorkspaceKnowledge {
  routing: WorkspaceRouting;
  workspaceName: string | null;
  /** Every listed workspace, in `account_ordering` order. */
  workspaces: WorkspaceInfo[];
}

/** A switch under way: where to, and whether a refused exchange may become a browser sign-in. */
export interface SwitchRequest {
  accountId: string;
  allowBrowserLogin: boolean;
  originator: string;
}

/** What the chart answers `accountSession.*` with for a managed login: the adapter builds the list from it. */
export interface SessionSnapshot {
  account: AccountInfo;
  workspace: WorkspaceKnowledge | null;
  /** The access token's last refresh (ms since the epoch), if known: the session's `lastUsedAt`. */
  lastRefreshAt: number | null;
}

/** What the `switchWorkspace` actor yields: the new account (claims) and token timing, the tokens already saved. */
export interface SwitchedOutput {
  account: AccountInfo;
  timing: TokenTiming;
}

/**
 * Internal events of the workspace region, raised by the session region: a ChatGPT login (or a switch)
 * is in use and its workspace is to be discovered; or there is no ChatGPT login any more.
 */
export type WorkspaceEvent =
  | { type: 'workspace.discover'; authMode: 'chatgpt' | 'chatgptAuthTokens' }
  | { type: 'workspace.forget' }
  /** A backend call went ahead: a discovery that failed is tried again (docs/protocol.md §12.1). */
  | { type: 'workspace.retry' };

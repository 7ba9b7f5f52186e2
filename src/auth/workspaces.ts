/**
 * Workspace discovery (docs/protocol.md §12.1): `GET …/wham/accounts/check` through the 401 recovery, and the
 * pure validation of its answer into the routing of the login's workspace (name, backend origin,
 * routing override). Failures carry Codex's own texts, which parents of today's Codex match on; what
 * happened beyond that (the status, the field) is in `detail`, for the log.
 */
import * as z from '../zod';
import { describeIssues } from '../issues';
import { DISCOVERY_TIMEOUT_MS } from '../config';
import { redactText } from '../log';
import { authorizedFetch } from './backend';
import { codexBackendUrl } from './backendUrls';
import { AuthCallError, type AuthCore } from './core';

import { ROUTING_OVERRIDES, type RoutingOverride, type WorkspaceInfo, type WorkspaceKnowledge, type WorkspaceRouting } from '../../machines/types';
import type { Fetch, HttpResponse } from './http';
import { failureReason } from './httpFailure';

// The shapes are the chart's (its context holds what discovery found); re-exported for the effect's callers.
export { ROUTING_OVERRIDES, type RoutingOverride, type WorkspaceInfo, type WorkspaceRouting };

/** Codex's texts for a failed discovery, by kind. */
export const DISCOVERY_MESSAGES = {
  failed: 'workspace routing discovery failed',
  timedOut: 'workspace routing discovery timed out',
  unauthorized: 'workspace routing discovery unauthorized (401)',
  missingAccountId: 'workspace routing requires a ChatGPT account id',
  missingWorkspace: 'selected workspace missing from routing discovery',
  duplicateWorkspace: 'duplicate workspace in routing discovery',
  missingBackendOrigin: 'workspace routing discovery missing backend origin',
  invalidRoutingOverride: 'workspace routing discovery has invalid account routing override',
  invalidBackendUrl: 'invalid workspace backend URL',
  notAnOrigin: 'workspace routing discovery must return an origin',
  invalidBackendOrigin: 'workspace backend must use an HTTPS origin without credentials',
} as const;
export type DiscoveryFailureKind = keyof typeof DISCOVERY_MESSAGES;

/** A failed discovery: `message` is Codex's text, `detail` what exactly went wrong (safe to log). */
export class WorkspaceDiscoveryError extends Error {
  override readonly name = 'WorkspaceDiscoveryError';
  constructor(
    readonly kind: DiscoveryFailureKind,
    readonly detail: string | null = null,
  ) {
    super(DISCOVERY_MESSAGES[kind]);
  }
}

/** What a successful discovery knows: the routing and name of the login's workspace, and all workspaces. */
export type WorkspaceDiscovery = WorkspaceKnowledge;

const EntrySchema = z.object({
  id: z.string(),
  name: z.nullish(z.string()),
  plan_type: z.nullish(z.string()),
  structure: z.nullish(z.string()),
  workspace_backend_origin: z.nullish(z.string()),
  account_routing_override: z.nullish(z.string()),
});
const AccountsCheckSchema = z.object({
  accounts: z.array(EntrySchema),
  account_ordering: z.nullish(z.array(z.string())),
  default_account_id: z.nullish(z.string()),
});
type Entry = z.infer<typeof EntrySchema>;

/** The discovery URL: `/wham/accounts/check` (or `/api/codex/accounts/check` for a Codex API base URL). */
export function accountsCheckUrl(chatgptBaseUrl: string): string {
  return codexBackendUrl(chatgptBaseUrl, 'accounts/check');
}

/** `value` as an https origin (`https://host[:port]`), or the discovery failure it is (as Codex checks it). */
function backendOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new WorkspaceDiscoveryError('invalidBackendUrl', `workspace_backend_origin is not a URL: ${JSON.stringify(redactText(value))}`);
  }
  if (url.protocol !== 'https:' || url.hostname === '' || url.username !== '' || url.password !== '' || value.trim() !== value) {
    throw new WorkspaceDiscoveryError('invalidBackendOrigin', `workspace_backend_origin ${JSON.stringify(`${url.protocol}//${url.host}`)} is not an https origin without credentials`);
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new WorkspaceDiscoveryError('notAnOrigin', `workspace_backend_origin has a path, query or fragment`);
  }
  return url.origin;
}

function workspaceInfo(entry: Entry): WorkspaceInfo {
  const kind = entry.structure === 'personal' || entry.structure === 'workspace' ? entry.structure : null;
  return { accountId: entry.id, name: entry.name ?? null, planType: entry.plan_type ?? null, kind };
}

/**
 * Validates an `accounts/check` body for the login's workspace `accountId` (pure). `chatgptBaseUrl`
 * is the origin of a workspace whose backend is `NO_CONSTRAINT`. Throws WorkspaceDiscoveryError.
 */
export function resolveWorkspaceRouting(body: unknown, accountId: string | null, chatgptBaseUrl: string): WorkspaceDiscovery {
  if (!accountId) throw new WorkspaceDiscoveryError('missingAccountId');
  const parsed = AccountsCheckSchema.safeParse(body);
  if (!parsed.success) throw new WorkspaceDiscoveryError('failed', `the backend answered an unexpected body (${describeIssues(parsed.error)})`);
  const { accounts, account_ordering: ordering } = parsed.data;
  const selected = accounts.filter((entry) => entry.id === accountId);
  if (selected.length === 0) throw new WorkspaceDiscoveryError('missingWorkspace', `account ${JSON.stringify(accountId)} is not among the ${accounts.length} listed`);
  if (selected.length > 1) throw new WorkspaceDiscoveryError('duplicateWorkspace', `account ${JSON.stringify(accountId)} is listed ${selected.length} times`);
  const entry = selected[0];
  const backend = entry.workspace_backend_origin;
  if (backend === null || backend === undefined) throw new WorkspaceDiscoveryError('missingBackendOrigin');
  const override = entry.account_routing_override;
  if (!(ROUTING_OVERRIDES as readonly unknown[]).includes(override)) {
    throw new WorkspaceDiscoveryError('invalidRoutingOverride', `account_routing_override is ${JSON.stringify(override ?? null)}`);
  }
  // A workspace without a backend of its own is served by the configured one.
  const origin = backend === 'NO_CONSTRAINT' ? backendOrigin(new URL(chatgptBaseUrl).origin) : backendOrigin(backend);
  const rank = (id: string) => {
    const index = ordering?.indexOf(id) ?? -1;
    return index === -1 ? Number.MAX_SAFE_INTEGER : index;
  };
  const workspaces = accounts.map(workspaceInfo).map((info, index) => ({ info, index }));
  workspaces.sort((a, b) => rank(a.info.accountId) - rank(b.info.accountId) || a.index - b.index);
  return {
    routing: { chatgptAccountId: entry.id, backendOrigin: origin, accountRoutingOverride: override as RoutingOverride },
    workspaceName: entry.name ?? null,
    workspaces: workspaces.map((w) => w.info),
  };
}

/** Options of {@link fetchAccountsCheck} and {@link discoverWorkspace}. */
export interface DiscoveryOptions {
  fetch?: Fetch;
  /** The whole discovery's time limit, retries and 401 recovery included (default 15 s, as Codex). */
  timeoutMs?: number;
  /** Ends the discovery early (e.g. the chart left the login it was for); it then fails as `timedOut`. */
  signal?: AbortSignal;
}

/**
 * GETs the `accounts/check` body through the 401 recovery; a 5xx is retried once. Throws
 * WorkspaceDiscoveryError (`failed`, `timedOut`, `unauthorized` for a 401 the recovery could not cure)
 * or AuthCallError when the chart refuses the call or the refresh fails (its exact message).
 */
export async function fetchAccountsCheck(core: AuthCore, chatgptBaseUrl: string, options: DiscoveryOptions = {}): Promise<unknown> {
  const url = accountsCheckUrl(chatgptBaseUrl);
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DISCOVERY_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const abandoned = new Promise<never>((_resolve, reject) => {
    const fail = () => reject(new WorkspaceDiscoveryError('timedOut', `GET ${url} did not answer in time`));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
  abandoned.catch(() => undefined);
  const attempt = async (): Promise<HttpResponse> => {
    try {
      // Raced with the signal too: waiting for a slot or a refresh is part of the time allowed.
      return await Promise.race([
        authorizedFetch(core, url, { method: 'GET', headers: { Accept: 'application/json' }, signal }, { purpose: 'discover the workspace', fetch: options.fetch, background: true }),
        abandoned,
      ]);
    } catch (error) {
      if (error instanceof AuthCallError || error instanceof WorkspaceDiscoveryError) throw error;
      if (signal.aborted) throw new WorkspaceDiscoveryError('timedOut', `GET ${url} did not answer in time`);
      throw new WorkspaceDiscoveryError('failed', `GET ${url} failed: ${redactText(failureReason(error))}`);
    }
  };
  let response = await attempt();
  if (response.status >= 500) {
    await response.discard();
    response = await attempt();
  }
  const text = await Promise.race([response.text(), abandoned]).catch((error: unknown) => {
    if (error instanceof WorkspaceDiscoveryError) throw error;
    throw new WorkspaceDiscoveryError('failed', `GET ${url}: the body could not be read`);
  });
  if (response.status === 401) throw new WorkspaceDiscoveryError('unauthorized', `GET ${url} answered 401 after the token was refreshed`);
  if (!response.ok) throw new WorkspaceDiscoveryError('failed', `GET ${url} answered ${response.status}${response.status >= 500 ? ' twice' : ''}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new WorkspaceDiscoveryError('failed', `GET ${url} answered a body that is not JSON`);
  }
}

/**
 * Discovers the routing of the login's workspace `accountId`: {@link fetchAccountsCheck}, then
 * {@link resolveWorkspaceRouting}. Throws WorkspaceDiscoveryError or AuthCallError.
 */
export async function discoverWorkspace(core: AuthCore, chatgptBaseUrl: string, accountId: string | null, options: DiscoveryOptions = {}): Promise<WorkspaceDiscovery> {
  if (!accountId) throw new WorkspaceDiscoveryError('missingAccountId');
  return resolveWorkspaceRouting(await fetchAccountsCheck(core, chatgptBaseUrl, options), accountId, chatgptBaseUrl);
}

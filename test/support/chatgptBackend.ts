/**
 * A loopback ChatGPT backend for today's account surface (docs/protocol.md §12): the usage endpoint (any body),
 * the reset-credit listing, workspace discovery (`accounts/check`: one or several workspaces, each §12.1
 * failure, a hang) and the workspace token exchange (only listed workspaces). Bearers the test refuses
 * get a 401, so every route exercises the 401 recovery. A real HTTP server on 127.0.0.1, port 0.
 */
import { startFakeServer, USAGE_BODY, bearerOf, type FakeServer, type Reply, type Seen } from './httpFakes';
import { chatgptJwt } from './jwt';

/** One entry of `accounts[]` in an `accounts/check` body. */
export interface WorkspaceEntry {
  id: string;
  name?: string | null;
  plan_type?: string | null;
  structure?: 'personal' | 'workspace' | null;
  workspace_backend_origin?: string | null;
  account_routing_override?: string | null;
}

/** A valid workspace entry: `https://chatgpt.com`, no routing constraint; `extra` overrides any field. */
export function workspaceEntry(id: string, name: string, extra: Partial<WorkspaceEntry> = {}): WorkspaceEntry {
  return { id, name, plan_type: 'team', structure: 'workspace', workspace_backend_origin: 'https://chatgpt.com', account_routing_override: 'NO_CONSTRAINT', ...extra };
}

/** An `accounts/check` body listing `entries` in order, the first being the default. */
export function accountsCheckBody(entries: WorkspaceEntry[]) {
  return { accounts: entries, account_ordering: entries.map((e) => e.id), default_account_id: entries[0]?.id ?? null };
}

/**
 * What `accounts/check` does: answer a body; answer statuses in turn (the last one repeats; a 200 answers
 * `body`, default an empty listing); or hang until released.
 */
export type AccountsCheckBehaviour = { body: unknown } | { statuses: number[]; body?: unknown } | 'hang';

/**
 * Each failure of §12.1 for a login in workspace `accountId`, as a behaviour of `accounts/check`, with
 * the text Codex reports it by. (A hang is `'hang'`; its text is `workspace routing discovery timed out`.)
 */
export function discoveryFailures(accountId: string): Record<string, { behaviour: AccountsCheckBehaviour; message: string }> {
  const entry = (extra: Partial<WorkspaceEntry>) => ({ body: accountsCheckBody([workspaceEntry(accountId, 'Team', extra)]) });
  return {
    'the workspace is not listed': { behaviour: { body: accountsCheckBody([workspaceEntry('someone-else', 'Other')]) }, message: 'selected workspace missing from routing discovery' },
    'no backend origin': { behaviour: entry({ workspace_backend_origin: null }), message: 'workspace routing discovery missing backend origin' },
    'a plain http backend': { behaviour: entry({ workspace_backend_origin: 'http://chatgpt.com' }), message: 'workspace backend must use an HTTPS origin without credentials' },
    'credentials in the backend': { behaviour: entry({ workspace_backend_origin: 'https://user:pw@chatgpt.com' }), message: 'workspace backend must use an HTTPS origin without credentials' },
    'an unknown routing override': { behaviour: entry({ account_routing_override: 'eu' }), message: 'workspace routing discovery has invalid account routing override' },
    'a 5xx twice': { behaviour: { statuses: [503, 502] }, message: 'workspace routing discovery failed' },
  };
}

/** A usage body with an additional bucket, spend control, a reached type, reset credits and ownership. */
export function multiBucketUsageBody(owner: { accountId: string; userId: string }) {
  return {
    ...USAGE_BODY,
    rate_limit: { ...USAGE_BODY.rate_limit, allowed: true, limit_reached: false },
    additional_rate_limits: [
      {
        limit_name: 'GPT-5.3-Codex-Spark',
        metered_feature: 'codex_bengalfox',
        normal_model_slug: 'gpt-5.3-codex-spark',
        rate_limit: { primary_window: { used_percent: 10, limit_window_seconds: 61, reset_after_seconds: 30, reset_at: 1767300000 }, secondary_window: null },
      },
    ],
    spend_control: {
      reached: false,
      individual_limit: { limit: '50.00', used: '12.50', remaining: '37.50', used_percent: 25, remaining_percent: 75, reset_at: 1767900000, reset_after_seconds: 600 },
    },
    rate_limit_reached_type: { type: 'workspace_member_usage_limit_reached' },
    rate_limit_reset_credits: { available_count: 2 },
    account_id: owner.accountId,
    user_id: owner.userId,
    rate_limit_upsell: { upsell_type: 'buy_credits', cta_url: 'https://chatgpt.com/codex/settings/usage' },
  };
}

/** A reset-credit listing of two credits (one of an unknown type and status). */
export const RESET_CREDITS_LISTING = {
  available_count: 2,
  credits: [
    { id: 'rc-1', reset_type: 'codex_rate_limits', status: 'available', granted_at: '2026-01-01T00:00:00Z', expires_at: '2026-02-01T00:00:00Z', title: 'Reset', description: null },
    { id: 'rc-2', reset_type: 'future_kind', status: 'future_status', granted_at: 1767225600, expires_at: null },
  ],
};

/** Tokens the exchange issues for `workspaceId` (claims: that account, `userId`, a far `exp`). */
export function switchedTokens(workspaceId: string, userId = 'user-1') {
  return {
    id_token: chatgptJwt({ email: 'ada@example.com', plan: 'team', accountId: workspaceId, userId }),
    access_token: chatgptJwt({ accountId: workspaceId, userId, exp: 4102444800, extra: { switched: workspaceId } }),
    refresh_token: `rt_switched_${workspaceId}_${'x'.repeat(8)}`,
  };
}

/** Options of {@link startFakeChatgptBackend}; everything can be changed later on the returned server. */
export interface ChatgptBackendOptions {
  /** Bearers answered normally; the others get 401 (default: every bearer). */
  accepts?: (token: string | null, request: Seen) => boolean;
  usage?: unknown;
  resetCredits?: Reply;
  accountsCheck?: AccountsCheckBehaviour;
  /** The user id in the tokens the exchange issues (default `user-1`). */
  userId?: string;
  /** Answers the exchange with this instead (failure tests); null/absent = the normal exchange. */
  switchReply?: Reply | null;
}

/** The running fake. */
export interface FakeChatgptBackend extends FakeServer {
  /** Requests whose path ends with `suffix` (e.g. `accounts/check`). */
  calls(suffix: string): Seen[];
  options: ChatgptBackendOptions;
  /** Resolves when a request to `accounts/check` is being held (behaviour `'hang'`). */
  held(): Promise<void>;
  /** Answers the held `accounts/check` requests with `reply`. */
  release(reply?: Reply): void;
}

/** Starts the fake backend (`/backend-api/wham/…` and `/backend-api/accounts/…`). */
export async function startFakeChatgptBackend(options: ChatgptBackendOptions = {}): Promise<FakeChatgptBackend> {
  const state = { options, statusIndex: 0 };
  let holders: Array<(reply: Reply) => void> = [];
  let heldNow: (() => void) | null = null;
  let heldPromise = new Promise<void>((resolve) => (heldNow = resolve));

  const accountsCheck = async (): Promise<Reply> => {
    const behaviour = state.options.accountsCheck ?? { body: accountsCheckBody([workspaceEntry('acct-1', 'Personal', { structure: 'personal' })]) };
    if (behaviour === 'hang') {
      const reply = new Promise<Reply>((resolve) => holders.push(resolve));
      heldNow?.();
      return reply;
    }
    if ('statuses' in behaviour) {
      const status = behaviour.statuses[Math.min(state.statusIndex, behaviour.statuses.length - 1)];
      state.statusIndex += 1;
      return status === 200 ? { status, body: behaviour.body ?? accountsCheckBody([]) } : { status, body: { detail: `status ${status}` } };
    }
    return { status: 200, body: behaviour.body };
  };

  const listedIds = (): string[] => {
    const behaviour = state.options.accountsCheck;
    const body = behaviour && behaviour !== 'hang' ? (behaviour.body as { accounts?: WorkspaceEntry[] } | undefined) : undefined;
    return (body?.accounts ?? [{ id: 'acct-1' }]).map((entry) => entry.id);
  };

  const server = await startFakeServer(async (request) => {
    const accepts = state.options.accepts ?? (() => true);
    if (!accepts(bearerOf(request), request)) return { status: 401, body: { error: { code: 'token_expired', message: 'Unauthorized' } } };
    if (/\/(wham|api\/codex)\/usage$/.test(request.path)) return { status: 200, body: state.options.usage ?? USAGE_BODY };
    if (/\/(wham|api\/codex)\/rate-limit-reset-credits$/.test(request.path)) return state.options.resetCredits ?? { status: 404, body: { detail: 'Not Found' } };
    if (/\/(wham|api\/codex)\/accounts\/check$/.test(request.path)) return accountsCheck();
    if (request.method === 'POST' && request.path.endsWith('/accounts/switch-workspace-token')) {
      if (state.options.switchReply) return state.options.switchReply;
      const workspaceId = (JSON.parse(request.body || '{}') as { workspace_id?: string }).workspace_id ?? '';
      if (!listedIds().includes(workspaceId)) return { status: 403, body: { detail: 'workspace not available' } };
      return { status: 200, body: switchedTokens(workspaceId, state.options.userId) };
    }
    return { status: 404, body: { detail: 'Not Found' } };
  });
  const release = (reply: Reply = { status: 200, body: accountsCheckBody([workspaceEntry('acct-1', 'Personal')]) }) => {
    const waiting = holders;
    holders = [];
    heldPromise = new Promise<void>((resolve) => (heldNow = resolve));
    for (const resolve of waiting) resolve(reply);
  };
  return {
    ...server,
    options: state.options,
    calls: (suffix) => server.seen.filter((r) => r.path.endsWith(suffix)),
    held: () => heldPromise,
    release,
    async close() {
      release();
      await server.close();
    },
  };
}

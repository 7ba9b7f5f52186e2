/**
 * The real environment a replay runs in, besides the app-server itself: a ChatGPT backend and an OAuth
 * token endpoint (real HTTP servers on 127.0.0.1, port 0), the parent application answering
 * `account/chatgptAuthTokens/refresh`, and the CODEX_HOME files. Catalogue stimuli arrange it so that the
 * real effects end the way the model path says, for one request at a time.
 */
import { mkdir, rename, rmdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { EXTERNAL_REFRESH_METHOD } from '../../machines/types';
import type { AppServerProcess } from '../support/appServer';
import { createHash } from 'node:crypto';
import { USAGE_BODY, issuedTokens, startFakeServer, type FakeServer, type Reply, type Seen } from '../support/httpFakes';
import { chatgptJwt } from '../support/jwt';

/**
 * The fake ChatGPT backend: the usage endpoint answers 200, or 401 to the next `rejections` calls;
 * workspace discovery (`accounts/check`) is held until the model's "workspace discovery ends" releases it
 * the way the model chose; the workspace token exchange issues tokens for the second workspace, or
 * refuses it when told to.
 */
export interface FakeBackend extends FakeServer {
  /** Makes the next usage call answer 401 (a bearer the backend no longer accepts). */
  rejectNext(): void;
  usageCalls(): number;
  // --- workspaces (issue 14) ---
  /** How the next released discovery ends: listing the login's workspace and SECOND_WORKSPACE, or not listing it. */
  arrangeDiscovery(outcome: 'listed' | 'unlisted'): void;
  /** The outcome arranged for the discovery being released. */
  readonly discoveryOutcome: 'listed' | 'unlisted';
  /** Resolves once a discovery request is held whose caller still waits, then answers every held one. */
  releaseDiscovery(): Promise<void>;
  /** Resolves once a discovery request is held whose caller still waits (answering none). */
  discoveryHeld(): Promise<void>;
  /** Makes the workspace token exchange answer 403 (true) or issue tokens (false). */
  refuseSwitch(refuse: boolean): void;
}

/** The second workspace every discovery lists beside the login's own (the one switches go to). */
export const SECOND_WORKSPACE = { accountId: 'acct-S', name: 'Second', kind: 'workspace' as const, planType: 'team' };
/** The user of the restored managed login, whose session the model switches. */
export const SWITCH_USER = { email: 'rita@example.com', userId: 'user-rita' };

/** The `accounts/check` body of a login in workspace `accountId`. */
export function discoveryBody(accountId: string) {
  const entry = (id: string, name: string, structure: string, plan: string) => ({
    id,
    name,
    plan_type: plan,
    structure,
    workspace_backend_origin: 'https://chatgpt.com',
    account_routing_override: 'NO_CONSTRAINT',
  });
  const second = entry(SECOND_WORKSPACE.accountId, SECOND_WORKSPACE.name, SECOND_WORKSPACE.kind, SECOND_WORKSPACE.planType);
  const accounts = accountId === SECOND_WORKSPACE.accountId ? [second] : [entry(accountId, `Workspace ${accountId}`, 'personal', 'plus'), second];
  return { accounts, account_ordering: accounts.map((a) => a.id), default_account_id: accountId };
}

/** What the backend answers a held discovery of a login in workspace `accountId`: that workspace listed, or left out. */
export function discoveryAnswer(accountId: string, outcome: 'listed' | 'unlisted') {
  const body = discoveryBody(accountId);
  return outcome === 'listed' ? body : { ...body, accounts: body.accounts.filter((a) => a.id !== accountId) };
}

/** The workspace-token exchange's tokens for `workspace`: SWITCH_USER's, in that workspace. */
export function switchedTokensBody(workspace: string) {
  return {
    id_token: chatgptJwt({ email: SWITCH_USER.email, plan: SECOND_WORKSPACE.planType, accountId: workspace, userId: SWITCH_USER.userId }),
    access_token: chatgptJwt({ accountId: workspace, userId: SWITCH_USER.userId, exp: 4102444800, extra: { switched: true } }),
    refresh_token: `rt-switched-${workspace}`,
  };
}

/** Resolves once the I/O events already delivered to this process have run (two event-loop turns). */
export async function ioDelivered(): Promise<void> {
  for (let turn = 0; turn < 2; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Starts the fake backend. */
export async function startBackend(): Promise<FakeBackend> {
  let rejections = 0;
  let calls = 0;
  let outcome: 'listed' | 'unlisted' = 'listed';
  let switchRefused = false;
  let held: Array<{ request: Seen; answer: (reply: Reply) => void }> = [];
  const heldWaiters: Array<() => void> = [];
  const server = await startFakeServer((request) => {
    if (/\/(wham|api\/codex)\/accounts\/check$/.test(request.path)) {
      return new Promise<Reply>((answer) => {
        held.push({ request, answer });
        for (const notify of heldWaiters.splice(0)) notify();
      });
    }
    if (request.method === 'POST' && request.path.endsWith('/accounts/switch-workspace-token')) {
      if (switchRefused) return { status: 403, body: { detail: 'workspace requires sign-in' } };
      const workspace = (JSON.parse(request.body || '{}') as { workspace_id?: string }).workspace_id ?? '';
      return { status: 200, body: switchedTokensBody(workspace) };
    }
    if (!/\/(wham|api\/codex)\/usage$/.test(request.path)) return { status: 404, body: { error: 'not found' } };
    calls += 1;
    if (rejections > 0) {
      rejections -= 1;
      return { status: 401, body: { error: { code: 'token_expired', message: 'Unauthorized' } } };
    }
    return { status: 200, body: USAGE_BODY };
  });
  const live = () => held.some((h) => h.request.open?.() !== false);
  const discoveryHeld = async () => {
    while (!live()) await new Promise<void>((resolve) => heldWaiters.push(resolve));
  };
  return {
    ...server,
    rejectNext: () => (rejections += 1),
    usageCalls: () => calls,
    arrangeDiscovery: (next) => {
      outcome = next;
    },
    get discoveryOutcome() {
      return outcome;
    },
    discoveryHeld,
    async releaseDiscovery() {
      // A discovery the chart stopped was aborted by the server before it wrote what the test just read;
      // its hang-up may sit unread in this process's event loop. Taken in first, it cannot be answered in
      // place of the discovery that replaced it (which then stayed held: a walk timed out under load).
      await ioDelivered();
      await discoveryHeld();
      const releasing = held.filter((h) => h.request.open?.() !== false);
      held = [];
      for (const { request, answer } of releasing) {
        answer({ status: 200, body: discoveryAnswer(String(request.headers['chatgpt-account-id'] ?? ''), outcome) });
      }
      outcome = 'listed';
    },
    refuseSwitch: (refuse) => {
      switchRefused = refuse;
    },
    async close() {
      for (const { answer } of held.splice(0)) answer({ status: 503 });
      await server.close();
    },
  };
}

/** A gate requests can be held at until it opens. */
export class Gate {
  private opened = false;
  private waiting: Array<() => void> = [];
  private arrivals: Array<() => void> = [];
  /** Requests held (or passed) so far. */
  arrived = 0;

  /** Resolves when the gate opens (at once if it is open). */
  pass(): Promise<void> {
    this.arrived += 1;
    this.arrivals.splice(0).forEach((notify) => notify());
    if (this.opened) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Resolves once a request has reached the gate. */
  reached(): Promise<void> {
    if (this.arrived > 0) return Promise.resolve();
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  open(): void {
    this.opened = true;
    this.waiting.splice(0).forEach((release) => release());
  }
}

/** Where the issuer's code grant says the signed-in account is (its id token's claims). */
export interface IssuedAccount {
  email: string;
  plan: string;
  accountId: string;
}

/**
 * The OAuth issuer, both of its jobs: `GET /oauth/authorize` redirects the browser back to the login's
 * callback with a code; `POST /oauth/token` exchanges a code (form-encoded, PKCE checked) or a refresh
 * token (JSON). Refresh tokens rotate like the real one (issuedTokens(n) of httpFakes: the code grant
 * hands out the current round's, a refresh grant moves to the next); a forced reply replaces either
 * grant's answer when told to, and grants can be held at a gate.
 */
export interface FakeIssuer extends FakeServer {
  /** Refresh grants received. */
  posts(): Seen[];
  /** Code grants received. */
  codeGrants(): Seen[];
  /** Answers the next grants with `reply` instead (null = normally). */
  override(reply: Reply | null): void;
  /** The account the next code grants sign in. */
  signIn(account: IssuedAccount): void;
  /** Holds grants until the returned gate opens. */
  hold(): Gate;
  /**
   * The device-code endpoints (§13.1): `off` answers 404 (not offered), `pending` hands out a user code and
   * answers polls "not yet", `granted` answers the next poll with a code for the exchange, `refused` 500.
   */
  device(state: DeviceState): void;
}

/** What the fake issuer's device-code endpoints do. */
export type DeviceState = 'off' | 'pending' | 'granted' | 'refused';
/** The user code the fake issuer hands out. */
export const DEVICE_USER_CODE = 'ABCD-EFGH';

/** Starts the issuer whose valid refresh token is `issuedTokens(0).refreshToken`. */
export async function startIssuer(refreshAccountId: string, firstSignIn: IssuedAccount): Promise<FakeIssuer> {
  let round = 0;
  let forced: Reply | null = null;
  let gate: Gate | null = null;
  let account = firstSignIn;
  let device: DeviceState = 'pending';
  const codes = new Map<string, { challenge: string; redirectUri: string }>();
  let nextCode = 0;
  const server = await startFakeServer(async (request) => {
    const url = new URL(request.path, 'http://127.0.0.1');
    if (request.method === 'POST' && url.pathname.startsWith('/api/accounts/deviceauth/')) {
      if (device === 'off') return { status: 404 };
      if (url.pathname.endsWith('/usercode')) return { status: 200, body: { device_auth_id: 'deviceauth-model', user_code: DEVICE_USER_CODE, interval: '0' } };
      if (device === 'refused') return { status: 500, body: { error: 'server_error' } };
      if (device === 'pending') return { status: 403, body: { error: 'authorization_pending' } };
      const verifier = `verifier-model-${(nextCode += 1)}`;
      const code = `devcode-model-${nextCode}`;
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      codes.set(code, { challenge, redirectUri: `${server.origin}/deviceauth/callback` });
      return { status: 200, body: { authorization_code: code, code_challenge: challenge, code_verifier: verifier } };
    }
    if (request.method === 'GET' && url.pathname === '/oauth/authorize') {
      const code = `code-model-${(nextCode += 1)}`;
      const redirectUri = url.searchParams.get('redirect_uri') ?? '';
      codes.set(code, { challenge: url.searchParams.get('code_challenge') ?? '', redirectUri });
      const query = new URLSearchParams({ code, state: url.searchParams.get('state') ?? '' });
      return { status: 302, headers: { Location: `${redirectUri}?${query}` } };
    }
    if (request.method !== 'POST' || url.pathname !== '/oauth/token') return { status: 404 };
    const held = gate;
    const reply = forced;
    if (held) await held.pass();
    if (reply) return reply;
    if (request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(request.body);
      const issued = codes.get(form.get('code') ?? '');
      const verified = issued && createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') === issued.challenge;
      if (form.get('grant_type') !== 'authorization_code' || !issued || !verified || form.get('redirect_uri') !== issued.redirectUri) {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'the code exchange does not match the authorize request' } };
      }
      codes.delete(form.get('code') ?? '');
      const tokens = issuedTokens(round, account.accountId);
      return {
        status: 200,
        body: {
          id_token: chatgptJwt({ email: account.email, plan: account.plan, accountId: account.accountId }),
          access_token: tokens.accessToken,
          refresh_token: tokens.refreshToken,
        },
      };
    }
    const body = JSON.parse(request.body) as { grant_type?: string; refresh_token?: string };
    if (body.grant_type !== 'refresh_token') return { status: 400, body: { error: 'invalid_request' } };
    // The workspace exchange (the fake backend) hands out refresh tokens of its own: the issuer honours them too.
    const switched = body.refresh_token?.startsWith('rt-switched-') === true;
    if (body.refresh_token !== issuedTokens(round).refreshToken && !switched) return { status: 401, body: { error: { code: 'refresh_token_invalidated' } } };
    round += 1;
    const next = issuedTokens(round, refreshAccountId);
    return { status: 200, body: { id_token: next.idToken, access_token: next.accessToken, refresh_token: next.refreshToken } };
  });
  return {
    ...server,
    // Refresh grants only: a device login's user-code request and a logout's revoke are JSON POSTs elsewhere.
    posts: () =>
      server.seen.filter((r) => r.method === 'POST' && new URL(r.path, 'http://127.0.0.1').pathname === '/oauth/token' && r.headers['content-type']?.startsWith('application/json')),
    codeGrants: () => server.seen.filter((r) => r.method === 'POST' && r.headers['content-type']?.startsWith('application/x-www-form-urlencoded')),
    override: (reply) => {
      forced = reply;
    },
    signIn: (next) => {
      account = next;
    },
    hold: () => (gate = new Gate()),
    device: (state) => {
      device = state;
    },
  };
}

/** How the parent answers the next `account/chatgptAuthTokens/refresh`. */
export type ParentAnswer = { kind: 'tokens'; result: Record<string, string> } | { kind: 'error'; code: number; message: string } | { kind: 'hold' };

/** The parent application's side of the external refresh. */
export class FakeParent {
  private answer: ParentAnswer | null = null;
  private gate: Gate | null = null;
  private held: Array<() => void> = [];
  /** Tokens handed to the server: never to be found on disk. */
  readonly handedOut: string[] = [];

  constructor(server: AppServerProcess) {
    server.onRequest(EXTERNAL_REFRESH_METHOD, async () => {
      const answer = this.answer;
      if (this.gate) await this.gate.pass();
      if (!answer) throw { code: -32603, message: 'the model-based test did not expect a refresh request here' };
      if (answer.kind === 'error') throw { code: answer.code, message: answer.message };
      if (answer.kind === 'tokens') {
        this.handedOut.push(...Object.values(answer.result));
        return answer.result;
      }
      // Held: answered late (after the request it belongs to is over), which the server must ignore.
      return new Promise((resolve) => this.held.push(() => resolve({ accessToken: 'late-answer-model-secret', chatgptAccountId: 'acct-late' })));
    });
  }

  /** Arranges the next answer; the returned undo forgets it and releases held requests late. */
  arrange(answer: ParentAnswer): () => Promise<void> {
    this.answer = answer;
    return async () => {
      this.answer = null;
      this.gate = null;
      const held = this.held;
      this.held = [];
      held.forEach((release) => release());
    };
  }

  /** Holds the next answers (whatever they are) until the returned gate opens. */
  hold(): Gate {
    return (this.gate = new Gate());
  }
}

/** What catalogue arrangements work on. */
export interface ReplayEnv {
  codexHome: string;
  server: AppServerProcess;
  backend: FakeBackend;
  /** The OAuth issuer: browser logins' code grants and managed refreshes' refresh grants. */
  tokens: FakeIssuer;
  parent: FakeParent;
  /** Model placeholders (a login id, an authorize URL) and the values the server chose for them. */
  bindings: Map<string, string>;
  /** The browser-login port of a fixture that fixes it. */
  loginPort: number;
}

/** Starts the HTTP fakes of an environment (the server and parent come later, with the process). */
export async function startFakes(accountId: string, signIn: IssuedAccount): Promise<{ backend: FakeBackend; tokens: FakeIssuer }> {
  const backend = await startBackend();
  try {
    return { backend, tokens: await startIssuer(accountId, signIn) };
  } catch (error) {
    await backend.close();
    throw error;
  }
}

/**
 * Makes the credential file impossible to write or remove, for real: `auth.json` becomes a directory
 * (rename onto it and unlink of it fail with EISDIR, even for root). Undo puts the previous file back.
 */
export async function blockCredentialFile(env: ReplayEnv): Promise<() => Promise<void>> {
  const file = path.join(env.codexHome, 'auth.json');
  const aside = path.join(env.codexHome, 'auth.json.model-aside');
  const existed = await stat(file).then(
    () => true,
    () => false,
  );
  if (existed) await rename(file, aside);
  await mkdir(file);
  return async () => {
    await rmdir(file);
    if (existed) await rename(aside, file);
  };
}

/** How often `text` occurs in the server's stderr so far. */
export function stderrCount(server: AppServerProcess, text: string): number {
  return server.stderr.split(text).length - 1;
}

/** Resolves once the server's stderr holds `text` `count` times (its own words say it has acted). */
export async function waitForStderrCount(server: AppServerProcess, text: string, count: number): Promise<void> {
  if (stderrCount(server, text) >= count) return;
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (stderrCount(server, text) < count) return;
      server.child.stderr.off('data', onData);
      resolve();
    };
    server.child.stderr.on('data', onData);
    void server.exited.then(() => reject(new Error(`the server exited before logging ${JSON.stringify(text)} ${count} times`)));
  });
}

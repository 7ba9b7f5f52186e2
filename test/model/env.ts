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
import { USAGE_BODY, issuedTokens, startFakeServer, type FakeServer, type Reply, type Seen } from '../support/httpFakes';

/** The fake ChatGPT backend: the usage endpoint answers 200, or 401 to the next `rejections` calls. */
export interface FakeBackend extends FakeServer {
  /** Makes the next usage call answer 401 (a bearer the backend no longer accepts). */
  rejectNext(): void;
  usageCalls(): number;
}

/** Starts the fake backend. */
export async function startBackend(): Promise<FakeBackend> {
  let rejections = 0;
  let calls = 0;
  const server = await startFakeServer((request) => {
    if (!/\/(wham|api\/codex)\/usage$/.test(request.path)) return { status: 404, body: { error: 'not found' } };
    calls += 1;
    if (rejections > 0) {
      rejections -= 1;
      return { status: 401, body: { error: { code: 'token_expired', message: 'Unauthorized' } } };
    }
    return { status: 200, body: USAGE_BODY };
  });
  return { ...server, rejectNext: () => (rejections += 1), usageCalls: () => calls };
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

/**
 * The OAuth token endpoint: rotates refresh tokens like the real one (issuedTokens(n) of httpFakes),
 * answers a forced reply instead when told to, and can hold grants at a gate.
 */
export interface TokenEndpoint extends FakeServer {
  posts(): Seen[];
  /** Answers the next grants with `reply` instead (null = rotate normally). */
  override(reply: Reply | null): void;
  /** Holds grants until the returned gate opens. */
  hold(): Gate;
}

/** Starts the token endpoint whose valid refresh token is `issuedTokens(0).refreshToken`. */
export async function startTokenEndpoint(accountId: string): Promise<TokenEndpoint> {
  let round = 0;
  let forced: Reply | null = null;
  let gate: Gate | null = null;
  const server = await startFakeServer(async (request) => {
    if (request.method !== 'POST' || !request.path.endsWith('/oauth/token')) return { status: 404 };
    const held = gate;
    const reply = forced;
    if (held) await held.pass();
    if (reply) return reply;
    const body = JSON.parse(request.body) as { refresh_token?: string };
    if (body.refresh_token !== issuedTokens(round).refreshToken) return { status: 401, body: { error: { code: 'refresh_token_invalidated' } } };
    round += 1;
    const next = issuedTokens(round, accountId);
    return { status: 200, body: { id_token: next.idToken, access_token: next.accessToken, refresh_token: next.refreshToken } };
  });
  return {
    ...server,
    posts: () => server.seen.filter((r) => r.method === 'POST'),
    override: (reply) => {
      forced = reply;
    },
    hold: () => (gate = new Gate()),
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
  tokens: TokenEndpoint;
  parent: FakeParent;
}

/** Starts the HTTP fakes of an environment (the server and parent come later, with the process). */
export async function startFakes(accountId: string): Promise<{ backend: FakeBackend; tokens: TokenEndpoint }> {
  const backend = await startBackend();
  try {
    return { backend, tokens: await startTokenEndpoint(accountId) };
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

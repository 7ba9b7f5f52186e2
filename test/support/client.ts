/**
 * Test parents: the real bin spawned through `authchart/client`, with its stderr and every wire message
 * kept for assertions, plus helpers to write config.toml and auth.json into a temp CODEX_HOME.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AuthchartClient, type RefreshTokensHandler } from '../../src/client';

/** A spawned app-server and what it said. */
export interface TestParent {
  client: AuthchartClient;
  /** Everything the app-server wrote to stderr so far. */
  stderr(): string;
  /** Every message on the wire, both ways (`send` = parent → server). */
  wire: { direction: 'send' | 'receive'; message: Record<string, any> }[];
  /** The server → parent requests seen so far. */
  serverRequests(method?: string): Record<string, any>[];
}

/** Spawns `authchart app-server` on `codexHome` (debug logs on) and completes the handshake. */
export async function startParent(codexHome: string, options: { refreshTokens?: RefreshTokensHandler; env?: Record<string, string> } = {}): Promise<TestParent> {
  let stderr = '';
  const wire: TestParent['wire'] = [];
  // The token endpoint comes from each test's config.toml, never from the environment of the test run.
  const { CODEX_REFRESH_TOKEN_URL_OVERRIDE: _ignored, ...env } = process.env;
  const client = await AuthchartClient.start({
    codexHome,
    env: { ...env, AUTHCHART_LOG: 'debug', ...options.env },
    stderr: (chunk) => {
      stderr += chunk;
    },
    refreshTokens: options.refreshTokens,
    trace: (direction, message) => wire.push({ direction, message }),
    clientInfo: { name: 'test_parent', version: '0.0.1' },
  });
  return {
    client,
    stderr: () => stderr,
    wire,
    serverRequests: (method) =>
      wire
        .filter((w) => w.direction === 'receive' && 'method' in w.message && 'id' in w.message)
        .map((w) => w.message)
        .filter((m) => method === undefined || m.method === method),
  };
}

/** `{code, message}` of a request that failed, or null if it succeeded (for exact-error assertions). */
export function rpcFailure(promise: Promise<unknown>): Promise<{ code: number; message: string } | null> {
  return promise.then(
    () => null,
    (error: { code: number; message: string }) => ({ code: error.code, message: error.message }),
  );
}

/** config.toml text for a test CODEX_HOME. */
export function configToml(options: {
  chatgptBaseUrl?: string;
  tokenUrl?: string;
  externalRefreshTimeoutMs?: number;
  proactiveRefreshSkewSeconds?: number;
  forcedWorkspace?: string;
}): string {
  const lines: string[] = [];
  if (options.forcedWorkspace) lines.push(`forced_chatgpt_workspace_id = ${JSON.stringify(options.forcedWorkspace)}`);
  if (options.chatgptBaseUrl) lines.push(`chatgpt_base_url = ${JSON.stringify(options.chatgptBaseUrl)}`);
  lines.push('[authchart]');
  if (options.tokenUrl) lines.push(`token_url = ${JSON.stringify(options.tokenUrl)}`);
  if (options.externalRefreshTimeoutMs !== undefined) lines.push(`external_refresh_timeout_ms = ${options.externalRefreshTimeoutMs}`);
  if (options.proactiveRefreshSkewSeconds !== undefined) lines.push(`proactive_refresh_skew_seconds = ${options.proactiveRefreshSkewSeconds}`);
  return `${lines.join('\n')}\n`;
}

/** Writes a managed ChatGPT login to `$codexHome/auth.json` (0600), as Codex would. */
export function writeAuthJson(
  codexHome: string,
  tokens: { idToken: string; accessToken: string; refreshToken: string },
  options: { accountId?: string | null; lastRefresh?: string } = {},
): void {
  const file = path.join(codexHome, 'auth.json');
  const doc = {
    auth_mode: 'chatgpt',
    OPENAI_API_KEY: null,
    tokens: { id_token: tokens.idToken, access_token: tokens.accessToken, refresh_token: tokens.refreshToken, account_id: options.accountId ?? 'acct-1' },
    last_refresh: options.lastRefresh ?? new Date().toISOString(),
  };
  writeFileSync(file, JSON.stringify(doc, null, 2));
  chmodSync(file, 0o600);
}

/** The parsed `$codexHome/auth.json`. */
export function readAuthJson(codexHome: string): Record<string, any> {
  return JSON.parse(readFileSync(path.join(codexHome, 'auth.json'), 'utf8'));
}

/**
 * Configuration: CODEX_HOME and the keys of `$CODEX_HOME/config.toml` that authchart reads
 * (docs/protocol.md, "Configuration"). Unknown top-level keys are Codex's business and are ignored; an
 * unknown key under `[authchart]` is authchart's own and is a warning naming the closest known key. A
 * known key of the wrong type, a file that is not TOML, or a CODEX_HOME that is not a directory stops
 * start-up with a ConfigError naming the file, the line and the key.
 */
import { readFile, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ForcedLoginMethod } from '../machines/types';

/** Where credentials are kept (`cli_auth_credentials_store`). */
export type CredentialsStoreKind = 'file' | 'keyring' | 'auto' | 'ephemeral';

/** The resolved configuration of one authchart process. */
export interface AuthchartConfig {
  codexHome: string;
  configFile: string;
  forcedWorkspaceIds: string[] | null;
  forcedLoginMethod: ForcedLoginMethod | null;
  credentialsStore: CredentialsStoreKind;
  chatgptBaseUrl: string;
  externalRefreshTimeoutMs: number;
  issuer: string;
  tokenUrl: string;
  /** `[authchart] revoke_url`; null = derived (src/auth/revoke.ts, PROTOCOL.md §13.2). */
  revokeUrl: string | null;
  loginPort: number;
  loginTimeoutMs: number;
  /** `[authchart] device_login_timeout_ms`: how long a device-code login may wait (default 15 minutes). */
  deviceLoginTimeoutMs: number;
  /** `[authchart] discovery_timeout_ms`: how long one workspace discovery may take (default 15 s, as Codex). */
  discoveryTimeoutMs: number;
  proactiveRefreshSkewSeconds: number;
  /** Problems that do not stop start-up (an unknown `[authchart]` key), one sentence each, for stderr. */
  warnings: string[];
}

/** A configuration problem the user must fix; the CLI prints it and exits with code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Default ChatGPT backend (Codex's). */
export const DEFAULT_CHATGPT_BASE_URL = 'https://chatgpt.com/backend-api/';
/** Default OAuth issuer. */
export const DEFAULT_ISSUER = 'https://auth.openai.com';

/** CODEX_HOME from the flag, else the env var, else ~/.codex; always absolute. */
export function resolveCodexHome(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? env.CODEX_HOME ?? path.join(os.homedir(), '.codex');
  return path.resolve(chosen);
}

/** How long one workspace discovery may take by default (Codex's bound, PROTOCOL.md §12.1). */
export const DISCOVERY_TIMEOUT_MS = 15_000;

/** The keys of the `[authchart]` table; anything else there is a typo worth a warning. */
export const AUTHCHART_KEYS = [
  'external_refresh_timeout_ms',
  'issuer',
  'token_url',
  'revoke_url',
  'login_port',
  'login_timeout_ms',
  'device_login_timeout_ms',
  'proactive_refresh_skew_seconds',
  'discovery_timeout_ms',
] as const;

/** Edit distance counting a swap of two neighbours as one edit (`login_prot` is one away from `login_port`). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known key closest to `key` (the first of equals, in table order). */
export function closestKey(key: string, known: readonly string[]): string {
  return known.reduce((best, candidate) => (editDistance(key, candidate) < editDistance(key, best) ? candidate : best));
}

/**
 * Says what a TOML syntax error means when the parser's words do not: a string left open at the end
 * of its line is reported by smol-toml as "control characters are not allowed in strings" (the line
 * break), or at the end of the file as "unfinished string". Returns the 1-based column of the opening
 * quote, or null when the error is something else.
 */
export function unclosedStringAt(text: string, line: number, column: number, reason: string): number | null {
  if (!/control characters are not allowed in strings|unfinished string/.test(reason)) return null;
  if (/unfinished string/.test(reason)) return column;
  const source = text.split('\n')[line - 1]?.replace(/\r$/, '');
  // Only a line break at the reported place means "not closed"; a real control character (a tab
  // inside the quotes) keeps the parser's own words.
  if (source === undefined || column <= source.length) return null;
  const value = /=\s*(["'])/.exec(source);
  return value ? value.index + value[0].length : null;
}

/** Finds the 1-based line of `key` in `table` ('' = top level) of a TOML text; 0 when not found. */
export function lineOfKey(text: string, table: string, key: string): number {
  let current = '';
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i].trim();
    const header = /^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (header) {
      current = header[1];
      continue;
    }
    const keyMatch = /^("?)([A-Za-z0-9_.-]+)\1\s*=/.exec(line);
    if (keyMatch && current === table && keyMatch[2] === key) return i + 1;
    if (keyMatch && current === '' && table !== '' && keyMatch[2] === `${table}.${key}`) return i + 1;
  }
  return 0;
}

type Reader<T> = (value: unknown) => T | undefined;

const nonNegativeInt: Reader<number> = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);

/** A timer length: Node clamps anything above 2^31-1 ms to 1 ms, which would end a login at once. */
const timerMs: Reader<number> = (v) => (typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 2_147_483_647 ? v : undefined);
const port: Reader<number> = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? v : undefined);
const url: Reader<string> = (v) => {
  if (typeof v !== 'string') return undefined;
  try {
    const parsed = new URL(v);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? v : undefined;
  } catch {
    return undefined;
  }
};
const oneOf =
  <T extends string>(...allowed: T[]): Reader<T> =>
  (v) =>
    typeof v === 'string' && (allowed as string[]).includes(v) ? (v as T) : undefined;
const workspaceIds: Reader<string[]> = (v) => {
  if (typeof v === 'string' && v.length > 0) return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((item) => typeof item === 'string' && item.length > 0)) return v as string[];
  return undefined;
};

/** Parses a config.toml text (already read) into an AuthchartConfig. Exported for tests. */
export async function parseConfig(text: string | null, codexHome: string, env: NodeJS.ProcessEnv = process.env): Promise<AuthchartConfig> {
  const configFile = path.join(codexHome, 'config.toml');
  let doc: Record<string, unknown> = {};
  if (text !== null && text.trim() !== '') {
    // Loaded on first use: most app-servers start without a config.toml.
    const { parse, TomlError } = await import('smol-toml');
    try {
      doc = parse(text) as Record<string, unknown>;
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      const open = error instanceof TomlError ? unclosedStringAt(text, error.line, error.column, reason) : null;
      if (error instanceof TomlError && open !== null) {
        throw new ConfigError(
          `${configFile}:${error.line}:${open}: config.toml has a string that is not closed: the quote opened here has no closing quote on its line. ` +
            'Add the closing quote (a string on several lines needs triple quotes).',
        );
      }
      const where = error instanceof TomlError ? `${configFile}:${error.line}:${error.column}` : configFile;
      throw new ConfigError(`${where}: config.toml is not valid TOML (${reason}). Fix the file or move it aside.`);
    }
  }
  const table = doc.authchart;
  if (table !== undefined && (typeof table !== 'object' || table === null || Array.isArray(table))) {
    throw new ConfigError(`${configFile}:${lineOfKey(text ?? '', '', 'authchart')}: key authchart must be a table ([authchart]).`);
  }
  const own = (table ?? {}) as Record<string, unknown>;
  const warnings = Object.keys(own)
    .filter((key) => !(AUTHCHART_KEYS as readonly string[]).includes(key))
    .map(
      (key) =>
        `${configFile}:${lineOfKey(text ?? '', 'authchart', key)}: unknown key authchart.${key} is ignored; did you mean ${closestKey(key, AUTHCHART_KEYS)}? ` +
        `(known keys: ${AUTHCHART_KEYS.join(', ')})`,
    );

  function read<T>(owner: Record<string, unknown>, tableName: string, key: string, reader: Reader<T>, expected: string): T | undefined {
    const raw = owner[key];
    if (raw === undefined) return undefined;
    const value = reader(raw);
    if (value === undefined) {
      const qualified = tableName ? `${tableName}.${key}` : key;
      throw new ConfigError(
        `${configFile}:${lineOfKey(text ?? '', tableName, key)}: key ${qualified} must be ${expected}, got ${JSON.stringify(raw)}.`,
      );
    }
    return value;
  }

  const issuer = (read(own, 'authchart', 'issuer', url, 'an http(s) URL string') ?? DEFAULT_ISSUER).replace(/\/+$/, '');
  const tokenUrlOverride = env.CODEX_REFRESH_TOKEN_URL_OVERRIDE;
  if (tokenUrlOverride !== undefined && url(tokenUrlOverride) === undefined) {
    throw new ConfigError(`CODEX_REFRESH_TOKEN_URL_OVERRIDE must be an http(s) URL, got ${JSON.stringify(tokenUrlOverride)}.`);
  }
  return {
    codexHome,
    configFile,
    forcedWorkspaceIds: read(doc, '', 'forced_chatgpt_workspace_id', workspaceIds, 'a non-empty string or a list of them') ?? null,
    forcedLoginMethod: read(doc, '', 'forced_login_method', oneOf<ForcedLoginMethod>('chatgpt', 'api'), '"chatgpt" or "api"') ?? null,
    credentialsStore:
      read(doc, '', 'cli_auth_credentials_store', oneOf<CredentialsStoreKind>('file', 'keyring', 'auto', 'ephemeral'), '"file", "keyring", "auto" or "ephemeral"') ??
      'file',
    chatgptBaseUrl: read(doc, '', 'chatgpt_base_url', url, 'an http(s) URL string') ?? DEFAULT_CHATGPT_BASE_URL,
    externalRefreshTimeoutMs: read(own, 'authchart', 'external_refresh_timeout_ms', timerMs, 'a positive integer of milliseconds up to 2147483647 (about 24 days)') ?? 10_000,
    issuer,
    tokenUrl: tokenUrlOverride ?? read(own, 'authchart', 'token_url', url, 'an http(s) URL string') ?? `${issuer}/oauth/token`,
    revokeUrl: read(own, 'authchart', 'revoke_url', url, 'an http(s) URL string') ?? null,
    loginPort: read(own, 'authchart', 'login_port', port, 'an integer from 0 to 65535') ?? 1455,
    loginTimeoutMs: read(own, 'authchart', 'login_timeout_ms', timerMs, 'a positive integer of milliseconds up to 2147483647 (about 24 days)') ?? 600_000,
    deviceLoginTimeoutMs:
      read(own, 'authchart', 'device_login_timeout_ms', timerMs, 'a positive integer of milliseconds up to 2147483647 (about 24 days)') ?? 900_000,
    discoveryTimeoutMs:
      read(own, 'authchart', 'discovery_timeout_ms', timerMs, 'a positive integer of milliseconds up to 2147483647 (about 24 days)') ?? DISCOVERY_TIMEOUT_MS,
    proactiveRefreshSkewSeconds: read(own, 'authchart', 'proactive_refresh_skew_seconds', nonNegativeInt, 'a non-negative integer') ?? 300,
    warnings,
  };
}

/**
 * Names the path that makes CODEX_HOME unusable when reading under it said ENOTDIR: CODEX_HOME itself,
 * or the ancestor that is a file. Runs only on that error, so a normal start pays nothing for it.
 */
async function notADirectory(codexHome: string): Promise<ConfigError> {
  let blocking = codexHome;
  for (let dir = codexHome; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const info = await stat(dir).catch(() => null);
    if (info && !info.isDirectory()) blocking = dir;
  }
  const via = blocking === codexHome ? '' : ` (on the way to ${codexHome})`;
  return new ConfigError(
    `${blocking} is not a directory${via}. CODEX_HOME (--codex-home or $CODEX_HOME) must be a directory holding config.toml and auth.json: ` +
      'move that file aside or point CODEX_HOME somewhere else.',
  );
}

/**
 * Reads `$codexHome/config.toml` (absent = defaults) and resolves the configuration. A CODEX_HOME that
 * exists and is not a directory is a ConfigError here, for every command.
 */
export async function loadConfig(codexHome: string, env: NodeJS.ProcessEnv = process.env): Promise<AuthchartConfig> {
  const configFile = path.join(codexHome, 'config.toml');
  let text: string | null = null;
  try {
    text = await readFile(configFile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw await notADirectory(codexHome);
    if (code !== 'ENOENT') {
      throw new ConfigError(`${configFile}: cannot read config.toml (${(error as Error).message}).`);
    }
  }
  return parseConfig(text, codexHome, env);
}

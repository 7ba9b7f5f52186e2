/**
 * The process logger: one line per record on stderr (stdout belongs to the protocol), with secrets
 * removed twice over: structurally (Secret values and fields named like credentials) and, as a last
 * guard for free text such as third-party error messages, by masking anything shaped like a JWT or key.
 */
import { Secret } from '../machines/secret';

/** Severity of a log record. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /(token|secret|password|authorization|api_?key|apikey|code_?verifier|^code$|cookie)/i;
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
const KEY_LIKE = /\b(sk-[A-Za-z0-9_-]{6,}|rt_[A-Za-z0-9_-]{6,}|Bearer\s+[A-Za-z0-9._~+/=-]{6,})/g;

/** True for a field name that holds a credential (token, secret, password, API key, code verifier…). */
export function isSecretFieldName(name: string): boolean {
  return SECRET_FIELD.test(name);
}

/** Names of the fields whose values are credentials in HTTP bodies, URLs and headers (OAuth, API keys). */
const CREDENTIAL_FIELDS =
  'code|code_verifier|refresh_token|access_token|id_token|client_secret|client_assertion|assertion|device_code|api_?key|openai_api_key|password|token|secret|authorization';
// "name": "value" in JSON, also inside a JSON string that quotes a JSON body (\"name\":\"value\").
const JSON_CREDENTIAL = new RegExp(`(\\\\?["'](?:${CREDENTIAL_FIELDS})\\\\?["']\\s*:\\s*)(\\\\?["'])((?:(?!\\2)[^\\n])*)\\2`, 'gi');
// name=value in a query string, a form body or a header-like list.
const FORM_CREDENTIAL = new RegExp(`(^|[?&;,\\s{(\\[#])(${CREDENTIAL_FIELDS})(=|%3D)([^&\\s"',;<>)}\\]]+)`, 'gi');

/**
 * Removes the values of credential fields (code, code_verifier, refresh_token, access_token, id_token,
 * client_secret, API keys…) written as JSON members or as `name=value` pairs: for any text derived from
 * an HTTP body or URL (a token endpoint echoing the request, an error_description) before it goes anywhere.
 */
export function scrubCredentialFields(text: string): string {
  return text
    .replace(JSON_CREDENTIAL, (match: string, head: string, quote: string, value: string) =>
      notACredential(head, value) ? match : `${head}${quote}[REDACTED]${quote}`,
    )
    .replace(FORM_CREDENTIAL, (match: string, lead: string, name: string, eq: string, value: string) =>
      notACredential(name, value) ? match : `${lead}${name}${eq}[REDACTED]`,
    );
}

/** Numbers (`code=-32600`) and, for a field named `code`, error words (`"code":"invalid_grant"`) are kept. */
function notACredential(name: string, value: string): boolean {
  if (/^-?\d+$/.test(value) || value === '[REDACTED]') return true;
  return /^\W*code\W*$/i.test(name.replace(/\s|:/g, '')) && /^[a-z][a-z_]*$/.test(value);
}

/** Replaces every occurrence of the given secret values (and their URL-encoded forms) with [REDACTED]. */
export function scrubKnownSecrets(text: string, secrets: readonly (Secret | string | null | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    const value = secret instanceof Secret ? secret.reveal() : secret;
    if (!value || value.length < 4) continue;
    for (const form of new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])) out = out.split(form).join('[REDACTED]');
  }
  return out;
}

/** Masks credential fields and token-shaped substrings in free text. */
export function redactText(text: string): string {
  return scrubCredentialFields(text).replace(JWT_LIKE, '[REDACTED-JWT]').replace(KEY_LIKE, '[REDACTED]');
}

/** Returns a copy of `value` safe to log or show: secrets and credential-named fields replaced. */
export function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Secret) return '[REDACTED]';
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return redactText(value.message);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[…]';
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SECRET_FIELD.test(key) && item !== null && item !== undefined ? '[REDACTED]' : redact(item, depth + 1);
  }
  return out;
}

/** A minimal structured logger. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger writing `authchart <level>: message {fields}` lines to a stream (stderr by default). */
export function createLogger(
  options: { level?: LogLevel; write?: (line: string) => void } = {},
): Logger {
  const threshold = LEVELS[options.level ?? (process.env.AUTHCHART_LOG as LogLevel) ?? 'info'] ?? LEVELS.info;
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < threshold) return;
    const suffix = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(redact(fields))}` : '';
    write(`authchart ${level}: ${redactText(message)}${suffix}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that drops everything (library use without a host logger). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

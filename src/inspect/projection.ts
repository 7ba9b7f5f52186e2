/**
 * What the inspector may send out of the process. Redaction is structural: a value is rebuilt from
 * plain data only, Secret instances and fields named like credentials (token, key, secret, password,
 * code verifier…) are dropped before anything is serialized, class instances (actor refs, clients,
 * vaults) become their class name, and what remains goes through `redact` from the logger, which also
 * masks token-shaped text in free strings (third-party error messages). Nothing here is a regex over
 * output: the raw inspection event is never serialized at all.
 */
import { Secret } from '../../machines/secret';
import { isSecretFieldName, redact } from '../log';

const MAX_DEPTH = 8;

/** Plain data only: Secrets and credential-named fields removed, instances named, functions gone. */
function stripSecrets(value: unknown, depth: number): unknown {
  if (value instanceof Secret) return undefined;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return undefined; // functions, symbols, undefined
  if (depth >= MAX_DEPTH) return '[…]';
  if (value instanceof Error) return { error: value.name, message: value.message };
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) {
    return value.map((item) => stripSecrets(item, depth + 1)).filter((item) => item !== undefined);
  }
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype !== Object.prototype && prototype !== null) {
    return `[${(prototype.constructor as { name?: string } | undefined)?.name || 'object'}]`;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (isSecretFieldName(key)) continue;
    const safe = stripSecrets(item, depth + 1);
    if (safe !== undefined) out[key] = safe;
  }
  return out;
}

/** A copy of `value` that may be shown to an inspector viewer. */
export function safeView(value: unknown): unknown {
  return redact(stripSecrets(value, 0));
}

/**
 * The JSON-RPC id the parent sent with the request a command event stands for (`rpcId`), or null for
 * events no request caused (timers, actor results, internal events).
 */
export function wireIdOf(event: { type: string }): string | number | null {
  const rpcId = (event as { rpcId?: unknown }).rpcId;
  return typeof rpcId === 'string' || (typeof rpcId === 'number' && Number.isFinite(rpcId)) ? rpcId : null;
}

/**
 * The fields of an event other than its type, made safe. What an invoked actor returns (`output` of
 * `xstate.done.actor.*`, `snapshot` of `xstate.snapshot.*`) is left out whole: an effect is the likeliest
 * place for a raw credential string that no field name or Secret would flag. The adapter's internal
 * request counter (`req`) is left out too: it is not the id the parent sent, which is shown on its own
 * (`wireIdOf`), so `rpcId` is not repeated here either.
 */
export function safeEventFields(event: { type: string }): Record<string, unknown> {
  const { type, req: _req, rpcId: _rpcId, ...fields } = event as Record<string, unknown>;
  if (typeof type === 'string' && type.startsWith('xstate.done.actor.')) delete fields.output;
  if (typeof type === 'string' && type.startsWith('xstate.snapshot.')) delete fields.snapshot;
  return (safeView(fields) as Record<string, unknown> | undefined) ?? {};
}

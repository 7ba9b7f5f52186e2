/**
 * JWT claims (docs/protocol.md §11). No signature check: the parent and the issuer are trusted. The decoder
 * is written here rather than taken from `jose` because the protocol fixes its error texts
 * (`invalid id token: <reason>`) and jose 6 is ESM-only, which Jest on Node 20 cannot load.
 */
import { normalizePlanType, type AccountInfo } from '../../machines/types';

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const AUTH_CLAIM = 'https://api.openai.com/auth';
const PROFILE_CLAIM = 'https://api.openai.com/profile';

/** Why a token could not be decoded; `message` is safe to show (it never contains the token). */
export class JwtFormatError extends Error {
  override readonly name = 'JwtFormatError';
}

/** The claims authchart reads from a token. */
export interface TokenClaims {
  email: string | null;
  planType: string | null;
  accountId: string | null;
  userId: string | null;
  /** Expiry, seconds since the epoch. */
  exp: number | null;
}

/** Decodes the payload of a compact JWT into an object, or throws JwtFormatError. */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) {
    throw new JwtFormatError(`token must have three dot-separated segments, found ${parts.length}`);
  }
  parts.forEach((part, index) => {
    if (part.length === 0) throw new JwtFormatError(`segment ${index + 1} of the token is empty`);
    if (!SEGMENT.test(part)) throw new JwtFormatError(`segment ${index + 1} of the token is not base64url`);
  });
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new JwtFormatError('the token payload is not valid JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new JwtFormatError('the token payload is not a JSON object');
  }
  return payload as Record<string, unknown>;
}

function optionalString(owner: Record<string, unknown>, key: string, where: string): string | null {
  const value = owner[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new JwtFormatError(`claim ${where}${key} must be a string`);
  return value;
}

function optionalObject(owner: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = owner[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new JwtFormatError(`claim ${key} must be an object`);
  return value as Record<string, unknown>;
}

/** Reads the §11 claims of a token; throws JwtFormatError for a malformed token or wrongly typed claims. */
export function readClaims(token: string): TokenClaims {
  const payload = decodeJwtPayload(token);
  const auth = optionalObject(payload, AUTH_CLAIM);
  const profile = optionalObject(payload, PROFILE_CLAIM);
  const exp = payload.exp;
  if (exp !== undefined && exp !== null && typeof exp !== 'number') throw new JwtFormatError('claim exp must be a number');
  const authWhere = `${AUTH_CLAIM}.`;
  return {
    email: optionalString(payload, 'email', '') ?? optionalString(profile, 'email', `${PROFILE_CLAIM}.`),
    planType: optionalString(auth, 'chatgpt_plan_type', authWhere),
    accountId: optionalString(auth, 'chatgpt_account_id', authWhere),
    userId: optionalString(auth, 'chatgpt_user_id', authWhere) ?? optionalString(auth, 'user_id', authWhere),
    exp: typeof exp === 'number' ? exp : null,
  };
}

/** The account a set of claims describes. */
export function accountFromClaims(claims: TokenClaims): AccountInfo {
  return {
    email: claims.email,
    planType: normalizePlanType(claims.planType),
    accountId: claims.accountId,
    userId: claims.userId,
  };
}

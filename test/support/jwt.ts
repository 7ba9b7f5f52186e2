/** Builds unsigned test JWTs carrying the claims of docs/protocol.md §11. */

/** base64url of a JSON value. */
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWT with the given payload (signature is a fixed dummy). */
export function makeJwt(payload: Record<string, unknown>): string {
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(payload)}.c2lnbmF0dXJl`;
}

export interface ChatgptClaims {
  email?: string;
  plan?: string;
  accountId?: string;
  userId?: string;
  exp?: number;
  /** Extra payload members (e.g. a canary). */
  extra?: Record<string, unknown>;
}

/** A ChatGPT id/access token with the usual claims. */
export function chatgptJwt(claims: ChatgptClaims = {}): string {
  const auth: Record<string, unknown> = {};
  if (claims.plan !== undefined) auth.chatgpt_plan_type = claims.plan;
  if (claims.accountId !== undefined) auth.chatgpt_account_id = claims.accountId;
  if (claims.userId !== undefined) auth.chatgpt_user_id = claims.userId;
  return makeJwt({
    ...(claims.email !== undefined ? { email: claims.email } : {}),
    ...(claims.exp !== undefined ? { exp: claims.exp } : {}),
    'https://api.openai.com/auth': auth,
    ...claims.extra,
  });
}

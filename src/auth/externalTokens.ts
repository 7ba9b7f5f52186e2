/**
 * External ChatGPT tokens of either protocol generation (docs/protocol.md §4, §6): `{idToken, accessToken}`
 * (A) or `{accessToken, chatgptAccountId, chatgptPlanType?}` (B), as a login's params or as the parent's
 * answer to `account/chatgptAuthTokens/refresh`. Decoded the same way in both places.
 */
import * as z from '../zod';
import { Secret } from '../../machines/secret';
import { normalizePlanType, type ClaimsResult, type ExternalTokens } from '../../machines/types';
import { describeIssues } from '../issues';
import { accountFromClaims, readClaims } from './jwt';

const nonEmpty = (what: string) => z.string().check(z.minLength(1, `${what} must not be empty`));

/** Generation A external tokens: `{idToken, accessToken}`. */
export const ExternalTokensASchema = z.object({
  idToken: nonEmpty('idToken'),
  accessToken: nonEmpty('accessToken'),
});
/** Generation B external tokens: `{accessToken, chatgptAccountId, chatgptPlanType?}`. */
export const ExternalTokensBSchema = z.object({
  accessToken: nonEmpty('accessToken'),
  chatgptAccountId: nonEmpty('chatgptAccountId'),
  chatgptPlanType: z.nullish(z.string()),
});

/** Decoded tokens with their claims (or why the token is unreadable), or the fields of the wrong shape. */
export type DecodedExternalTokens = { ok: true; tokens: ExternalTokens; claims: ClaimsResult } | { ok: false; issues: string };

/** Decodes external tokens: generation B when `chatgptAccountId` is present, else A. Never throws. */
export function decodeExternalTokens(value: unknown): DecodedExternalTokens {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: 'expected an object with accessToken and idToken or chatgptAccountId' };
  }
  if ('chatgptAccountId' in value) {
    const parsed = ExternalTokensBSchema.safeParse(value);
    if (!parsed.success) return { ok: false, issues: describeIssues(parsed.error) };
    const { accessToken, chatgptAccountId, chatgptPlanType } = parsed.data;
    const tokens = { accessToken: new Secret(accessToken), idToken: null };
    try {
      const claims = readClaims(accessToken);
      const account = accountFromClaims(claims);
      return {
        ok: true,
        tokens,
        claims: {
          ok: true,
          account: { ...account, accountId: chatgptAccountId, planType: normalizePlanType(chatgptPlanType ?? claims.planType) },
        },
      };
    } catch (error) {
      return { ok: true, tokens, claims: { ok: false, reason: (error as Error).message } };
    }
  }
  const parsed = ExternalTokensASchema.safeParse(value);
  if (!parsed.success) return { ok: false, issues: describeIssues(parsed.error) };
  const tokens = { accessToken: new Secret(parsed.data.accessToken), idToken: new Secret(parsed.data.idToken) };
  try {
    return { ok: true, tokens, claims: { ok: true, account: accountFromClaims(readClaims(parsed.data.idToken)) } };
  } catch (error) {
    return { ok: true, tokens, claims: { ok: false, reason: (error as Error).message } };
  }
}

/**
 * The method catalogue: one entry per account method, with its params schema and a handler that turns
 * the decoded request into one chart command (or a read of the chart's snapshot) and encodes the answer.
 * No policy here: refusals come from the chart's guards.
 */
import type { z } from 'zod';
import { Secret } from '../../machines/secret';
import { normalizePlanType, type ClaimsResult, type ExternalTokens } from '../../machines/types';
import type { AuthCore, CommandAnswer } from '../auth/core';
import { accountFromClaims, readClaims } from '../auth/jwt';
import type { AuthchartConfig } from '../config';
import type { Logger } from '../log';
import { ErrorCodes, WireError, invalidRequest } from './errors';
import {
  AccountReadParamsSchema,
  AccountReadResultSchema,
  GetAuthStatusResultSchema,
  LoginCancelResultSchema,
  LoginStartResultSchema,
  LogoutResultSchema,
  ExternalTokensASchema,
  ExternalTokensBSchema,
  GetAuthStatusParamsSchema,
  LoginCancelParamsSchema,
  LoginStartParamsSchema,
  NoParamsSchema,
  describeIssues,
} from './schemas';

/** What handlers can reach. */
export interface MethodContext {
  core: AuthCore;
  config: AuthchartConfig;
  logger: Logger;
}

/** One method of the catalogue. */
export interface MethodEntry {
  /** Validates `params`; a failure answers -32602 naming the field. */
  params: z.ZodType;
  /** The shape of a successful result (what strict clients validate against). */
  result: z.ZodType;
  /**
   * Runs beside later requests instead of before them (backend calls that may wait on the network or
   * on the parent). Everything else is handled strictly in arrival order.
   */
  concurrent?: boolean;
  handle(params: unknown, context: MethodContext): Promise<unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The result of a command, or the wire error it was refused with. */
export function unwrap(answer: CommandAnswer): unknown {
  if (answer.ok) return answer.value;
  throw new WireError(answer.code, answer.message);
}

/** Decodes the claims of external tokens of either generation (PROTOCOL.md §4). */
export function externalLogin(params: Record<string, unknown>): { tokens: ExternalTokens; claims: ClaimsResult } {
  if ('chatgptAccountId' in params) {
    const parsed = ExternalTokensBSchema.safeParse(params);
    if (!parsed.success) throw new WireError(ErrorCodes.InvalidParams, `Invalid params: ${describeIssues(parsed.error)}`);
    const { accessToken, chatgptAccountId, chatgptPlanType } = parsed.data;
    const tokens = { accessToken: new Secret(accessToken), idToken: null };
    try {
      const claims = readClaims(accessToken);
      const account = accountFromClaims(claims);
      return {
        tokens,
        claims: {
          ok: true,
          account: {
            ...account,
            accountId: chatgptAccountId,
            planType: normalizePlanType(chatgptPlanType ?? claims.planType),
          },
        },
      };
    } catch (error) {
      return { tokens, claims: { ok: false, reason: (error as Error).message } };
    }
  }
  const parsed = ExternalTokensASchema.safeParse(params);
  if (!parsed.success) throw new WireError(ErrorCodes.InvalidParams, `Invalid params: ${describeIssues(parsed.error)}`);
  const tokens = { accessToken: new Secret(parsed.data.accessToken), idToken: new Secret(parsed.data.idToken) };
  try {
    return { tokens, claims: { ok: true, account: accountFromClaims(readClaims(parsed.data.idToken)) } };
  } catch (error) {
    return { tokens, claims: { ok: false, reason: (error as Error).message } };
  }
}

/** Every method authchart serves besides `initialize`. */
export const METHODS: Record<string, MethodEntry> = {
  'account/read': {
    params: AccountReadParamsSchema,
    result: AccountReadResultSchema,
    async handle(_params, { core }) {
      await core.whenIdle();
      return { account: core.account(), requiresOpenaiAuth: true };
    },
  },

  'account/login/start': {
    params: LoginStartParamsSchema,
    result: LoginStartResultSchema,
    async handle(raw, { core }) {
      const params = raw as z.infer<typeof LoginStartParamsSchema>;
      switch (params.type) {
        case 'apiKey':
          unwrap(await core.command({ type: 'login.apiKey', apiKey: new Secret(params.apiKey) }));
          return { type: 'apiKey' };
        case 'chatgpt':
          return { type: 'chatgpt', ...(unwrap(await core.command({ type: 'login.chatgpt' })) as object) };
        case 'chatgptAuthTokens': {
          const { tokens, claims } = externalLogin(params);
          unwrap(await core.command({ type: 'login.externalTokens', tokens, claims }));
          return { type: 'chatgptAuthTokens' };
        }
      }
    },
  },

  'account/login/cancel': {
    params: LoginCancelParamsSchema,
    result: LoginCancelResultSchema,
    async handle(raw, { core }) {
      const { loginId } = raw as z.infer<typeof LoginCancelParamsSchema>;
      if (!UUID.test(loginId)) throw invalidRequest(`invalid login id: ${loginId}`);
      return unwrap(await core.command({ type: 'login.cancel', loginId }));
    },
  },

  'account/logout': {
    params: NoParamsSchema,
    result: LogoutResultSchema,
    async handle(_params, { core }) {
      unwrap(await core.command({ type: 'logout' }));
      return {};
    },
  },

  getAuthStatus: {
    params: GetAuthStatusParamsSchema,
    result: GetAuthStatusResultSchema,
    async handle(raw, { core }) {
      const params = (raw ?? {}) as z.infer<typeof GetAuthStatusParamsSchema> & object;
      await core.whenIdle();
      const status = core.authStatus(params?.includeToken === true);
      return { authMethod: status.authMethod, authToken: status.authToken, requiresOpenaiAuth: true };
    },
  },
};

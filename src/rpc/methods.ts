/**
 * The method catalogue: one entry per account method, with its params schema and a handler that turns
 * the decoded request into one chart command (or a read of the chart's snapshot) and encodes the answer.
 * No policy here: refusals come from the chart's guards.
 */
import type * as z from '../zod';
import { Secret } from '../../machines/secret';
import type { ClaimsResult, ExternalTokens } from '../../machines/types';
import { AuthCallError, type AuthCore, type CommandAnswer } from '../auth/core';
import { decodeExternalTokens } from '../auth/externalTokens';
import { RateLimitsError, readRateLimits } from '../auth/rateLimits';
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
  RateLimitsReadResultSchema,
  GetAuthStatusParamsSchema,
  LoginCancelParamsSchema,
  LoginStartParamsSchema,
  NoParamsSchema,
} from './schemas';

/** What handlers can reach. */
export interface MethodContext {
  core: AuthCore;
  config: AuthchartConfig;
  logger: Logger;
  /** `clientInfo.name` from `initialize`: the `originator` of a browser login's authorize URL. */
  clientName?: string;
}

/** One method of the catalogue. */
export interface MethodEntry {
  /** Validates `params`; a failure answers -32602 naming the field. */
  params: z.ZodMiniType;
  /** The shape of a successful result (what strict clients validate against). */
  result: z.ZodMiniType;
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

/** Decodes the claims of external tokens of either generation (PROTOCOL.md §4); a wrong shape is -32602. */
export function externalLogin(params: Record<string, unknown>): { tokens: ExternalTokens; claims: ClaimsResult } {
  const decoded = decodeExternalTokens(params);
  if (!decoded.ok) throw new WireError(ErrorCodes.InvalidParams, `Invalid params: ${decoded.issues}`);
  return { tokens: decoded.tokens, claims: decoded.claims };
}

/** Every method authchart serves besides `initialize`. */
export const METHODS: Record<string, MethodEntry> = {
  'account/read': {
    params: AccountReadParamsSchema,
    result: AccountReadResultSchema,
    async handle(raw, { core }) {
      const params = raw as z.infer<typeof AccountReadParamsSchema>;
      // Managed tokens only: the chart ignores the request in external mode (the parent is never asked).
      if (params.refreshToken === true) await core.forceManagedRefresh();
      await core.whenIdle();
      return { account: core.account(), requiresOpenaiAuth: true };
    },
  },

  'account/login/start': {
    params: LoginStartParamsSchema,
    result: LoginStartResultSchema,
    async handle(raw, { core, clientName }) {
      const params = raw as z.infer<typeof LoginStartParamsSchema>;
      switch (params.type) {
        case 'apiKey':
          unwrap(await core.command({ type: 'login.apiKey', apiKey: new Secret(params.apiKey) }));
          return { type: 'apiKey' };
        case 'chatgpt':
          return {
            type: 'chatgpt',
            ...(unwrap(await core.command({ type: 'login.chatgpt', originator: clientName ?? 'authchart' })) as object),
          };
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

  'account/rateLimits/read': {
    params: NoParamsSchema,
    result: RateLimitsReadResultSchema,
    // Waits on the backend and possibly on a refresh by the parent: later requests must not queue behind it.
    concurrent: true,
    async handle(_params, { core, config }) {
      try {
        return { rateLimits: await readRateLimits(core, config.chatgptBaseUrl) };
      } catch (error) {
        if (error instanceof AuthCallError) throw new WireError(error.code, error.message);
        if (error instanceof RateLimitsError) throw new WireError(ErrorCodes.InternalError, `failed to fetch codex rate limits: ${error.message}`);
        throw error;
      }
    },
  },

  getAuthStatus: {
    params: GetAuthStatusParamsSchema,
    result: GetAuthStatusResultSchema,
    async handle(raw, { core }) {
      const params = (raw ?? {}) as z.infer<typeof GetAuthStatusParamsSchema> & object;
      if (params.refreshToken === true) await core.forceManagedRefresh();
      await core.whenIdle();
      const status = core.authStatus(params?.includeToken === true);
      return { authMethod: status.authMethod, authToken: status.authToken, requiresOpenaiAuth: true };
    },
  },
};

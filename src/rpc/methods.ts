/**
 * The method catalogue: one entry per account method, with its params schema and a handler that turns
 * the decoded request into one chart command (or a read of the chart's snapshot) and encodes the answer.
 * No policy here: refusals come from the chart's guards.
 */
import type * as z from '../zod';
import { accountViewOf, userIdOf, workspaceRoutingOf } from '../../machines/views';
import { Secret } from '../../machines/secret';
import type { ClaimsResult, ExternalTokens, SessionSnapshot } from '../../machines/types';
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
  AccountSessionListParamsSchema,
  AccountSessionListResultSchema,
  AccountSessionSwitchParamsSchema,
  AccountSessionSwitchResultSchema,
  type AccountSessionListResult,
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
  /**
   * Handles params already validated by `params`; `rpcId` is the JSON-RPC id of the request (passed on to
   * the chart, for the inspector). One shared context and the id beside it: no object per request.
   */
  handle(params: unknown, context: MethodContext, rpcId: string | number): Promise<unknown>;
}

/**
 * A catalogue entry whose handler gets the params as `params` decodes them and must return what
 * `result` describes (the server validates params before calling it).
 */
export function defineMethod<P extends z.ZodMiniType, R extends z.ZodMiniType>(method: {
  params: P;
  result: R;
  concurrent?: boolean;
  handle(params: z.infer<P>, context: MethodContext, rpcId: string | number): Promise<z.input<R>>;
}): MethodEntry {
  return method as MethodEntry;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The result of a command, or the wire error it was refused with. */
function unwrap(answer: CommandAnswer): unknown {
  if (answer.ok) return answer.value;
  throw new WireError(answer.code, answer.message);
}

/** Decodes the claims of external tokens of either generation (docs/protocol.md §4); a wrong shape is -32602. */
export function externalLogin(params: Record<string, unknown>): { tokens: ExternalTokens; claims: ClaimsResult } {
  const decoded = decodeExternalTokens(params);
  if (!decoded.ok) throw new WireError(ErrorCodes.InvalidParams, `Invalid params: ${decoded.issues}`);
  return { tokens: decoded.tokens, claims: decoded.claims };
}

/** `account/read`'s result for the chart's current snapshot (never waits for the network). */
function accountRead(core: AuthCore) {
  const snapshot = core.snapshot();
  return { account: accountViewOf(snapshot), userId: userIdOf(snapshot), requiresOpenaiAuth: true, workspaceRouting: workspaceRoutingOf(snapshot) };
}

/**
 * The `accountSession/list` result for the chart's answer: a managed login's snapshot (one session), or
 * null (none). `allWorkspaces` lists every workspace the last discovery found (the background one: this
 * never waits for the network).
 */
async function sessionList(value: unknown, allWorkspaces: boolean): Promise<AccountSessionListResult> {
  const { NO_SESSIONS, buildSessionList } = await import('../auth/workspaceSwitch.js');
  const snapshot = value as SessionSnapshot | null;
  if (!snapshot) return NO_SESSIONS;
  const lastUsedAt = Math.floor((snapshot.lastRefreshAt ?? Date.now()) / 1000);
  return buildSessionList({ account: snapshot.account, discovery: snapshot.workspace, allWorkspaces, lastUsedAt });
}

/** Every method authchart serves besides `initialize`. */
export const METHODS: Record<string, MethodEntry> = {
  'account/read': defineMethod({
    params: AccountReadParamsSchema,
    result: AccountReadResultSchema,
    async handle(params, { core }, rpcId) {
      // Managed tokens only: the chart answers at once in external mode (the parent is never asked).
      if (params.refreshToken === true) await core.command({ type: 'refresh.requested', rpcId });
      await core.whenIdle();
      return accountRead(core);
    },
  }),

  'account/login/start': defineMethod({
    params: LoginStartParamsSchema,
    result: LoginStartResultSchema,
    async handle(params, { core, clientName }, rpcId) {
      switch (params.type) {
        case 'apiKey':
          unwrap(await core.command({ type: 'login.apiKey', apiKey: new Secret(params.apiKey), rpcId }));
          return { type: 'apiKey' as const };
        case 'chatgpt': {
          const started = unwrap(await core.command({ type: 'login.chatgpt', originator: clientName ?? 'authchart', rpcId })) as { loginId: string; authUrl: string };
          return { type: 'chatgpt' as const, ...started };
        }
        case 'chatgptDeviceCode': {
          const started = unwrap(await core.command({ type: 'login.deviceCode', rpcId })) as { loginId: string; verificationUrl: string; userCode: string };
          return { type: 'chatgptDeviceCode' as const, ...started };
        }
        case 'chatgptAuthTokens': {
          const { tokens, claims } = externalLogin(params);
          unwrap(await core.command({ type: 'login.externalTokens', tokens, claims, rpcId }));
          return { type: 'chatgptAuthTokens' as const };
        }
      }
    },
  }),

  'account/login/cancel': defineMethod({
    params: LoginCancelParamsSchema,
    result: LoginCancelResultSchema,
    async handle({ loginId }, { core }, rpcId) {
      if (!UUID.test(loginId)) throw invalidRequest(`invalid login id: ${loginId}`);
      return unwrap(await core.command({ type: 'login.cancel', loginId, rpcId })) as z.infer<typeof LoginCancelResultSchema>;
    },
  }),

  'account/logout': defineMethod({
    params: NoParamsSchema,
    result: LogoutResultSchema,
    async handle(_params, { core }, rpcId) {
      unwrap(await core.command({ type: 'logout', rpcId }));
      return {};
    },
  }),

  'account/rateLimits/read': defineMethod({
    params: NoParamsSchema,
    result: RateLimitsReadResultSchema,
    // Waits on the backend and possibly on a refresh by the parent: later requests must not queue behind it.
    concurrent: true,
    async handle(_params, { core, config, logger }) {
      try {
        return await readRateLimits(core, config.chatgptBaseUrl, { logger });
      } catch (error) {
        if (error instanceof AuthCallError) throw new WireError(error.code, error.message);
        if (error instanceof RateLimitsError) throw new WireError(ErrorCodes.InternalError, `failed to fetch codex rate limits: ${error.message}`);
        throw error;
      }
    },
  }),

  // --- workspaces (issue 14: docs/protocol.md §12.4); every verdict is the chart's ---
  'accountSession/list': defineMethod({
    params: AccountSessionListParamsSchema,
    result: AccountSessionListResultSchema,
    async handle(params, { core }, rpcId) {
      return sessionList(unwrap(await core.command({ type: 'accountSession.list', rpcId })), params?.refreshWorkspaceMetadata === true);
    },
  }),

  'accountSession/switch': defineMethod({
    params: AccountSessionSwitchParamsSchema,
    result: AccountSessionSwitchResultSchema,
    async handle(params, { core, clientName }, rpcId) {
      const command = {
        type: 'accountSession.switch' as const,
        sessionId: params.sessionId,
        accountId: params.accountId,
        allowBrowserLogin: params.allowBrowserLogin === true,
        originator: clientName ?? 'authchart',
        rpcId,
      };
      for (;;) {
        const value = unwrap(await core.command(command));
        // It waited on a refresh: sent again, the mode the refresh left decides.
        if (value === 'proceed' || value === 'again') continue;
        if (value && typeof value === 'object' && 'loginId' in value) return value as { loginId: string; authUrl: string };
        return sessionList(value, true);
      }
    },
  }),

  getAuthStatus: defineMethod({
    params: GetAuthStatusParamsSchema,
    result: GetAuthStatusResultSchema,
    async handle(params, { core }, rpcId) {
      if (params?.refreshToken === true) await core.command({ type: 'refresh.requested', rpcId });
      await core.whenIdle();
      const status = core.authStatus(params?.includeToken === true);
      return { authMethod: status.authMethod, authToken: status.authToken, requiresOpenaiAuth: true };
    },
  }),
};

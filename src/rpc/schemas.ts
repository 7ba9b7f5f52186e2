/**
 * Wire schemas of the account protocol (docs/protocol.md §2–5): one `XSchema` per params/result shape,
 * types inferred from them. Params schemas validate what clients send; result schemas document and
 * test what authchart sends (strict clients validate every response against Codex's JSON schemas).
 * Built when the method catalogue loads, after the handshake (src/rpc/initialize.ts has its schemas).
 */
import { PLAN_TYPES } from '../../machines/types';
import { ExternalTokensASchema, ExternalTokensBSchema } from '../auth/externalTokens';
import { RateLimitResetCreditsSchema, RateLimitSnapshotSchema } from '../auth/rateLimits';
import * as z from '../zod';

export { describeIssues } from '../issues';
export {
  ClientInfoSchema,
  InitializeParamsSchema,
  InitializeResultSchema,
  type ClientInfo,
  type InitializeParams,
  type InitializeResult,
} from './initialize';

/** `params` of a request that takes none: absent, null or `{}`. */
export const NoParamsSchema = z.optional(z.union([z.looseObject({}), z.null()]));

export const PlanTypeSchema = z.enum(PLAN_TYPES);
export const AuthModeSchema = z.enum(['apikey', 'chatgpt', 'chatgptAuthTokens']);

export const AccountReadParamsSchema = z.object({ refreshToken: z.nullish(z.boolean()) });
export const AccountSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('apiKey') }),
  z.object({ type: z.literal('chatgpt'), email: z.nullable(z.string()), planType: PlanTypeSchema, workspaceName: z.nullable(z.string()) }),
]);
/** Where the backend routes the selected workspace (docs/protocol.md §12.1), known once discovery succeeded. */
export const WorkspaceRoutingSchema = z.object({
  chatgptAccountId: z.string(),
  backendOrigin: z.string(),
  accountRoutingOverride: z.enum(['NO_CONSTRAINT', 'us', 'us_cr']),
});
export const AccountReadResultSchema = z.object({
  account: z.nullable(AccountSchema),
  userId: z.nullable(z.string()),
  requiresOpenaiAuth: z.boolean(),
  workspaceRouting: z.nullable(WorkspaceRoutingSchema),
});
export type AccountReadResult = z.infer<typeof AccountReadResultSchema>;


/**
 * An API key: non-empty, and never altered. The framing decodes each line as UTF-8 and turns bytes that
 * are not UTF-8 into U+FFFD, so a key holding U+FFFD came (almost surely) from such bytes: saving it would
 * silently save another key, so it is refused.
 */
export const ApiKeySchema = z.string().check(
  z.minLength(1, 'apiKey must not be empty'),
  z.refine((value) => !value.includes('\uFFFD'), 'apiKey holds bytes that are not valid UTF-8 (read as U+FFFD); send the key as UTF-8 text, exactly as issued'),
);

export { ExternalTokensASchema, ExternalTokensBSchema };

/** Either generation: B when `chatgptAccountId` is present, else A. */
export const ExternalTokensSchema = z.union([ExternalTokensBSchema, ExternalTokensASchema]);
export type ExternalTokensParams = z.infer<typeof ExternalTokensSchema>;

export const LoginStartParamsSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('apiKey'), apiKey: ApiKeySchema }),
  z.object({ type: z.literal('chatgpt') }),
  z.object({ type: z.literal('chatgptDeviceCode') }),
  z.looseObject({ type: z.literal('chatgptAuthTokens') }),
]);
export type LoginStartParams = z.infer<typeof LoginStartParamsSchema>;

export const LoginStartResultSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('apiKey') }),
  z.object({ type: z.literal('chatgpt'), loginId: z.string(), authUrl: z.string() }),
  z.object({ type: z.literal('chatgptDeviceCode'), loginId: z.string(), verificationUrl: z.string(), userCode: z.string() }),
  z.object({ type: z.literal('chatgptAuthTokens') }),
]);

export const LoginCancelParamsSchema = z.object({ loginId: z.string() });
export type LoginStartResult = z.infer<typeof LoginStartResultSchema>;

export const LoginCancelResultSchema = z.object({ status: z.enum(['canceled', 'notFound']) });
export type LoginCancelResult = z.infer<typeof LoginCancelResultSchema>;

export const LogoutResultSchema = z.object({});

export const GetAuthStatusParamsSchema = z.nullish(z.object({ includeToken: z.nullish(z.boolean()), refreshToken: z.nullish(z.boolean()) }));
export const GetAuthStatusResultSchema = z.object({
  authMethod: z.nullable(AuthModeSchema),
  authToken: z.nullable(z.string()),
  requiresOpenaiAuth: z.boolean(),
});
export type GetAuthStatusResult = z.infer<typeof GetAuthStatusResultSchema>;

/**
 * `account/rateLimits/read` (docs/protocol.md §4, §12.3): the seed generation's `rateLimits` (now carrying the
 * bucket keys too) and today's keys beside it. `rateLimitUpsell` is passed on as the backend sent it.
 */
export const RateLimitsReadResultSchema = z.object({
  rateLimits: RateLimitSnapshotSchema,
  rateLimitsByLimitId: z.nullable(z.record(z.string(), RateLimitSnapshotSchema)),
  ordinaryUsageAllowed: z.nullable(z.boolean()),
  rateLimitResetCredits: z.nullable(RateLimitResetCreditsSchema),
  accountId: z.nullable(z.string()),
  rateLimitUpsell: z.nullable(z.unknown()),
});
export type RateLimitsReadResult = z.infer<typeof RateLimitsReadResultSchema>;

/** `accountSession/list` params (issue 14; §12.4 of the shared spec): absent, null or `{refreshWorkspaceMetadata?}`. */
export const AccountSessionListParamsSchema = z.nullish(z.object({ refreshWorkspaceMetadata: z.nullish(z.boolean()) }));
export type AccountSessionListParams = z.infer<typeof AccountSessionListParamsSchema>;

/** One workspace of a session. */
export const AccountWorkspaceSchema = z.object({
  accountId: z.string(),
  name: z.nullable(z.string()),
  imageUrl: z.nullable(z.string()),
  kind: z.nullable(z.enum(['personal', 'workspace'])),
});
/** One session: the managed ChatGPT login, keyed by its user id. */
export const AccountSessionSchema = z.object({
  sessionId: z.string(),
  email: z.nullable(z.string()),
  userId: z.string(),
  displayName: z.nullable(z.string()),
  imageUrl: z.nullable(z.string()),
  lastUsedAt: z.int(),
  isActive: z.boolean(),
  selectedWorkspaceAccountId: z.nullable(z.string()),
  workspaces: z.array(AccountWorkspaceSchema),
});
/** `accountSession/list` result (and a completed `accountSession/switch`'s). */
export const AccountSessionListResultSchema = z.object({ activeSessionId: z.nullable(z.string()), sessions: z.array(AccountSessionSchema) });
export type AccountSessionListResult = z.infer<typeof AccountSessionListResultSchema>;

/** `accountSession/switch` params. An empty `accountId` is the handler's -32600, in Codex's words. */
export const AccountSessionSwitchParamsSchema = z.object({ sessionId: z.string(), accountId: z.string(), allowBrowserLogin: z.nullish(z.boolean()) });
export type AccountSessionSwitchParams = z.infer<typeof AccountSessionSwitchParamsSchema>;

/** `accountSession/switch` result: the list after the switch, or a browser sign-in to complete it. */
export const AccountSessionSwitchResultSchema = z.union([AccountSessionListResultSchema, z.object({ loginId: z.string(), authUrl: z.string() })]);
export type AccountSessionSwitchResult = z.infer<typeof AccountSessionSwitchResultSchema>;

/** `params` of the server→client request `account/chatgptAuthTokens/refresh` (docs/protocol.md §6). */
export const ChatgptAuthTokensRefreshParamsSchema = z.object({
  reason: z.literal('unauthorized'),
  previousAccountId: z.nullable(z.string()),
});
export type ChatgptAuthTokensRefreshParams = z.infer<typeof ChatgptAuthTokensRefreshParamsSchema>;

export const LoginCompletedNotificationSchema = z.object({
  loginId: z.nullable(z.string()),
  success: z.boolean(),
  error: z.nullable(z.string()),
});
export const AccountUpdatedNotificationSchema = z.object({
  authMode: z.nullable(AuthModeSchema),
  planType: z.nullable(PlanTypeSchema),
  reason: z.nullable(z.enum(['workspaceRoutingReady', 'unknown'])),
});
export type LoginCompletedNotification = z.infer<typeof LoginCompletedNotificationSchema>;
export type AccountUpdatedNotification = z.infer<typeof AccountUpdatedNotificationSchema>;

/** Server → client notifications by method. */
export const NOTIFICATIONS: Record<string, z.ZodMiniType> = {
  'account/login/completed': LoginCompletedNotificationSchema,
  'account/updated': AccountUpdatedNotificationSchema,
};

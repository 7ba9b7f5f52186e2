/**
 * Wire schemas of the account protocol (PROTOCOL.md §2–5): one `XSchema` per params/result shape,
 * types inferred from them. Params schemas validate what clients send; result schemas document and
 * test what authchart sends (strict clients validate every response against Codex's JSON schemas).
 */
import { z } from 'zod';
import { PLAN_TYPES } from '../../machines/types';
import { ExternalTokensASchema, ExternalTokensBSchema } from '../auth/externalTokens';
import { RateLimitSnapshotSchema } from '../auth/rateLimits';

export { describeIssues } from '../issues';

/** `params` of a request that takes none: absent, null or `{}`. */
export const NoParamsSchema = z.union([z.object({}).loose(), z.null()]).optional();

export const ClientInfoSchema = z.object({
  name: z.string(),
  title: z.string().nullish(),
  version: z.string(),
});

export type ClientInfo = z.infer<typeof ClientInfoSchema>;

export const InitializeParamsSchema = z.object({
  clientInfo: ClientInfoSchema,
  capabilities: z.object({ experimentalApi: z.boolean().optional() }).loose().nullish(),
});
export type InitializeParams = z.infer<typeof InitializeParamsSchema>;

export const InitializeResultSchema = z.object({
  userAgent: z.string(),
  codexHome: z.string(),
  platformFamily: z.enum(['unix', 'windows']),
  platformOs: z.enum(['linux', 'macos', 'windows']),
});
export type InitializeResult = z.infer<typeof InitializeResultSchema>;

export const PlanTypeSchema = z.enum(PLAN_TYPES);
export const AuthModeSchema = z.enum(['apikey', 'chatgpt', 'chatgptAuthTokens']);

export const AccountReadParamsSchema = z.object({ refreshToken: z.boolean().nullish() });
export const AccountSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('apiKey') }),
  z.object({ type: z.literal('chatgpt'), email: z.string().nullable(), planType: PlanTypeSchema }),
]);
export const AccountReadResultSchema = z.object({
  account: AccountSchema.nullable(),
  requiresOpenaiAuth: z.boolean(),
});
export type AccountReadResult = z.infer<typeof AccountReadResultSchema>;

const nonEmpty = (what: string) => z.string().min(1, `${what} must not be empty`);

export { ExternalTokensASchema, ExternalTokensBSchema };

/** Either generation: B when `chatgptAccountId` is present, else A. */
export const ExternalTokensSchema = z.union([ExternalTokensBSchema, ExternalTokensASchema]);
export type ExternalTokensParams = z.infer<typeof ExternalTokensSchema>;

export const LoginStartParamsSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('apiKey'), apiKey: nonEmpty('apiKey') }),
  z.object({ type: z.literal('chatgpt') }),
  z.object({ type: z.literal('chatgptAuthTokens') }).loose(),
]);
export type LoginStartParams = z.infer<typeof LoginStartParamsSchema>;

export const LoginStartResultSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('apiKey') }),
  z.object({ type: z.literal('chatgpt'), loginId: z.string(), authUrl: z.string() }),
  z.object({ type: z.literal('chatgptAuthTokens') }),
]);

export const LoginCancelParamsSchema = z.object({ loginId: z.string() });
export type LoginStartResult = z.infer<typeof LoginStartResultSchema>;

export const LoginCancelResultSchema = z.object({ status: z.enum(['canceled', 'notFound']) });
export type LoginCancelResult = z.infer<typeof LoginCancelResultSchema>;

export const LogoutResultSchema = z.object({});

export const GetAuthStatusParamsSchema = z
  .object({ includeToken: z.boolean().nullish(), refreshToken: z.boolean().nullish() })
  .nullish();
export const GetAuthStatusResultSchema = z.object({
  authMethod: AuthModeSchema.nullable(),
  authToken: z.string().nullable(),
  requiresOpenaiAuth: z.boolean(),
});
export type GetAuthStatusResult = z.infer<typeof GetAuthStatusResultSchema>;

export const RateLimitsReadResultSchema = z.object({ rateLimits: RateLimitSnapshotSchema });
export type RateLimitsReadResult = z.infer<typeof RateLimitsReadResultSchema>;

/** `params` of the server→client request `account/chatgptAuthTokens/refresh` (PROTOCOL.md §6). */
export const ChatgptAuthTokensRefreshParamsSchema = z.object({
  reason: z.literal('unauthorized'),
  previousAccountId: z.string().nullable(),
});
export type ChatgptAuthTokensRefreshParams = z.infer<typeof ChatgptAuthTokensRefreshParamsSchema>;

export const LoginCompletedNotificationSchema = z.object({
  loginId: z.string().nullable(),
  success: z.boolean(),
  error: z.string().nullable(),
});
export const AccountUpdatedNotificationSchema = z.object({
  authMode: AuthModeSchema.nullable(),
  planType: PlanTypeSchema.nullable(),
});
export type LoginCompletedNotification = z.infer<typeof LoginCompletedNotificationSchema>;
export type AccountUpdatedNotification = z.infer<typeof AccountUpdatedNotificationSchema>;

/** Server → client notifications by method. */
export const NOTIFICATIONS: Record<string, z.ZodType> = {
  'account/login/completed': LoginCompletedNotificationSchema,
  'account/updated': AccountUpdatedNotificationSchema,
};

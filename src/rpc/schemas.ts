/**
 * Wire schemas of the account protocol (PROTOCOL.md §2–5): one `XSchema` per params/result shape,
 * types inferred from them. Params schemas validate what clients send; result schemas document and
 * test what authchart sends (strict clients validate every response against Codex's JSON schemas).
 */
import { z } from 'zod';
import { PLAN_TYPES } from '../../machines/types';
import { ExternalTokensASchema, ExternalTokensBSchema } from '../auth/externalTokens';

export { describeIssues } from '../issues';

/** `params` of a request that takes none: absent, null or `{}`. */
export const NoParamsSchema = z.union([z.object({}).loose(), z.null()]).optional();

export const ClientInfoSchema = z.object({
  name: z.string(),
  title: z.string().nullish(),
  version: z.string(),
});

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
export const LoginCancelResultSchema = z.object({ status: z.enum(['canceled', 'notFound']) });

export const LogoutResultSchema = z.object({});

export const GetAuthStatusParamsSchema = z
  .object({ includeToken: z.boolean().nullish(), refreshToken: z.boolean().nullish() })
  .nullish();
export const GetAuthStatusResultSchema = z.object({
  authMethod: AuthModeSchema.nullable(),
  authToken: z.string().nullable(),
  requiresOpenaiAuth: z.boolean(),
});

const WindowSchema = z.object({
  usedPercent: z.number().int(),
  windowDurationMins: z.number().int().nullable(),
  resetsAt: z.number().int().nullable(),
});
const CreditsSchema = z.object({ hasCredits: z.boolean(), unlimited: z.boolean(), balance: z.string().nullable() });
export type RateLimitWindow = z.infer<typeof WindowSchema>;
export type Credits = z.infer<typeof CreditsSchema>;
export const RateLimitsReadResultSchema = z.object({
  rateLimits: z.object({
    primary: WindowSchema.nullable(),
    secondary: WindowSchema.nullable(),
    credits: CreditsSchema.nullable(),
    planType: PlanTypeSchema.nullable(),
  }),
});

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

/** Server → client notifications by method. */
export const NOTIFICATIONS: Record<string, z.ZodType> = {
  'account/login/completed': LoginCompletedNotificationSchema,
  'account/updated': AccountUpdatedNotificationSchema,
};

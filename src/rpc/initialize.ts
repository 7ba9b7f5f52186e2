/**
 * The handshake (docs/protocol.md §2): the schemas of `initialize` and its answer. The only schemas on the
 * spawn path; those of the account methods load with the method catalogue, after the handshake.
 */
import * as os from 'node:os';
import { ErrorCodes, WireError, invalidRequest } from './errors';
import * as z from '../zod';
import { describeIssues } from '../issues';

export const ClientInfoSchema = z.object({
  name: z.string(),
  title: z.nullish(z.string()),
  version: z.string(),
});
export type ClientInfo = z.infer<typeof ClientInfoSchema>;

export const InitializeParamsSchema = z.object({
  clientInfo: ClientInfoSchema,
  capabilities: z.nullish(z.looseObject({ experimentalApi: z.optional(z.boolean()) })),
});
export type InitializeParams = z.infer<typeof InitializeParamsSchema>;

export const InitializeResultSchema = z.object({
  userAgent: z.string(),
  codexHome: z.string(),
  platformFamily: z.enum(['unix', 'windows']),
  platformOs: z.enum(['linux', 'macos', 'windows']),
});
export type InitializeResult = z.infer<typeof InitializeResultSchema>;

/** `os (release; arch)` as in Codex's user agent. */
function platformDescription(): string {
  const name = process.platform === 'darwin' ? 'Mac OS' : process.platform === 'win32' ? 'Windows' : os.type();
  return `${name} ${os.release()}; ${os.arch()}`;
}

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Validates `initialize` params and builds the answer; throws the WireError to answer instead. */
export function initializeResult(params: unknown, server: { version: string; codexHome: string }): { clientInfo: InitializeParams['clientInfo']; result: InitializeResult } {
  const parsed = InitializeParamsSchema.safeParse(params);
  if (!parsed.success) throw new WireError(ErrorCodes.InvalidParams, `Invalid params for initialize: ${describeIssues(parsed.error)}`);
  const { clientInfo } = parsed.data;
  if (CONTROL_CHARS.test(clientInfo.name)) {
    throw invalidRequest(`Invalid clientInfo.name: '${clientInfo.name}'. Must be a valid HTTP header value.`);
  }
  return {
    clientInfo,
    result: {
      userAgent: `authchart/${server.version} (${platformDescription()}) (${clientInfo.name}; ${clientInfo.version})`,
      codexHome: server.codexHome,
      platformFamily: process.platform === 'win32' ? 'windows' : 'unix',
      platformOs: process.platform === 'darwin' ? 'macos' : process.platform === 'win32' ? 'windows' : 'linux',
    },
  };
}

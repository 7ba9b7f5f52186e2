/**
 * authchart as a library, for hosts that embed the auth core in-process instead of spawning the
 * app-server: the core and its chart, the backend client with 401 recovery, configuration, stores.
 * The parent-side client of the app-server is `authchart/client`.
 */
export { AuthCore, AuthCallError, type AuthCoreOptions, type AuthCommand, type BackendTicket, type CommandAnswer, type AuthNotification } from './auth/core';
export { authorizedFetch, type AuthorizedFetchOptions } from './auth/backend';
export { readRateLimits, mapUsageBody, usageUrl, RateLimitsError, type RateLimitSnapshot, type RateLimitWindow, type RateLimitCredits } from './auth/rateLimits';
export { EXTERNAL_REFRESH_METHOD, type ParentRequester } from './auth/externalRefresh';
export { decodeExternalTokens, type DecodedExternalTokens } from './auth/externalTokens';
export { RefreshError, PERMANENT_REFRESH_MESSAGES, CLIENT_ID } from './auth/tokenEndpoint';
export { StoreLockError, STORE_LOCK_TIMEOUT_MS } from './auth/lock';
export { FileCredentialStore, EphemeralCredentialStore, type CredentialStore, type ManagedCredentials } from './auth/credentials';
export { createCredentialStore } from './auth/stores';
export { loadConfig, parseConfig, resolveCodexHome, ConfigError, type AuthchartConfig } from './config';
export { createLogger, silentLogger, type Logger } from './log';
export { AppServer, type AppServerOptions } from './rpc/server';
export { Secret } from '../machines/secret';
export { authMachine, type AuthMachine } from '../machines/auth.machine';
export type { AccountInfo, AuthMode, PlanType } from '../machines/types';

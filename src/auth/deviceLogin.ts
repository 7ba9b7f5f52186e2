/**
 * The device-code login as one effect the chart can invoke (PROTOCOL.md §13.1): ask for a user code,
 * report it, poll until the user has entered it, exchange the code, report the tokens. Stopping the
 * actor (cancel, a newer login, logout, the chart's timeout) aborts whatever step is under way, and
 * nothing is reported after that. Policy (the forced workspace, saving, the notifications) stays in the
 * chart. The HTTP steps (src/auth/deviceCode.ts) load with the first device login.
 */
import { randomUUID } from 'node:crypto';
import { fromCallback } from 'xstate';
import type { AccountInfo, LoginTokens } from '../../machines/types';
import type { AuthchartConfig } from '../config';
import { silentLogger, type Logger } from '../log';
import type { PollOptions } from './deviceCode.js';

/** What the device login tells the chart, in this order (a failure ends it at any step). */
export type DeviceLoginEvent =
  /** The user code is ready: the parent shows `verificationUrl` and `userCode`. */
  | { type: 'deviceLogin.started'; loginId: string; verificationUrl: string; userCode: string }
  /** No user code: `code` is the JSON-RPC code for `account/login/start` (-32600 when not enabled). */
  | { type: 'deviceLogin.startFailed'; code: number; message: string }
  /** The user entered the code and the issuer exchanged it for tokens. */
  | { type: 'deviceLogin.exchanged'; tokens: LoginTokens; account: AccountInfo }
  /** Polling or the exchange failed; `message` is the `account/login/completed` error, exactly. */
  | { type: 'deviceLogin.failed'; message: string };

/** What a device login needs. */
export interface DeviceLoginDeps {
  config: Pick<AuthchartConfig, 'issuer'>;
  logger?: Logger;
  fetchImpl?: typeof fetch;
  /** Test overrides of polling (clock, pauses). */
  pollOptions?: Pick<PollOptions, 'now' | 'sleep' | 'maxWaitMs'>;
}

/** Runs one device login, reporting through `emit`; resolves when it has ended (or was aborted). */
export async function runDeviceLogin(deps: DeviceLoginDeps, signal: AbortSignal, emit: (event: DeviceLoginEvent) => void): Promise<void> {
  const logger = deps.logger ?? silentLogger;
  const { requestUserCode, pollForAuthorization, exchangeDeviceAuthorization, DeviceCodeError } = await import('./deviceCode.js');
  const http = { issuer: deps.config.issuer, signal, fetchImpl: deps.fetchImpl };
  const report = (event: DeviceLoginEvent) => {
    if (!signal.aborted) emit(event);
  };
  let started = false;
  try {
    const code = await requestUserCode(http);
    const loginId = randomUUID();
    started = true;
    report({ type: 'deviceLogin.started', loginId, verificationUrl: code.verificationUrl, userCode: code.userCode });
    logger.info(`device login ${loginId}: waiting for the code to be entered at ${code.verificationUrl}`);
    const authorization = await pollForAuthorization(code, { ...http, ...deps.pollOptions });
    const exchanged = await exchangeDeviceAuthorization(authorization, http);
    report({ type: 'deviceLogin.exchanged', tokens: exchanged.tokens, account: exchanged.account });
  } catch (error) {
    if (signal.aborted) return;
    const message = (error as Error).message;
    logger.warn(`device login failed: ${message}`);
    const code = error instanceof DeviceCodeError ? error.rpcCode : -32603;
    report(started ? { type: 'deviceLogin.failed', message } : { type: 'deviceLogin.startFailed', code, message });
  }
}

/** The `deviceLogin` actor logic, bound to a configuration: runs one device login until it ends or is stopped. */
export function deviceLoginActor(deps: DeviceLoginDeps) {
  return fromCallback<{ type: 'deviceLogin.noop' }, void, DeviceLoginEvent>(({ sendBack }) => {
    const controller = new AbortController();
    void runDeviceLogin(deps, controller.signal, (event) => sendBack(event)).catch((error: unknown) => {
      if (!controller.signal.aborted) sendBack({ type: 'deviceLogin.failed', message: (error as Error).message });
    });
    return () => controller.abort();
  });
}

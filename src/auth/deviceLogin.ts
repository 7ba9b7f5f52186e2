/**
 * The device-code login's flow (PROTOCOL.md §13.1), as the `loginFlow` actor runs it for a device login:
 * ask for a user code, report it, poll until the user has entered it, exchange the code, report the
 * tokens. Stopping the actor (cancel, a newer login, logout, the chart's timeout) aborts whatever step is
 * under way, and nothing is reported after that. Policy (the forced workspace, saving, the notifications,
 * the JSON-RPC codes) stays in the chart. The HTTP steps (src/auth/deviceCode.ts) load with the first
 * device login.
 */
import { randomUUID } from 'node:crypto';
import type { LoginFlowEvent } from '../../machines/types';
import type { AuthchartConfig } from '../config';
import { silentLogger, type Logger } from '../log';
import type { PollOptions } from './deviceCode.js';
import type { Fetch } from './http';

/** What a device login needs. */
export interface DeviceLoginDeps {
  config: Pick<AuthchartConfig, 'issuer'>;
  logger?: Logger;
  fetchImpl?: Fetch;
  /** Test overrides of polling (clock, pauses). */
  pollOptions?: Pick<PollOptions, 'now' | 'sleep' | 'maxWaitMs'>;
}

/**
 * Runs one device login, reporting through `emit` (`loginFlow.started`, `authorized`, `exchanged`, or a
 * failure at any step); resolves when it has ended or was aborted.
 */
export async function runDeviceLogin(deps: DeviceLoginDeps, signal: AbortSignal, emit: (event: LoginFlowEvent) => void): Promise<void> {
  const logger = deps.logger ?? silentLogger;
  const report = (event: LoginFlowEvent) => {
    if (!signal.aborted) emit(event);
  };
  let started = false;
  try {
    const { requestUserCode, pollForAuthorization, exchangeDeviceAuthorization } = await import('./deviceCode.js');
    const http = { issuer: deps.config.issuer, signal, fetchImpl: deps.fetchImpl };
    const code = await requestUserCode(http);
    const loginId = randomUUID();
    started = true;
    report({ type: 'loginFlow.started', start: { loginId, verificationUrl: code.verificationUrl, userCode: code.userCode } });
    logger.info(`device login ${loginId}: waiting for the code to be entered at ${code.verificationUrl}`);
    const authorization = await pollForAuthorization(code, { ...http, ...deps.pollOptions });
    report({ type: 'loginFlow.authorized' });
    const exchanged = await exchangeDeviceAuthorization(authorization, http);
    report({ type: 'loginFlow.exchanged', tokens: exchanged.tokens, account: exchanged.account });
  } catch (error) {
    if (signal.aborted) return;
    const message = (error as Error).message;
    logger.warn(`device login failed: ${message}`);
    const notEnabled = (error as { notEnabled?: unknown }).notEnabled === true;
    report(started ? { type: 'loginFlow.failed', message } : { type: 'loginFlow.startFailed', message, notEnabled });
  }
}

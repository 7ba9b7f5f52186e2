/**
 * The `loginServer` actor the chart invokes in `browserLogin.active`: a callback actor wrapping one
 * LoginFlow. Starting it loads the callback server module (lazily) and binds; stopping it (whatever made
 * the chart leave `active`) closes the flow. It forwards the flow's events to the chart and the chart's
 * `loginServer.respond` to the flow.
 */
import { fromCallback } from 'xstate';
import type { LoginServerCommand, LoginServerEvent } from '../../machines/types';
import type { AuthchartConfig } from '../config';
import type { Logger } from '../log';
import type { LoginFlow, LoginFlowOptions } from './loginServer.js';

/** What the actor needs besides its input. */
export interface LoginServerDeps {
  config: Pick<AuthchartConfig, 'issuer' | 'loginPort' | 'forcedWorkspaceIds'>;
  logger: Logger;
  /** Overrides for tests (e.g. a faster bind retry). */
  flowOptions?: Partial<Pick<LoginFlowOptions, 'bindRetries' | 'bindRetryDelayMs' | 'exchange'>>;
}

/** The `loginServer` actor logic, bound to a configuration. */
export function loginServerActor(deps: LoginServerDeps) {
  return fromCallback<LoginServerCommand, { originator: string }, LoginServerEvent>(({ input, sendBack, receive }) => {
    let flow: LoginFlow | null = null;
    let stopped = false;
    receive((command) => {
      if (command.type === 'loginServer.respond') flow?.respond(command.outcome);
    });
    // A real dynamic import (kept by tsc in CommonJS output): the module loads on the first browser login.
    import('./loginServer.js')
      .then(({ LoginFlow }) => {
        if (stopped) return;
        const started = new LoginFlow({
          issuer: deps.config.issuer,
          port: deps.config.loginPort,
          originator: input.originator,
          allowedWorkspaceIds: deps.config.forcedWorkspaceIds,
          logger: deps.logger,
          onEvent: (event: LoginServerEvent) => sendBack(event),
          ...deps.flowOptions,
        });
        flow = started;
        return started.start();
      })
      .catch((error: unknown) => {
        if (!stopped) sendBack({ type: 'loginServer.startFailed', message: (error as Error).message });
      });
    return () => {
      stopped = true;
      flow?.close();
    };
  });
}

/**
 * The `loginFlow` actor the chart invokes in `managedLogin.active`: a callback actor that runs the flow of
 * the login's kind — the browser login's callback server (src/auth/loginServer.ts) or the device-code
 * polling (src/auth/deviceLogin.ts) — forwards its events to the chart and, for a browser, the chart's
 * `loginFlow.respond` to the callback server. Stopping it (whatever made the chart leave `active`) closes
 * the server or aborts the polling. Each flow's module loads with the first login of its kind.
 */
import { fromCallback } from 'xstate';
import type { LoginFlowCommand, LoginFlowEvent, LoginFlowInput } from '../../machines/types';
import type { AuthchartConfig } from '../config';
import type { Logger } from '../log';
import type { DeviceLoginDeps } from './deviceLogin';
import type { LoginFlow, LoginFlowOptions } from './loginServer.js';
import type { Fetch } from './http';

/** What the actor needs besides its input. */
export interface LoginFlowDeps {
  config: Pick<AuthchartConfig, 'issuer' | 'loginPort' | 'forcedWorkspaceIds'>;
  logger: Logger;
  /** The fetch the device flow uses (default: `httpFetch`, src/auth/http.ts). */
  fetch?: Fetch;
  /** Overrides for tests (e.g. a faster bind retry). */
  flowOptions?: Partial<Pick<LoginFlowOptions, 'bindRetries' | 'bindRetryDelayMs' | 'exchange'>>;
  /** Overrides of the device flow's polling for tests. */
  devicePolling?: DeviceLoginDeps['pollOptions'];
}

/** The `loginFlow` actor logic, bound to a configuration. */
export function loginFlowActor(deps: LoginFlowDeps) {
  return fromCallback<LoginFlowCommand, LoginFlowInput, LoginFlowEvent>(({ input, sendBack, receive }) => {
    if (input.kind === 'device') {
      const controller = new AbortController();
      // A real dynamic import (kept by tsc in CommonJS output): the module loads on the first device login.
      import('./deviceLogin.js')
        .then(({ runDeviceLogin }) =>
          runDeviceLogin({ config: deps.config, logger: deps.logger, fetchImpl: deps.fetch, pollOptions: deps.devicePolling }, controller.signal, sendBack),
        )
        .catch((error: unknown) => {
          if (!controller.signal.aborted) sendBack({ type: 'loginFlow.startFailed', message: (error as Error).message });
        });
      return () => controller.abort();
    }
    let flow: LoginFlow | null = null;
    let stopped = false;
    receive((command) => {
      if (command.type === 'loginFlow.respond') flow?.respond(command.outcome);
    });
    import('./loginServer.js')
      .then(({ LoginFlow }) => {
        if (stopped) return;
        const started = new LoginFlow({
          issuer: deps.config.issuer,
          port: deps.config.loginPort,
          originator: input.originator,
          allowedWorkspaceIds: deps.config.forcedWorkspaceIds,
          logger: deps.logger,
          onEvent: (event: LoginFlowEvent) => sendBack(event),
          ...deps.flowOptions,
        });
        flow = started;
        return started.start();
      })
      .catch((error: unknown) => {
        if (!stopped) sendBack({ type: 'loginFlow.startFailed', message: (error as Error).message });
      });
    return () => {
      stopped = true;
      flow?.close();
    };
  });
}

/**
 * The live inspector's server: HTTP and WebSocket on 127.0.0.1 only. `GET /` is the page,
 * `GET /state` the current state and kept steps as JSON, `/ws` the live feed. Every viewer gets the
 * same pre-serialized frames; a viewer that leaves is forgotten, one that stops reading is cut off once
 * its backlog passes a bound, so viewers never hold the app-server's memory or its event loop.
 * Requests whose Host (DNS rebinding) or Origin (another web site in the user's browser) is not this
 * server are refused: the feed is redacted, but emails and account ids are still nobody else's business.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { AnyStateMachine, InspectionEvent } from 'xstate';
import type { Logger } from '../log';
import { toDot } from '../visualize/dot';
import { chartModel } from '../visualize/model';
import { renderSvg } from '../visualize/svg';
import { inspectorPage, pageSecurityPolicy } from './page';
import { InspectionRecorder, type InspectorState, type InspectorStep } from './recorder';

/** The only address the inspector listens on. */
export const INSPECTOR_HOST = '127.0.0.1';
/** A viewer whose unsent backlog passes this many bytes is disconnected. */
const MAX_VIEWER_BACKLOG = 4 * 1024 * 1024;

/** What the inspector needs. */
export interface InspectorOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** The machine whose picture is shown (its definition; implementations do not matter). */
  machine: AnyStateMachine;
  logger: Logger;
  /** Steps kept for viewers who open the page later (default 500). */
  historyLimit?: number;
}

/** Messages to viewers. */
export type ViewerMessage =
  | { kind: 'hello'; chart: string; state: InspectorState | null; steps: InspectorStep[] }
  | { kind: 'step'; step: InspectorStep; state: InspectorState };

/** A running inspector. */
export interface Inspector {
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string;
  readonly port: number;
  /** Pass as XState's `inspect` option. Never throws. */
  readonly inspect: (event: InspectionEvent) => void;
  /** How many viewers are connected. */
  viewers(): number;
  /** Disconnects every viewer and stops listening. */
  close(): Promise<void>;
}

/** Thrown when the inspector cannot listen. */
export class InspectorStartError extends Error {
  override readonly name = 'InspectorStartError';
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new InspectorStartError(
          error.code === 'EADDRINUSE'
            ? `port ${INSPECTOR_HOST}:${port} is already in use`
            : `cannot listen on ${INSPECTOR_HOST}:${port}: ${error.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, INSPECTOR_HOST, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Starts the inspector: renders the chart once, then listens on 127.0.0.1. */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const { logger } = options;
  const svg = await renderSvg(toDot(chartModel(options.machine)));
  const chart = options.machine.id;
  const viewers = new Set<WebSocket>();

  const broadcast = (message: ViewerMessage) => {
    if (viewers.size === 0) return;
    const frame = JSON.stringify(message);
    for (const viewer of viewers) {
      if (viewer.readyState !== WebSocket.OPEN) continue;
      if (viewer.bufferedAmount > MAX_VIEWER_BACKLOG) {
        logger.warn('inspector: a viewer stopped reading; disconnecting it');
        viewer.terminate();
        continue;
      }
      viewer.send(frame);
    }
  };
  const recorder = new InspectionRecorder({
    historyLimit: options.historyLimit,
    onStep: (step, state) => broadcast({ kind: 'step', step, state }),
    onError: (error) => logger.error('inspector: could not record an inspection event', { error: String(error) }),
  });

  let port = options.port;
  let page: string | null = null;
  const allowedHosts = () => new Set([`${INSPECTOR_HOST}:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://${INSPECTOR_HOST}:${port}`, `http://localhost:${port}`]);
  const hostAllowed = (request: IncomingMessage) => allowedHosts().has(request.headers.host ?? '');
  const originAllowed = (request: IncomingMessage) => request.headers.origin === undefined || allowedOrigins().has(request.headers.origin);

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      response.writeHead(status, {
        'Content-Type': type,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        ...headers,
      });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (!hostAllowed(request)) return send(421, 'text/plain; charset=utf-8', 'wrong host\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/') {
      page ??= inspectorPage({ chartId: chart, svg });
      return send(200, 'text/html; charset=utf-8', page, { 'Content-Security-Policy': pageSecurityPolicy(port), 'X-Frame-Options': 'DENY' });
    }
    if (path === '/state') {
      const body = JSON.stringify({ chart, state: recorder.state(), steps: recorder.history(), viewers: viewers.size });
      return send(200, 'application/json; charset=utf-8', body);
    }
    return send(404, 'text/plain; charset=utf-8', 'not found\n');
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  const sockets = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/ws' || !hostAllowed(request) || !originAllowed(request)) {
      logger.warn('inspector: refused a WebSocket connection', { path, host: request.headers.host ?? null, origin: request.headers.origin ?? null });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (viewer) => {
      viewers.add(viewer);
      logger.debug(`inspector: viewer connected (${viewers.size} watching)`);
      viewer.on('message', () => {}); // viewers only watch; anything they send is ignored
      viewer.on('error', (error) => logger.debug(`inspector: viewer error: ${error.message}`));
      viewer.on('close', () => {
        viewers.delete(viewer);
        logger.debug(`inspector: viewer disconnected (${viewers.size} watching)`);
      });
      viewer.send(JSON.stringify({ kind: 'hello', chart, state: recorder.state(), steps: recorder.history() } satisfies ViewerMessage));
    });
  });

  port = await listen(server, options.port);
  let closing: Promise<void> | null = null;
  return {
    url: `http://${INSPECTOR_HOST}:${port}/`,
    port,
    inspect: recorder.observe,
    viewers: () => viewers.size,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const viewer of viewers) viewer.terminate();
        viewers.clear();
        sockets.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

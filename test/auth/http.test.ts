/**
 * The outgoing HTTP client (src/auth/http.ts) against real servers on 127.0.0.1: the parts of fetch's
 * contract the auth effects rely on (statuses, bodies, the shape of network failures and aborts), and
 * what it adds (decoding a compressed body it did not ask for). The resend of a GET written on a
 * kept-alive connection the server had just reset is not tested here: the race cannot be timed from
 * one process (the reset is read before the write).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { httpFetch } from '../../src/auth/http';
import { failureReason } from '../../src/auth/httpFailure';

async function listen(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('httpFetch', () => {
  it('sends method, headers and body; answers status, statusText, ok and the body as text', async () => {
    const { server, origin } = await listen((req, res, body) => {
      res.writeHead(201, 'Made', { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization, length: req.headers['content-length'], body }));
    });
    servers.push(server);
    const response = await httpFetch(`${origin}/x`, { method: 'POST', headers: { Authorization: 'Bearer t' }, body: '{"é":1}' });
    expect([response.status, response.statusText, response.ok]).toEqual([201, 'Made', true]);
    expect(JSON.parse(await response.text())).toEqual({ method: 'POST', auth: 'Bearer t', length: '8', body: '{"é":1}' });
    await expect(response.text()).rejects.toThrow('the body was already read');
  });

  it('is not ok outside 2xx, and a discarded body frees the connection for the next request', async () => {
    let sockets = 0;
    const { server, origin } = await listen((_req, res) => {
      res.writeHead(503);
      res.end('x'.repeat(100_000));
    });
    server.on('connection', () => (sockets += 1));
    servers.push(server);
    const first = await httpFetch(origin);
    expect([first.status, first.ok]).toEqual([503, false]);
    await first.discard();
    expect((await httpFetch(origin)).status).toBe(503);
    expect(sockets).toBe(1);
  });

  it('rejects a refused connection as fetch does: TypeError with the socket error as cause', async () => {
    const { server, origin } = await listen(() => undefined);
    await new Promise((resolve) => server.close(resolve));
    const error = (await httpFetch(origin).then(
      () => null,
      (e: unknown) => e,
    )) as TypeError & { cause: NodeJS.ErrnoException };
    expect(error).toBeInstanceOf(TypeError);
    expect(error.cause.code).toBe('ECONNREFUSED');
    // How every effect words it: the socket error's code, else its message, else the error's own.
    expect(failureReason(error)).toBe('ECONNREFUSED');
    expect(failureReason(new TypeError('fetch failed', { cause: new Error('other side hung up') }))).toBe('other side hung up');
    expect(failureReason(new Error('bad URL'))).toBe('bad URL');
  });

  it('rejects with the signal reason when aborted before the answer or while the body is read', async () => {
    const { server, origin } = await listen((req, res) => {
      if (req.url === '/slow-head') return; // never answers
      res.writeHead(200);
      res.write('partial'); // never ends
    });
    servers.push(server);
    const timedOut = (await httpFetch(`${origin}/slow-head`, { signal: AbortSignal.timeout(50) }).then(
      () => null,
      (e: unknown) => e,
    )) as Error;
    expect(timedOut.name).toBe('TimeoutError');
    const controller = new AbortController();
    const response = await httpFetch(`${origin}/slow-body`, { signal: controller.signal });
    const reading = response.text();
    controller.abort(new Error('stopped by the caller'));
    await expect(reading).rejects.toThrow('stopped by the caller');
  });

  it('decodes a gzip body the server compressed anyway', async () => {
    const { server, origin } = await listen((req, res) => {
      expect(req.headers['accept-encoding']).toBeUndefined();
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync('{"compressed":true}'));
    });
    servers.push(server);
    expect(await (await httpFetch(origin)).text()).toBe('{"compressed":true}');
  });
});

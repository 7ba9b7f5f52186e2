import { PassThrough } from 'node:stream';
import { AuthCore } from '../../src/auth/core';
import { EphemeralCredentialStore } from '../../src/auth/credentials';
import { parseConfig } from '../../src/config';
import { silentLogger } from '../../src/log';
import { WireError } from '../../src/rpc/errors';
import { AppServer } from '../../src/rpc/server';
import { WireWriter } from '../../src/rpc/wire';

/** An AppServer on in-memory pipes, with every chunk written to its output recorded. */
async function harness(options: { core?: Promise<AuthCore> } = {}) {
  const config = await parseConfig(null, '/tmp/authchart-test-home', {});
  let core: Promise<AuthCore> | null = null;
  const loadCore = () => (core ??= options.core ?? AuthCore.open({ config, store: new EphemeralCredentialStore() }));
  const input = new PassThrough();
  const output = new PassThrough();
  const chunks: string[] = [];
  output.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  const server = new AppServer({ input, output, core: loadCore, config, logger: silentLogger, version: '0.0.0-test' });
  server.listen();
  const messages = () => chunks.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const until = async (predicate: () => boolean) => {
    for (let i = 0; i < 1000 && !predicate(); i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(predicate()).toBe(true);
  };
  const send = (...lines: object[]) => input.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const initialize = { id: 0, method: 'initialize', params: { clientInfo: { name: 't', version: '1' } } };
  return { server, input, chunks, messages, until, send, initialize, stop: async () => (server.close(), (await loadCore()).stop()) };
}

describe('WireWriter batching', () => {
  it('writes every message queued in one turn with a single write()', async () => {
    const out = new PassThrough();
    const write = jest.spyOn(out, 'write');
    const writer = new WireWriter(out);
    writer.send({ id: 1, result: 1 });
    writer.send({ jsonrpc: '2.0', id: 2, result: 2 });
    await writer.write({ method: 'n' });
    expect(write).toHaveBeenCalledTimes(1);
    expect(out.read().toString()).toBe('{"id":1,"result":1}\n{"id":2,"result":2}\n{"method":"n"}\n');
  });

  it('reports back-pressure while the stream is full and lifts it on drain', async () => {
    const out = new PassThrough({ highWaterMark: 8 });
    const states: boolean[] = [];
    const writer = new WireWriter(out, undefined, { onBackPressure: (blocked) => states.push(blocked) });
    writer.send({ id: 1, result: 'x'.repeat(32) });
    await new Promise((resolve) => setImmediate(resolve));
    expect(states).toEqual([true]);
    const flushed = writer.flushed();
    out.resume();
    await flushed;
    expect(states).toEqual([true, false]);
  });
});

describe('AppServer dispatch', () => {
  it('answers 100 pipelined requests in arrival order, in one write', async () => {
    const h = await harness();
    try {
      h.send(h.initialize);
      await h.until(() => h.messages().length === 1);
      const before = h.chunks.length;
      h.send(...Array.from({ length: 100 }, (_, i) => ({ id: i + 1, method: 'account/read', params: {} })));
      await h.until(() => h.messages().length === 101);
      expect(h.messages().slice(1).map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(h.chunks.length - before).toBe(1);
    } finally {
      await h.stop();
    }
  });

  it('sees the effect of a login in a read pipelined right behind it, notifications after the login response', async () => {
    const h = await harness();
    try {
      h.send(h.initialize, { id: 1, method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-test-1' } }, { id: 2, method: 'account/read', params: {} });
      await h.until(() => h.messages().some((m) => m.id === 2));
      expect(h.messages().slice(1)).toEqual([
        { id: 1, result: { type: 'apiKey' } },
        { method: 'account/login/completed', params: { loginId: null, success: true, error: null }, emittedAtMs: expect.any(Number) },
        { method: 'account/updated', params: { authMode: 'apikey', planType: null, reason: null }, emittedAtMs: expect.any(Number) },
        { id: 2, result: { account: { type: 'apiKey' }, userId: null, requiresOpenaiAuth: true, workspaceRouting: null } },
      ]);
    } finally {
      await h.stop();
    }
  });

  it('loads the auth core after the initialize response, not before', async () => {
    let loads = 0;
    const config = await parseConfig(null, '/tmp/authchart-test-home', {});
    const input = new PassThrough();
    const output = new PassThrough();
    const lines: string[] = [];
    output.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean).map((l) => `${l} (loads: ${loads})`)));
    let core: Promise<AuthCore> | null = null;
    const server = new AppServer({
      input,
      output,
      core: () => (loads += 1, core ??= AuthCore.open({ config, store: new EphemeralCredentialStore() })),
      config,
      logger: silentLogger,
      version: '0',
    });
    server.listen();
    input.write('{"id":0,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}\n');
    for (let i = 0; i < 100 && !core; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual([expect.stringMatching(/^\{"id":0,"result":.*\(loads: 0\)$/)]);
    expect(loads).toBe(1);
    server.close();
    (await core!).stop();
  });

  it('answers initialize before the auth core is ready, and account methods once it is', async () => {
    let ready!: (core: AuthCore) => void;
    const core = new Promise<AuthCore>((resolve) => (ready = resolve));
    const h = await harness({ core });
    h.send(h.initialize, { id: 1, method: 'account/read', params: {} });
    await h.until(() => h.messages().length === 1);
    expect(h.messages()[0].id).toBe(0);
    const config = await parseConfig(null, '/tmp/authchart-test-home', {});
    ready(await AuthCore.open({ config, store: new EphemeralCredentialStore() }));
    await h.until(() => h.messages().length === 2);
    expect(h.messages()[1]).toEqual({ id: 1, result: { account: null, userId: null, requiresOpenaiAuth: true, workspaceRouting: null } });
    await h.stop();
  });
});

describe('AppServer requests to the parent', () => {
  it('numbers them from 0, resolves with the result and rejects with the parent error as a WireError', async () => {
    const h = await harness();
    try {
      const first = h.server.sendRequest('account/chatgptAuthTokens/refresh', { reason: 'unauthorized', previousAccountId: null });
      const second = h.server.sendRequest('account/chatgptAuthTokens/refresh', { reason: 'unauthorized', previousAccountId: 'a' });
      await h.until(() => h.messages().length === 2);
      expect(h.messages().map((m) => m.id)).toEqual([0, 1]);
      h.send({ id: 1, error: { code: -32000, message: 'no tokens' } }, { id: 0, result: { accessToken: 'x' } });
      await expect(first).resolves.toEqual({ accessToken: 'x' });
      const error = await second.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WireError);
      expect(error).toMatchObject({ code: -32000, message: 'no tokens' });
    } finally {
      await h.stop();
    }
  });

  it('forgets an abandoned request and ignores its late answer', async () => {
    const h = await harness();
    try {
      const abort = new AbortController();
      const pending = h.server.sendRequest('x', undefined, { signal: abort.signal });
      abort.abort(new Error('timed out'));
      await expect(pending).rejects.toThrow('timed out');
      h.send({ id: 0, result: 'late' }, h.initialize);
      await h.until(() => h.messages().some((m) => m.id === 0 && 'result' in m && typeof m.result === 'object'));
    } finally {
      await h.stop();
    }
  });

  it('fails pending requests when the parent closes its end', async () => {
    const h = await harness();
    const pending = h.server.sendRequest('x', {});
    h.input.end();
    await expect(pending).rejects.toThrow('closed its end');
    await h.server.closed;
    await h.stop();
  });
});

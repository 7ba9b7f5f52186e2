import { PassThrough } from 'node:stream';
import { classifyMessage, parseErrorMessage } from '../../src/rpc/messages';
import { NdjsonMessageWriter } from '../../src/client/transport';

describe('classifyMessage', () => {
  it.each([
    [{ id: 1, method: 'm' }, 'request'],
    [{ id: 'uuid', method: 'm', params: {} }, 'request'],
    [{ method: 'm' }, 'notification'],
    [{ id: 0, result: null }, 'response'],
    [{ id: 0, error: { code: 1, message: 'x' } }, 'response'],
    [{ id: null, method: 'm' }, 'invalid'],
    [{ id: true, method: 'm' }, 'invalid'],
    [{ method: '' }, 'invalid'],
    [{ id: 1 }, 'invalid'],
    [[], 'invalid'],
    ['text', 'invalid'],
    [null, 'invalid'],
  ])('%j is a %s', (value, kind) => {
    expect(classifyMessage(value).kind).toBe(kind);
  });
});

describe('parseErrorMessage', () => {
  it('keeps the position but never the text of the line', () => {
    let error: unknown;
    try {
      JSON.parse('{"apiKey":"sk-secret" x}');
    } catch (e) {
      error = e;
    }
    const message = parseErrorMessage(error, '{"apiKey":"sk-secret" x}');
    expect(message).not.toContain('sk-secret');
    expect(message).toMatch(/^Parse error: the line is not valid JSON/);
  });
});

describe('NdjsonMessageWriter', () => {
  it('writes one line per message without the jsonrpc member', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const written: unknown[] = [];
    const writer = new NdjsonMessageWriter(out, (m) => written.push(m));
    await writer.write({ jsonrpc: '2.0', id: 1, result: { ok: true } } as never);
    expect(chunks.join('')).toBe('{"id":1,"result":{"ok":true}}\n');
    expect(written).toEqual([{ id: 1, result: { ok: true } }]);
  });

  it('waits for drain when the stream is full', async () => {
    const out = new PassThrough({ highWaterMark: 4 });
    const writer = new NdjsonMessageWriter(out);
    let done = false;
    const pending = writer.write({ jsonrpc: '2.0', id: 1, result: 'x'.repeat(64) } as never).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    out.resume();
    await pending;
    expect(done).toBe(true);
  });
});

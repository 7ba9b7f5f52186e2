import { LineBuffer } from '../../src/rpc/framing';

const lines = (frames: ReturnType<LineBuffer['push']>) => frames.map((f) => (f.kind === 'line' ? f.text : `<overflow ${f.bytes}>`));

describe('LineBuffer', () => {
  it('splits on \\n and strips one trailing \\r', () => {
    const buffer = new LineBuffer();
    expect(lines(buffer.push(Buffer.from('{"a":1}\n{"b":2}\r\n{"c"')))).toEqual(['{"a":1}', '{"b":2}']);
    expect(lines(buffer.push(Buffer.from(':3}\n')))).toEqual(['{"c":3}']);
  });

  it('reassembles a line fed one byte at a time, including a multi-byte UTF-8 character', () => {
    const buffer = new LineBuffer();
    const bytes = Buffer.from('{"name":"Zoë ✓"}\n', 'utf8');
    const out: string[] = [];
    for (const byte of bytes) out.push(...lines(buffer.push(Buffer.from([byte]))));
    expect(out).toEqual(['{"name":"Zoë ✓"}']);
    expect(buffer.pendingBytes).toBe(0);
  });

  it('skips blank and whitespace-only lines', () => {
    expect(lines(new LineBuffer().push(Buffer.from('\n\r\n   \n{}\n')))).toEqual(['{}']);
  });

  it('drops a line over the cap without keeping it, reports its size once, and goes on', () => {
    const buffer = new LineBuffer(8);
    expect(lines(buffer.push(Buffer.from('0123456')))).toEqual([]);
    expect(lines(buffer.push(Buffer.from('789abc')))).toEqual([]);
    expect(buffer.pendingBytes).toBe(0);
    expect(lines(buffer.push(Buffer.from('def\n{"ok":1}\n')))).toEqual(['<overflow 16>', '{"ok":1}']);
  });

  it('accepts a line of exactly the cap', () => {
    expect(lines(new LineBuffer(4).push(Buffer.from('1234\n')))).toEqual(['1234']);
  });

  it('reassembles a line spanning whole chunks, and copies a short unfinished tail so it does not pin its chunk', () => {
    const buffer = new LineBuffer();
    const head = Buffer.from('{"id":1}\n{"pad":"');
    expect(lines(buffer.push(head))).toEqual(['{"id":1}']);
    const middle = Buffer.from('a'.repeat(64));
    expect(lines(buffer.push(middle))).toEqual([]);
    head.fill(0x78); // the tail of `head` was copied (it was the smaller part of its chunk)
    expect(lines(buffer.push(Buffer.from('"}\n')))).toEqual([`{"pad":"${'a'.repeat(64)}"}`]);
    expect(buffer.pendingBytes).toBe(0);
  });

  it('hands each frame of a chunk over as it is cut (pushEach): the frames push() returns, in order', () => {
    const buffer = new LineBuffer(8);
    const seen: string[] = [];
    buffer.pushEach(Buffer.from('{"a":1}\n0123456789\n{"b":2}\n{"c"'), (frame) => seen.push(...lines([frame])));
    expect(seen).toEqual(['{"a":1}', '<overflow 10>', '{"b":2}']);
    expect(lines(buffer.push(Buffer.from(':3}\n')))).toEqual(['{"c":3}']);
  });

  it('yields a last line without a newline at end of input', () => {
    const buffer = new LineBuffer();
    buffer.push(Buffer.from('{"tail":true}'));
    expect(lines(buffer.end())).toEqual(['{"tail":true}']);
    expect(lines(buffer.end())).toEqual([]);
  });
});

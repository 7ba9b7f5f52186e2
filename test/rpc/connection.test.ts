import { PassThrough } from 'node:stream';
import type { Logger } from '../../src/log';
import { Connection } from '../../src/rpc/connection';
import type { RequestMessage } from '../../src/rpc/messages';

/**
 * A connection whose `hang` requests wait until the test settles them and whose `ok` requests answer at
 * once, all running beside each other, on in-memory pipes.
 */
function harness() {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const errors: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn() {}, error: (message: string) => void errors.push(message) };
  const hanging = new Map<unknown, (result: unknown) => void>();
  const connection = new Connection({
    input,
    output,
    logger,
    handler: {
      modeOf: () => 'concurrent',
      handle: (request: RequestMessage) =>
        request.method === 'hang' ? new Promise((resolve) => hanging.set(request.id, resolve)) : Promise.resolve(`answer ${request.id}`),
    },
  });
  connection.listen();
  const messages = () => text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const send = (...requests: Array<[id: number, method: string]>) => input.write(requests.map(([id, method]) => `${JSON.stringify({ id, method })}\n`).join(''));
  const settle = async () => {
    for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
  };
  return { connection, messages, send, settle, hanging, errors };
}

describe('Connection: every request answered once', () => {
  it('answers what is left unanswered in arrival order, even after answered requests left their places to later ones', async () => {
    const h = harness();
    h.send([1, 'hang'], [2, 'ok'], [3, 'hang'], [4, 'ok']);
    await h.settle();
    // 5 and 6 arrive after 2 and 4 were answered, and take the places those left.
    h.send([5, 'hang'], [6, 'hang']);
    await h.settle();
    expect(h.connection.pendingRequests).toBe(4);

    expect(h.connection.answerAbandoned('gave up')).toBe(4);
    await h.settle();
    expect(h.messages()).toEqual([
      { id: 2, result: 'answer 2' },
      { id: 4, result: 'answer 4' },
      ...[1, 3, 5, 6].map((id) => ({ id, error: { code: -32603, message: 'gave up (hang)' } })),
    ]);
    expect(h.connection.pendingRequests).toBe(0);
    expect(h.errors).toEqual([]);
  });

  it('drops and logs a late second answer, also when a newer request holds the place the first one had', async () => {
    const h = harness();
    h.send([1, 'hang']);
    await h.settle();
    h.connection.answerAbandoned('gave up');
    h.send([2, 'hang']);
    await h.settle();
    h.hanging.get(1)?.('too late');
    await h.settle();
    expect(h.errors).toEqual(['dropped a second answer to request 1 (hang)']);
    expect(h.connection.pendingRequests).toBe(1);

    h.hanging.get(2)?.('in time');
    await h.settle();
    expect(h.messages()).toEqual([
      { id: 1, error: { code: -32603, message: 'gave up (hang)' } },
      { id: 2, result: 'in time' },
    ]);
    expect(h.connection.pendingRequests).toBe(0);
  });
});

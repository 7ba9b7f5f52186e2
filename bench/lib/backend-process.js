'use strict';
/**
 * The loopback backend in a process of its own, so that serving 2000 HTTP requests per burst does not
 * run on the bench client's event loop. Controlled over the IPC channel of `fork()`:
 * `{op: 'start'}` → `{baseUrl, socketPath}`; `{op: 'set', validAccessToken?, refreshToken?, nextTokens?}`;
 * `{op: 'counts', reset?}` → the counts. It exits when the bench goes away (IPC disconnect).
 */
const { FakeBackend } = require('./backend');

const backend = new FakeBackend();

process.on('message', async (message) => {
  try {
    let reply = {};
    if (message.op === 'start') reply = { baseUrl: await backend.start(message.socketPath) };
    else if (message.op === 'set') {
      for (const key of ['validAccessToken', 'refreshToken', 'nextTokens']) if (key in message) backend[key] = message[key];
    } else if (message.op === 'counts') {
      reply = { counts: { ...backend.counts } };
      if (message.reset) backend.resetCounts();
    }
    process.send({ id: message.id, ...reply });
  } catch (error) {
    process.send({ id: message.id, error: String(error && error.stack ? error.stack : error) });
  }
});
process.on('disconnect', () => {
  void backend.close().finally(() => process.exit(0));
});

'use strict';
/**
 * Preloaded into the test run and every process it starts (NODE_OPTIONS, set by test/support/globalSetup.js):
 * a host name other than the loopback's is not looked up but answered ENOTFOUND, as on a machine without
 * a network, and recorded in $AUTHCHART_NETWORK_LOG. The tests reach only servers they start on
 * 127.0.0.1; a server left on its default ChatGPT backend (https://chatgpt.com) would otherwise send test
 * tokens to the internet wherever CI has a network, and fail in timings that differ from machine to machine.
 */
const dns = require('node:dns');
const { appendFileSync } = require('node:fs');

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\])$|\.localhost$/i;

function refused(hostname) {
  const log = process.env.AUTHCHART_NETWORK_LOG;
  if (log) {
    try {
      // Inside a Jest worker the test making the call names itself (the sandbox's `expect`).
      const state = globalThis.expect?.getState?.();
      const where = state?.testPath ? `${state.testPath} › ${state.currentTestName}` : `${process.env.AUTHCHART_TEST_WHERE ?? '?'}: ${process.argv.slice(1).join(' ')}`;
      appendFileSync(log, `${JSON.stringify({ hostname, pid: process.pid, where })}\n`);
    } catch {
      // the record is a report; the refusal stands without it
    }
  }
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname });
}

const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, options, callback) {
  if (typeof options === 'function') {
    callback = options;
    options = {};
  }
  if (typeof hostname !== 'string' || LOOPBACK.test(hostname)) return lookup.call(dns, hostname, options, callback);
  const error = refused(hostname);
  process.nextTick(() => callback(error));
  return {};
};

const promisesLookup = dns.promises.lookup;
dns.promises.lookup = function guardedPromisesLookup(hostname, options) {
  if (typeof hostname !== 'string' || LOOPBACK.test(hostname)) return promisesLookup.call(dns.promises, hostname, options);
  return Promise.reject(refused(hostname));
};

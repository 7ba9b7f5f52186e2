'use strict';
/**
 * Runs inside the network namespace of a program whose network is cut off (CODEX_BIN): listens on
 * 127.0.0.1:<port> there and forwards each connection to the bench's loopback backend through a Unix
 * socket, which crosses namespaces. Exits as soon as its parent (the program it was started beside)
 * is gone.
 *
 *   node netns-bridge.js <port> <socket path>
 */
const http = require('node:http');
const net = require('node:net');

const [port, socketPath] = process.argv.slice(2);
const parent = process.ppid;

net
  .createServer((inbound) => {
    const outbound = net.connect(socketPath);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  })
  .listen(Number(port), '127.0.0.1', () => {
    // Tell the backend (and so the bench) that requests from this namespace can now get through.
    http.request({ socketPath, path: '/bridge-ready', method: 'POST' }).on('error', () => {}).end();
  });

setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 200);

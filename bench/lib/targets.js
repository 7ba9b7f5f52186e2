'use strict';
/**
 * The programs under test and how to start them: authchart's own bin with the Node running the bench,
 * and, when CODEX_BIN names one, `codex app-server` with its network cut off (it looks up hosts at
 * start-up), in a fresh network namespace with only loopback up so the loopback backend still works.
 */
const { spawnSync } = require('node:child_process');
const { openSync, readSync, closeSync, realpathSync } = require('node:fs');
const path = require('node:path');

const BIN = path.resolve(__dirname, '../../bin/authchart.js');

/** The environment a server is started with: the bench's own, minus what would change its behaviour. */
function baseEnv(codexHome, extra = {}) {
  const env = { ...process.env, CODEX_HOME: codexHome, ...extra };
  for (const key of Object.keys(env)) {
    if (key.startsWith('CODEX_') && key !== 'CODEX_HOME') delete env[key];
  }
  delete env.AUTHCHART_LOG;
  delete env.NODE_OPTIONS;
  delete env.RUST_LOG;
  return { ...env, ...extra, CODEX_HOME: codexHome };
}

/** authchart's app-server, started as a parent would: `node bin/authchart.js app-server`. */
const authchart = {
  name: 'authchart',
  describe: () => `node ${path.relative(process.cwd(), BIN)} app-server (Node ${process.version})`,
  spawnSpec: (codexHome, extraEnv) => ({
    label: 'authchart',
    command: process.execPath,
    args: [BIN, 'app-server'],
    env: baseEnv(codexHome, extraEnv),
  }),
};

/** True when `file` is a `#!… node` script (e.g. node_modules/.bin/codex), false for a native binary. */
function isNodeLauncher(file) {
  let fd;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(128);
    const bytes = readSync(fd, head, 0, head.length, 0);
    const text = head.subarray(0, bytes).toString('latin1');
    return text.startsWith('#!') && /node/.test(text.split('\n')[0]);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The command prefix that cuts the network off: a new net namespace with loopback up. */
function netnsPrefix() {
  const script = 'ip link set lo up && exec "$@"';
  for (const unshare of [['unshare', '-n'], ['unshare', '-rn']]) {
    const probe = spawnSync(unshare[0], [...unshare.slice(1), 'sh', '-c', script, 'sh', 'true'], { stdio: 'ignore', timeout: 5000 });
    if (probe.status === 0) return [...unshare, 'sh', '-c', script, 'sh'];
  }
  return null;
}

/** The Codex target for `CODEX_BIN`, or `{ error }` when it cannot be run safely. */
function codexTarget(codexBin) {
  let file;
  try {
    file = realpathSync(codexBin);
  } catch (error) {
    return { error: `CODEX_BIN=${codexBin}: ${error.message}` };
  }
  const prefix = netnsPrefix();
  if (!prefix) {
    return { error: 'cannot cut the network off for CODEX_BIN (`unshare -n` and `unshare -rn` both failed); not running it' };
  }
  const version = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const launcher = isNodeLauncher(file);
  return {
    name: 'codex',
    file,
    launcher,
    version: (version.stdout || '').trim() || 'unknown version',
    describe() {
      return `${prefix.slice(0, -4).join(' ')} … ${codexBin} app-server (${this.version}${launcher ? ', Node launcher + native binary' : ', native binary'})`;
    },
    spawnSpec: (codexHome, extraEnv) => ({
      label: 'codex',
      command: prefix[0],
      args: [...prefix.slice(1), file, 'app-server'],
      env: baseEnv(codexHome, extraEnv),
    }),
  };
}

module.exports = { authchart, codexTarget, BIN };

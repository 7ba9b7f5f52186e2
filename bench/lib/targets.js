'use strict';
/**
 * The programs under test and how to start them: authchart's own bin with the Node running the bench,
 * and, when CODEX_BIN names one, `codex app-server` with its network cut off (it looks up hosts at
 * start-up), in a fresh network namespace with only loopback up so the loopback backend still works.
 */
const { spawnSync } = require('node:child_process');
const { openSync, readSync, closeSync, realpathSync } = require('node:fs');
const path = require('node:path');

/** The bin under test: this checkout's, or AUTHCHART_BIN (another build, to compare runs). */
const BIN = path.resolve(process.env.AUTHCHART_BIN || path.join(__dirname, '../../bin/authchart.js'));

/** The environment a server is started with: the bench's own, minus what would change its behaviour. */
function baseEnv(codexHome, extra = {}) {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('CODEX_') || key.startsWith('AUTHCHART_')) delete env[key];
  }
  delete env.NODE_OPTIONS;
  delete env.RUST_LOG;
  return { ...env, ...extra, CODEX_HOME: codexHome };
}

/** authchart's app-server, started as a parent would: `node bin/authchart.js app-server`. */
const authchart = {
  name: 'authchart',
  describe: () => `node ${path.relative(process.cwd(), BIN) || BIN} app-server (Node ${process.version})`,
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

const NETNS_SCRIPT = 'ip link set lo up && exec "$@"';
/** Also starts the bridge to the bench's backend ($1 = port, $2 = Unix socket), in the background. */
const NETNS_BRIDGE_SCRIPT = `ip link set lo up && { "${process.execPath}" "${path.join(__dirname, 'netns-bridge.js')}" "$1" "$2" & } && shift 2 && exec "$@"`;

/** The `unshare` command that gives a program a network namespace of its own (only loopback), or null. */
function unshareCommand() {
  for (const unshare of [['unshare', '-n'], ['unshare', '-rn']]) {
    const probe = spawnSync(unshare[0], [...unshare.slice(1), 'sh', '-c', NETNS_SCRIPT, 'sh', 'true'], { stdio: 'ignore', timeout: 5000 });
    if (probe.status === 0) return unshare;
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
  const unshare = unshareCommand();
  if (!unshare) {
    return { error: 'cannot cut the network off for CODEX_BIN (`unshare -n` and `unshare -rn` both failed); not running it' };
  }
  const version = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const launcher = isNodeLauncher(file);
  return {
    name: 'codex',
    file,
    launcher,
    version: (version.stdout || '').trim() || 'unknown version',
    /** Its loopback is its own: the bench's backend is reached through a bridge (netns-bridge.js). */
    needsBridge: true,
    describe() {
      return `${unshare.join(' ')} (loopback only) ${codexBin} app-server (${this.version}${launcher ? ', Node launcher + native binary' : ', native binary'})`;
    },
    spawnSpec: (codexHome, extraEnv, bridge) => ({
      label: 'codex',
      command: unshare[0],
      args: bridge
        ? [...unshare.slice(1), 'sh', '-c', NETNS_BRIDGE_SCRIPT, 'sh', String(bridge.port), bridge.socketPath, file, 'app-server']
        : [...unshare.slice(1), 'sh', '-c', NETNS_SCRIPT, 'sh', file, 'app-server'],
      env: baseEnv(codexHome, extraEnv),
    }),
  };
}

module.exports = { authchart, codexTarget, BIN };

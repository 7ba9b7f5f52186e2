/**
 * `--inspect` is strictly opt-in: without it the app-server listens on nothing and never loads the
 * inspector's code (HTTP/WebSocket server, Graphviz); with it, it listens on 127.0.0.1 only. Sockets are
 * read from /proc (the process's own socket inodes matched against the LISTEN entries of /proc/net/tcp*),
 * modules from Node's own loader traces (NODE_DEBUG=module,esm: the bin loads the ESM bundle and its
 * chunks; CommonJS packages such as ws go through the CommonJS loader).
 */
import { fileURLToPath } from 'node:url';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { AppServerProcess, type tempCodexHome } from '../support/appServer';
import { inspectorUrl } from '../support/inspector';
import { trackResources } from '../support/resources';

const track = trackResources();

const describeOnLinux = process.platform === 'linux' ? describe : describe.skip;

/** `address:port` of every TCP socket the process is listening on. */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // the fd closed while we looked
    }
  }
  const found: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const [local, , state, , , , , , inode] = fields.slice(1); // sl local rem st tx:rx tr:when retr uid timeout inode
      if (state !== '0A' || !inodes.has(inode)) continue; // 0A = LISTEN
      const [hexAddress, hexPort] = local.split(':');
      const address =
        hexAddress.length === 8
          ? Buffer.from(hexAddress, 'hex').reverse().join('.')
          : hexAddress; // IPv6: shown raw; any entry at all is a failure below
      found.push(`${address}:${parseInt(hexPort, 16)}`);
    }
  }
  return found;
}

/** Module files the CommonJS and ESM loaders loaded, from their NODE_DEBUG=module,esm traces. */
function loadedModules(stderr: string): string[] {
  const commonjs = [...stderr.matchAll(/MODULE \d+: load "([^"]+)"/g)].map((match) => match[1]);
  const esm = [...stderr.matchAll(/ESM \d+: Storing (file:\/\/\S+)/g)].map((match) => fileURLToPath(match[1]));
  return [...commonjs, ...esm];
}

const INSPECTOR_CODE = /\/dist\/(src\/(inspect|visualize)\/|bundle\/chunks\/(inspect|visualize)-)|\/node_modules\/(ws|@viz-js)\//;

function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

describeOnLinux('app-server --inspect is opt-in', () => {
  let home: ReturnType<typeof tempCodexHome>;
  let server: AppServerProcess | undefined;

  beforeEach(() => {
    home = track.home();
  });

  it('without --inspect: nothing listens, no inspector code is loaded, no URL is printed', async () => {
    server = track.process(await AppServerProcess.started({ codexHome: home.dir, env: { NODE_DEBUG: 'module,esm' } }));
    expect((await server.request('account/login/start', { type: 'apiKey', apiKey: 'sk-test-000000' })).result).toEqual({ type: 'apiKey' });
    expect(listeningSockets(server.child.pid!)).toEqual([]);
    const loaded = loadedModules(server.stderr);
    expect(loaded.some((file) => file.endsWith('/dist/bundle/cli.mjs'))).toBe(true); // the trace works
    expect(loaded.filter((file) => INSPECTOR_CODE.test(file))).toEqual([]);
    expect(server.stderr).not.toContain('inspector');
  });

  it('with --inspect: listens on 127.0.0.1 only, at the printed port', async () => {
    server = track.process(AppServerProcess.spawn({ codexHome: home.dir, args: ['--inspect'], env: { NODE_DEBUG: 'module,esm' } }));
    const url = await inspectorUrl(server);
    await server.initialize();
    const port = Number(new URL(url).port);
    expect(port).toBeGreaterThan(0);
    expect(listeningSockets(server.child.pid!)).toEqual([`127.0.0.1:${port}`]);
    expect(loadedModules(server.stderr).some((file) => INSPECTOR_CODE.test(file))).toBe(true);
    expect(await get(url)).toBe(200);
    // A page reached through another host name (DNS rebinding) is refused.
    expect(await get(url, { Host: `evil.example:${port}` })).toBe(421);
  });

  it('--inspect=PORT listens on that port; a bad port is a usage error', async () => {
    const bad = AppServerProcess.spawn({ codexHome: home.dir, args: ['--inspect=http'] });
    expect(await bad.exited).toEqual({ code: 2, signal: null });
    expect(bad.stderr).toContain('invalid --inspect port "http"');

    // Find a free port, then ask for it explicitly.
    server = track.process(AppServerProcess.spawn({ codexHome: home.dir, args: ['--inspect'] }));
    const port = Number(new URL(await inspectorUrl(server)).port);
    server.kill();
    await server.exited;
    server = track.process(AppServerProcess.spawn({ codexHome: home.dir, args: [`--inspect=${port}`] }));
    expect(await inspectorUrl(server)).toBe(`http://127.0.0.1:${port}/`);

    // The same port twice: the second app-server says so and stops.
    const second = AppServerProcess.spawn({ codexHome: home.dir, args: ['--inspect', String(port)] });
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr).toContain(`cannot start the inspector: port 127.0.0.1:${port} is already in use`);
  });
});

/**
 * The spawn path of the bundle (issue 7): what `authchart app-server` reads and runs before it answers
 * `initialize` is dist/bundle/cli.mjs and the chunks it imports statically. Everything else (the auth
 * core with XState, the method catalogue, commander, the TOML parser, the inspector) is a dynamic
 * import, loaded on first use. Checked on the built files, through esbuild's `// <source path>` markers.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AppServerProcess, tempCodexHome } from '../support/appServer';

const BUNDLE = path.resolve(__dirname, '../../dist/bundle');

/** Files reached from `entry` through static `import … from "./…"` statements. */
function staticGraph(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    const text = readFileSync(file, 'utf8');
    files.set(file, text);
    for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s*"(\.[^"]+)"/gm)) visit(path.resolve(path.dirname(file), match[1]));
  };
  visit(entry);
  return files;
}

describe('the spawn path of the bundle', () => {
  const graph = staticGraph(path.join(BUNDLE, 'cli.mjs'));
  const sources = [...graph.values()].join('\n');

  it('reads a handful of small files (~100 KB today)', () => {
    expect(graph.size).toBeLessThanOrEqual(10);
    expect(sources.length).toBeLessThan(150_000);
  });

  it.each([
    ['XState', '// node_modules/xstate/'],
    ['the auth chart', '// machines/auth.machine.ts'],
    ['the auth core', '// src/auth/core.ts'],
    ['the method catalogue', '// src/rpc/methods.ts'],
    ['the account schemas', '// src/rpc/schemas.ts'],
    ['the full zod API', '// node_modules/zod/v4/classic/'],
    ['the inspector', '// src/inspect/'],
    ['the visualizer', '// src/visualize/'],
    ['the keyring store', '// src/auth/keyringStore.ts'],
    ['the keyring calls', '// src/auth/keyringCall.ts'],
  ])('holds no %s', (_what, marker) => {
    expect(sources).not.toContain(marker);
  });

  it.each(['commander', 'smol-toml', 'write-file-atomic', 'proper-lockfile', 'ws', '@viz-js/viz', 'vscode-jsonrpc'])('imports %s only dynamically', (name) => {
    expect(sources).not.toMatch(new RegExp(`from\\s*"${name}"|require\\("${name}"\\)`));
    expect(sources).not.toContain(`// node_modules/${name}/`);
  });

  it('still serves every account method (they load after the handshake)', async () => {
    const home = tempCodexHome();
    const server = await AppServerProcess.started({ codexHome: home.dir, env: { NODE_DEBUG: 'module' } });
    try {
      expect((await server.request('account/read', {})).result).toEqual({ account: null, userId: null, requiresOpenaiAuth: true, workspaceRouting: null });
      // A plain app-server command line never needs commander.
      expect(server.stderr).not.toMatch(/node_modules\/commander\//);
    } finally {
      server.kill();
      home.cleanup();
    }
  });
});

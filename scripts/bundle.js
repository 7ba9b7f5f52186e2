#!/usr/bin/env node
'use strict';
/**
 * Bundles the command line (src/cli.ts) with esbuild into dist/bundle/, which bin/authchart.js loads.
 *
 * A parent spawns the app-server for every window or session, so what its spawn path loads is what
 * users wait for. The bundle is ESM with code splitting: the entry file holds only what the handshake
 * needs, and every dynamic `import()` in src/ (the method catalogue and the auth core, the TOML parser,
 * commander, write-file-atomic, the inspector, the browser-login server…) becomes a chunk of its own,
 * read and compiled only when first used. (esbuild splits only ESM output; a CJS bundle would carry all
 * of them in one file for V8 to parse at every start.)
 *
 * Only the ESM packages the server needs on every start are bundled (zod on the spawn path, xstate in
 * the core's chunk). Every other dependency stays external and is loaded from node_modules with Node's
 * own module semantics the first time it is used: CommonJS packages bundled into ESM lose `__filename`,
 * `__dirname` and `require` (write-file-atomic, for one, reads `__filename`), and those packages are
 * loaded rarely anyway; the build fails if a CommonJS module ends up in the bundle.
 *
 *   node scripts/bundle.js [--metafile]   (run by `npm run build`, hence by `npm ci`'s prepare)
 */
const esbuild = require('esbuild');
const { rmSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'bundle');
/** Dependencies compiled into the bundle; every other one is external. */
const BUNDLED = new Set(['zod', 'xstate']);

async function main() {
  rmSync(OUT, { recursive: true, force: true });
  const { dependencies = {} } = require(path.join(ROOT, 'package.json'));
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { cli: 'src/cli.ts' },
    outdir: OUT,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    splitting: true,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: 'linked',
    external: Object.keys(dependencies).filter((name) => !BUNDLED.has(name)),
    // Not minified: the spawn path reads ~65 KB either way (minifying saves well under a millisecond),
    // and readable code keeps stack traces and `npm run bench:startup`'s line-level profile useful.
    metafile: true,
    logLevel: 'warning',
  });
  const commonjs = Object.entries(result.metafile.inputs).filter(([, input]) => input.format === 'cjs').map(([file]) => file);
  if (commonjs.length > 0) {
    throw new Error(`CommonJS modules must stay external (remove their package from BUNDLED): ${commonjs.join(', ')}`);
  }
  if (process.argv.includes('--metafile')) writeFileSync(path.join(OUT, 'meta.json'), JSON.stringify(result.metafile));
  const sizes = Object.entries(result.metafile.outputs)
    .filter(([file]) => !file.endsWith('.map'))
    .map(([file, output]) => `${path.relative(ROOT, path.resolve(ROOT, file))} ${(output.bytes / 1024).toFixed(0)} KiB`);
  process.stdout.write(`bundle: ${sizes.join(', ')}\n`);
}

main().catch((error) => {
  process.stderr.write(`bundle: ${error.stack ?? error}\n`);
  process.exit(1);
});

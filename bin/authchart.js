#!/usr/bin/env node
'use strict';
// Loads the bundled command line (dist/bundle/, built by `npm run build`, which `npm ci` runs): a parent
// spawns the app-server per window or session, and the bundle's entry holds only what the handshake
// needs (see scripts/bundle.js).
import('../dist/bundle/cli.mjs').then(
  (cli) =>
    cli.main(process.argv.slice(2)).then((code) => {
      // Exit once stdout has flushed (pipes are asynchronous), without waiting on stray handles.
      process.stdout.write('', () => process.exit(code));
    }),
  (error) => {
    process.stderr.write(`authchart: cannot load dist/bundle/cli.mjs (run \`npm run build\`): ${error.message}\n`);
    process.exit(1);
  },
);

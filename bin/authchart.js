#!/usr/bin/env node
'use strict';
require('../dist/src/cli.js')
  .main(process.argv.slice(2))
  .then((code) => {
    // Exit once stdout has flushed (pipes are asynchronous), without waiting on stray handles.
    process.stdout.write('', () => process.exit(code));
  });

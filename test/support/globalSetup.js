'use strict';
/**
 * Jest global setup: every process of the run (Jest's workers, and each app-server, CLI and helper they
 * spawn, which inherit the environment) preloads test/support/noNetwork.js. Refused look-ups are listed by
 * test/support/summaryReporter.js at the end of the run.
 */
const { mkdtempSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

module.exports = async () => {
  const preload = path.join(__dirname, 'noNetwork.js');
  const flag = `--require ${JSON.stringify(preload)}`;
  const current = process.env.NODE_OPTIONS ?? '';
  if (!current.includes(preload)) process.env.NODE_OPTIONS = `${current} ${flag}`.trim();
  process.env.AUTHCHART_NETWORK_LOG ??= path.join(mkdtempSync(path.join(os.tmpdir(), 'authchart-network-')), 'refused.jsonl');
};

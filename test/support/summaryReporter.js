/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, that any CI can read
 * without knowing Jest's own summary format; before it, the host names the run tried to reach beyond
 * 127.0.0.1 (refused by test/support/noNetwork.js), if any.
 */
const { readFileSync } = require('node:fs');

function refusedLookups() {
  const log = process.env.AUTHCHART_NETWORK_LOG;
  if (!log) return [];
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  } catch {
    return [];
  }
}

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const refused = refusedLookups();
    if (refused.length > 0) {
      const hosts = [...new Set(refused.map((r) => r.hostname))].join(', ');
      process.stdout.write(`\nnetwork: ${refused.length} look-ups beyond 127.0.0.1 refused (${hosts}); see ${process.env.AUTHCHART_NETWORK_LOG}\n`);
    }
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`);
  }
}

module.exports = SummaryReporter;

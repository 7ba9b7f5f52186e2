/** Jest: TypeScript through SWC (type checking is `npm run typecheck`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Dynamic imports name compiled files (`./x.js`, as Node needs at run time); in tests they are the .ts sources.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 30000,
  // The e2e suites spawn real processes; two cores, two workers.
  maxWorkers: 2,
  // The model-based suites leave a worker holding ~0.8 GB of heap; tearing such a process down took longer
  // than Jest's 500 ms grace ("A worker process has failed to exit gracefully"). No handle stays open
  // (checked per test file): recycling a worker whose heap has grown past this after a test file keeps
  // the workers that end the run small.
  workerIdleMemoryLimit: '512MB',
  // No test reaches beyond 127.0.0.1: every process of the run refuses other host names (noNetwork.js).
  globalSetup: '<rootDir>/test/support/globalSetup.js',
  setupFiles: ['<rootDir>/test/support/noNetwork.js'],
  reporters: ['default', '<rootDir>/test/support/summaryReporter.js'],
};

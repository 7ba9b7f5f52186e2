/**
 * Jest for the hardening campaigns (`npm run test:hardening`, issue 11): long runs over the real bin,
 * kept out of `npm test`. One campaign at a time: each spawns many processes of its own.
 * Sizes: CI sizes by default, full sizes with AUTHCHART_HARDENING=full.
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: ['**/test/hardening/*.hardening.ts'],
  testTimeout: 20 * 60 * 1000,
  maxWorkers: 1,
};

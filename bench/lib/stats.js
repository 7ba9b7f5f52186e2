'use strict';
/**
 * Order statistics over recorded samples (milliseconds). Percentiles use the nearest-rank method, so a
 * p99 of 1000 samples is the 990th smallest: a value that was actually observed.
 */

/** The p-th percentile (0 < p ≤ 100) of `samples` by nearest rank; NaN when there are none. */
function percentile(samples, p) {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** Median, p99, min and max of `samples`. */
function summarize(samples) {
  if (samples.length === 0) return { n: 0, median: NaN, p99: NaN, min: NaN, max: NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (p) => sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1];
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { n: sorted.length, median, p99: at(99), min: sorted[0], max: sorted[sorted.length - 1] };
}

/** The median of plain numbers. */
function median(values) {
  return summarize(values).median;
}

/** Milliseconds elapsed since an `process.hrtime.bigint()` reading. */
function msSince(start) {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

module.exports = { percentile, summarize, median, msSince };

'use strict';
/**
 * The bench table: one row per figure, one column per target, the authchart/codex ratio when Codex
 * ran, and the budget of issue 7 with ✓/✗ for authchart.
 */

const fmt = (value, digits) => (value === undefined || value === null || Number.isNaN(value) ? '–' : Number(value).toFixed(digits));

function rows(results) {
  const a = results.targets.authchart;
  const get = (name, pick) => {
    const target = results.targets[name];
    try {
      return target ? pick(target) : undefined;
    } catch {
      return undefined;
    }
  };
  const refreshCell = (key, field) => (t) => (t[key]?.supported === false ? 'n/a' : t[key]?.[field]);
  const budget = results.budget;
  const list = [
    { label: 'cold start → initialize, median (ms)', pick: (t) => t.startup.median, digits: 1, budget: `≤ ${budget.startupMedianMs}`, ok: (v) => v <= budget.startupMedianMs },
    { label: '  min / max (ms)', pick: (t) => `${fmt(t.startup.min, 1)} / ${fmt(t.startup.max, 1)}`, text: true },
    { label: '  peak RSS after initialize (MiB)', pick: (t) => t.startup.idle?.peakRssMiB, digits: 1 },
    { label: 'cold start → account/read pipelined behind it (ms)', pick: (t) => t.startup.firstRead.median, digits: 1 },
    { label: 'peak RSS after 10 000 calls (MiB)', pick: (t) => t.steady.rss.peakRssMiB, digits: 1, budget: `≤ ${budget.peakRssMiB}`, ok: (v) => v <= budget.peakRssMiB },
    { label: 'sequential account/read, median (ms)', pick: (t) => t.steady.sequential.median, digits: 3, budget: `≤ ${budget.sequentialMedianMs}`, ok: (v) => v <= budget.sequentialMedianMs },
    { label: 'sequential account/read, p99 (ms)', pick: (t) => t.steady.sequential.p99, digits: 3 },
    { label: '100 in flight: account/read per second', pick: (t) => t.steady.concurrent.reqPerSec, digits: 0, budget: `≥ ${budget.reqPerSec}`, ok: (v) => v >= budget.reqPerSec, higherIsBetter: true },
    { label: '100 in flight: p99 (ms)', pick: (t) => t.steady.concurrent.p99, digits: 2 },
    { label: 'external: calls per burst (all concurrent)', pick: refreshCell('externalRefresh', 'calls'), digits: 0, noRatio: true },
    { label: 'external: refresh requests per burst of 401s', pick: refreshCell('externalRefresh', 'refreshesPerBurst'), list: true, budget: '= 1', ok: (v) => Array.isArray(v) && v.every((n) => n === 1) },
    { label: 'external: burst without 401, median (ms)', pick: refreshCell('externalRefresh', 'baselineMs'), digits: 1 },
    { label: 'external: burst meeting 401s, median (ms)', pick: refreshCell('externalRefresh', 'with401Ms'), digits: 1, budget: '≤ (no-401 + RTT)×1.2', ok: () => a.externalRefresh?.withinBudget === true },
    { label: 'external: failed calls', pick: refreshCell('externalRefresh', 'errors'), digits: 0, noRatio: true, budget: '= 0', ok: (v) => v === 0 },
    { label: 'managed: calls per burst (all concurrent)', pick: refreshCell('managedRefresh', 'calls'), digits: 0, noRatio: true },
    { label: 'managed: token POSTs per burst of 401s', pick: refreshCell('managedRefresh', 'refreshesPerBurst'), list: true, budget: '= 1', ok: (v) => Array.isArray(v) && v.every((n) => n === 1) },
    { label: 'managed: burst without 401, median (ms)', pick: refreshCell('managedRefresh', 'baselineMs'), digits: 1 },
    { label: 'managed: burst meeting 401s, median (ms)', pick: refreshCell('managedRefresh', 'with401Ms'), digits: 1 },
    { label: 'managed: failed calls', pick: refreshCell('managedRefresh', 'errors'), digits: 0, noRatio: true, budget: '= 0', ok: (v) => v === 0 },
  ];
  return list.map((row) => ({ ...row, values: Object.keys(results.targets).map((name) => get(name, row.pick)) }));
}

function cell(row, value) {
  if (value === undefined) return '–';
  if (value === 'n/a') return 'n/a';
  if (row.text) return value;
  if (row.list) return Array.isArray(value) ? value.join(' ') : String(value);
  return fmt(value, row.digits);
}

/** The table as text. */
function table(results) {
  const names = Object.keys(results.targets);
  const header = ['figure', ...names, ...(names.length > 1 ? ['ratio'] : []), 'budget', ''];
  const lines = [header];
  for (const row of rows(results)) {
    const [mine, theirs] = row.values;
    const ratio =
      names.length > 1 && typeof mine === 'number' && typeof theirs === 'number' && theirs !== 0 && !row.list && !row.noRatio ? `${(mine / theirs).toFixed(2)}×` : names.length > 1 ? '' : null;
    const verdict = row.ok && mine !== undefined && mine !== 'n/a' ? (row.ok(mine) ? '✓' : '✗') : '';
    lines.push([row.label, ...row.values.map((v) => cell(row, v)), ...(ratio === null ? [] : [ratio]), row.budget ?? '', verdict]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  const render = (l) => l.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd();
  const out = [render(lines[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(render)];
  const m = results.machine;
  out.push('');
  out.push(`Node ${m.node}, ${m.platform}, ${m.cpus} CPU(s) ${m.cpuModel ?? ''}; load average ${m.loadAverageAtStart.map((x) => x.toFixed(2)).join(' ')} at start, ${m.loadAverageAtEnd.map((x) => x.toFixed(2)).join(' ')} at end.`);
  for (const name of names) {
    const t = results.targets[name];
    out.push(`${name}: ${t.command}`);
    for (const key of ['externalRefresh', 'managedRefresh']) {
      if (t[key]?.supported === false) out.push(`  ${key}: not measured: ${t[key].reason}`);
      else if (t[key]?.firstError) out.push(`  ${key}: first error: ${JSON.stringify(t[key].firstError)}`);
    }
    const others = t.steady?.rss.others ?? [];
    if (others.length > 0) out.push(`  peak RSS is the serving process (${t.steady.rss.serverComm}); also running: ${others.map((o) => `${o.comm} ${fmt(o.peakRssMiB, 1)} MiB`).join(', ')}`);
  }
  if (results.codexNote) out.push(`codex: ${results.codexNote}`);
  out.push('Ratio = authchart / codex. RTT = one parent round trip (the sequential account/read median).');
  return out.join('\n');
}

module.exports = { table };

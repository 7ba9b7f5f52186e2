/**
 * What the hardening campaigns share: their size (CI by default, full with AUTHCHART_HARDENING=full),
 * a figures printer (stderr, so jest shows it without a console stack), and a peak-RSS reader.
 */
import { readFileSync } from 'node:fs';

/** True when the campaigns run at their full sizes (`AUTHCHART_HARDENING=full`). */
export const FULL = process.env.AUTHCHART_HARDENING === 'full';

/** A campaign size: `ci` by default, `full` under AUTHCHART_HARDENING=full, or AUTHCHART_HARDENING_<NAME>=n. */
export function size(name: string, ci: number, full: number): number {
  const override = Number(process.env[`AUTHCHART_HARDENING_${name.toUpperCase()}`]);
  if (Number.isInteger(override) && override > 0) return override;
  return FULL ? full : ci;
}

/** Prints a campaign's figures as one block on stderr. */
export function printFigures(campaign: string, figures: Record<string, unknown>): void {
  const lines = Object.entries(figures).map(([key, value]) => `  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  process.stderr.write(`\n[hardening] ${campaign}${FULL ? ' (full size)' : ' (CI size)'}\n${lines.join('\n')}\n`);
}

/** Peak resident set of a live process in MiB (VmHWM of /proc/<pid>/status), or null off Linux. */
export function peakRssMiB(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

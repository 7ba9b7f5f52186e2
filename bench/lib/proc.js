'use strict';
/**
 * What /proc says about a process tree: peak resident memory (VmHWM) and descendants. A launcher such as
 * `node_modules/.bin/codex` (a Node script that spawns the native binary) or the `unshare` wrapper leaves
 * the real server deeper in the tree, so the figures name the process that serves, not its parent.
 */
const { readFileSync } = require('node:fs');

/** Direct children of `pid` (Linux ≥ 3.5 with CONFIG_PROC_CHILDREN), or [] when unknown. */
function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** `pid` and every descendant, parents first. */
function processTree(pid) {
  const out = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift();
    out.push(next);
    queue.push(...childrenOf(next));
  }
  return out;
}

/** A field of /proc/<pid>/status in MiB (VmHWM, VmRSS), or null when the process is gone. */
function statusMiB(pid, field) {
  try {
    const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The command name of a process (`/proc/<pid>/comm`). */
function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/**
 * Peak RSS of the serving process: the deepest process of the tree (the one a launcher or wrapper
 * exec'd or spawned last), plus the peaks of the others for the record.
 */
function peakRss(rootPid) {
  const tree = processTree(rootPid);
  const server = tree[tree.length - 1];
  return {
    serverPid: server,
    serverComm: commOf(server),
    peakRssMiB: statusMiB(server, 'VmHWM'),
    rssMiB: statusMiB(server, 'VmRSS'),
    others: tree.slice(0, -1).map((pid) => ({ pid, comm: commOf(pid), peakRssMiB: statusMiB(pid, 'VmHWM') })),
  };
}

module.exports = { processTree, peakRss, statusMiB };

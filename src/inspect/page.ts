/**
 * The inspector page: one self-contained HTML document (inline CSS and JS, the chart's SVG inlined),
 * no external request of any kind. The script opens a WebSocket to the server that served it, and on
 * each message highlights the active states in the SVG, writes the state text into `#active-state`,
 * prepends a row to `#event-log` (with the JSON-RPC id of the request behind the event) and shows the
 * (already redacted) context. Text from the chart is only ever set with `textContent`, never parsed
 * as HTML.
 *
 * The chart is shown at its actual size (labels as large as the SVG draws them), in a scrolling box
 * that keeps the page's height and brings the state just entered into view; "fit to width" shows the
 * whole chart at once. Before the parent's `initialize` the chart has not started: the page says so.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: light; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --hot: #b45309; --hot-bg: #fde68a; --bad: #b91c1c; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); background: #f9fafb; }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 16px; background: #111827; color: #f9fafb; position: sticky; top: 0; z-index: 1; }
header h1 { font-size: 15px; margin: 0; font-weight: 600; }
header .label { color: #9ca3af; }
#active-state { font: 600 14px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #fde68a; }
#active-state[data-status="waiting"], #active-state[data-status="connecting"] { font-weight: 400; font-family: inherit; color: #d1d5db; }
#connection { margin-left: auto; font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #374151; }
#connection[data-status="live"] { background: #065f46; }
#connection[data-status="closed"] { background: #7f1d1d; }
main { display: grid; grid-template-columns: minmax(0, 1fr); grid-template-areas: "chart" "context" "log"; gap: 12px; padding: 12px 16px; }
#chart-section { grid-area: chart; } #log-section { grid-area: log; } #context-section { grid-area: context; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
section h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 8px; }
#chart { overflow: auto; max-height: calc(100vh - 120px); }
#chart svg { display: block; margin: 0 auto; }
#chart.fit svg { max-width: 100%; height: auto; }
section h2 button { float: right; font: inherit; text-transform: none; letter-spacing: 0; color: var(--ink); background: #f3f4f6; border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; cursor: pointer; }
#chart g.node.active > path, #chart g.node.active > polygon, #chart g.node.active > ellipse { fill: var(--hot-bg); stroke: var(--hot); stroke-width: 2px; }
#chart g.node.active text { fill: #78350f; }
#chart g.cluster.active > path, #chart g.cluster.active > polygon { stroke: var(--hot); stroke-width: 2px; }
#chart g.edge.taken > path { stroke: var(--hot); stroke-width: 2.5px; }
#chart g.edge.taken > polygon { fill: var(--hot); stroke: var(--hot); }
#chart g.edge.taken text { fill: var(--hot); font-weight: 600; }
#context { margin: 0; font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; column-width: 280px; column-gap: 24px; }
table { width: 100%; border-collapse: collapse; font-size: 12px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; }
td.mono, td .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
tr.refused td.outcome { color: var(--bad); }
tr.changed td.after { font-weight: 600; }
td { overflow-wrap: anywhere; }
td.nowrap { white-space: nowrap; overflow-wrap: normal; }
td.outcome { min-width: 160px; }
td.fields { color: var(--muted); min-width: 160px; }
`;

const SCRIPT = `
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var MAX_ROWS = 500;

  function setConnection(status, text) {
    var el = $('connection');
    el.dataset.status = status;
    el.textContent = text;
  }

  function highlight(active) {
    document.querySelectorAll('#chart .active').forEach(function (el) { el.classList.remove('active'); });
    active.forEach(function (id) {
      ['state:', 'title:'].forEach(function (prefix) {
        var el = document.getElementById(prefix + id);
        if (el) el.classList.add('active');
      });
    });
  }

  function markTaken(transitions) {
    document.querySelectorAll('#chart .taken').forEach(function (el) { el.classList.remove('taken'); });
    var prefixes = transitions.filter(function (t) { return t.key; }).map(function (t) { return 'edge:' + t.key + ':'; });
    if (prefixes.length === 0) return;
    document.querySelectorAll('#chart g.edge').forEach(function (el) {
      if (prefixes.some(function (p) { return el.id.indexOf(p) === 0; })) el.classList.add('taken');
    });
  }

  function showState(state) {
    if (!state) return;
    if (!sizeChosen) setFit(false);
    $('active-state').textContent = state.text;
    $('active-state').dataset.status = state.status;
    highlight(state.active);
    $('context').textContent = JSON.stringify(state.context, null, 2);
  }

  // Until the user picks a size, the chart is fitted while nothing is active (an overview) and shown at
  // its actual size once the chart runs.
  var sizeChosen = false;
  function setFit(fit) {
    $('chart').classList.toggle('fit', fit);
    $('chart-size').textContent = fit ? 'actual size' : 'fit to width';
  }

  function showWaiting() {
    $('active-state').textContent = 'waiting for the handshake: the chart starts when the parent sends initialize';
    $('active-state').dataset.status = 'waiting';
    if (!sizeChosen) setFit(true);
  }

  // Scrolls the chart box (never the page) so that the deepest active state under \`prefix\` is in view.
  function reveal(active, prefix) {
    var chart = $('chart');
    if (chart.classList.contains('fit')) return;
    var deepest = null;
    active.forEach(function (id) {
      if ((id === prefix || id.indexOf(prefix + '.') === 0) && (!deepest || id.length > deepest.length)) deepest = id;
    });
    var el = deepest && (document.getElementById('state:' + deepest) || document.getElementById('title:' + deepest));
    if (!el) return;
    var box = chart.getBoundingClientRect();
    var r = el.getBoundingClientRect();
    if (r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom) return;
    chart.scrollLeft += r.left + r.width / 2 - (box.left + box.width / 2);
    chart.scrollTop += r.top + r.height / 2 - (box.top + box.height / 2);
  }

  function revealStep(step, state) {
    var targets = [];
    step.transitions.forEach(function (t) { targets = targets.concat(t.targets); });
    // The background workspace region moves beside the others: show it only when nothing else moved.
    var others = targets.filter(function (id) { return id.indexOf('auth.workspace') !== 0; });
    if (others.length) targets = others;
    if (targets.length) reveal(state.active, targets[targets.length - 1]);
  }

  function cell(row, text, className) {
    var td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  var ROOT = document.body.dataset.chart + '.';
  function shortId(id) { return id.indexOf(ROOT) === 0 ? id.slice(ROOT.length) : id; }

  function outcome(step) {
    if (step.refused) {
      var by = step.refused.guard ? 'refused by [' + step.refused.guard + ']' : 'refused (no guard)';
      return by + ': ' + step.refused.message;
    }
    if (step.transitions.length === 0) return 'ignored: no transition';
    var targets = [];
    step.transitions.forEach(function (t) {
      t.targets.forEach(function (id) { if (targets.indexOf(shortId(id)) === -1) targets.push(shortId(id)); });
    });
    var guard = step.guard ? '[' + step.guard + '] ' : '';
    return guard + (targets.length ? '→ ' + targets.join(', ') : 'handled in place');
  }

  function addStep(step) {
    var row = document.createElement('tr');
    row.dataset.seq = String(step.seq);
    row.dataset.event = step.event.type;
    row.dataset.before = step.before === null ? '' : step.before;
    row.dataset.after = step.after;
    row.dataset.guard = step.guard || '';
    if (step.refused) row.classList.add('refused');
    if (step.before !== step.after) row.classList.add('changed');
    cell(row, String(step.seq), 'nowrap');
    cell(row, step.at.slice(11, 23), 'mono nowrap');
    cell(row, step.event.type, 'mono nowrap event');
    cell(row, step.event.rpcId === null || step.event.rpcId === undefined ? '' : JSON.stringify(step.event.rpcId), 'mono nowrap rpc-id');
    cell(row, step.before === null ? '—' : step.before, 'mono nowrap before');
    cell(row, step.after, 'mono nowrap after');
    cell(row, outcome(step), 'outcome');
    var fields = Object.keys(step.event.fields).length ? JSON.stringify(step.event.fields) : '';
    var emitted = step.emitted.length ? ' → ' + step.emitted.join(', ') : '';
    cell(row, fields + emitted, 'fields mono');
    var body = $('event-log').tBodies[0];
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
    markTaken(step.transitions);
  }

  $('chart-size').addEventListener('click', function () {
    sizeChosen = true;
    setFit(!$('chart').classList.contains('fit'));
  });

  var retry = 500;
  function connect() {
    var socket = new WebSocket('ws://' + location.host + '/ws');
    socket.onopen = function () { retry = 500; setConnection('live', 'live'); };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.kind === 'hello') {
        $('event-log').tBodies[0].textContent = '';
        data.steps.forEach(addStep);
        if (data.state) {
          showState(data.state);
          reveal(data.state.active, data.chart);
        } else {
          showWaiting();
        }
      } else if (data.kind === 'step') {
        addStep(data.step);
        showState(data.state);
        revealStep(data.step, data.state);
      }
    };
    socket.onclose = function () {
      setConnection('closed', 'disconnected, retrying');
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 5000);
    };
  }
  connect();
})();
`;

/** The Content-Security-Policy of the page: its own script only, and a WebSocket back to where it came from. */
export function pageSecurityPolicy(port: number): string {
  const scriptHash = createHash('sha256').update(SCRIPT).digest('base64');
  return [
    "default-src 'none'",
    `script-src 'sha256-${scriptHash}'`,
    "style-src 'unsafe-inline'",
    `connect-src ws://127.0.0.1:${port} ws://localhost:${port}`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The page for a chart: `svg` is Graphviz's SVG document (its XML prolog is dropped). */
export function inspectorPage(options: { chartId: string; svg: string }): string {
  const svg = options.svg.slice(Math.max(0, options.svg.indexOf('<svg')));
  const title = `authchart inspector: ${escapeHtml(options.chartId)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body data-chart="${escapeHtml(options.chartId)}">
<header>
  <h1>${title}</h1>
  <span class="label">state</span>
  <code id="active-state" data-status="connecting">connecting…</code>
  <span id="connection" data-status="connecting">connecting</span>
</header>
<main>
  <section id="chart-section"><h2>Statechart <button id="chart-size" type="button">fit to width</button></h2><div id="chart">${svg}</div></section>
  <section id="log-section">
    <h2>Events, newest first</h2>
    <table id="event-log">
      <thead><tr><th>#</th><th>time</th><th>event</th><th title="the JSON-RPC id of the request the parent sent">request id</th><th>before</th><th>after</th><th>outcome</th><th>fields (redacted) → emitted</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="context-section"><h2>Context (redacted)</h2><pre id="context"></pre></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/**
 * Chart model → Graphviz DOT. A state with children is a cluster whose first node is its title (the
 * handle its own transitions start from); regions of a parallel state are dashed clusters; targetless
 * transitions (refusals, self-answers) and invoked actors are written inside their state, UML style.
 * Readable at 100 %: the regions of a parallel state are stacked top to bottom (side by side they
 * made a picture three times as wide as high, which a page can only show at a few pixels a letter),
 * each edge label is tied to its edge by a thin line (`decorate`: Graphviz places labels of edges that
 * cross cluster borders far from the arrow), and a leaf that leaves only through a parent's
 * transitions says so inside it (`exits via mode: …`).
 * Every state and edge carries an `id` the SVG keeps (`state:<state node id>`, `title:<id>`,
 * `edge:<transition key>:<target index>`), so the inspector can highlight what is active.
 * Deterministic: definition order throughout, no timestamps.
 */
import { edgeLabel, inheritedExitLines, innerLines, stateTitle } from './labels';
import { allNodes, svgEdgeIdPrefix, svgStateId, type ChartModel, type ChartNode } from './model';

const FONT = 'Helvetica';
const INK = '#4b5563';

/** A DOT double-quoted string. */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Text escaped for a Graphviz HTML-like label. */
function html(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The HTML-like label of a state: its title in bold, then what happens inside it, left-aligned. */
function stateLabel(node: ChartNode, inheritedExits?: string): string {
  const suffix = node.type === 'parallel' ? ' <FONT POINT-SIZE="9">(parallel)</FONT>' : '';
  const lines = innerLines(node, inheritedExits);
  const body = lines.map((line) => (line === inheritedExits ? `<I>${html(line)}</I>` : html(line)) + '<BR ALIGN="LEFT"/>').join('');
  return `<<B>${html(stateTitle(node))}</B>${suffix}${body ? `<BR/><FONT POINT-SIZE="9">${body}</FONT>` : ''}>`;
}

function attributes(attrs: Record<string, string>): string {
  return Object.entries(attrs)
    .map(([key, value]) => `${key}=${value.startsWith('<') ? value : quote(value)}`)
    .join(', ');
}

/** Writes the chart as a DOT digraph. */
export function toDot(model: ChartModel): string {
  const nodes = new Map(allNodes(model).map((node) => [node.id, node]));
  const parentOf = new Map<string, string>();
  for (const node of nodes.values()) for (const child of node.children) parentOf.set(child.id, node.id);
  const isCluster = (id: string) => (nodes.get(id)?.children.length ?? 0) > 0;
  const within = (id: string, ancestor: string): boolean => {
    for (let at: string | undefined = id; at !== undefined; at = parentOf.get(at)) if (at === ancestor) return true;
    return false;
  };

  const inherited = inheritedExitLines(model);
  const lines: string[] = [
    `digraph ${quote(model.id)} {`,
    `  // Generated from the machine definition by \`authchart visualize\`. Do not edit.`,
    `  graph [${attributes({ compound: 'true', rankdir: 'TB', newrank: 'true', fontname: FONT, fontsize: '11', nodesep: '0.3', ranksep: '0.4', pad: '0.2', id: 'statechart' })}];`,
    `  node [${attributes({ fontname: FONT, fontsize: '11', shape: 'box', style: 'rounded,filled', fillcolor: '#ffffff', color: INK, margin: '0.12,0.05' })}];`,
    `  edge [${attributes({ fontname: FONT, fontsize: '9', color: INK, fontcolor: '#1f2937', arrowsize: '0.7', decorate: 'true' })}];`,
  ];

  const writeNode = (node: ChartNode, indent: string, region: boolean) => {
    if (node.children.length === 0) {
      const shape: Record<string, string> =
        node.type === 'history'
          ? { shape: 'circle', width: '0.3', fixedsize: 'true', fontsize: '9' }
          : node.type === 'final'
            ? { peripheries: '2' }
            : {};
      lines.push(`${indent}${quote(node.id)} [${attributes({ id: svgStateId(node.id), label: stateLabel(node, inherited.get(node.id)), ...shape })}];`);
      return;
    }
    lines.push(`${indent}subgraph ${quote(`cluster_${node.id}`)} {`);
    const inner = `${indent}  `;
    lines.push(
      `${inner}graph [${attributes({ id: svgStateId(node.id), label: '', style: region ? 'rounded,dashed' : 'rounded', color: INK, penwidth: '1' })}];`,
    );
    lines.push(`${inner}${quote(node.id)} [${attributes({ id: `title:${node.id}`, label: stateLabel(node), shape: 'plaintext', style: 'solid' })}];`);
    if (node.type === 'compound') {
      const start = `${node.id}:initial`;
      lines.push(`${inner}${quote(start)} [${attributes({ id: `initial:${node.id}`, label: '', shape: 'point', width: '0.12', fillcolor: INK })}];`);
      lines.push(`${inner}${quote(node.id)} -> ${quote(start)} [style="invis"];`);
      for (const target of node.initial) {
        const head: Record<string, string> = isCluster(target) ? { lhead: `cluster_${target}` } : {};
        lines.push(`${inner}${quote(start)} -> ${quote(target)} [${attributes({ id: `initial-edge:${node.id}`, ...head })}];`);
      }
    }
    // Keep the title on top of its cluster: every child ranks below it (weight 0: no pull on the layout).
    for (const child of node.children) lines.push(`${inner}${quote(node.id)} -> ${quote(child.id)} [style="invis", weight="0"];`);
    for (const child of node.children) writeNode(child, inner, node.type === 'parallel');
    lines.push(`${indent}}`);
  };
  writeNode(model.root, '  ', false);

  // Stack the regions of each parallel state: every leaf of a region ranks above the next region's top.
  const leavesOf = (node: ChartNode): ChartNode[] => (node.children.length === 0 ? [node] : node.children.flatMap(leavesOf));
  for (const node of nodes.values()) {
    if (node.type !== 'parallel') continue;
    node.children.slice(1).forEach((next, index) => {
      for (const leaf of leavesOf(node.children[index])) lines.push(`  ${quote(leaf.id)} -> ${quote(next.id)} [style="invis", weight="0"];`);
    });
  }

  for (const node of nodes.values()) {
    for (const transition of node.transitions) {
      transition.targets.forEach((target, index) => {
        const attrs: Record<string, string> = { id: `${svgEdgeIdPrefix(transition.key)}:${index}`, label: edgeLabel(transition) };
        if (isCluster(transition.source) && !within(target, transition.source)) attrs.ltail = `cluster_${transition.source}`;
        if (isCluster(target) && !within(transition.source, target)) attrs.lhead = `cluster_${target}`;
        lines.push(`  ${quote(transition.source)} -> ${quote(target)} [${attributes(attrs)}];`);
      });
    }
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/**
 * Chart model → Mermaid `stateDiagram-v2` text. Nested states are composite states, the regions of a
 * parallel state are separated by `--`, edges say `trigger [guard]`, and what happens inside a state
 * (invoked actors, targetless transitions such as refusals) is written as the state's description.
 * Deterministic: definition order throughout, no timestamps.
 */
import { edgeLabel, inheritedExitLines, innerLines, stateTitle } from './labels';
import { allNodes, type ChartModel, type ChartNode } from './model';

/** Mermaid ids are global to a diagram: one per state node id, made of safe characters, never reused. */
function mermaidIds(model: ChartModel): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const node of allNodes(model)) {
    const base = node.id.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'state';
    let id = /^[A-Za-z]/.test(base) ? base : `s_${base}`;
    for (let n = 2; used.has(id); n += 1) id = `${base}_${n}`;
    used.add(id);
    ids.set(node.id, id);
  }
  return ids;
}

/** Text safe in a Mermaid label: no quotes, line breaks, `#`-entities or statement separators. */
function text(value: string): string {
  const entities: Record<string, string> = { '#': '#35;', ';': '#59;' };
  return value.replace(/"/g, "'").replace(/[#;]/g, (char) => entities[char]).replace(/[\r\n]+/g, ' ');
}

/** Writes the chart as a Mermaid state diagram. */
export function toMermaid(model: ChartModel): string {
  const ids = mermaidIds(model);
  const id = (stateId: string) => ids.get(stateId) ?? 'unknown';
  const inherited = inheritedExitLines(model);
  const lines: string[] = ['stateDiagram-v2', `  %% Generated from the machine definition by \`authchart visualize\`. Do not edit.`];

  const writeNode = (node: ChartNode, indent: string) => {
    const own = id(node.id);
    const title = text(stateTitle(node));
    if (node.children.length === 0) {
      lines.push(`${indent}state "${title}" as ${own}`);
    } else {
      lines.push(`${indent}state "${title}" as ${own} {`);
      const inner = `${indent}  `;
      if (node.type === 'compound') for (const initial of node.initial) lines.push(`${inner}[*] --> ${id(initial)}`);
      node.children.forEach((child, index) => {
        if (node.type === 'parallel' && index > 0) lines.push(`${inner}--`);
        writeNode(child, inner);
      });
      lines.push(`${indent}}`);
    }
    const inside = innerLines(node, inherited.get(node.id));
    if (node.children.length === 0) {
      for (const line of inside) lines.push(`${indent}${own} : ${text(line)}`);
    } else if (inside.length > 0) {
      // Mermaid allows no description on a composite state: its inner lines become a note beside it.
      lines.push(`${indent}note right of ${own}`, ...inside.map((line) => `${indent}  ${text(line)}`), `${indent}end note`);
    }
    if (node.type === 'final') lines.push(`${indent}${own} --> [*]`);
  };
  writeNode(model.root, '  ');

  for (const node of allNodes(model)) {
    for (const transition of node.transitions) {
      for (const target of transition.targets) {
        lines.push(`  ${id(transition.source)} --> ${id(target)} : ${text(edgeLabel(transition))}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

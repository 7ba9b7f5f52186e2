/**
 * Text shared by the Mermaid and DOT writers: how a transition and the inside of a state read.
 */
import { allNodes, type ChartModel, type ChartNode, type ChartTransition } from './model';

/** `trigger [guard]`: what an edge says. */
export function edgeLabel(transition: ChartTransition): string {
  const guard = transition.guard ? `[${transition.guard}]` : '';
  if (transition.trigger === 'always') return guard || 'always';
  return guard ? `${transition.trigger} ${guard}` : transition.trigger;
}

/** `trigger [guard] / actions`: a transition without a target, listed inside its state (UML internal transition). */
export function internalLabel(transition: ChartTransition): string {
  const actions = transition.actions.length > 0 ? ` / ${transition.actions.join(', ')}` : '';
  return `${edgeLabel(transition)}${actions}`;
}

/**
 * For each leaf state with no exit of its own while an ancestor has some, a line naming those
 * ancestors (`exits via mode's transitions`): a transition of a parent
 * leaves every state inside it, but the picture draws it from the parent's border, so without this
 * line such a state (`failed`) looks like a dead end.
 */
export function inheritedExitLines(model: ChartModel): Map<string, string> {
  const parentOf = new Map<string, ChartNode>();
  for (const node of allNodes(model)) for (const child of node.children) parentOf.set(child.id, node);
  const exitsOf = (node: ChartNode) => [...new Set(node.transitions.filter((t) => t.targets.length > 0).map((t) => t.trigger))];
  const lines = new Map<string, string>();
  for (const node of allNodes(model)) {
    if (node.type !== 'atomic' || exitsOf(node).length > 0) continue;
    const via: string[] = [];
    for (let parent = parentOf.get(node.id); parent; parent = parentOf.get(parent.id)) {
      if (exitsOf(parent).length > 0) via.push(stateTitle(parent));
    }
    if (via.length > 0) lines.set(node.id, `exits via ${via.map((name) => `${name}'s`).join(' and ')} transitions`);
  }
  return lines;
}

/** The lines written inside a state: invoked actors, entry/exit actions, tags, internal transitions, inherited exits. */
export function innerLines(node: ChartNode, inheritedExits?: string): string[] {
  const lines: string[] = [];
  for (const invoke of node.invokes) {
    const name = invoke.src ?? 'inline actor';
    lines.push(invoke.id === null || invoke.id === invoke.src ? `invoke ${name}` : `invoke ${name} (id ${invoke.id})`);
  }
  if (node.entry.length > 0) lines.push(`entry / ${node.entry.join(', ')}`);
  if (node.exit.length > 0) lines.push(`exit / ${node.exit.join(', ')}`);
  if (node.tags.length > 0) lines.push(`tags: ${node.tags.join(', ')}`);
  for (const transition of node.transitions) if (transition.targets.length === 0) lines.push(internalLabel(transition));
  if (inheritedExits) lines.push(inheritedExits);
  return lines;
}

/** The title of a state: its key, or `H` / `H*` for a shallow / deep history node. */
export function stateTitle(node: ChartNode): string {
  if (node.type === 'history') return node.history === 'deep' ? 'H*' : 'H';
  return node.key || node.id;
}

/**
 * Text shared by the Mermaid and DOT writers: how a transition and the inside of a state read.
 */
import type { ChartNode, ChartTransition } from './model';

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

/** The lines written inside a state: invoked actors, entry/exit actions, tags, internal transitions. */
export function innerLines(node: ChartNode): string[] {
  const lines: string[] = [];
  for (const invoke of node.invokes) {
    const name = invoke.src ?? 'inline actor';
    lines.push(invoke.id === null || invoke.id === invoke.src ? `invoke ${name}` : `invoke ${name} (id ${invoke.id})`);
  }
  if (node.entry.length > 0) lines.push(`entry / ${node.entry.join(', ')}`);
  if (node.exit.length > 0) lines.push(`exit / ${node.exit.join(', ')}`);
  if (node.tags.length > 0) lines.push(`tags: ${node.tags.join(', ')}`);
  for (const transition of node.transitions) if (transition.targets.length === 0) lines.push(internalLabel(transition));
  return lines;
}

/** The title of a state: its key, or `H` / `H*` for a shallow / deep history node. */
export function stateTitle(node: ChartNode): string {
  if (node.type === 'history') return node.history === 'deep' ? 'H*' : 'H';
  return node.key || node.id;
}

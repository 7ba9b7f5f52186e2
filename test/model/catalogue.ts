/**
 * The one catalogue the model-based tests are driven by. Two layers:
 *
 *   Stimuli: everything the chart can receive, generated from the snapshot at hand: COMMANDS (event
 *   generators keyed by event type, internal events included), ACTOR_RESULTS (keyed by invoke id) and
 *   TIMERS (keyed by delay). Each says where it can happen and how the real environment is made to
 *   produce it (a save that fails, a token endpoint that refuses, a parent that never answers).
 *
 *   Wire actions: the JSON-RPC requests a parent sends, each with a script that mirrors what the
 *   adapter makes the chart receive for it (a rate-limit read is a backend call, maybe a 401, a refresh,
 *   a retry) and the response the model prescribes. Where the environment decides (does the save fail?
 *   does the backend answer 401?), the script offers a choice and every option becomes its own path.
 *
 * When the chart grows, COMMANDS (keyed by AuthEvent['type']), ACTOR_RESULTS (keyed by the machine's
 * actor names) and TIMERS (keyed by its delays) stop compiling until the new things have generators,
 * and `catalogueGaps` names any descriptor, invoke or delay the catalogue cannot produce.
 *
 * Files: vocabulary.ts (what the entries are), fixtures.ts (chart inputs), stimuli.ts (events),
 * wireActions.ts (requests and browser triggers); this file is the entry point the tests import.
 */
import type { AuthMachine } from '../../machines/auth.machine';
import { chartShape, descriptorMatches } from './chart';
import { ACTOR_RESULTS, TIMERS, allStimuli } from './stimuli';
import { WIRE_ACTIONS } from './wireActions';

export * from './vocabulary';
export * from './fixtures';
export * from './stimuli';
export * from './wireActions';

/** Descriptors, invokes and delays of the chart that the catalogue cannot produce (empty = complete). */
export function catalogueGaps(machine: AuthMachine): string[] {
  const shape = chartShape(machine);
  const types = allStimuli(machine).map((s) => s.type);
  const gaps: string[] = [];
  for (const descriptor of shape.eventDescriptors) {
    // XState raises `xstate.done.state.*` itself when a compound state reaches a final child.
    if (descriptor.startsWith('xstate.done.state.')) continue;
    if (!types.some((type) => descriptorMatches(descriptor, type))) gaps.push(`event ${descriptor} has no generator`);
  }
  for (const invoke of shape.invokes) {
    if (!(invoke.id in ACTOR_RESULTS)) gaps.push(`invoke ${invoke.id} (in ${invoke.source}) has no actor-result generator`);
  }
  for (const delayed of shape.delayedEvents) {
    if (!(delayed.split('.')[2] in TIMERS)) gaps.push(`timer ${delayed} has no arrangement`);
  }
  for (const action of WIRE_ACTIONS) if (!action.label) gaps.push('a wire action has no label');
  return gaps;
}

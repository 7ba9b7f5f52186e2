/**
 * Coverage of the chart: which state nodes were entered and which transitions (source, event, guard,
 * target) were taken, (a) by the model-level edge exploration and (b) by the paths replayed against the
 * real server. The denominator is the chart itself (chart.ts), so a new state or transition starts
 * uncovered until the catalogue and the paths reach it.
 */
import type { AuthMachine } from '../../machines/auth.machine';
import { chartShape, describeTransition, type ChartState, type ChartTransition } from './chart';
import { pathSteps as stepsOfPath, type Explored, type ModelPath } from './explore';
import type { ModelStep } from './model';

/** Why a transition needs no replay: the wire cannot reach it, by a rule of the adapter. */
export const BUSY_EXEMPTION =
  'model only: a command while the chart is busy; the adapter never sends one (AuthCore.command waits for idle)';

export interface TransitionCoverage {
  transition: ChartTransition;
  model: boolean;
  replay: boolean;
  /** Set when replay cannot reach the transition by construction (then `replay` is not required). */
  exemption: string | null;
}

export interface StateCoverage {
  state: ChartState;
  model: boolean;
  replay: boolean;
}

export interface Coverage {
  states: StateCoverage[];
  transitions: TransitionCoverage[];
}

interface Tally {
  states: Set<string>;
  transitions: Set<string>;
}

function tally(steps: Iterable<ModelStep>): Tally {
  const states = new Set<string>();
  const transitions = new Set<string>();
  for (const step of steps) {
    step.visited.forEach((id) => states.add(id));
    for (const t of step.transitions) {
      transitions.add(t.key);
      // A history pseudo-state is never active; it counts as entered when a transition targets it.
      t.targets.forEach((id) => states.add(id));
    }
  }
  return { states, transitions };
}

function* explorationSteps(explored: Explored): Iterable<ModelStep> {
  yield explored.initial;
  for (const edges of explored.edges.values()) for (const edge of edges) yield edge.step;
}

function* pathSteps(paths: readonly ModelPath[], explorations: readonly Explored[]): Iterable<ModelStep> {
  // A replay starts a server on the fixture: its start-up (the `restoring` transitions) is replayed too.
  const started = new Set(paths.map((p) => p.fixture));
  for (const explored of explorations) if (started.has(explored.fixture)) yield explored.initial;
  for (const path of paths) for (const step of stepsOfPath(path)) yield step.model;
}

/** Coverage of `machine` by the explorations (model) and the replayed paths (wire). */
export function coverageOf(machine: AuthMachine, explorations: readonly Explored[], replayed: readonly ModelPath[]): Coverage {
  const shape = chartShape(machine);
  // Replayed steps are the model's steps too: a fixture walked only by requests still counts for the model.
  const model = tally([...explorations.flatMap((e) => [...explorationSteps(e)]), ...pathSteps(replayed, explorations)]);
  const replay = tally(pathSteps(replayed, explorations));
  // Transitions the wire cannot reach: taken only by commands sent into a busy state, or only by
  // stimuli no real environment produces (the catalogue says why).
  const reachable = new Set<string>();
  const onlyBy = new Map<string, string>();
  for (const explored of explorations) {
    explored.initial.transitions.forEach((t) => reachable.add(t.key));
    for (const edges of explored.edges.values()) {
      for (const { stimulus, step } of edges) {
        const why = step.before.hasTag('busy') && stimulus.req !== undefined ? BUSY_EXEMPTION : stimulus.unrealizable ? `model only: ${stimulus.unrealizable}` : null;
        for (const t of step.transitions) {
          if (why === null) reachable.add(t.key);
          else if (!onlyBy.has(t.key)) onlyBy.set(t.key, why);
        }
      }
    }
  }
  return {
    states: shape.states.map((state) => ({ state, model: model.states.has(state.id), replay: replay.states.has(state.id) })),
    transitions: shape.transitions.map((transition) => ({
      transition,
      model: model.transitions.has(transition.key),
      replay: replay.transitions.has(transition.key),
      exemption: model.transitions.has(transition.key) && !reachable.has(transition.key) ? (onlyBy.get(transition.key) ?? null) : null,
    })),
  };
}

/** What keeps coverage below 100 %: each entry names a state or transition. Empty = complete. */
export function coverageGaps(coverage: Coverage): string[] {
  const gaps: string[] = [];
  for (const s of coverage.states) {
    if (!s.model) gaps.push(`state ${s.state.id} is never entered by the model`);
    else if (!s.replay) gaps.push(`state ${s.state.id} is never entered by a replayed path`);
  }
  for (const t of coverage.transitions) {
    const name = describeTransition(t.transition);
    if (!t.model) gaps.push(`transition ${name} is never taken by the model`);
    else if (!t.replay && !t.exemption) gaps.push(`transition ${name} is never taken by a replayed path`);
  }
  return gaps;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '100.0 %' : `${((100 * part) / whole).toFixed(1)} %`;
}

/** The printed coverage report: every state and every transition, covered or not. */
export function formatCoverage(coverage: Coverage): string {
  const mark = (model: boolean, replay: boolean, exemption: string | null = null) =>
    `${model ? 'model ✓' : 'model ✗'}  ${replay ? 'replay ✓' : exemption ? 'replay –' : 'replay ✗'}`;
  const lines: string[] = ['Chart coverage', '', 'States:'];
  for (const s of coverage.states) lines.push(`  ${mark(s.model, s.replay)}  ${s.state.id} (${s.state.type}${s.state.tags.length ? `, ${s.state.tags.join(' ')}` : ''})`);
  lines.push('', 'Transitions (source: event [guard] → target):');
  for (const t of coverage.transitions) {
    lines.push(`  ${mark(t.model, t.replay, t.exemption)}  ${describeTransition(t.transition)}${t.exemption && !t.replay ? `   (${t.exemption})` : ''}`);
  }
  const statesModel = coverage.states.filter((s) => s.model).length;
  const statesReplay = coverage.states.filter((s) => s.replay).length;
  const tModel = coverage.transitions.filter((t) => t.model).length;
  const tReplay = coverage.transitions.filter((t) => t.replay).length;
  const tReplayable = coverage.transitions.filter((t) => !t.exemption).length;
  const tReplayOk = coverage.transitions.filter((t) => !t.exemption && t.replay).length;
  const total = coverage.transitions.length;
  lines.push(
    '',
    `States:      ${statesModel}/${coverage.states.length} by the model (${percent(statesModel, coverage.states.length)}), ` +
      `${statesReplay}/${coverage.states.length} by replay (${percent(statesReplay, coverage.states.length)})`,
    `Transitions: ${tModel}/${total} by the model (${percent(tModel, total)}), ` +
      `${tReplayOk}/${tReplayable} replayable ones by replay (${percent(tReplayOk, tReplayable)}); ` +
      `${tReplay}/${total} in all, ${total - tReplayable} model-only (the wire cannot reach them; reasons above)`,
  );
  return lines.join('\n');
}

/**
 * The generator works from any machine definition, not just today's auth chart: nested and parallel
 * states, shallow and deep history, final states, named / inline / higher-order guards, invoked actors
 * (named and inline), `after` delays (numeric and named), `always`, entry/exit actions, multiple targets.
 */
import { and, assign, createActor, createMachine, fromPromise, not, or, setup, stateIn } from 'xstate';
import { authMachine } from '../../machines/auth.machine';
import { visualize } from '../../src/visualize';
import { toDot } from '../../src/visualize/dot';
import { toMermaid } from '../../src/visualize/mermaid';
import { allNodes, chartModel, transitionKey } from '../../src/visualize/model';
import { renderSvg } from '../../src/visualize/svg';

/** A chart that uses every feature the pictures must show. */
const kitchenSink = setup({
  types: { context: {} as { n: number }, events: {} as { type: 'go' } | { type: 'back' } | { type: 'stop' } | { type: 'tick' } },
  guards: { ready: () => true, allowed: () => true },
  actors: { fetchThing: fromPromise(async () => 1) },
  actions: { count: assign({ n: ({ context }) => context.n + 1 }), log: () => {} },
  delays: { patience: 1000 },
}).createMachine({
  id: 'sink',
  context: { n: 0 },
  initial: 'idle',
  states: {
    idle: {
      entry: 'log',
      on: {
        go: [
          { guard: and(['ready', not('allowed')]), target: 'busy' },
          { guard: or(['ready', stateIn('#sink.idle')]), target: 'busy.work.fetching', actions: 'count' },
          { actions: 'log' },
        ],
      },
      after: { 500: 'busy', patience: { target: 'done', guard: function tooLong() { return false; } } },
    },
    busy: {
      type: 'parallel',
      exit: ['log'],
      states: {
        work: {
          initial: 'fetching',
          states: {
            fetching: {
              invoke: { id: 'fetch', src: 'fetchThing', onDone: 'checking', onError: '#sink.busy.work.hist' },
            },
            checking: { always: [{ guard: 'ready', target: 'finished' }, { target: 'fetching' }] },
            finished: { type: 'final' },
            hist: { type: 'history', history: 'shallow' },
          },
          onDone: { target: '#sink.done' },
        },
        watch: {
          initial: 'on',
          states: {
            on: { invoke: { src: fromPromise(async () => 2) }, on: { tick: { target: 'on', reenter: true } } },
            deep: { type: 'history', history: 'deep' },
          },
        },
      },
      on: { stop: { target: ['#sink.idle'] }, back: '.work.hist' },
    },
    done: { type: 'final' },
  },
});

describe('the chart model', () => {
  const model = chartModel(kitchenSink);
  const byId = new Map(allNodes(model).map((node) => [node.id, node]));

  it('walks the state tree in definition order, with types, initial states and history kinds', () => {
    expect(allNodes(model).map((node) => `${node.id}:${node.type}`)).toEqual([
      'sink:compound',
      'sink.idle:atomic',
      'sink.busy:parallel',
      'sink.busy.work:compound',
      'sink.busy.work.fetching:atomic',
      'sink.busy.work.checking:atomic',
      'sink.busy.work.finished:final',
      'sink.busy.work.hist:history',
      'sink.busy.watch:compound',
      'sink.busy.watch.on:atomic',
      'sink.busy.watch.deep:history',
      'sink.done:final',
    ]);
    expect(byId.get('sink')?.initial).toEqual(['sink.idle']);
    expect(byId.get('sink.busy.work.hist')?.history).toBe('shallow');
    expect(byId.get('sink.busy.watch.deep')?.history).toBe('deep');
  });

  it('names guards (named, higher-order, stateIn, inline), triggers and actors', () => {
    const idle = byId.get('sink.idle')!;
    expect(idle.transitions.map((t) => [t.trigger, t.guard, t.targets, t.actions])).toEqual([
      ['go', 'and(ready, not(allowed))', ['sink.busy'], []],
      ['go', 'or(ready, in(#sink.idle))', ['sink.busy.work.fetching'], ['count']],
      ['go', null, [], ['log']],
      ['after(500ms)', null, ['sink.busy'], []],
      ['after(patience)', 'tooLong', ['sink.done'], []],
    ]);
    expect(idle.entry).toEqual(['log']); // the delayed-event plumbing XState adds is not the author's
    expect(idle.exit).toEqual([]);
    const fetching = byId.get('sink.busy.work.fetching')!;
    expect(fetching.invokes).toEqual([{ id: 'fetch', src: 'fetchThing' }]);
    expect(fetching.transitions.map((t) => [t.key, t.trigger, t.targets])).toEqual([
      ['sink.busy.work.fetching:xstate.done.actor.fetch:0', 'done(fetch)', ['sink.busy.work.checking']],
      ['sink.busy.work.fetching:xstate.error.actor.fetch:0', 'error(fetch)', ['sink.busy.work.hist']],
    ]);
    expect(byId.get('sink.busy.work.checking')!.transitions.map((t) => [t.key, t.trigger, t.guard])).toEqual([
      ['sink.busy.work.checking:always:0', 'always', 'ready'],
      ['sink.busy.work.checking:always:1', 'always', null],
    ]);
    expect(byId.get('sink.busy.work')!.transitions.map((t) => [t.trigger, t.targets])).toEqual([['done', ['sink.done']]]);
    expect(byId.get('sink.busy.watch.on')!.invokes).toEqual([{ id: null, src: null }]); // inline logic, generated id
    expect(byId.get('sink.busy.watch.on')!.transitions[0]).toMatchObject({ trigger: 'tick', reenter: true, targets: ['sink.busy.watch.on'] });
  });

  it('keys transitions the way a running actor reports them', () => {
    const keys: Array<string | null> = [];
    const actor = createActor(kitchenSink, {
      inspect: (event) => {
        if (event.type === '@xstate.microstep') keys.push(...event._transitions.map(transitionKey));
      },
    });
    actor.start();
    actor.send({ type: 'go' });
    actor.stop();
    const known = new Set(allNodes(model).flatMap((node) => node.transitions.map((t) => t.key)));
    expect(keys).toContain('sink.idle:go:1'); // and(ready, not(allowed)) is false: the second candidate is taken
    for (const key of keys) expect(known.has(key!)).toBe(true);
  });
});

describe('Mermaid', () => {
  const mmd = toMermaid(chartModel(kitchenSink));

  it('writes composite states, parallel regions, initial and final states and labelled edges', () => {
    expect(mmd.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(mmd).toContain('  state "sink" as sink {\n    [*] --> sink_idle\n');
    expect(mmd).toContain('    state "busy" as sink_busy {\n      state "work" as sink_busy_work {');
    expect(mmd).toMatch(/\n {6}}\n {6}--\n {6}state "watch" as sink_busy_watch \{/);
    expect(mmd).toContain('state "H" as sink_busy_work_hist');
    expect(mmd).toContain('state "H*" as sink_busy_watch_deep');
    expect(mmd).toContain('sink_busy_work_finished --> [*]');
    expect(mmd).toContain('  sink_idle --> sink_busy : go [and(ready, not(allowed))]\n');
    expect(mmd).toContain('  sink_idle --> sink_busy_work_fetching : go [or(ready, in(#35;sink.idle))]\n');
    expect(mmd).toContain('  sink_busy_work_fetching --> sink_busy_work_checking : done(fetch)\n');
    expect(mmd).toContain('  sink_busy_work_checking --> sink_busy_work_finished : [ready]\n');
    expect(mmd).toContain('  sink_idle : go / log\n'); // a targetless transition, inside its state
    expect(mmd).toContain('  sink_busy_work_fetching : invoke fetchThing (id fetch)\n');
    expect(mmd).toContain('  sink_busy_watch_on : invoke inline actor\n');
    // A composite state cannot have a Mermaid description: its inner lines become a note.
    expect(mmd).toContain('    note right of sink_busy\n      exit / log\n    end note\n');
  });

  it('gives same-named states in different parents different ids', () => {
    const twins = createMachine({
      id: 'twins',
      initial: 'a',
      states: {
        a: { initial: 'ready', states: { ready: { on: { GO: '#twins.b.ready' } } } },
        b: { initial: 'ready', states: { ready: {} } },
        a_ready: {}, // a key that sanitizes to the same Mermaid id as a.ready
      },
    });
    const text = toMermaid(chartModel(twins));
    expect(text).toContain('state "ready" as twins_a_ready');
    expect(text).toContain('state "ready" as twins_b_ready');
    expect(text).toContain('state "a_ready" as twins_a_ready_2');
    expect(text).toContain('twins_a_ready --> twins_b_ready : GO');
  });
});

describe('DOT and SVG', () => {
  it('renders any chart without a Graphviz error or warning, with an element id per state node', async () => {
    const dot = toDot(chartModel(kitchenSink));
    const svg = await renderSvg(dot); // throws on any Graphviz warning (a wrong lhead/ltail, say)
    for (const node of allNodes(chartModel(kitchenSink))) expect(svg).toContain(`id="state:${node.id}"`);
    expect(svg).toContain('id="edge:sink.idle:go:0:0"');
    expect(dot).toContain('"sink.busy.work.fetching" -> "sink.busy.work.hist"');
    // An edge that leaves a compound state for the outside is clipped at the cluster's border.
    expect(dot).toMatch(/"sink\.busy" -> "sink\.idle" \[[^\]]*ltail="cluster_sink\.busy"/);
    // An edge into a compound state from outside ends at its border.
    expect(dot).toMatch(/"sink\.idle" -> "sink\.busy" \[[^\]]*lhead="cluster_sink\.busy"/);
  });

  it('is deterministic, and ignores implementations supplied with provide()', async () => {
    const first = await visualize(authMachine);
    const second = await visualize(authMachine);
    expect(second).toEqual(first);
    const provided = authMachine.provide({ actors: { saveApiKey: fromPromise(async () => {}) }, guards: { restoredApiKey: () => false } });
    expect(await visualize(provided)).toEqual(first);
  });

  it('says inside a leaf that it leaves through a parent (no dead end on the picture), stacks regions, ties labels to edges', async () => {
    const inherit = createMachine({
      id: 'inh',
      type: 'parallel',
      states: {
        left: {
          initial: 'mode',
          states: {
            mode: { initial: 'failed', on: { RESET: '#inh.left.out' }, states: { failed: {}, ok: { on: { BREAK: 'failed' } } } },
            out: {},
          },
        },
        right: { initial: 'a', states: { a: {} } },
      },
    });
    const { mmd, dot, svg } = await visualize(inherit);
    expect(mmd).toContain("inh_left_mode_failed : exits via mode's transitions\n");
    expect(mmd).not.toContain('inh_left_mode_ok : exits via'); // it has an exit of its own
    expect(mmd).not.toContain('inh_left_out : exits via'); // nothing above it leaves
    expect(dot).toContain("<I>exits via mode's transitions</I>");
    // Every leaf of the first region ranks above the second region.
    for (const leaf of ['inh.left.mode.failed', 'inh.left.mode.ok', 'inh.left.out']) expect(dot).toContain(`"${leaf}" -> "inh.right" [style="invis", weight="0"];`);
    expect(dot).toMatch(/edge \[[^\]]*decorate="true"/);
    expect(svg).toContain('exits via mode&#39;s transitions');
  });

  it('renders a machine created without setup()', async () => {
    const plain = createMachine({ id: 'plain', initial: 'a', states: { a: { on: { NEXT: 'b' } }, b: { type: 'final' } } });
    const { mmd, dot, svg } = await visualize(plain);
    expect(mmd).toContain('plain_a --> plain_b : NEXT');
    expect(dot).toContain('"plain.a" -> "plain.b" [id="edge:plain.a:NEXT:0:0", label="NEXT"]');
    expect(svg).toContain('<svg');
  });
});

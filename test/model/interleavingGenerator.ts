/**
 * The interleaving generator: seeded scenarios for test/model/interleavings.ts, each action chosen among
 * those the model offers at a quiet moment and kept only when its outcome is guaranteed (the same under
 * every order the server allows) and leaves something for the test to wait for.
 */
import {
  REQUEST_KINDS,
  concurrent,
  describeScenario,
  guaranteed,
  observable,
  prng,
  simulate,
  type Action,
  type BurstRequest,
  type RequestKind,
  type Scenario,
  type StartMode,
} from './interleavings';

/** Weights of the requests in a burst: the concurrent method often, so bursts mix. */
const WEIGHTS: Record<RequestKind, number> = {
  rateLimits: 8,
  read: 2,
  readRefresh: 2,
  loginApiKey: 2,
  loginAda: 2,
  loginBob: 1,
  loginBadToken: 1,
  logout: 2,
  sessionList: 1,
  switchSecond: 2,
  switchUnlisted: 1,
};

/** Start modes where a refresh can happen come up more often: that is where the interleavings differ. */
const START_WEIGHTS: Record<StartMode, number> = { loggedOut: 1, apiKey: 1, managed: 3, managedExpired: 2, external: 3 };

function pickWeighted<K extends string>(weights: Record<K, number>, random: () => number): K {
  const keys = Object.keys(weights) as K[];
  const total = keys.reduce((sum, key) => sum + weights[key], 0);
  let at = random() * total;
  for (const key of keys) {
    at -= weights[key];
    if (at < 0) return key;
  }
  return keys[keys.length - 1];
}

/** A restored managed login is where a switch can go through: there switches come up more often, logins less. */
const MANAGED_WEIGHTS: Record<RequestKind, number> = { ...WEIGHTS, switchSecond: 6, sessionList: 2, loginApiKey: 0.5, loginAda: 0.5, loginBob: 0, logout: 0.5 };

const managedStart = (start: StartMode) => start === 'managed' || start === 'managedExpired';

const weighted = (start: StartMode, random: () => number): RequestKind => pickWeighted(managedStart(start) ? MANAGED_WEIGHTS : WEIGHTS, random);

/** A seeded Fisher–Yates shuffle. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Generator statistics, printed by the test. */
export interface GeneratorStats {
  generated: number;
  /** Actions left out because the server does not guarantee their outcome (the orders disagree). */
  unguaranteedActions: number;
  /** Actions left out because they leave nothing to wait for and no next action could follow at once. */
  unobservableActions: number;
  /** Actions followed at once by the next one (e.g. a 401 during a refresh, then the refresh's answer). */
  pipelinedActions: number;
  /** Scenarios dropped because no guaranteed action was left while requests were unanswered. */
  dropped: number;
}

/**
 * One scenario from a seed: a start mode, one or two bursts (2–5 requests, at least one rate-limit
 * read, at least one in-order request in the first), and the test's actions chosen at random among
 * those the model offers at each quiet moment, keeping only those whose outcome is guaranteed. Ends
 * when every request is answered and no fake holds anything (or drops the scenario).
 */
export function generateScenario(seed: number, stats: GeneratorStats): Scenario | null {
  const random = prng(seed);
  const start = pickWeighted(START_WEIGHTS, random);
  let nextId = 1;
  const bursts: BurstRequest[][] = [];
  if (start === 'external') bursts.push([{ id: nextId++, kind: 'loginAda' }]);
  const burstCount = random() < 0.5 ? 1 : 2;
  for (let b = 0; b < burstCount; b += 1) {
    const size = 2 + Math.floor(random() * 4);
    const kinds = Array.from({ length: size }, () => weighted(start, random));
    if (!kinds.includes('rateLimits')) kinds[Math.floor(random() * size)] = 'rateLimits';
    if (b === 0 && !kinds.some((kind) => !concurrent(kind))) kinds[size - 1] = REQUEST_KINDS[1 + Math.floor(random() * (REQUEST_KINDS.length - 1))];
    // Half of the managed logins' first bursts open with a switch, before anything else changes the session.
    if (b === 0 && managedStart(start) && random() < 0.5) kinds[0] = 'switchSecond';
    bursts.push(kinds.map((kind) => ({ id: nextId++, kind })));
  }
  const scenario: Scenario = { seed, start, bursts, actions: [] };
  if (start === 'external') scenario.actions.push({ kind: 'write', burst: 0 });
  for (let guard = 0; guard < 40; guard += 1) {
    const { sim } = simulate(scenario, 'fifo');
    const choices = sim.choices();
    if (choices.length === 0) break;
    // Writing the next burst waits a little, so it meets things in flight more often.
    // A 401 comes a little before a 200, and the backend answers sooner while a refresh is in flight,
    // so more calls meet a refresh. A discovery tends to end early and list the workspace, so that
    // switches meet a known workspace list more often.
    const refreshing = sim.tokenLive || sim.parentLive !== null;
    const bias = (c: Action) =>
      (c.kind === 'write' ? 0.3 : 0) +
      (c.kind === 'backend' && c.status === 401 ? -0.35 : 0) +
      (c.kind === 'backend' && refreshing ? -0.3 : 0) +
      (c.kind === 'discovery' ? (c.answer === 'listed' ? -0.3 : -0.1) : 0) +
      // The start-up discovery of a managed login mostly lists the workspace before the first burst.
      (scenario.actions.length === 0 && c.kind === 'discovery' && c.answer === 'listed' ? -0.5 : 0);
    const order = choices.map((c) => ({ c, key: random() + bias(c) })).sort((a, b) => a.key - b.key);
    let taken = false;
    for (const { c } of order) {
      const candidate = { ...scenario, actions: [...scenario.actions, c] };
      if (!guaranteed(candidate)) {
        stats.unguaranteedActions += 1;
        continue;
      }
      if (observable(candidate)) {
        scenario.actions.push(c);
        taken = true;
        break;
      }
      // Nothing to wait for: the next action follows at once, if every order of the two agrees.
      const pipelined = { ...c, pipelined: true };
      const next = shuffled(simulate(candidate, 'fifo').sim.choices(), random);
      const pair = next.find((c2) => {
        const both = { ...scenario, actions: [...scenario.actions, pipelined, c2] };
        return guaranteed(both) && observable(both);
      });
      if (pair) {
        scenario.actions.push(pipelined, pair);
        stats.pipelinedActions += 1;
        taken = true;
        break;
      }
      stats.unobservableActions += 1;
    }
    if (!taken) {
      stats.dropped += 1;
      return null;
    }
  }
  const { sim } = simulate(scenario, 'fifo');
  const all = bursts.flat();
  const unanswered = all.filter((r) => sim.answers.get(r.id) !== 1);
  if (unanswered.length > 0 || sim.choices().length > 0) {
    throw new Error(`the model leaves requests unanswered or fakes holding: ${describeScenario(scenario)}: ${unanswered.map((r) => r.id).join(', ')}`);
  }
  stats.generated += 1;
  return scenario;
}

/** `count` scenarios from consecutive seeds starting at `firstSeed`. */
export function generateScenarios(count: number, firstSeed: number): { scenarios: Scenario[]; stats: GeneratorStats } {
  const stats: GeneratorStats = { generated: 0, unguaranteedActions: 0, unobservableActions: 0, pipelinedActions: 0, dropped: 0 };
  const scenarios: Scenario[] = [];
  for (let seed = firstSeed; scenarios.length < count; seed += 1) {
    const scenario = generateScenario(seed, stats);
    if (scenario) scenarios.push(scenario);
    if (seed - firstSeed > count * 20) throw new Error('the generator drops almost every scenario');
  }
  return { scenarios, stats };
}

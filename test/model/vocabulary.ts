/**
 * The vocabulary of the model-based tests' catalogue: what a stimulus, a fixture, a wire action and a
 * script are, and the few constants they share. No catalogue entries here (see catalogue.ts).
 */
import type { AnyEventObject } from 'xstate';
import type { AuthInput } from '../../machines/types';
import type { AuthSnapshot } from '../../machines/views';
import type { ReplayEnv } from './env';
import type { ModelStep } from './model';

export type { ReplayEnv } from './env';

/** Undoes an environment arrangement once the request it served is over. */
export type Undo = () => Promise<void>;

/** What kind of thing a stimulus is: it decides where replay can produce it. */
export type StimulusKind = 'command' | 'internal' | 'result' | 'timer';

/** One thing the chart can receive. */
export interface Stimulus {
  /** Short name used in path descriptions (test names). */
  label: string;
  kind: StimulusKind;
  /** The event's type. */
  type: string;
  /** The request key, for commands (the chart answers it). */
  req?: number;
  /** The event, for the snapshot it is sent in (a 401 names the credential generation in use). */
  event(snapshot: AuthSnapshot): AnyEventObject;
  /** Where it can happen at all: an actor's result while the actor runs, a timer while it is armed. */
  available(snapshot: AuthSnapshot): boolean;
  /** Makes the real environment produce it during the request that holds it; returns the undo. */
  arrange?(env: ReplayEnv): Promise<Undo>;
  /** Token bytes it hands the server, which must never be found on disk. */
  secrets?: string[];
  /** Set when no real environment can produce it (then it is tried by the model only), with why. */
  unrealizable?: string;
  /** For an actor's result or message: the invoke id of the actor it comes from. */
  actor?: string;
  /**
   * The result of a background effect nobody's request waits for (workspace discovery): never chosen to
   * settle a request, only taken by its own wire action (the environment releases it).
   */
  background?: boolean;
}

/** One step of a path: the stimulus and what the model did with it. */
export interface PathStep {
  stimulus: Stimulus;
  model: ModelStep;
}

/** What the environment may do at a decision point of a wire action's script. */
export interface Choice {
  label: string;
  /** The stimulus the chart then receives; none when the choice is the quiet one (the backend answers 200). */
  stimulus?: Stimulus;
}

/** A wire action's script runs against this: the model at hand and the environment's choices. */
export interface Script {
  readonly snapshot: AuthSnapshot;
  send(stimulus: Stimulus): ModelStep;
  /**
   * The environment picks one option. With a `key`, a later choice under the same key repeats the first
   * one: the environment is arranged once per request (a token endpoint that refuses refuses every time).
   */
  choose(options: Choice[], key?: string): Choice;
  /** The action means nothing from here (e.g. two overlapping calls where no refresh can start). */
  skip(): never;
}

/** A response without its id. */
export type WireResponse = { result: unknown } | { error: { code: number; message: string } };

/** A request from the parent (or something the browser does), mapped to the chart. */
export interface WireAction {
  label: string;
  /** The JSON-RPC method; absent for a trigger (the environment acts and the server only notifies). */
  method?: string;
  params?: unknown;
  /** What the environment does instead of a request (the browser follows the authorize URL…). */
  trigger?(env: ReplayEnv): Promise<void>;
  /** Offered only in these states (the browser acts, or a login is cancelled, only while one is pending). */
  onlyIf?(snapshot: AuthSnapshot): boolean;
  /** The server runs it beside later requests (backend calls): read-backs must wait for its response. */
  concurrent?: boolean;
  /** Token bytes in the request, never to be found on disk. */
  secrets?: string[];
  /** What the adapter makes the chart receive for this request, from a settled snapshot. */
  script(run: Script): void;
  /** The response the model prescribes for the steps the script took; null when the model never answers. */
  response(steps: readonly PathStep[]): WireResponse | null;
  /**
   * A second request sent while the first one's refresh is held in flight (the refresh is released once
   * the chart has taken the second request's first event, `fenceAfter`).
   */
  overlap?: { method: string; params?: unknown; fenceAfter: Stimulus; response(steps: readonly PathStep[]): WireResponse | null };
}

/** A chart input and how to give the real app-server the same input. */
export interface Fixture {
  name: string;
  input: AuthInput;
  /** Top-level lines and `[authchart]` lines of config.toml, besides the fakes' URLs. */
  config?: { top?: string[]; authchart?: string[] };
  /** Content of `$CODEX_HOME/auth.json`; absent = no file. */
  authJson?: Record<string, unknown>;
  /**
   * Labels of wire actions and environment choices this fixture replays, in a settled state (default:
   * everything but timers and a login port taken, which need a short timeout or a fixed port).
   */
  allows?(label: string, snapshot: AuthSnapshot): boolean;
  /** A fixed browser-login port (chosen free when the session starts) instead of any free port. */
  fixedLoginPort?: boolean;
  /**
   * False for fixtures that replay a narrow slice (a timeout, a taken port): their events are tried in
   * every state by the broader fixtures already, so only their requests are walked.
   */
  exploreEvents?: boolean;
  /**
   * Which stimuli the event-level exploration tries here (default: every one). Orthogonal regions multiply
   * states (each workspace-discovery outcome beside each step of each managed login), so each fixture
   * explores the products its transitions need and leaves the rest to another: the suite's coverage is
   * the union over fixtures, and `coverage.test.ts` fails on any transition none of them takes.
   */
  explores?(label: string, snapshot: AuthSnapshot): boolean;
  /**
   * False where the start state is left for good (a restored managed login cannot be recreated without a
   * restart), so every simple path would need a process of its own; shortest paths and walks still take
   * every request from there.
   */
  simplePaths?: boolean;
}

/**
 * Text the environment supplies (an OS error, a URL with a port). A model message holding it matches any
 * non-empty text there; everything the chart puts around it is compared exactly.
 */
export const ENVIRONMENT_TEXT = '<environment text>';

/** The clock the model's backend calls carry; fixtures keep every expiry far from it and from the real one. */
export const MODEL_NOW = Date.parse('2026-06-01T00:00:00Z');
/** Token expiries far from MODEL_NOW and from any real clock of the test run (2100, 2001). */
export const FAR_EXP = 4102444800;
export const PAST_EXP = 1000000000;

/** True for the label of a timer (they need a short timeout, so fixtures opt in). */
export const isTimer = (label: string) => label.startsWith('timeout');

/** Labels the fixtures and scripts refer to. */
export const LOGIN_PORT_TAKEN = 'login port taken';
export const LOGIN_LISTENS = 'login server listens';
export const LOGIN_TIMES_OUT = 'timeout loginTimeout';
/** The label of a device login's flow handing out its user code. */
export const DEVICE_CODE_ISSUED = 'issuer gives a user code';

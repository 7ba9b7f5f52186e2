/**
 * The vocabulary of the interleavings (test/model/interleavings.ts): the requests a burst is made of,
 * the start modes, what the test does at a quiet moment, a scenario, and what the model predicts the
 * wire shows.
 */
import { EXTERNAL_LOGINS, FIXTURES, SESSION_SWITCHES } from './catalogue';
import type { Projection } from './model';
import type { Fixture } from './vocabulary';

/** The requests a burst is made of. */
export const REQUEST_KINDS = [
  'rateLimits',
  'read',
  'readRefresh',
  'loginApiKey',
  'loginAda',
  'loginBob',
  'loginBadToken',
  'logout',
  'sessionList',
  'switchSecond',
  'switchUnlisted',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** One request of a burst, with its JSON-RPC id. */
export interface BurstRequest {
  id: number;
  kind: RequestKind;
}

/** The wire form of a request. */
export function wireRequest(request: BurstRequest): { id: number; method: string; params?: unknown } {
  switch (request.kind) {
    case 'rateLimits':
      return { id: request.id, method: 'account/rateLimits/read' };
    case 'read':
      return { id: request.id, method: 'account/read', params: {} };
    case 'readRefresh':
      return { id: request.id, method: 'account/read', params: { refreshToken: true } };
    case 'loginApiKey':
      return { id: request.id, method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-model-key' } };
    case 'loginAda':
      return { id: request.id, method: 'account/login/start', params: EXTERNAL_LOGINS[0].params };
    case 'loginBob':
      return { id: request.id, method: 'account/login/start', params: EXTERNAL_LOGINS[1].params };
    case 'loginBadToken':
      return { id: request.id, method: 'account/login/start', params: EXTERNAL_LOGINS[3].params };
    case 'logout':
      return { id: request.id, method: 'account/logout' };
    case 'sessionList':
      return { id: request.id, method: 'accountSession/list', params: {} };
    case 'switchSecond':
      return { id: request.id, method: 'accountSession/switch', params: SESSION_SWITCHES.toSecond.params };
    case 'switchUnlisted':
      return { id: request.id, method: 'accountSession/switch', params: SESSION_SWITCHES.unlisted.params };
  }
}

/** Whether a request runs beside later ones (the only such method: `account/rateLimits/read`). */
export const concurrent = (kind: RequestKind) => kind === 'rateLimits';

/** Where a scenario starts. `external` is a fresh server that gets an external login (ada) first. */
export const START_MODES = ['loggedOut', 'apiKey', 'managed', 'managedExpired', 'external'] as const;
export type StartMode = (typeof START_MODES)[number];

/** The fixture (config.toml, auth.json, chart input) of a start mode. */
export function fixtureOf(start: StartMode): Fixture {
  const name = { loggedOut: 'fresh', apiKey: 'restored apiKey', managed: 'restored chatgpt', managedExpired: 'restored chatgpt, token expired', external: 'fresh' }[start];
  const fixture = FIXTURES.find((f) => f.name === name);
  if (!fixture) throw new Error(`no fixture named ${name}`);
  return fixture;
}

/** How the token endpoint answers a held refresh grant (the catalogue's labels). */
export const TOKEN_ANSWERS = { refreshes: 'token endpoint refreshes', unavailable: 'token endpoint unavailable', expired: 'token endpoint refuses (expired)' } as const;
/** How the parent answers a held `account/chatgptAuthTokens/refresh`. */
export const PARENT_ANSWERS = { tokens: 'parent refreshes (ada)', error: 'parent refuses' } as const;
/** How the backend answers a held workspace discovery (`accounts/check`): the login's workspace listed, or not. */
export const DISCOVERY_ANSWERS = { listed: 'workspace discovered', unlisted: 'workspace discovery fails' } as const;
/** How the backend answers a held workspace-token exchange (`accounts/switch-workspace-token`). */
export const SWITCH_ANSWERS = { switched: 'workspace switched', refused: 'workspace switch refused' } as const;

/**
 * What the test does at a quiet moment: write the next burst, or let a fake answer what it holds.
 * `pipelined`: the next action follows at once, without waiting for the server to be quiet (this one
 * leaves nothing the test could wait for, e.g. a 401 that only makes a call wait on the refresh).
 */
export type Action = { pipelined?: boolean } & (
  | { kind: 'write'; burst: number }
  /**
   * The backend answers the usage calls it has held longest: those that arrived during the same earlier
   * action (calls of one moment cannot be told apart on the wire, so they get the same answer together).
   */
  | { kind: 'backend'; status: 200 | 401 }
  | { kind: 'tokenEndpoint'; answer: keyof typeof TOKEN_ANSWERS }
  | { kind: 'parent'; answer: keyof typeof PARENT_ANSWERS }
  | { kind: 'discovery'; answer: keyof typeof DISCOVERY_ANSWERS }
  | { kind: 'switchToken'; answer: keyof typeof SWITCH_ANSWERS }
);

/** A generated interleaving. */
export interface Scenario {
  seed: number;
  start: StartMode;
  bursts: BurstRequest[][];
  actions: Action[];
}

/** A short text for reports: `managed | [R, L] ▸ backend 401 ▸ token refreshes`. */
export function describeScenario(scenario: Scenario): string {
  const short: Record<RequestKind, string> = {
    rateLimits: 'R',
    read: 'read',
    readRefresh: 'read(refresh)',
    loginApiKey: 'K',
    loginAda: 'E(ada)',
    loginBob: 'E(bob)',
    loginBadToken: 'E(bad)',
    logout: 'L',
    sessionList: 'list',
    switchSecond: 'switch(acct-S)',
    switchUnlisted: 'switch(acct-U)',
  };
  const steps = scenario.actions.map((a) => {
    const text =
      a.kind === 'write'
        ? `write [${scenario.bursts[a.burst].map((r) => `${short[r.kind]}#${r.id}`).join(', ')}]`
        : a.kind === 'backend'
          ? `backend ${a.status}`
          : a.kind === 'tokenEndpoint'
            ? `token endpoint ${a.answer}`
            : a.kind === 'discovery'
              ? `discovery ${a.answer}`
              : a.kind === 'switchToken'
                ? `switch exchange ${a.answer}`
                : `parent ${a.answer}`;
    return a.pipelined ? `${text} +` : text;
  });
  return `seed ${scenario.seed} | ${scenario.start} | ${steps.join(' ▸ ')}`;
}

// ---------------------------------------------------------------------------------------------------
// What the wire shows

/** A message the server writes, as the model predicts it. */
export interface Predicted {
  message: Record<string, unknown>;
  /** In-order responses and their notifications come in exactly this order; `free` ones anywhere in their segment. */
  order: 'inOrder' | 'free';
  /** A concurrent response comes after everything written for this in-order request (its predecessor). */
  after?: number;
}

/** What one action makes the server write and hold, once it is quiet again. */
export interface Segment {
  action: Action;
  messages: Predicted[];
  /** Usage calls the backend holds, a live refresh grant at the token endpoint, a live parent request. */
  heldUsage: number;
  tokenLive: boolean;
  parentLive: number | null;
  /** A workspace discovery (`accounts/check`) and a workspace-token exchange the backend holds. */
  discoveryHeld: boolean;
  switchLive: boolean;
  /** Usage calls and a refresh grant that arrived during this action (what the test can wait for). */
  newUsage: number;
  newGrant: boolean;
  /** The chart's state label after the segment (for reports). */
  state: string;
}

/** The whole prediction for a scenario. */
export interface Prediction {
  segments: Segment[];
  /** Parent requests the chart abandoned (logout, login): answered by the test at the end, ignored by the server. */
  orphanParents: number[];
  final: Projection;
  /** Every request id answered, with how many answers. */
  answers: Map<number, number>;
  /** The start-up discovery's accounts/check is held before the first action (a restored ChatGPT login). */
  startDiscoveryHeld: boolean;
}

/** A seeded PRNG (mulberry32): the same seed, the same interleavings. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

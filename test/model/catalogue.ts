/**
 * The one catalogue the model-based tests are driven by. Everything the chart can receive is listed
 * here once, with how the replay produces it against the real server:
 *
 *   FIXTURES        inputs of the chart (policy, restored credentials) and the CODEX_HOME that yields each;
 *   COMMANDS        event generators keyed by event type: a model event and the JSON-RPC request that
 *                   becomes it, with the wire result a successful answer encodes to;
 *   ACTOR_RESULTS   actor-result generators keyed by invoke id: a synthetic `xstate.done.actor.<id>` /
 *                   `xstate.error.actor.<id>` and how the environment makes the real effect end that way;
 *   TIMERS          synthetic `xstate.after.*` events keyed by event type (none in the chart yet).
 *
 * When the chart grows, the type of COMMANDS (keyed by AuthEvent['type']) and of ACTOR_RESULTS (keyed by
 * the machine's actor names) stop compiling until the new events have generators, and `catalogueGaps`
 * names any descriptor, invoke or delay of the chart that nothing here can produce.
 */
import { mkdir, rename, rmdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { AnyEventObject } from 'xstate';
import type { AuthMachine } from '../../machines/auth.machine';
import { Secret } from '../../machines/secret';
import type { AccountInfo, AuthEmitted, AuthEvent, AuthInput } from '../../machines/types';
import type { AuthSnapshot } from '../../machines/views';
import type { AppServerProcess } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { chartShape, descriptorMatches } from './chart';

/** What an environment arrangement works on during a replay. */
export interface ReplayEnv {
  codexHome: string;
  server: AppServerProcess;
}

/** Undoes an environment arrangement once the step it served is over. */
export type Undo = () => Promise<void>;

/** How the replay produces a model event against the real server. */
export type WireRealization =
  /** A request from the parent; the chart's answer to `event.req` becomes its response. */
  | {
      kind: 'request';
      method: string;
      params?: unknown;
      /** The wire result of a successful answer carrying `value` (the adapter's encoding, methods.ts). */
      result(value: unknown): unknown;
      /** Token bytes this request hands over that must never be written to CODEX_HOME. */
      secrets?: string[];
    }
  /**
   * The end of an effect the chart started (an actor result): the environment is arranged before the
   * request that starts the effect, so the real effect ends this way, and undone after its response.
   */
  | { kind: 'outcome'; arrange(env: ReplayEnv): Promise<Undo> };

/** One thing the model can receive: its event and how to make the real server receive it. */
export interface Stimulus {
  /** Short name used in path descriptions (test names). */
  label: string;
  event: AnyEventObject;
  wire: WireRealization;
}

/** A chart input and how to give the real app-server the same input. */
export interface Fixture {
  name: string;
  input: AuthInput;
  /** Text of `$CODEX_HOME/config.toml`; absent = no file. */
  configToml?: string;
  /** Content of `$CODEX_HOME/auth.json`; absent = no file. */
  authJson?: Record<string, unknown>;
}

/**
 * Error text the environment supplies (an OS error message, a temp file name). A model message holding
 * it matches any non-empty text there; everything the chart puts around it is compared exactly.
 */
export const ENVIRONMENT_TEXT = '<environment error text>';

const NO_POLICY = { forcedLoginMethod: null, forcedWorkspaceIds: null } as const;

const RESTORED_ACCOUNT: AccountInfo = { email: 'rita@example.com', planType: 'pro', accountId: 'acct-R', userId: 'user-rita' };

/** The chart inputs the suite walks, each with the CODEX_HOME that produces it. */
export const FIXTURES: Fixture[] = [
  { name: 'fresh', input: { policy: NO_POLICY, restored: null } },
  {
    name: 'restored apiKey',
    input: { policy: NO_POLICY, restored: { mode: 'apiKey' } },
    authJson: { auth_mode: 'apikey', OPENAI_API_KEY: 'sk-restored-model' },
  },
  {
    name: 'restored chatgpt',
    input: { policy: NO_POLICY, restored: { mode: 'chatgpt', account: RESTORED_ACCOUNT } },
    authJson: {
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: {
        id_token: chatgptJwt({ email: RESTORED_ACCOUNT.email!, plan: 'pro', accountId: 'acct-R', userId: 'user-rita' }),
        access_token: chatgptJwt({ email: RESTORED_ACCOUNT.email!, accountId: 'acct-R' }),
        refresh_token: 'rt-restored-model',
        account_id: 'acct-R',
      },
      last_refresh: '2026-01-29T23:46:04.123Z',
    },
  },
  {
    name: 'forced chatgpt login',
    input: { policy: { forcedLoginMethod: 'chatgpt', forcedWorkspaceIds: null }, restored: null },
    configToml: 'forced_login_method = "chatgpt"\n',
  },
  {
    name: 'forced api login',
    input: { policy: { forcedLoginMethod: 'api', forcedWorkspaceIds: null }, restored: null },
    configToml: 'forced_login_method = "api"\n',
  },
  {
    name: 'forced workspace',
    input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['acct-A'] }, restored: null },
    configToml: 'forced_chatgpt_workspace_id = "acct-A"\n',
  },
  {
    name: 'forced workspaces',
    input: { policy: { forcedLoginMethod: null, forcedWorkspaceIds: ['acct-A', 'acct-B'] }, restored: null },
    configToml: 'forced_chatgpt_workspace_id = ["acct-A", "acct-B"]\n',
  },
];

type CommandEvent<T extends AuthEvent['type']> = Omit<Extract<AuthEvent, { type: T }>, 'req'>;
type CommandGenerator<T extends AuthEvent['type']> = {
  label: string;
  event: CommandEvent<T>;
  wire: Extract<WireRealization, { kind: 'request' }>;
};

/** An external-token login of generation A (`{idToken, accessToken}`) for an account. */
function externalA(label: string, account: AccountInfo, plan: string): CommandGenerator<'login.externalTokens'> {
  const idToken = chatgptJwt({ email: account.email ?? undefined, plan, accountId: account.accountId ?? undefined, userId: account.userId ?? undefined });
  const accessToken = `access-${account.accountId}-model-secret`;
  return {
    label,
    event: {
      type: 'login.externalTokens',
      tokens: { accessToken: new Secret(accessToken), idToken: new Secret(idToken) },
      claims: { ok: true, account },
    },
    wire: {
      kind: 'request',
      method: 'account/login/start',
      params: { type: 'chatgptAuthTokens', idToken, accessToken },
      result: () => ({ type: 'chatgptAuthTokens' }),
      secrets: [idToken, accessToken],
    },
  };
}

/** An external-token login of generation B (`{accessToken, chatgptAccountId, chatgptPlanType}`). */
function externalB(label: string, account: AccountInfo & { accountId: string }): CommandGenerator<'login.externalTokens'> {
  const accessToken = chatgptJwt({ email: account.email ?? undefined, userId: account.userId ?? undefined });
  return {
    label,
    event: {
      type: 'login.externalTokens',
      tokens: { accessToken: new Secret(accessToken), idToken: null },
      claims: { ok: true, account },
    },
    wire: {
      kind: 'request',
      method: 'account/login/start',
      params: { type: 'chatgptAuthTokens', accessToken, chatgptAccountId: account.accountId, chatgptPlanType: account.planType },
      result: () => ({ type: 'chatgptAuthTokens' }),
      secrets: [accessToken],
    },
  };
}

/** Event generators keyed by event type: every command the chart accepts, in the variants the policy distinguishes. */
export const COMMANDS: { [T in AuthEvent['type']]: Array<CommandGenerator<T>> } = {
  'login.apiKey': [
    {
      label: 'login.apiKey',
      event: { type: 'login.apiKey', apiKey: new Secret('sk-model-key') },
      wire: { kind: 'request', method: 'account/login/start', params: { type: 'apiKey', apiKey: 'sk-model-key' }, result: () => ({ type: 'apiKey' }) },
    },
  ],
  'login.chatgpt': [
    {
      label: 'login.chatgpt',
      event: { type: 'login.chatgpt' },
      wire: {
        kind: 'request',
        method: 'account/login/start',
        params: { type: 'chatgpt' },
        result: (value) => ({ type: 'chatgpt', ...(value as object) }),
      },
    },
  ],
  'login.externalTokens': [
    externalA('login.externalTokens(A: ada, plus, acct-A)', { email: 'ada@example.com', planType: 'plus', accountId: 'acct-A', userId: 'user-ada' }, 'plus'),
    externalB('login.externalTokens(B: bob, team, acct-B)', { email: 'bob@example.com', planType: 'team', accountId: 'acct-B', userId: 'user-bob' }),
    externalA('login.externalTokens(A: zed, free, acct-Z)', { email: 'zed@example.com', planType: 'free', accountId: 'acct-Z', userId: 'user-zed' }, 'free'),
    {
      label: 'login.externalTokens(unreadable token)',
      event: {
        type: 'login.externalTokens',
        tokens: { accessToken: new Secret('access-unreadable-model-secret'), idToken: new Secret('not-a-jwt') },
        claims: { ok: false, reason: 'token must have three dot-separated segments, found 1' },
      },
      wire: {
        kind: 'request',
        method: 'account/login/start',
        params: { type: 'chatgptAuthTokens', idToken: 'not-a-jwt', accessToken: 'access-unreadable-model-secret' },
        result: () => ({ type: 'chatgptAuthTokens' }),
        secrets: ['access-unreadable-model-secret'],
      },
    },
  ],
  'login.cancel': [
    {
      label: 'login.cancel',
      event: { type: 'login.cancel', loginId: '6f1c1e0e-2d55-4a8e-9a44-6b0f3f1d2c11' },
      wire: {
        kind: 'request',
        method: 'account/login/cancel',
        params: { loginId: '6f1c1e0e-2d55-4a8e-9a44-6b0f3f1d2c11' },
        result: (value) => value,
      },
    },
  ],
  logout: [{ label: 'logout', event: { type: 'logout' }, wire: { kind: 'request', method: 'account/logout', result: () => ({}) } }],
};

/**
 * Makes the credential file impossible to write or remove, for real: `auth.json` becomes a directory
 * (rename onto it and unlink of it fail with EISDIR, even for root). Undo puts the previous file back.
 */
async function blockCredentialFile(env: ReplayEnv): Promise<Undo> {
  const file = path.join(env.codexHome, 'auth.json');
  const aside = path.join(env.codexHome, 'auth.json.model-aside');
  const existed = await stat(file).then(
    () => true,
    () => false,
  );
  if (existed) await rename(file, aside);
  await mkdir(file);
  return async () => {
    await rmdir(file);
    if (existed) await rename(aside, file);
  };
}

const nothingToArrange = async (): Promise<Undo> => async () => {};

/** The machine's actor names; ACTOR_RESULTS must have an entry for each. */
type ActorName = keyof AuthMachine['implementations']['actors'];

/** Actor-result generators keyed by invoke id (every invoke's id is its actor's name). */
export const ACTOR_RESULTS: Record<ActorName, Array<Omit<Stimulus, 'event'> & { event: AnyEventObject }>> = {
  saveApiKey: [
    { label: 'saved', event: { type: 'xstate.done.actor.saveApiKey', output: undefined }, wire: { kind: 'outcome', arrange: nothingToArrange } },
    {
      label: 'save failed',
      event: { type: 'xstate.error.actor.saveApiKey', error: new Error(ENVIRONMENT_TEXT) },
      wire: { kind: 'outcome', arrange: blockCredentialFile },
    },
  ],
  clearCredentials: [
    { label: 'cleared', event: { type: 'xstate.done.actor.clearCredentials', output: undefined }, wire: { kind: 'outcome', arrange: nothingToArrange } },
    {
      label: 'clear failed',
      event: { type: 'xstate.error.actor.clearCredentials', error: new Error(ENVIRONMENT_TEXT) },
      wire: { kind: 'outcome', arrange: blockCredentialFile },
    },
  ],
};

/** Synthetic timer events keyed by `xstate.after.<delay>.<stateId>`; the chart has no delays yet. */
export const TIMERS: Record<string, Stimulus[]> = {};

/** Every command stimulus, each with its own request key (so answers and pending requests are unambiguous). */
export const COMMAND_STIMULI: Stimulus[] = Object.values(COMMANDS)
  .flat()
  .map((generator, index) => ({ label: generator.label, event: { ...generator.event, req: index + 1 }, wire: generator.wire }));

/**
 * What the chart can receive in `snapshot`: every command (refused or not), the results of the actors
 * running in it, and the timers armed in it. An actor result is offered only while its actor runs: a
 * stray `xstate.error.actor.*` is not something any environment can produce.
 */
export function stimuliFor(snapshot: AuthSnapshot): Stimulus[] {
  const results = Object.entries(ACTOR_RESULTS)
    .filter(([id]) => id in snapshot.children)
    .flatMap(([, list]) => list);
  const timers = Object.entries(TIMERS)
    .filter(([eventType]) => snapshot._nodes.some((node) => node.after.some((t) => t.eventType === eventType)))
    .flatMap(([, list]) => list);
  return [...COMMAND_STIMULI, ...results, ...timers];
}

/** Every stimulus of the catalogue. */
export function allStimuli(): Stimulus[] {
  return [...COMMAND_STIMULI, ...Object.values(ACTOR_RESULTS).flat(), ...Object.values(TIMERS).flat()];
}

/** Descriptors, invokes and delays of the chart that the catalogue cannot produce (empty = complete). */
export function catalogueGaps(machine: AuthMachine): string[] {
  const shape = chartShape(machine);
  const types = allStimuli().map((s) => s.event.type);
  const gaps: string[] = [];
  for (const descriptor of shape.eventDescriptors) {
    if (!types.some((type) => descriptorMatches(descriptor, type))) gaps.push(`event ${descriptor} has no generator`);
  }
  for (const invoke of shape.invokes) {
    if (!(invoke.id in ACTOR_RESULTS)) gaps.push(`invoke ${invoke.id} (in ${invoke.source}) has no actor-result generator`);
  }
  for (const delayed of shape.delayedEvents) {
    if (!(delayed in TIMERS)) gaps.push(`timer ${delayed} has no generator`);
  }
  return gaps;
}

/** The wire form of a notification the chart emits (PROTOCOL.md §5). */
export function wireNotification(event: Extract<AuthEmitted, { type: `notify.${string}` }>): { method: string; params: unknown } {
  switch (event.type) {
    case 'notify.loginCompleted':
      return { method: 'account/login/completed', params: { loginId: event.loginId, success: event.success, error: event.error } };
    case 'notify.accountUpdated':
      return { method: 'account/updated', params: { authMode: event.authMode, planType: event.planType } };
  }
}

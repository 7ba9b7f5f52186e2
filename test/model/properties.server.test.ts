/**
 * Property-based layer, against the real server: random sequences of catalogue requests (each effect
 * ending the way the sequence picks, for real) mixed with bad input (lines that are not JSON, unknown
 * methods, wrong params, notifications that look like commands), over the real bin and pipes. After every
 * request the wire must match the model exactly (replay.ts), bad input must be answered as docs/protocol.md §1
 * says and change nothing, the invariants of invariants.ts must hold, and no external token may be in a
 * file under CODEX_HOME.
 */
import fc from 'fast-check';
import type { Msg } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { authMachine } from '../../machines/auth.machine';
import { CATALOGUE_SECRETS, FIXTURES, WIRE_ACTIONS, fixtureAllows } from './catalogue';
import { explore, expandAction, type Explored, type Group } from './explore';
import { checkRequests, checkStep, newVacuity } from './invariants';
import { projectionOf, type ModelStep } from './model';
import { ReplaySession } from './replay';

const SECRETS = CATALOGUE_SECRETS;
/** The stepper and start state of each fixture (requests are expanded on the fly, no graph needed). */
const suite = { explorations: FIXTURES.filter((f) => f.exploreEvents !== false).map((f) => explore(authMachine, f, { events: false })) };

/** Input the catalogue does not produce, with the reply docs/protocol.md §1 prescribes (null: no reply at all). */
interface BadInput {
  label: string;
  line: string;
  reply: Msg | null;
  /** Token bytes in the line, which must not reach the disk either. */
  secrets?: string[];
}

const anyMessage = () => expect.any(String);
const NOTIFIED_ID_TOKEN = chatgptJwt({ email: 'notif@example.com' });

const FIXED_BAD_INPUT: BadInput[] = [
  { label: 'unknown method', line: '{"id":"bad-1","method":"thread/start","params":{}}', reply: { id: 'bad-1', error: { code: -32601, message: 'Method not found: thread/start' } } },
  { label: 'apiKey login without a key', line: '{"id":"bad-2","method":"account/login/start","params":{"type":"apiKey"}}', reply: { id: 'bad-2', error: { code: -32602, message: anyMessage() } } },
  { label: 'apiKey login with an empty key', line: '{"id":"bad-3","method":"account/login/start","params":{"type":"apiKey","apiKey":""}}', reply: { id: 'bad-3', error: { code: -32602, message: anyMessage() } } },
  { label: 'external login without tokens', line: '{"id":"bad-4","method":"account/login/start","params":{"type":"chatgptAuthTokens"}}', reply: { id: 'bad-4', error: { code: -32602, message: anyMessage() } } },
  { label: 'cancel with a login id that is no UUID', line: '{"id":"bad-5","method":"account/login/cancel","params":{"loginId":"nope"}}', reply: { id: 'bad-5', error: { code: -32600, message: 'invalid login id: nope' } } },
  { label: 'logout sent as a notification', line: '{"method":"account/logout"}', reply: null },
  {
    label: 'external login sent as a notification',
    line: JSON.stringify({ method: 'account/login/start', params: { type: 'chatgptAuthTokens', idToken: NOTIFIED_ID_TOKEN, accessToken: 'access-notification-model-secret' } }),
    reply: null,
    secrets: [NOTIFIED_ID_TOKEN, 'access-notification-model-secret'],
  },
  { label: 'a JSON number', line: '42', reply: { id: null, error: { code: -32600, message: anyMessage() } } },
];

/** A line that is not JSON: answered -32700 with id null. */
const garbageArbitrary: fc.Arbitrary<BadInput> = fc
  .string({ maxLength: 40 })
  .map((text) => `{${text.replace(/[\r\n]/g, ' ')}`)
  .filter((line) => {
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  })
  .map((line) => ({ label: `garbage ${JSON.stringify(line)}`, line, reply: { id: null, error: { code: -32700, message: anyMessage() } } }));

type Action = { kind: 'request'; index: number } | { kind: 'bad'; input: BadInput };

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.nat({ max: 1000 }).map((index) => ({ kind: 'request' as const, index })),
  },
  { weight: 2, arbitrary: fc.constantFrom(...FIXED_BAD_INPUT).map((input) => ({ kind: 'bad' as const, input })) },
  { weight: 1, arbitrary: garbageArbitrary.map((input) => ({ kind: 'bad' as const, input })) },
);

/** A random request from `from`: one of the groups (request and environment's choices) the catalogue offers there. */
function randomGroup(explored: Explored, from: ModelStep, index: number): Group {
  const groups = WIRE_ACTIONS.filter((a) => fixtureAllows(explored.fixture, a.label, from.after) && (!a.onlyIf || a.onlyIf(from.after))).flatMap((action) =>
    expandAction(explored, from.after, action),
  );
  return groups[index % groups.length];
}

describe('properties of the real server', () => {
  it('keeps the invariants and matches the model over random requests and bad input', async () => {
    const vacuity = newVacuity();
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(actionArbitrary, { minLength: 1, maxLength: 14 }), async (fixtureIndex, actions) => {
        const explored = suite.explorations[fixtureIndex % suite.explorations.length];
        const { fixture } = explored;
        let model = explored.initial;
        const session = await ReplaySession.start(fixture);
        const done: string[] = [];
        try {
          await session.checkStart(model);
          for (const action of actions) {
            const where = () => `[${fixture.name}] random: ${done.join(' → ')}`;
            if (action.kind === 'bad') {
              done.push(action.input.label);
              session.rememberSecrets(action.input.secrets ?? []);
              await session.sendBadLine(action.input.line, action.input.reply, model, where());
            } else {
              const group = randomGroup(explored, model, action.index);
              const { steps } = group;
              done.push(group.label);
              const response = await session.replayGroup(group, where());
              const last = steps[steps.length - 1].model;
              expect(steps.flatMap((s) => checkStep(s.model, SECRETS, vacuity))).toEqual([]);
              expect(checkRequests(steps.map((s) => s.model), vacuity)).toEqual([]);
              // The server's projection was just checked against the model's; a refusal must not have moved it.
              if ('error' in response) expect(projectionOf(last.after)).toEqual(projectionOf(model.after));
              model = last;
            }
            session.checkNoSecretsOnDisk();
          }
        } finally {
          await session.close();
        }
      }),
      { numRuns: 12 },
    );
    expect(vacuity.requestsRefused).toBeGreaterThan(0);
  });
});

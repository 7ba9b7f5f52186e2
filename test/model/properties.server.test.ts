/**
 * Property-based layer, against the real server: random sequences of catalogue requests (each effect
 * ending the way the sequence picks, for real) mixed with bad input (lines that are not JSON, unknown
 * methods, wrong params, notifications that look like commands), over the real bin and pipes. After every
 * request the wire must match the model exactly (replay.ts), bad input must be answered as PROTOCOL.md §1
 * says and change nothing, the invariants of invariants.ts must hold, and no external token may be in a
 * file under CODEX_HOME.
 */
import fc from 'fast-check';
import type { Msg } from '../support/appServer';
import { chatgptJwt } from '../support/jwt';
import { authMachine } from '../../machines/auth.machine';
import { COMMAND_STIMULI, FIXTURES, stimuliFor } from './catalogue';
import type { PathStep } from './explore';
import { checkRequest, checkStep, newVacuity } from './invariants';
import { ModelStepper, projectionOf, type ModelStep } from './model';
import { ReplaySession } from './replay';

const SECRETS = COMMAND_STIMULI.flatMap((s) => (s.wire.kind === 'request' ? (s.wire.secrets ?? []) : []));

/** Input the catalogue does not produce, with the reply PROTOCOL.md §1 prescribes (null: no reply at all). */
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

type Action = { kind: 'request'; index: number; outcomes: number[] } | { kind: 'bad'; input: BadInput };

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ index: fc.nat({ max: 1000 }), outcomes: fc.array(fc.nat({ max: 10 }), { minLength: 4, maxLength: 4 }) }).map((r) => ({ kind: 'request' as const, ...r })),
  },
  { weight: 2, arbitrary: fc.constantFrom(...FIXED_BAD_INPUT).map((input) => ({ kind: 'bad' as const, input })) },
  { weight: 1, arbitrary: garbageArbitrary.map((input) => ({ kind: 'bad' as const, input })) },
);

/** The model steps of a request: the command, then the picked actor results until the chart is idle. */
function requestSteps(stepper: ModelStepper, from: ModelStep, action: Extract<Action, { kind: 'request' }>): PathStep[] {
  const stimulus = COMMAND_STIMULI[action.index % COMMAND_STIMULI.length];
  const steps: PathStep[] = [{ stimulus, model: stepper.step(from.after, stimulus.event) }];
  for (let i = 0; steps[steps.length - 1].model.after.hasTag('busy'); i += 1) {
    if (i >= action.outcomes.length) throw new Error('the chart stayed busy longer than the sequence planned for');
    const at = steps[steps.length - 1].model.after;
    const outcomes = stimuliFor(at).filter((s) => s.wire.kind === 'outcome');
    const outcome = outcomes[action.outcomes[i] % outcomes.length];
    steps.push({ stimulus: outcome, model: stepper.step(at, outcome.event) });
  }
  return steps;
}

describe('properties of the real server', () => {
  it('keeps the invariants and matches the model over random requests and bad input', async () => {
    const vacuity = newVacuity();
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(actionArbitrary, { minLength: 1, maxLength: 14 }), async (fixtureIndex, actions) => {
        const fixture = FIXTURES[fixtureIndex % FIXTURES.length];
        const stepper = new ModelStepper(authMachine, fixture.input);
        let model = stepper.initial();
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
              const steps = requestSteps(stepper, model, action);
              done.push(steps.map((s) => s.stimulus.label).join(' → '));
              const response = await session.replayGroup(steps, where());
              const last = steps[steps.length - 1].model;
              expect(steps.flatMap((s) => checkStep(s.model, SECRETS, vacuity))).toEqual([]);
              expect(checkRequest(steps.map((s) => s.model), vacuity)).toEqual([]);
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

/**
 * The generated paths (shortest paths to every state, simple paths up to the depth cap) replayed
 * against the real server, one test per path, named by its description. Paths share a server process
 * where the model allows it: the requests that bring the server back (a logout, usually) are replayed and
 * checked like any other, and the next path is only joined when the model says it means the same from
 * there (same transitions, same emitted events, same projections) as from a fresh start.
 */
import { ReplaySession } from './replay';
import { batchPaths, explorationOf, modelSuite } from './suite';

const suite = modelSuite();
const sessions = batchPaths(suite, suite.paths);

describe.each(sessions.map((plan, i) => [`server process ${i + 1} (${plan.fixture.name}, ${plan.entries.length} paths)`, plan] as const))(
  'model-based replay: %s',
  (_name, plan) => {
    let session: ReplaySession | null = null;
    let broken: string | null = null;

    beforeAll(async () => {
      session = await ReplaySession.start(plan.fixture);
      await session.checkStart(explorationOf(suite, plan.fixture).initial);
    });
    afterAll(async () => {
      if (session) {
        session.checkNoSecretsOnDisk();
        await session.close();
      }
    });

    it.each(plan.entries.map((entry) => [entry.path.description, entry] as const))('%s', async (_description, entry) => {
      // A failed path leaves the server somewhere the model does not know: later paths of this process cannot run.
      if (broken) throw new Error(`not replayed: an earlier path on this server process failed (${broken})`);
      try {
        if (entry.reset.length) await session!.replay(entry.reset, `[${plan.fixture.name}] reset before ${entry.path.origin} path`);
        await session!.replay(entry.steps, `[${plan.fixture.name}] ${entry.path.origin} path`);
      } catch (error) {
        broken = entry.path.description;
        throw error;
      }
    });
  },
);

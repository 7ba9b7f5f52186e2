/**
 * Registers jest tests for batched replay sessions: one `describe` per server process, one test per
 * path (named by the path's description), the process shared by its paths in order.
 */
import { ReplaySession } from './replay';
import { explorationOf, type ModelSuite, type ReplaySessionPlan } from './suite';

/** Declares the tests replaying `plans` of `suite`. */
export function describeReplaySessions(title: string, suite: ModelSuite, plans: readonly ReplaySessionPlan[]): void {
  describe.each(plans.map((plan, i) => [`server process ${i + 1} (${plan.fixture.name}, ${plan.entries.length} paths)`, plan] as const))(
    `${title}: %s`,
    (_name, plan) => {
      let session: ReplaySession | null = null;
      let broken: string | null = null;

      beforeAll(async () => {
        session = await ReplaySession.start(plan.fixture);
        await session.checkStart(explorationOf(suite, plan.fixture).initial);
      });
      afterAll(async () => {
        if (!session) return;
        try {
          session.checkNoSecretsOnDisk();
        } finally {
          await session.close();
        }
      });

      it.each(plan.entries.map((entry) => [entry.path.description, entry] as const))('%s', async (_description, entry) => {
        // A failed path leaves the server where the model does not know it: later paths of this process cannot run.
        if (broken) throw new Error(`not replayed: an earlier path on this server process failed (${broken})`);
        try {
          if (entry.reset.length) await session!.replay(entry.reset, `[${plan.fixture.name}] reset before ${entry.path.origin}`);
          await session!.replay(entry.groups, `[${plan.fixture.name}] ${entry.path.origin}`);
        } catch (error) {
          broken = entry.path.description;
          throw error;
        }
      });
    },
  );
}

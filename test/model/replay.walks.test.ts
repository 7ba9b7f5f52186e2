/**
 * Edge coverage on the wire: walks that take every (idle state, request) edge of every fixture, each
 * replayed over one real server process and checked against the model after every request.
 */
import { ReplaySession } from './replay';
import { explorationOf, modelSuite } from './suite';

const suite = modelSuite();

describe('model-based replay: covering walks', () => {
  it.each(suite.walks.map((walk) => [walk.description, walk] as const))('%s', async (_name, walk) => {
    const session = await ReplaySession.start(walk.fixture);
    try {
      await session.checkStart(explorationOf(suite, walk.fixture).initial);
      await session.replay(walk.steps, `[${walk.fixture.name}] ${walk.origin}`);
      session.checkNoSecretsOnDisk();
    } finally {
      await session.close();
    }
  });
});

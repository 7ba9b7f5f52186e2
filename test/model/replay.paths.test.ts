/**
 * The generated paths (shortest paths to every state, simple paths up to the depth cap) replayed
 * against the real server, one test per path, named by its description. Paths share a server process
 * where the model allows it: the requests that bring the server back (a logout, usually) are replayed and
 * checked like any other, and the next path is only joined when the model says it means the same from
 * there (same transitions, same emitted events, same projections) as from a fresh start.
 */
import { describeReplaySessions } from './replayTests';
import { batchPaths, modelSuite } from './suite';

const suite = modelSuite();

describeReplaySessions('model-based replay of paths', suite, batchPaths(suite, suite.paths));

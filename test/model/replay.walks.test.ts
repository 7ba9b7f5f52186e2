/**
 * Edge coverage on the wire: walks that take every (idle state, request) edge of every fixture, replayed
 * against the real server and checked against the model after every request. Short walks that the
 * one-way parts of the graph force (a restored start-up is left for good) share a process where the
 * model allows, as paths do.
 */
import { describeReplaySessions } from './replayTests';
import { batchPaths, modelSuite } from './suite';

const suite = modelSuite();

describeReplaySessions('model-based replay of covering walks', suite, batchPaths(suite, suite.walks));

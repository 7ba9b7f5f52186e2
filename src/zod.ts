/**
 * The zod authchart uses: `zod/mini`, zod's tree-shakable functional API, with English messages. Same
 * validation and messages as the full `zod`, for a fraction of its start-up cost: bundled, the full
 * `zod` is ~170 KB and its schema classes take ~20 ms to load, and the handshake is validated with zod,
 * so it is on the spawn path of every app-server. Import it as `import * as z from '…/zod'`
 * (eslint refuses `zod` itself in src/ and machines/).
 */
import { config } from 'zod/mini';
import { en } from 'zod/v4/locales';

config(en());

// Re-exported member by member (not as one namespace object) so that bundling keeps only what is used.
export * from 'zod/mini';

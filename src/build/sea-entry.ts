// Entry of the single-executable application (dist/podwire). A SEA runs one CommonJS script,
// which cannot use top-level await, so this is src/main.ts without it: the same dispatch.
import { dispatch } from '../dispatch/index.js';

dispatch(process.env, process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`podwire: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);

// podwire: one program for every role (see src/dispatch for the rule that picks it).
import { dispatch } from './dispatch/index.js';

process.exitCode = await dispatch(process.env, process.argv.slice(2));

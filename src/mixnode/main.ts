/**
 * `node src/mixnode/main.ts`: `umbra mix` as its own process, as the development network and the tests start
 * it. Only the entry point: the role is a library (role.ts: its options, `runMix(argv)`), which the `umbra`
 * command (src/cli) calls the same way. Nothing imports this file.
 */
import { runProcess } from '../ops/process.ts';
import { runMix } from './role.ts';

if (import.meta.main) runProcess('umbra mix', runMix);

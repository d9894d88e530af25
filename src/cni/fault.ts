// Fault injection for the rollback tests: PODWIRE_CNI_FAULT=<step> in the PLUGIN PROCESS's own
// environment makes ADD fail right after that step completed, with everything before it really
// done, so the test sees the real rollback. Read from process.env and never from a request's
// env: the agent socket passes only CNI_* keys of a request, and the agent is not started with
// it, so no runtime request can trigger it. PODWIRE_CNI_FAULT_PAUSE=<file> makes the failing
// step first create <file> and wait (bounded) until the test deletes it, so the test can look at
// the state ADD had built before the failure.
import { existsSync, writeFileSync } from 'node:fs';
import { PodwireError } from '../errors/index.js';

/** The steps of ADD a fault can follow, in the order they complete on a quiet machine. */
export const FAULT_STEPS = ['veth', 'attach', 'endpoint', 'pod', 'wired'] as const;
/** The warm-pool path's own points (agent only): after the pool pair's link pins were renamed to
 * the attachment's name, and after the helper moved and renamed the pair. */
export const POOL_FAULT_STEPS = ['pool-pins', 'pool-take'] as const;
export type FaultStep = (typeof FAULT_STEPS)[number] | (typeof POOL_FAULT_STEPS)[number];

const PAUSE_LIMIT_MS = 60_000;

export async function faultPoint(step: FaultStep): Promise<void> {
  if (process.env['PODWIRE_CNI_FAULT'] !== step) return;
  const pause = process.env['PODWIRE_CNI_FAULT_PAUSE'];
  if (pause) {
    writeFileSync(pause, `${step}\n`);
    for (let waited = 0; existsSync(pause) && waited < PAUSE_LIMIT_MS; waited += 20) await new Promise((r) => setTimeout(r, 20));
  }
  throw new PodwireError('IO_FAILED', `injected fault after ADD step "${step}" (PODWIRE_CNI_FAULT)`);
}

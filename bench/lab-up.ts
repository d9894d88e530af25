// A lab for a bench section, removed even when the run is interrupted while the lab is still
// being built. `registerCleanup` after `Lab.up` returned left a window of 10–30 s (agents
// starting, waitReady) in which SIGINT/SIGTERM ran the other teardowns and exited, leaving the
// half-built lab's namespaces, agents and pins behind.
import { Lab, type LabUpOptions } from '../src/lab/cluster.js';
import { registerCleanup } from './cleanup.js';

export interface BenchLab {
  lab: Lab;
  /** Drop the interrupt teardown (the caller's own teardown, or another registered one, owns the lab now). */
  unregister: () => void;
}

export async function benchLabUp(opts: LabUpOptions): Promise<BenchLab> {
  const ac = new AbortController();
  let lab: Lab | undefined;
  let settled: Promise<unknown> = Promise.resolve();
  const unregister = registerCleanup(async () => {
    ac.abort();
    // `up` stops at its next step and removes the half-built lab itself; a finished lab is ours.
    await settled;
    await lab?.down();
  });
  const pending = Lab.up({ ...opts, signal: ac.signal });
  settled = pending.catch(() => {});
  try {
    lab = await pending;
  } catch (e) {
    unregister();
    throw e;
  }
  return { lab, unregister };
}

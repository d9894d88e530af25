// The control-plane section: CNI latency, map sync rate, metrics scrape cost, watch → map latency, agent start,
// NetworkPolicy change → enforced on every node.
// Each part fails on its own (recorded as an error) without hiding the others' figures.
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { benchCni } from './cni.js';
import { benchLab } from './lab.js';
import { benchMapSync } from './maps.js';
import { benchMetricsScrape } from './metrics.js';
import { benchPolicyPropagation } from './policy.js';

export async function runControlPlane(o: { quick: boolean }, col: Collector, progress: Progress): Promise<void> {
  const parts: Array<[string, () => Promise<void>]> = [
    ['cni', () => benchCni({ pods: o.quick ? 10 : 100, concurrent: o.quick ? 10 : 50 }, col, progress)],
    ['map-sync', () => benchMapSync({ sizes: [10_000, 100_000], iterations: o.quick ? 2 : 10 }, col, progress)],
    ['metrics', () => benchMetricsScrape({ endpoints: 100_000, iterations: o.quick ? 3 : 20 }, col, progress)],
    ['agent', () => benchLab({ watchEvents: o.quick ? 3 : 20, restarts: o.quick ? 1 : 3, shimPods: o.quick ? 10 : 100 }, col, progress)],
    ['policy-propagation', () => benchPolicyPropagation({ reps: o.quick ? 3 : 30 }, col, progress)],
  ];
  // PODWIRE_BENCH_CONTROL_PARTS=agent,… runs only those parts (a focused re-run; the full run runs all)
  const only = process.env['PODWIRE_BENCH_CONTROL_PARTS']?.split(',').filter(Boolean);
  for (const [name, fn] of parts) {
    if (only && !only.includes(name)) continue;
    try {
      await fn();
    } catch (e) {
      progress.warn(`control-plane ${name}: ${(e as Error).message}`);
      col.error({ section: 'control-plane', topology: name, stage: 'run', message: (e as Error).message });
    }
  }
}

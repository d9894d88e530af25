import type { Collector } from '../results.js';
import type { Progress } from '../progress.js';
export async function runControlPlane(_o: { quick: boolean }, _col: Collector, _p: Progress): Promise<void> {}

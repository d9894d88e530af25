import type { Collector } from '../results.js';
import type { Progress } from '../progress.js';
export async function runScale(_o: { nodes: number; pods: number; quick: boolean }, _col: Collector, _p: Progress): Promise<void> {}

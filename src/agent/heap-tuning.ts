// V8's old generation grows to (live size × a factor V8 picks from its GC and allocation speeds,
// up to 4×) before the next full GC. While the agent lists a million Pods that slack is the
// difference between runs of the same code (peak RSS 375–587 MB measured at 65k Nodes / 1M Pods:
// bench/report/findings.md, issue 13 item 5). A fixed, smaller factor makes full GCs come sooner
// while the heap grows. Set in the agent's own code, so the DaemonSet, the lab and the bench run
// it alike. Applied once the node is ready: from the start, the extra full GCs while the Node list
// and the first reconcile grow the heap cost 0.5–2.4 s of the ready path. No cap on the heap: a
// bigger cluster's agent grows, it does not crash.
//
// The factor only applies from the next full GC on, and the limit in force at ready was set by
// the last full GC before it, with V8's own factor: measured at 65k Nodes / 1M Pods, the heap
// then grew from 174 to 250 MB used (old space 160 MB, large objects 84 MB: the Node list pages,
// the first reconcile's and the kernel route sync's garbage, the first Pod pages) before a full
// GC brought it to 92 MB, and that was the agent's peak RSS (401 MB). So the agent also runs one
// full GC right after it is ready (collectNow: ~0.1 s at that size, after the conflist is written),
// which sets the limit from the live set with the fixed factor.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Old generation limit after a full GC = live × (1 + HEAP_GROWING_PERCENT / 100). */
export const HEAP_GROWING_PERCENT = 30;

export function tuneHeap(percent = HEAP_GROWING_PERCENT): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/**
 * Keep V8's young generation within one step of its initial size (8 MB committed in the agent) instead of letting it
 * double up to 32 MB while the Node and Pod lists allocate fast. Those pages stay committed and
 * resident for the agent's life though the young generation is nearly empty once the lists are
 * done: at 65k Nodes / 1M Pods, paired runs peaked at 190 and 192 MB with this against 206 and
 * 211 MB without (bench/report/findings.md, issue 13 item 5, round 3); the price is more
 * scavenges, about 0.3 s more from datapath loaded to ready at that scale. Like the growing
 * factor it is set in code (a growth factor is read at every scavenge; the semi-space size flags
 * are read only when the heap is created, i.e. on a command line the DaemonSet, lab and bench
 * would each have to carry).
 */
export const SEMI_SPACE_GROWTH_FACTOR = 1;

export const youngGenerationFlag = (factor = SEMI_SPACE_GROWTH_FACTOR): string => `--semi-space-growth-factor=${factor}`;

export function fixYoungGeneration(factor = SEMI_SPACE_GROWTH_FACTOR): void {
  setFlagsFromString(youngGenerationFlag(factor));
}

let gc: (() => void) | undefined;

/** One full garbage collection now (V8's gc(), exposed for this call only through a fresh
 * context: the agent runs without --expose-gc). */
export function collectNow(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
  }
  gc();
}

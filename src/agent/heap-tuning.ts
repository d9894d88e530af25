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

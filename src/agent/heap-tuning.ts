// V8's old generation grows to (live size × a factor V8 picks from its GC and allocation speeds,
// up to 4×) before the next full GC. While the agent lists a million Pods that slack is the
// difference between runs of the same code (peak RSS 375–587 MB measured at 65k Nodes / 1M Pods:
// bench/report/findings.md, issue 13 item 5). A fixed, smaller factor makes full GCs come sooner
// while the heap grows. Set in the agent's own code, so the DaemonSet, the lab and the bench run
// it alike. Applied once the node is ready: from the start, the extra full GCs while the Node list
// and the first reconcile grow the heap cost 0.5–2.4 s of the ready path. No cap on the heap: a
// bigger cluster's agent grows, it does not crash.
import { setFlagsFromString } from 'node:v8';

/** Old generation limit after a full GC = live × (1 + HEAP_GROWING_PERCENT / 100). */
export const HEAP_GROWING_PERCENT = 30;

export function tuneHeap(percent = HEAP_GROWING_PERCENT): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

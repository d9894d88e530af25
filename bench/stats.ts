// Summaries of repeated samples. Medians (not means) because a benchmark on a shared 2-core VM
// has one-sided outliers (a timer tick, a neighbour's burst) that a mean would smear into every
// figure; min–max is printed next to each median so the spread stays visible.

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank-with-interpolation percentile (p in 0..100) of unsorted samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = ((s.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number;
}

export function summarise(xs: readonly number[]): Summary {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), samples: xs.length };
}

// A small seeded PRNG (mulberry32) so every differential run is reproducible from its seed.
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** 0 <= n < max */
  int(max: number): number {
    return this.u32() % max;
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** Picks a key by weight: { a: 3, b: 1 } returns 'a' three times as often as 'b'. */
  weighted<K extends string>(w: Record<K, number>): K {
    const entries = Object.entries(w) as Array<[K, number]>;
    let r = this.u32() / 0x1_0000_0000 * entries.reduce((a, [, n]) => a + n, 0);
    for (const [k, n] of entries) if ((r -= n) < 0) return k;
    return entries[entries.length - 1]![0];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/kube/backoff.js';

describe('Backoff', () => {
  it('doubles up to the cap, without jitter', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect(Array.from({ length: 6 }, () => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(b.attempts).toBe(6);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('jitter only shortens the delay, within the fraction', () => {
    const lo = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0.999999 });
    const hi = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0 });
    expect(lo.next()).toBe(500);
    expect(hi.next()).toBe(1000);
    const r = new Backoff({ initialMs: 1000, maxMs: 8000, jitter: 0.3 });
    for (let i = 0; i < 50; i++) {
      const ceiling = Math.min(8000, 1000 * 2 ** i);
      const d = r.next();
      expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.7));
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });
});

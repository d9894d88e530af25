// The bench's flip reading (bench/control/policy.ts): when did a target settle into a state.
import { describe, expect, it } from 'vitest';
import { flipTime, type Attempts } from '../../src/lab/flip-probe.js';

describe('flipTime', () => {
  const a: Attempts = [[0, 1], [10, 1], [20, 0], [30, 1], [40, 0], [50, 0], [60, 0]];
  it('is the start of the final run of the wanted outcome (a stray earlier failure does not count)', () => {
    expect(flipTime(a, false)).toBe(40);
  });
  it('is undefined when the last attempt had the other outcome (not settled)', () => {
    expect(flipTime(a, true)).toBeUndefined();
    expect(flipTime([], false)).toBeUndefined();
  });
  it('is the first attempt when every attempt had the outcome', () => {
    expect(flipTime([[5, 1], [15, 1]], true)).toBe(5);
  });
});

// parseIpv4 is a character loop (the agent parses every Node's and route's address at 65k Nodes);
// it must accept and reject exactly what the split-and-regex form it replaced did.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ipam/cidr.js';

function reference(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

const FIXED = ['', '.', '1.2.3.4', '1.2.3.4.', '.1.2.3', '1..2.3', '01.2.3.4', '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1000.1.1.1', '1.2.3.04', '1.2.3.0', ' 1.2.3.4', '1.2.3.4 ', '١.2.3.4', '1.2.3.+4', '1.2.3.4/24'];

describe('parseIpv4', () => {
  it('agrees with the split-and-regex reference', () => {
    for (const t of FIXED) expect(parseIpv4(t)).toBe(reference(t));
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('', '00', '01', '007', '1000', '-1', '+1', 'a', ' 1'));
    fc.assert(
      fc.property(fc.array(octet, { minLength: 1, maxLength: 6 }), fc.constantFrom('.', '..', ':'), (parts, sep) => {
        const t = parts.join('.');
        expect(parseIpv4(t)).toBe(reference(t));
        expect(parseIpv4(parts.join(sep))).toBe(reference(parts.join(sep)));
      }),
      { seed: 11, numRuns: 2000 },
    );
    fc.assert(fc.property(fc.string({ maxLength: 20 }), (t) => {
        expect(parseIpv4(t)).toBe(reference(t));
      }), { seed: 12, numRuns: 2000 });
  });
});

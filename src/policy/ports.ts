// A ruleset's slot port specs -> pol_ports LPM entries. The map returns only the LONGEST match,
// so every entry carries the union of the bits of every spec covering it: "any protocol"
// (prefixlen 32) flows into "every port of proto" (48), both into port prefixes (48 + n).
import type { Protocol } from './types.js';

export const PROTO_NUMBER: Readonly<Record<Protocol, number>> = { TCP: 6, UDP: 17, SCTP: 132 };
export const PROTO_NAME: Readonly<Record<number, Protocol>> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** One admitted port range of a slot; proto 0 = any protocol and port. lo 0 / hi 65535 = all ports. */
export interface PortRange {
  proto: number;
  lo: number;
  hi: number;
}

export interface PortEntry {
  prefixlen: number;
  proto: number;
  port: number;
  slots: bigint;
}

export const ANY_PORTS: readonly PortRange[] = [{ proto: 0, lo: 0, hi: 65535 }];

export function portRangeText(r: PortRange): string {
  if (r.proto === 0) return 'any';
  const p = PROTO_NAME[r.proto] ?? String(r.proto);
  if (r.lo === 0 && r.hi === 65535) return `${p}/*`;
  return r.lo === r.hi ? `${p}/${r.lo}` : `${p}/${r.lo}-${r.hi}`;
}

/** Canonical sorted, de-duplicated copy. */
export function normalizeRanges(ranges: readonly PortRange[]): PortRange[] {
  const seen = new Map<string, PortRange>();
  for (const r of ranges) seen.set(`${r.proto}/${r.lo}/${r.hi}`, { proto: r.proto, lo: r.lo, hi: r.hi });
  return [...seen.values()].sort((a, b) => a.proto - b.proto || a.lo - b.lo || a.hi - b.hi);
}

/** [lo, hi] as aligned power-of-two blocks: {value, len} with len the prefix bits of 16. */
export function rangePrefixes(lo: number, hi: number): { value: number; len: number }[] {
  const out: { value: number; len: number }[] = [];
  let x = lo;
  while (x <= hi) {
    let size = 1;
    while (size < 65536 && x % (size * 2) === 0 && x + size * 2 - 1 <= hi) size *= 2;
    out.push({ value: x, len: 16 - Math.log2(size) });
    x += size;
  }
  return out;
}

/** pol_ports entries for slots[i] admitting ranges[i]. */
export function compilePorts(slotRanges: readonly (readonly PortRange[])[]): PortEntry[] {
  let any = 0n;
  const allOf = new Map<number, bigint>();
  const ranges = new Map<number, { lo: number; hi: number; bit: bigint }[]>();
  slotRanges.forEach((rs, i) => {
    const bit = 1n << BigInt(i);
    for (const r of rs) {
      if (r.proto === 0) any |= bit;
      else if (r.lo === 0 && r.hi === 65535) allOf.set(r.proto, (allOf.get(r.proto) ?? 0n) | bit);
      else {
        const list = ranges.get(r.proto) ?? [];
        list.push({ lo: r.lo, hi: r.hi, bit });
        ranges.set(r.proto, list);
      }
    }
  });
  const out: PortEntry[] = [];
  if (any) out.push({ prefixlen: 32, proto: 0, port: 0, slots: any });
  const protos = [...new Set([...allOf.keys(), ...ranges.keys()])].sort((a, b) => a - b);
  for (const proto of protos) {
    const base = any | (allOf.get(proto) ?? 0n);
    if (base !== any) out.push({ prefixlen: 48, proto, port: 0, slots: base });
    const list = ranges.get(proto) ?? [];
    if (!list.length) continue;
    // elementary intervals between every range boundary; adjacent ones with equal bits merged
    const points = [...new Set(list.flatMap((r) => [r.lo, r.hi + 1]))].sort((a, b) => a - b);
    let run: { lo: number; hi: number; bits: bigint } | undefined;
    const flush = (): void => {
      if (run && run.bits !== base) {
        for (const p of rangePrefixes(run.lo, run.hi)) out.push({ prefixlen: 48 + p.len, proto, port: p.value, slots: run.bits });
      }
      run = undefined;
    };
    for (let i = 0; i + 1 < points.length; i++) {
      const lo = points[i]!;
      const hi = points[i + 1]! - 1;
      let bits = base;
      for (const r of list) if (r.lo <= lo && hi <= r.hi) bits |= r.bit;
      if (run && run.bits === bits && run.hi + 1 === lo) run.hi = hi;
      else {
        flush();
        run = { lo, hi, bits };
      }
    }
    flush();
  }
  return out;
}

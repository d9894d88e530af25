// IPv4 prefixes as numbers, and the partition of a union of ipBlocks (cidr minus excepts) and pod
// /32s into LPM entries whose longest match answers membership exactly.

export interface Prefix {
  /** Network address, host-order u32, masked to len. */
  addr: number;
  len: number;
}

export function parseIpv4(ip: string): number | undefined {
  // hot at 100k pods: a hand-rolled parser, no split/regex
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      v = v * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (++digits > 3) return undefined;
      part = part * 10 + (c - 48);
      if (part > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return v * 256 + part;
}

export function formatIpv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

export function isIpv6(text: string): boolean {
  return text.includes(':');
}

/** "a.b.c.d/n" (host bits are masked off, as the API server tolerates) or undefined. */
export function parseCidr(text: string): Prefix | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const addr = parseIpv4(m[1]!);
  const len = Number(m[2]);
  if (addr === undefined || len > 32) return undefined;
  return { addr: (addr & maskOf(len)) >>> 0, len };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIpv4(p.addr)}/${p.len}`;
}

export function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.len <= inner.len && ((inner.addr & maskOf(outer.len)) >>> 0) === outer.addr;
}

export function containsAddr(p: Prefix, addr: number): boolean {
  return ((addr & maskOf(p.len)) >>> 0) === p.addr;
}

export interface SetItems {
  blocks: readonly { cidr: Prefix; except: readonly Prefix[] }[];
  /** Pod addresses, host-order u32. */
  pods: readonly number[];
}

const keyOf = (addr: number, len: number): number => len * 0x100000000 + addr;

/**
 * LPM entries for a union: the value of each prefix is the membership of the addresses whose
 * longest match it is; only prefixes whose value differs from their nearest enclosing prefix (or
 * from "not a member" at the top) are kept. Sorted by address then length.
 */
export function partition(items: SetItems): { prefix: Prefix; include: boolean }[] {
  if (items.blocks.length === 0) {
    const uniq = [...new Set(items.pods)].sort((a, b) => a - b);
    return uniq.map((addr) => ({ prefix: { addr, len: 32 }, include: true }));
  }
  const all = new Map<number, Prefix>();
  const podSet = new Set<number>();
  for (const b of items.blocks) {
    all.set(keyOf(b.cidr.addr, b.cidr.len), b.cidr);
    for (const e of b.except) if (contains(b.cidr, e)) all.set(keyOf(e.addr, e.len), e);
  }
  for (const a of items.pods) {
    podSet.add(a);
    all.set(keyOf(a, 32), { addr: a, len: 32 });
  }
  const include = (p: Prefix): boolean => {
    if (p.len === 32 && podSet.has(p.addr)) return true;
    for (const b of items.blocks) {
      if (!contains(b.cidr, p)) continue;
      if (!b.except.some((e) => contains(b.cidr, e) && contains(e, p))) return true;
    }
    return false;
  };
  const lens = [...new Set([...all.values()].map((p) => p.len))].sort((a, b) => b - a);
  const out: { prefix: Prefix; include: boolean }[] = [];
  for (const p of all.values()) {
    const v = include(p);
    let parent = false;
    for (const l of lens) {
      if (l >= p.len) continue;
      const q = all.get(keyOf((p.addr & maskOf(l)) >>> 0, l));
      if (q) {
        parent = include(q);
        break;
      }
    }
    if (v !== parent) out.push({ prefix: p, include: v });
  }
  return out.sort((a, b) => a.prefix.addr - b.prefix.addr || a.prefix.len - b.prefix.len);
}

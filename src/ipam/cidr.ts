// IPv4 address and CIDR arithmetic for the pod address pool. Addresses are plain unsigned
// 32-bit numbers so the allocator can walk a range without string juggling.

export interface Ipv4Cidr {
  /** Network address as an unsigned 32-bit number. */
  network: number;
  prefix: number;
  /** Canonical text form, e.g. "10.244.1.0/24". */
  text: string;
}

/** Parse a dotted quad; undefined when it is not exactly four decimal octets. Rejects empty
 * parts, signs, leading zeros ("010" is octal to some tools) and junk. A character loop, not
 * split and a regex per part: the agent parses every Node's address at 65k Nodes. */
export function parseIpv4(text: string): number | undefined {
  let n = 0;
  let parts = 0;
  let i = 0;
  const end = text.length;
  while (true) {
    let v = 0;
    let digits = 0;
    const start = i;
    for (; i < end; i++) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
      if (++digits > 3) return undefined;
    }
    if (digits === 0 || v > 255 || (digits > 1 && text.charCodeAt(start) === 48)) return undefined;
    n = n * 256 + v;
    parts++;
    if (i === end) break;
    if (parts === 4 || text.charCodeAt(i) !== 46) return undefined;
    i++;
  }
  return parts === 4 ? n : undefined;
}

export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parse "a.b.c.d/len". Returns a reason string instead of throwing so the config layer can
 * phrase one message that names the key, the value and the fix.
 */
export function parseIpv4Cidr(text: string): Ipv4Cidr | { error: string } {
  const m = /^([^/]+)\/([0-9]{1,2})$/.exec(text);
  if (!m) return { error: 'is not in a.b.c.d/len form' };
  const addr = parseIpv4(m[1] ?? '');
  if (addr === undefined) return { error: `has an invalid IPv4 address "${m[1]}"` };
  const prefix = Number(m[2]);
  if (prefix > 32) return { error: `has prefix length ${prefix}, which is more than 32` };
  const network = (addr & maskOf(prefix)) >>> 0;
  if (network !== addr) {
    return { error: `has host bits set (the network is ${formatIpv4(network)}/${prefix})` };
  }
  return { network, prefix, text: `${formatIpv4(network)}/${prefix}` };
}

/**
 * The addresses the allocator may hand out: everything except the network and broadcast
 * addresses. Nothing else is reserved — pods reach the node through the link-local gateway
 * 169.254.1.1, so no pool address is needed for a gateway. Callers keep prefix ≤ 30.
 */
export function hostRange(c: Ipv4Cidr): { first: number; last: number; size: number } {
  const broadcast = (c.network | (~maskOf(c.prefix) >>> 0)) >>> 0;
  const first = c.network + 1;
  const last = broadcast - 1;
  return { first, last, size: last - first + 1 };
}

export function cidrContains(c: Ipv4Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.network;
}

// The agent's cache of every Node, stored by column: at 65,000 Nodes a Map of NodeFacts objects
// cost ~355 B per Node (the record, its podCIDRs array, three strings, the Map entry); here a
// Node is its name as bytes in a KeySlots table and one entry per typed array: its podCIDR's
// address (u32) and length (u8, NO_CIDR when it has none) and its InternalIP (u32, with a flag).
// A record the columns cannot hold exactly — more than one podCIDR, or text that does not read
// back the same (leading zeros, host bits are fine: the address is kept as written) — is kept
// whole beside them. Reading a Node builds a fresh NodeFacts equal (same JSON, same key order) to
// what nodeRecord() made.
import { formatIpv4, parseIpv4 } from '../ipam/cidr.js';
import { grown, SlotMap } from './slot-map.js';
import type { NodeFacts } from './objects.js';
import type { RecordStore } from './record-cache.js';

const NO_CIDR = 255;
const HAS_IP = 1;
/** Versions are unique across stores (a relist fills a fresh one). */
let stamps = 0;

/** addr/len of a podCIDR text that reads back the same, or undefined. */
function compactCidr(text: string): { addr: number; len: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIpv4(text.slice(0, slash));
  if (addr === undefined) return undefined;
  // the length as "0".."32", no leading zero, no sign
  const digits = text.length - slash - 1;
  const d0 = text.charCodeAt(slash + 1) - 48;
  const d1 = digits === 2 ? text.charCodeAt(slash + 2) - 48 : 0;
  if (digits < 1 || digits > 2 || d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || (digits === 2 && d0 === 0)) return undefined;
  const len = digits === 2 ? d0 * 10 + d1 : d0;
  return len > 32 ? undefined : { addr, len };
}

export class NodeStore extends SlotMap<NodeFacts> implements RecordStore<NodeFacts> {
  private cidr = new Uint32Array(0);
  private len = new Uint8Array(0);
  private ip = new Uint32Array(0);
  private flags = new Uint8Array(0);
  /** slot -> a record the columns cannot hold */
  private readonly whole = new Map<number, NodeFacts>();
  /** Changes with every set, delete and clear (and differs between stores): a reader that saw
   * this version has seen the current content. */
  version = ++stamps;

  get [Symbol.toStringTag](): string {
    return 'NodeStore';
  }

  /** Room for n Nodes without growing (a list's size, from its first page). */
  reserve(n: number): void {
    this.table.reserve(n);
    this.fit();
  }

  /** Store record under key, its name. */
  set(key: string, r: NodeFacts): this {
    const { slot: s, added } = this.table.add(key);
    if (added) this.fit();
    this.version = ++stamps;
    this.whole.delete(s);
    const c = r.podCIDRs.length === 1 ? compactCidr(r.podCIDRs[0]!) : undefined;
    const ip = r.internalIp === undefined ? undefined : parseIpv4(r.internalIp);
    const fits = r.name === key && r.podCIDRs.length <= 1 && (r.podCIDRs.length === 0 || c !== undefined) && (r.internalIp === undefined || ip !== undefined);
    if (!fits) {
      this.whole.set(s, r);
      return this;
    }
    this.cidr[s] = c?.addr ?? 0;
    this.len[s] = c?.len ?? NO_CIDR;
    this.ip[s] = ip ?? 0;
    this.flags[s] = ip === undefined ? 0 : HAS_IP;
    return this;
  }

  delete(key: string): boolean {
    const s = this.table.delete(key);
    if (s < 0) return false;
    this.version = ++stamps;
    this.whole.delete(s);
    return true;
  }

  clear(): void {
    this.version = ++stamps;
    this.table.clear();
    this.whole.clear();
  }

  /** Every record, in one array (a plain loop: the reconcile reads all 65k on each change). */
  all(): NodeFacts[] {
    const out: NodeFacts[] = [];
    for (let s = 0, end = this.table.end; s < end; s++) if (this.table.isLive(s)) out.push(this.valueAt(this.table.keyOf(s), s));
    return out;
  }

  /** Records kept whole (not in the columns): for tests and the memory probe. */
  get wholeRecords(): number {
    return this.whole.size;
  }

  // same key order as objects.ts's nodeFacts()
  protected valueAt(name: string, s: number): NodeFacts {
    const w = this.whole.get(s);
    if (w !== undefined) return w;
    const len = this.len[s]!;
    const podCIDRs = len === NO_CIDR ? [] : [`${formatIpv4(this.cidr[s]!)}/${len}`];
    return this.flags[s]! & HAS_IP ? { name, podCIDRs, internalIp: formatIpv4(this.ip[s]!) } : { name, podCIDRs };
  }

  private fit(): void {
    const cap = this.table.capacity();
    this.cidr = grown(this.cidr, cap);
    this.len = grown(this.len, cap);
    this.ip = grown(this.ip, cap);
    this.flags = grown(this.flags, cap);
  }
}

/** The content version of a NodeStore (undefined for any other map). */
export function nodeStoreVersion(m: ReadonlyMap<string, unknown>): number | undefined {
  return m instanceof NodeStore ? m.version : undefined;
}

/** Every record of a node cache as an array: a NodeStore's fast path, or the map's values. */
export function nodeFactsOf(m: ReadonlyMap<string, NodeFacts>): NodeFacts[] {
  return m instanceof NodeStore ? m.all() : [...m.values()];
}

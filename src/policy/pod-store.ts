// The policy controller's cluster-wide Pod cache, stored by column: at 1,000,000 Pods a Map of
// PodRecord objects costs ~233 B per Pod (record object, its strings, the Map entry); here a Pod is
// its key (namespace/name) as bytes in a KeySlots table (no key string, no Map entry: ../kube/key-slots.ts)
// that gives it a slot, and one entry in each typed array: IPv4
// (u32), namespace / node / label-set / port-list ids (u32, into reference-counted tables of the
// shared values) and a flags byte. Deleted slots go to a free list. Reading a Pod (get, values,
// entries) builds a fresh PodRecord from its columns: equal by content to what podRecord() made,
// never the same object twice (readers must not rely on identity). It is a ReadonlyMap, so the
// compiler reads it like the plain Map it replaces; localPods() answers the compiler's one
// cluster-wide scan (the pods behind this node's IPs) from the IP column without building a
// record per Pod.
import { PodwireError } from '../errors/index.js';
import { grown, SlotMap } from '../kube/slot-map.js';
import { formatIpv4, parseIpv4 } from './cidr.js';
import { IdTable } from './id-table.js';
import type { NamedPort, PodRecord } from './types.js';

const HAS_IP = 1;
const HOST_NETWORK = 2;
const LIVE = 4;

type MemberCallback = (namespace: string, addr: number, labels: Readonly<Record<string, string>>, ports: readonly NamedPort[]) => void;

/** What the compiler reads: every Pod by namespace/name, and optionally fast scans. */
export interface PodSource extends ReadonlyMap<string, PodRecord> {
  /** The pods with an IP in ips that are not hostNetwork, in no particular order. */
  localPods?(ips: ReadonlySet<string>): PodRecord[];
  /** Every pod with an IP that is not hostNetwork (what the pod index holds), from the columns. */
  forEachMember?(cb: MemberCallback): void;
}

export class PodStore extends SlotMap<PodRecord> implements PodSource {
  private ip = new Uint32Array(0);
  private ns = new Uint32Array(0);
  private node = new Uint32Array(0);
  private labels = new Uint32Array(0);
  private ports = new Uint32Array(0);
  private flags = new Uint8Array(0);
  private readonly names = new IdTable<string>();
  private readonly labelSets = new IdTable<Readonly<Record<string, string>>>();
  private readonly portLists = new IdTable<readonly NamedPort[]>();

  get [Symbol.toStringTag](): string {
    return 'PodStore';
  }

  /** Room for n Pods without growing (a list's size, from its first page). */
  reserve(n: number): void {
    this.table.reserve(n);
    this.fit();
  }

  /** Store record under key, which must be its namespace/name. */
  set(key: string, r: PodRecord): this {
    if (key.length !== r.namespace.length + 1 + r.name.length || !key.startsWith(r.namespace) || key.charCodeAt(r.namespace.length) !== 47 || !key.endsWith(r.name)) {
      throw new PodwireError('RECORD_INVALID', `PodStore: key ${key} is not the record's namespace/name (${r.namespace}/${r.name})`);
    }
    const addr = r.ip === undefined ? undefined : parseIpv4(r.ip);
    // kept as a number: "10.0.0.010" reads back as "10.0.0.10" (podRecord() writes them that way)
    if (r.ip !== undefined && addr === undefined) throw new PodwireError('RECORD_INVALID', `PodStore: ${key}: IP ${r.ip} is not an IPv4 address`);
    const { slot: s, added } = this.table.add(key);
    if (added) this.fit();
    else this.release(s);
    this.ip[s] = addr ?? 0;
    this.ns[s] = this.names.acquire(r.namespace);
    this.node[s] = r.node === undefined ? 0 : this.names.acquire(r.node);
    this.labels[s] = this.labelSets.acquire(r.labels);
    this.ports[s] = this.portLists.acquire(r.ports);
    this.flags[s] = LIVE | (addr === undefined ? 0 : HAS_IP) | (r.hostNetwork ? HOST_NETWORK : 0);
    return this;
  }

  delete(key: string): boolean {
    const s = this.table.delete(key);
    if (s < 0) return false;
    this.release(s);
    this.flags[s] = 0;
    return true;
  }

  clear(): void {
    for (const s of this.table.slots()) this.release(s);
    this.table.clear();
    this.flags.fill(0);
  }

  /** Drop slot s's references to the shared tables. */
  private release(s: number): void {
    if ((this.flags[s]! & LIVE) === 0) return;
    this.names.release(this.ns[s]!);
    this.names.release(this.node[s]!);
    this.labelSets.release(this.labels[s]!);
    this.portLists.release(this.ports[s]!);
    this.flags[s] = 0;
  }

  localPods(ips: ReadonlySet<string>): PodRecord[] {
    const want = new Set<number>();
    for (const ip of ips) {
      const a = parseIpv4(ip);
      if (a !== undefined) want.add(a);
    }
    const out: PodRecord[] = [];
    if (want.size === 0) return out;
    for (let s = 0, end = this.table.end; s < end; s++) {
      if ((this.flags[s]! & (LIVE | HAS_IP | HOST_NETWORK)) === (LIVE | HAS_IP) && want.has(this.ip[s]!)) out.push(this.valueAt(this.table.keyOf(s), s));
    }
    return out;
  }

  /** Every Pod with an IP that is not hostNetwork, read from the columns (no record, no key
   * string). Slots whose key is in skip are left out (an overlay's replaced records). */
  forEachMember(cb: MemberCallback, skip?: ReadonlySet<string>): void {
    let skipSlots: Set<number> | undefined;
    if (skip && skip.size > 0) {
      skipSlots = new Set();
      for (const k of skip) {
        const s = this.table.get(k);
        if (s >= 0) skipSlots.add(s);
      }
    }
    for (let s = 0, end = this.table.end; s < end; s++) {
      if ((this.flags[s]! & (LIVE | HAS_IP | HOST_NETWORK)) !== (LIVE | HAS_IP) || skipSlots?.has(s)) continue;
      cb(this.names.value(this.ns[s]!), this.ip[s]!, this.labelSets.value(this.labels[s]!), this.portLists.value(this.ports[s]!));
    }
  }

  /** Distinct shared values held (namespace and node names, label sets, port lists). */
  shared(): { names: number; labelSets: number; portLists: number } {
    return { names: this.names.size, labelSets: this.labelSets.size, portLists: this.portLists.size };
  }

  // same key order as parse.ts's podRecord(): records compare equal by their JSON
  protected valueAt(key: string, s: number): PodRecord {
    const namespace = this.names.value(this.ns[s]!);
    const name = key.slice(namespace.length + 1);
    const f = this.flags[s]!;
    const hostNetwork = (f & HOST_NETWORK) !== 0;
    const labels = this.labelSets.value(this.labels[s]!);
    const ports = this.portLists.value(this.ports[s]!);
    const n = this.node[s]!;
    if (f & HAS_IP) {
      const ip = formatIpv4(this.ip[s]!);
      return n === 0 ? { namespace, name, ip, hostNetwork, labels, ports } : { namespace, name, ip, node: this.names.value(n), hostNetwork, labels, ports };
    }
    return n === 0 ? { namespace, name, hostNetwork, labels, ports } : { namespace, name, node: this.names.value(n), hostNetwork, labels, ports };
  }

  /** Columns as long as the key table's slots. */
  private fit(): void {
    const cap = this.table.capacity();
    this.ip = grown(this.ip, cap);
    this.ns = grown(this.ns, cap);
    this.node = grown(this.node, cap);
    this.labels = grown(this.labels, cap);
    this.ports = grown(this.ports, cap);
    this.flags = grown(this.flags, cap);
  }
}

/** The pods with an IP in ips that are not hostNetwork: the source's fast path, or a scan. */
export function localPodsOf(pods: PodSource, ips: ReadonlySet<string>): PodRecord[] {
  if (pods.localPods) return pods.localPods(ips);
  const out: PodRecord[] = [];
  for (const p of pods.values()) if (p.ip && !p.hostNetwork && ips.has(p.ip)) out.push(p);
  return out;
}

/** A PodSource with some of its records replaced (the policy controller's CNI ADD overrides:
 * the IP a pod got before the API reports it), without copying the million others. Keys of
 * `over` that base lacks are ignored. */
export class PodOverlay implements PodSource {
  constructor(
    private readonly base: PodSource,
    private readonly over: ReadonlyMap<string, PodRecord>,
  ) {}

  get size(): number {
    return this.base.size;
  }

  get [Symbol.toStringTag](): string {
    return 'PodOverlay';
  }

  has(key: string): boolean {
    return this.base.has(key);
  }

  get(key: string): PodRecord | undefined {
    return this.base.has(key) ? (this.over.get(key) ?? this.base.get(key)) : undefined;
  }

  *entries(): MapIterator<[string, PodRecord]> {
    for (const [k, v] of this.base.entries()) yield [k, this.over.get(k) ?? v];
  }

  keys(): MapIterator<string> {
    return this.base.keys();
  }

  *values(): MapIterator<PodRecord> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[string, PodRecord]> {
    return this.entries();
  }

  forEach(cb: (value: PodRecord, key: string, map: ReadonlyMap<string, PodRecord>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }

  forEachMember(cb: MemberCallback): void {
    const over = new Set<string>();
    for (const k of this.over.keys()) if (this.base.has(k)) over.add(k);
    if (this.base.forEachMember && (over.size === 0 || this.base instanceof PodStore)) {
      if (this.base instanceof PodStore) this.base.forEachMember(cb, over);
      else this.base.forEachMember(cb);
    } else {
      for (const [k, p] of this.base.entries()) {
        if (over.has(k)) continue;
        const a = p.ip && !p.hostNetwork ? parseIpv4(p.ip) : undefined;
        if (a !== undefined) cb(p.namespace, a, p.labels, p.ports);
      }
    }
    for (const k of over) {
      const p = this.over.get(k)!;
      const a = p.ip && !p.hostNetwork ? parseIpv4(p.ip) : undefined;
      if (a !== undefined) cb(p.namespace, a, p.labels, p.ports);
    }
  }

  localPods(ips: ReadonlySet<string>): PodRecord[] {
    const out = localPodsOf(this.base, ips).filter((p) => !this.over.has(`${p.namespace}/${p.name}`));
    for (const [k, p] of this.over) if (this.base.has(k) && p.ip && !p.hostNetwork && ips.has(p.ip)) out.push(p);
    return out;
  }
}

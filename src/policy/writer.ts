// Writes a CompiledPolicy into the pinned pol_* maps. On first use it reads what the maps hold, so
// a restarted agent with the same input writes nothing; afterwards it diffs against what it
// wrote. Order keeps every packet judged by a consistent policy: new sets, ports, slots ->
// pol_endpoints -> endpoint flags (BPF_EXIST: never resurrects a deleted endpoint) -> pol_state
// (revision + 1, only when something changed) -> deletion of what nothing references any more.
import { RawMap, type MapRef } from 'bpf';
import { PodwireError } from '../errors/index.js';
import { decodeEndpoint, decodeEndpointKey, encodeEndpoint, encodeEndpointKey } from '../maps/codec.js';
import { openPinnedMap, type MapName } from '../maps/open.js';
import { EP_F_EGRESS_ISOLATED, EP_F_INGRESS_ISOLATED } from './compile.js';
import {
  decodeMember,
  decodeSetKey,
  decodeState,
  encodeMember,
  encodePolEndpoint,
  encodePortKey,
  encodePorts,
  encodeSetKey,
  encodeSlot,
  encodeSlotKey,
  encodeState,
} from './map-codec.js';
import type { CompiledPolicy } from './types.js';

export interface ApplyStats {
  writes: number;
  deletes: number;
  revision: number;
  changed: boolean;
  /** Compiled endpoints the endpoints map does not hold (yet): their flags wait for the CNI ADD. */
  missingEndpoints: number;
  egressIsolated: number;
}

const BPF_EXIST = 2;
const CAPACITY_DEFINE: Partial<Record<MapName, string>> = { pol_sets: 'PW_POL_SETS_MAX', pol_ports: 'PW_POL_PORTS_MAX', pol_slots: 'PW_POL_SLOTS_MAX', pol_endpoints: 'PW_ENDPOINTS_MAX' };
const SLOT_F_ANY_PEER = 1;
const SLOT_F_MERGED = 2;
const POLICY_BITS = EP_F_INGRESS_ISOLATED | EP_F_EGRESS_ISOLATED;

interface Handle {
  ref: MapRef;
  map: RawMap;
}

/** key hex -> value hex of a map the writer owns. */
type Content = Map<string, string>;

export class PolicyWriter {
  private readonly h: Partial<Record<MapName, Handle>> = {};
  private loaded = false;
  /** set id -> cidr -> include */
  private sets = new Map<number, Map<string, boolean>>();
  private ports: Content = new Map();
  private slots: Content = new Map();
  private endpoints: Content = new Map();
  private revision = 0;
  private egressIsolated = 0;

  constructor(private readonly pinDir: string) {}

  private open(name: MapName): Handle {
    let x = this.h[name];
    if (!x) {
      const ref = openPinnedMap(this.pinDir, name);
      x = { ref, map: new RawMap(ref) };
      this.h[name] = x;
    }
    return x;
  }

  private load(): void {
    const sets = new Map<number, Map<string, boolean>>();
    for (const [k, v] of this.open('pol_sets').map.entries()) {
      const { set, cidr } = decodeSetKey(k);
      let m = sets.get(set);
      if (!m) sets.set(set, (m = new Map()));
      m.set(cidr, decodeMember(v));
    }
    const content = (name: MapName): Content => {
      const out: Content = new Map();
      for (const [k, v] of this.open(name).map.entries()) out.set(k.toString('hex'), v.toString('hex'));
      return out;
    };
    this.sets = sets;
    this.ports = content('pol_ports');
    this.slots = content('pol_slots');
    this.endpoints = content('pol_endpoints');
    const st = this.open('pol_state').map.get(Buffer.alloc(4));
    const s = st ? decodeState(st) : { revision: 0, egressIsolated: 0 };
    this.revision = s.revision;
    this.egressIsolated = s.egressIsolated;
    this.loaded = true;
  }

  apply(c: CompiledPolicy): ApplyStats {
    try {
      return this.applyInner(c);
    } catch (cause) {
      // the in-memory view may no longer match the maps: re-read them next time
      this.loaded = false;
      if (cause instanceof PodwireError) throw cause;
      throw new PodwireError('IO_FAILED', `writing the NetworkPolicy maps under ${this.pinDir} failed: ${(cause as Error).message}`, { cause });
    }
  }

  private applyInner(c: CompiledPolicy): ApplyStats {
    if (!this.loaded) this.load();
    let writes = 0;
    let deletes = 0;

    // desired content
    // sets: only those whose entries differ from what the maps hold are rebuilt (a pod change
    // touches one or two of thousands)
    const changedSets = new Map<number, Map<string, boolean>>();
    const liveSets = new Set<number>();
    for (const s of c.sets) {
      liveSets.add(s.id);
      const have = this.sets.get(s.id);
      if (have && have.size === s.entries.length && s.entries.every((e) => have.get(e.cidr) === e.include)) continue;
      changedSets.set(s.id, new Map(s.entries.map((e) => [e.cidr, e.include])));
    }
    const wantPorts: Content = new Map();
    const wantSlots: Content = new Map();
    for (const r of c.rulesets) {
      for (const p of r.ports) wantPorts.set(encodePortKey(r.id, p.prefixlen, p.proto, p.port).toString('hex'), encodePorts(p.slots).toString('hex'));
      for (const s of r.slots) {
        const first = s.rules[0];
        const v = encodeSlot({
          set: s.anyPeer ? 0 : s.set,
          flags: (s.anyPeer ? SLOT_F_ANY_PEER : 0) | (s.rules.length > 1 ? SLOT_F_MERGED : 0),
          policy: first?.policyId ?? 0,
          rule: first?.rule ?? 0,
        });
        wantSlots.set(encodeSlotKey(r.id, s.slot).toString('hex'), v.toString('hex'));
      }
    }
    const wantEps: Content = new Map();
    for (const e of c.endpoints) wantEps.set(encodeEndpointKey(e.ip).toString('hex'), encodePolEndpoint(e.ingress, e.egress).toString('hex'));

    this.checkCapacity(changedSets, wantPorts, wantSlots, wantEps);
    // 1. sets (new and changed members), ports, slots
    const setsMap = this.open('pol_sets').map;
    for (const [id, want] of changedSets) {
      const have = this.sets.get(id);
      for (const [cidr, inc] of want) {
        if (have?.get(cidr) === inc) continue;
        setsMap.set(encodeSetKey(id, cidr), encodeMember(inc));
        writes++;
      }
    }
    writes += this.writeContent('pol_ports', this.ports, wantPorts);
    writes += this.writeContent('pol_slots', this.slots, wantSlots);
    // 2. endpoints' rulesets
    writes += this.writeContent('pol_endpoints', this.endpoints, wantEps);
    // 3. isolation flags on the endpoints the CNI wrote
    const flagsOf = new Map(c.endpoints.map((e) => [e.ip, e.flags & POLICY_BITS]));
    const epMap = this.open('endpoints').map;
    let egressIsolated = 0;
    let present = 0;
    for (const [k, v] of epMap.entries()) {
      let ip: string;
      try {
        ip = decodeEndpointKey(k);
      } catch {
        continue;
      }
      const ep = decodeEndpoint(ip, v);
      const want = flagsOf.get(ip) ?? 0;
      if (flagsOf.has(ip)) present++;
      if (want & EP_F_EGRESS_ISOLATED) egressIsolated++;
      if ((ep.flags & POLICY_BITS) === want) continue;
      try {
        epMap.set(k, encodeEndpoint({ ...ep, flags: (ep.flags & ~POLICY_BITS) | want }), BPF_EXIST);
        writes++;
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENOENT') throw e; // deleted meanwhile: stays deleted
      }
    }
    // 4. revision
    const changed = writes > 0 || egressIsolated !== this.egressIsolated || this.anyDeletes(changedSets, liveSets, wantPorts, wantSlots, wantEps);
    if (changed) {
      this.revision = (this.revision + 1) >>> 0 || 1;
      this.egressIsolated = egressIsolated;
      this.open('pol_state').map.set(Buffer.alloc(4), encodeState(this.revision, egressIsolated));
      writes++;
    }
    // 5. what nothing references any more
    deletes += this.deleteContent('pol_endpoints', this.endpoints, wantEps);
    deletes += this.deleteContent('pol_slots', this.slots, wantSlots);
    deletes += this.deleteContent('pol_ports', this.ports, wantPorts);
    for (const [id, have] of this.sets) {
      if (liveSets.has(id) && !changedSets.has(id)) continue;
      const want = changedSets.get(id);
      for (const cidr of have.keys()) {
        if (want?.has(cidr)) continue;
        setsMap.delete(encodeSetKey(id, cidr));
        deletes++;
      }
      if (!liveSets.has(id)) this.sets.delete(id);
    }
    for (const [id, want] of changedSets) this.sets.set(id, want);
    return { writes, deletes, revision: this.revision, changed, missingEndpoints: c.endpoints.length - present, egressIsolated };
  }

  /** Refuse before writing anything when the peak (old + new entries: deletions come last) would
   * not fit a map: a half-written policy is worse than the previous one. */
  private checkCapacity(changedSets: Map<number, Map<string, boolean>>, p: Content, s: Content, e: Content): void {
    let sets = 0;
    for (const have of this.sets.values()) sets += have.size;
    for (const [id, want] of changedSets) {
      const have = this.sets.get(id);
      for (const cidr of want.keys()) if (!have?.has(cidr)) sets++;
    }
    const fresh = (have: Content, want: Content): number => {
      let n = have.size;
      for (const k of want.keys()) if (!have.has(k)) n++;
      return n;
    };
    const need: [MapName, number][] = [
      ['pol_sets', sets],
      ['pol_ports', fresh(this.ports, p)],
      ['pol_slots', fresh(this.slots, s)],
      ['pol_endpoints', fresh(this.endpoints, e)],
    ];
    for (const [name, n] of need) {
      const max = this.open(name).ref.maxEntries;
      if (n > max) {
        throw new PodwireError(
          'IO_FAILED',
          `NetworkPolicy needs ${n} entries in ${name} (old and new during the update) but the map holds ${max}: nothing was written, the previous policy stays; ` +
            `raise ${CAPACITY_DEFINE[name]} (bpf/lib/maps.h, a -D of the datapath build) or simplify the policies (fewer distinct peer sets)`,
        );
      }
    }
  }

  private anyDeletes(changedSets: Map<number, Map<string, boolean>>, liveSets: Set<number>, p: Content, s: Content, e: Content): boolean {
    for (const [have, want] of [[this.ports, p], [this.slots, s], [this.endpoints, e]] as const) for (const k of have.keys()) if (!want.has(k)) return true;
    for (const [id, have] of this.sets) {
      if (!liveSets.has(id)) return true;
      const want = changedSets.get(id);
      if (want) for (const cidr of have.keys()) if (!want.has(cidr)) return true;
    }
    return false;
  }

  private writeContent(name: MapName, have: Content, want: Content): number {
    const map = this.open(name).map;
    let n = 0;
    for (const [k, v] of want) {
      if (have.get(k) === v) continue;
      map.set(Buffer.from(k, 'hex'), Buffer.from(v, 'hex'));
      have.set(k, v);
      n++;
    }
    return n;
  }

  private deleteContent(name: MapName, have: Content, want: Content): number {
    const map = this.open(name).map;
    let n = 0;
    for (const k of [...have.keys()]) {
      if (want.has(k)) continue;
      map.delete(Buffer.from(k, 'hex'));
      have.delete(k);
      n++;
    }
    return n;
  }

  /** Forget the cached view: the next apply re-reads the maps (e.g. after a datapath reload). */
  reset(): void {
    this.loaded = false;
  }

  close(): void {
    for (const x of Object.values(this.h)) x?.ref.close();
    for (const k of Object.keys(this.h)) delete this.h[k as MapName];
    this.loaded = false;
  }
}

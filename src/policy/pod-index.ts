// Pods indexed by namespace and by label pair, so a selector costs the pods it can match, not
// every pod of the cluster. A member is what a selector and a named port read (address, labels,
// ports: the last two shared objects in the columnar store), not the pod's record: at 1,000,000
// Pods the index used to hold a PodRecord per cluster Pod (name and IP strings) while a compile ran.
import { parseIpv4 } from './cidr.js';
import { selectorKey, selectorMatches } from './selector.js';
import type { LabelSelector, NamedPort, NamespaceRecord, PodRecord, Protocol } from './types.js';

export interface MemberPod {
  /** host-order u32 */
  addr: number;
  labels: Readonly<Record<string, string>>;
  ports: readonly NamedPort[];
}

/** What the index is built from: records, or a source that hands out members without them. */
export type MemberSource = Iterable<PodRecord> | { forEachMember(cb: (namespace: string, addr: number, labels: Readonly<Record<string, string>>, ports: readonly NamedPort[]) => void): void };

export class PodIndex {
  private readonly byNs = new Map<string, MemberPod[]>();
  private readonly byNsLabel = new Map<string, Map<string, Map<string, MemberPod[]>>>();
  private readonly nsCache = new Map<string, string[]>();
  private readonly selCache = new Map<string, MemberPod[]>();
  private namedPorts?: Map<string, { m: MemberPod; port: number }[]>;
  private readonly allNs: string[];

  constructor(
    pods: MemberSource,
    private readonly namespaces: ReadonlyMap<string, NamespaceRecord>,
  ) {
    const add = (ns: string, m: MemberPod): void => {
      let list = this.byNs.get(ns);
      if (!list) this.byNs.set(ns, (list = []));
      list.push(m);
    };
    if ('forEachMember' in pods) pods.forEachMember((ns, addr, labels, ports) => add(ns, { addr, labels, ports }));
    else {
      for (const pod of pods) {
        const m = member(pod);
        if (m) add(pod.namespace, m);
      }
    }
    this.allNs = [...new Set([...namespaces.keys(), ...this.byNs.keys()])].sort();
  }

  /** label key -> value -> pods of one namespace, built on the first selector that needs it. */
  private labelIndex(ns: string): Map<string, Map<string, MemberPod[]>> {
    let idx = this.byNsLabel.get(ns);
    if (idx) return idx;
    idx = new Map();
    for (const m of this.byNs.get(ns) ?? []) {
      for (const k in m.labels) {
        let byValue = idx.get(k);
        if (!byValue) idx.set(k, (byValue = new Map()));
        const v = m.labels[k]!;
        let l = byValue.get(v);
        if (!l) byValue.set(v, (l = []));
        l.push(m);
      }
    }
    this.byNsLabel.set(ns, idx);
    return idx;
  }

  namespaceLabels(ns: string): Readonly<Record<string, string>> {
    return this.namespaces.get(ns)?.labels ?? { 'kubernetes.io/metadata.name': ns };
  }

  /** Namespaces a namespaceSelector selects. */
  selectNamespaces(sel: LabelSelector): string[] {
    const key = selectorKey(sel);
    let out = this.nsCache.get(key);
    if (!out) {
      out = this.allNs.filter((ns) => selectorMatches(sel, this.namespaceLabels(ns)));
      this.nsCache.set(key, out);
    }
    return out;
  }

  /** Member pods of namespace ns that sel selects. */
  selectPods(ns: string, sel: LabelSelector): MemberPod[] {
    const key = `${ns}\0${selectorKey(sel)}`;
    let out = this.selCache.get(key);
    if (out) return out;
    let candidates = this.byNs.get(ns) ?? [];
    const narrow = (k: string, v: string): void => {
      const l = this.labelIndex(ns).get(k)?.get(v) ?? [];
      if (l.length < candidates.length) candidates = l;
    };
    if (candidates.length > 16) {
      for (const [k, v] of Object.entries(sel.matchLabels ?? {})) narrow(k, v);
      for (const e of sel.matchExpressions ?? []) if (e.operator === 'In' && e.values?.length === 1) narrow(e.key, e.values[0]!);
    }
    out = candidates.filter((m) => selectorMatches(sel, m.labels));
    this.selCache.set(key, out);
    return out;
  }

  /** Every member pod with a container port name/protocol, and its number. */
  withNamedPort(name: string, protocol: Protocol): readonly { m: MemberPod; port: number }[] {
    if (!this.namedPorts) {
      this.namedPorts = new Map();
      for (const list of this.byNs.values()) {
        for (const m of list) {
          for (const p of m.ports) {
            const key = `${p.name}/${p.protocol}`;
            let l = this.namedPorts.get(key);
            if (!l) this.namedPorts.set(key, (l = []));
            if (!l.some((x) => x.m === m)) l.push({ m, port: p.port });
          }
        }
      }
    }
    return this.namedPorts.get(`${name}/${protocol}`) ?? [];
  }
}

// Records are immutable (the agent replaces a record on change): their parsed address is cached
// across compiles, so a recompile does not re-parse 100k IPs.
const members = new WeakMap<PodRecord, MemberPod | null>();

function member(pod: PodRecord): MemberPod | undefined {
  let m = members.get(pod);
  if (m === undefined) {
    // hostNetwork pods carry their node's IP: no pod selector ever matches them
    const addr = pod.ip && !pod.hostNetwork ? parseIpv4(pod.ip) : undefined;
    m = addr === undefined ? null : { addr, labels: pod.labels, ports: pod.ports };
    members.set(pod, m);
  }
  return m ?? undefined;
}

/** The number a pod gives the named port name/protocol, if any. */
export function resolveNamedPort(pod: Pick<PodRecord, 'ports'>, name: string, protocol: Protocol): number | undefined {
  return pod.ports.find((p) => p.name === name && p.protocol === protocol)?.port;
}

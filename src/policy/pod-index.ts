// Pods indexed by namespace and by label pair, so a selector costs the pods it can match, not
// every pod of the cluster.
import { parseIpv4 } from './cidr.js';
import { selectorKey, selectorMatches } from './selector.js';
import type { LabelSelector, NamespaceRecord, PodRecord, Protocol } from './types.js';

export interface MemberPod {
  pod: PodRecord;
  /** host-order u32 */
  addr: number;
}

export class PodIndex {
  private readonly byNs = new Map<string, MemberPod[]>();
  private readonly byNsLabel = new Map<string, Map<string, MemberPod[]>>();
  private readonly nsCache = new Map<string, string[]>();
  private readonly selCache = new Map<string, MemberPod[]>();
  private namedPorts?: Map<string, { m: MemberPod; port: number }[]>;
  private readonly allNs: string[];

  constructor(
    pods: Iterable<PodRecord>,
    private readonly namespaces: ReadonlyMap<string, NamespaceRecord>,
  ) {
    for (const pod of pods) {
      // hostNetwork pods carry their node's IP: no pod selector ever matches them
      if (!pod.ip || pod.hostNetwork) continue;
      const addr = parseIpv4(pod.ip);
      if (addr === undefined) continue;
      const m: MemberPod = { pod, addr };
      let list = this.byNs.get(pod.namespace);
      if (!list) this.byNs.set(pod.namespace, (list = []));
      list.push(m);
      let labels = this.byNsLabel.get(pod.namespace);
      if (!labels) this.byNsLabel.set(pod.namespace, (labels = new Map()));
      for (const [k, v] of Object.entries(pod.labels)) {
        const key = `${k}\0${v}`;
        let l = labels.get(key);
        if (!l) labels.set(key, (l = []));
        l.push(m);
      }
    }
    this.allNs = [...new Set([...namespaces.keys(), ...this.byNs.keys()])].sort();
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
    const labels = this.byNsLabel.get(ns);
    for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
      const l = labels?.get(`${k}\0${v}`) ?? [];
      if (l.length < candidates.length) candidates = l;
    }
    for (const e of sel.matchExpressions ?? []) {
      if (e.operator === 'In' && e.values?.length === 1) {
        const l = labels?.get(`${e.key}\0${e.values[0]}`) ?? [];
        if (l.length < candidates.length) candidates = l;
      }
    }
    out = candidates.filter((m) => selectorMatches(sel, m.pod.labels));
    this.selCache.set(key, out);
    return out;
  }

  /** Every member pod with a container port name/protocol, and its number. */
  withNamedPort(name: string, protocol: Protocol): readonly { m: MemberPod; port: number }[] {
    if (!this.namedPorts) {
      this.namedPorts = new Map();
      for (const list of this.byNs.values()) {
        for (const m of list) {
          for (const p of m.pod.ports) {
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

/** The number a pod gives the named port name/protocol, if any. */
export function resolveNamedPort(pod: PodRecord, name: string, protocol: Protocol): number | undefined {
  return pod.ports.find((p) => p.name === name && p.protocol === protocol)?.port;
}

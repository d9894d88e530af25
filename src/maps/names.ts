// Human names for what the maps hold as numbers: ifindex → link name (in the node's network
// namespace) and pod IP → namespace/name (from the CNI's IPAM records, or the lab's pod list).
// Used by the map tables and by `podwire trace`; stored in snapshots so offline traces keep them.
import { IpamStore } from '../ipam/store.js';
import { runJson } from '../exec/run.js';
import type { SnapshotLink, SnapshotPod } from './snapshot.js';

/** Links of a network namespace (the caller's when netnsPath is undefined). */
export async function readLinks(netnsPath?: string): Promise<SnapshotLink[]> {
  const links = await runJson<Array<{ ifindex: number; ifname: string; address?: string; linkinfo?: { info_kind?: string } }>>(
    'ip',
    ['-j', '-d', 'link', 'show'],
    netnsPath === undefined ? {} : { netns: netnsPath },
  );
  return links.map((l) => ({
    ifindex: l.ifindex,
    name: l.ifname,
    ...(l.address ? { mac: l.address } : {}),
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
  }));
}

/** Pods known to the node's IPAM store (stateDir) plus extra ones (e.g. the lab's), by IP. */
export function readPods(opts: { stateDir?: string; extra?: SnapshotPod[] } = {}): SnapshotPod[] {
  const byIp = new Map<string, SnapshotPod>();
  for (const p of opts.extra ?? []) byIp.set(p.ip, p);
  if (opts.stateDir !== undefined) {
    let stored: ReturnType<IpamStore['list']> = [];
    try {
      stored = new IpamStore(opts.stateDir).list();
    } catch {
      // names are a convenience: an unreadable store must not break a map listing
    }
    for (const s of stored) {
      const r = s.record;
      if (!r) continue;
      byIp.set(s.ip, {
        ip: s.ip,
        ...(r.podNamespace ? { namespace: r.podNamespace } : {}),
        ...(r.podName ? { name: r.podName } : {}),
        containerId: r.containerID,
      });
    }
  }
  return [...byIp.values()].sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
}

/** Lookups over links and pods. */
export class NodeNames {
  private readonly byIndex = new Map<number, SnapshotLink>();
  private readonly byName = new Map<string, SnapshotLink>();
  private readonly byIp = new Map<string, SnapshotPod>();

  constructor(
    readonly links: SnapshotLink[] = [],
    readonly pods: SnapshotPod[] = [],
  ) {
    for (const l of links) {
      this.byIndex.set(l.ifindex, l);
      this.byName.set(l.name, l);
    }
    for (const p of pods) this.byIp.set(p.ip, p);
  }

  link(ifindex: number): SnapshotLink | undefined {
    return this.byIndex.get(ifindex);
  }

  linkByName(name: string): SnapshotLink | undefined {
    return this.byName.get(name);
  }

  pod(ip: string): SnapshotPod | undefined {
    return this.byIp.get(ip);
  }

  /** "default/web-1", the container id's first 12 characters, or undefined. */
  podLabel(ip: string): string | undefined {
    const p = this.byIp.get(ip);
    if (!p) return undefined;
    if (p.name) return p.namespace ? `${p.namespace}/${p.name}` : p.name;
    return p.containerId ? `container ${p.containerId.slice(0, 12)}` : undefined;
  }
}

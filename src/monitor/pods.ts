// ifindex → pod for monitor events: the endpoints map says which pod IP owns a host veth, and the
// CNI's IPAM records (or the lab's pod list) name it, as for `podwire endpoints`. Events seen on a
// non-pod device (the uplink, the VXLAN device) are named after the local pod they were for (the
// destination on ingress). Refreshed when an unknown ifindex shows up, at most once a second.
import { openEndpoints } from '../maps/endpoints.js';
import { NodeNames, readLinks, readPods } from '../maps/names.js';
import type { SnapshotPod } from '../maps/snapshot.js';
import type { RawEvent } from './event.js';

export interface PodSource {
  pinDir: string;
  stateDir: string;
  netnsPath?: string;
  labPods: SnapshotPod[];
}

const REFRESH_MS = 1000;

export class PodResolver {
  private byIfindex = new Map<number, string>();
  private byIp = new Map<string, string>();
  private names = new NodeNames();
  private last = 0;

  constructor(private readonly src: PodSource) {}

  async refresh(): Promise<void> {
    this.last = Date.now();
    const eps = openEndpoints(this.src.pinDir);
    let list;
    try {
      list = eps.list();
    } finally {
      eps.close();
    }
    const links = await readLinks(this.src.netnsPath).catch(() => []);
    this.names = new NodeNames(links, readPods({ stateDir: this.src.stateDir, extra: this.src.labPods }));
    this.byIfindex = new Map();
    this.byIp = new Map();
    for (const e of list) {
      const label = this.names.podLabel(e.ip) ?? `pod ${e.ip}`;
      this.byIfindex.set(e.ifindex, label);
      this.byIp.set(e.ip, label);
    }
  }

  /** "namespace/name" of the pod the event belongs to, or null. */
  async pod(e: RawEvent): Promise<string | null> {
    const hit = this.lookup(e);
    if (hit !== undefined || Date.now() - this.last < REFRESH_MS) return hit ?? null;
    await this.refresh();
    return this.lookup(e) ?? null;
  }

  ifname(ifindex: number): string | undefined {
    return this.names.link(ifindex)?.name;
  }

  private lookup(e: RawEvent): string | undefined {
    return this.byIfindex.get(e.ifindex) ?? (e.direction === 'INGRESS' ? this.byIp.get(e.dst) : this.byIp.get(e.src));
  }
}

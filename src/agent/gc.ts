// Endpoint garbage collection, planned as a pure function of snapshots. Two kinds of stale
// entries:
//   - veth gone: the host veth's ifindex no longer exists in the node netns (the pod's netns
//     died, taking the pair with it). Forwarding to it is impossible: drop the entry at once.
//   - pod gone: no Pod on this node in the API has the IP (nor, by name, the pod the IPAM record
//     names), the IPAM record is older than the grace period (a pod just ADDed by the CNI is
//     not published yet), and we have seen it stale continuously for the grace period (a pod
//     whose status lags, or an agent that just started, never loses its endpoint). Then the
//     entry, the host veth and the IPAM record go: CNI DEL never came (kubelet crash, reboot).
// Nothing is planned from the API side unless the pod cache is synced and healthy; while the
// API is away, endpoints stay as they are.

export interface GcEndpoint {
  ip: string;
  ifindex: number;
}

export interface GcRecord {
  createdAtMs?: number;
  containerID: string;
  ifname: string;
  /** The host veth name the CNI derives from (containerID, ifname). */
  hostVeth: string;
  /** "namespace/name" from the runtime's K8S_POD_* args, when it sent them. */
  pod?: string;
}

export interface GcInput {
  endpoints: readonly GcEndpoint[];
  /** ifindex → name of every link in the node netns, read AFTER the endpoints. */
  links: ReadonlyMap<number, string>;
  /** What the API says runs here; undefined = do not trust the pod cache now. */
  api?: { ips: ReadonlySet<string>; pods: ReadonlySet<string> };
  /** IPAM records by IP. */
  records: ReadonlyMap<string, GcRecord>;
  /** Is the IP ours to collect (inside this node's podCIDR)? */
  owned: (ip: string) => boolean;
  /** First time each IP was seen stale; updated in place. */
  staleSince: Map<string, number>;
  now: number;
  graceMs: number;
}

export interface GcAction {
  ip: string;
  /** The entry is deleted only if it still has this ifindex (a re-ADD may have reused the IP). */
  ifindex: number;
  reason: 'veth-gone' | 'pod-gone';
  /** Delete this host veth (it exists and is the entry's). */
  deleteVeth?: string;
  /** Release this IPAM attachment and the address. */
  release?: { containerID: string; ifname: string };
}

export interface GcPlan {
  actions: GcAction[];
  /** Stale from the API's point of view but still inside the grace period. */
  waiting: number;
}

export function planEndpointGc(inp: GcInput): GcPlan {
  const actions: GcAction[] = [];
  let waiting = 0;
  const seen = new Set<string>();
  for (const ep of inp.endpoints) {
    seen.add(ep.ip);
    const rec = inp.records.get(ep.ip);
    const vethAlive = inp.links.has(ep.ifindex);
    let podGone = false;
    if (inp.api && inp.owned(ep.ip)) {
      const inApi = inp.api.ips.has(ep.ip) || (rec?.pod !== undefined && inp.api.pods.has(rec.pod));
      if (inApi) {
        inp.staleSince.delete(ep.ip);
      } else {
        const since = inp.staleSince.get(ep.ip) ?? inp.now;
        inp.staleSince.set(ep.ip, since);
        const recordAged = rec?.createdAtMs === undefined || inp.now - rec.createdAtMs >= inp.graceMs;
        podGone = recordAged && inp.now - since >= inp.graceMs;
        if (!podGone && vethAlive) waiting++;
      }
    }
    if (podGone) {
      const action: GcAction = { ip: ep.ip, ifindex: ep.ifindex, reason: 'pod-gone' };
      if (rec && inp.links.get(ep.ifindex) === rec.hostVeth) action.deleteVeth = rec.hostVeth;
      if (rec) action.release = { containerID: rec.containerID, ifname: rec.ifname };
      actions.push(action);
      inp.staleSince.delete(ep.ip);
    } else if (!vethAlive) {
      actions.push({ ip: ep.ip, ifindex: ep.ifindex, reason: 'veth-gone' });
    }
  }
  // forget IPs that left the map by other means (CNI DEL)
  for (const ip of inp.staleSince.keys()) if (!seen.has(ip)) inp.staleSince.delete(ip);
  return { actions, waiting };
}

// Service addresses for the svc_addrs map (lib/policy.h defers egress policy to them until after
// the DNAT): a compact record per Service, and a writer that diffs the wanted set against what
// the map holds (read once, then tracked), so a restarted agent writes nothing when nothing changed.
import { openSvcAddrs } from '../maps/svc-addrs.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** The IPv4 addresses kube-proxy DNATs for a Service (raw API JSON): ClusterIPs, externalIPs,
 * load-balancer ingress IPs. undefined for something that is not a Service object. */
export function serviceAddrs(raw: unknown): string[] | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const o = raw as { spec?: Record<string, unknown>; status?: { loadBalancer?: { ingress?: unknown } } };
  const spec = o.spec && typeof o.spec === 'object' ? o.spec : {};
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const out = new Set<string>();
  const cluster = strings(spec['clusterIPs']);
  if (cluster.length === 0 && typeof spec['clusterIP'] === 'string') cluster.push(spec['clusterIP']);
  for (const a of [...cluster, ...strings(spec['externalIPs'])]) if (IPV4.test(a)) out.add(a);
  const ingress = o.status?.loadBalancer?.ingress;
  if (Array.isArray(ingress)) for (const i of ingress) if (i && typeof i === 'object' && typeof (i as { ip?: unknown }).ip === 'string' && IPV4.test((i as { ip: string }).ip)) out.add((i as { ip: string }).ip);
  return [...out];
}

export interface SvcSyncResult {
  added: number;
  removed: number;
  total: number;
}

export class SvcAddrsWriter {
  private have: Set<string> | undefined;
  constructor(private readonly pinDir: string) {}

  sync(want: ReadonlySet<string>): SvcSyncResult {
    const m = openSvcAddrs(this.pinDir);
    try {
      const have = (this.have ??= new Set(m.list()));
      const add = [...want].filter((a) => !have.has(a));
      const del = [...have].filter((a) => !want.has(a));
      // new addresses first: a packet to a just-created Service is deferred, never misjudged
      m.set(add);
      for (const a of add) have.add(a);
      for (const a of del) {
        m.delete(a);
        have.delete(a);
      }
      return { added: add.length, removed: del.length, total: have.size };
    } catch (e) {
      this.have = undefined; // re-read on the next sync
      throw e;
    } finally {
      m.close();
    }
  }
}

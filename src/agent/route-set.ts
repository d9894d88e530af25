// What the routes map holds since this process last wrote it (the reconcile's diff base), by
// column: at 65,000 Nodes a Map of Route objects kept between runs cost ~90 B per route beside
// the Node cache; here a route is its CIDR as bytes in a KeySlots table, its node IP (u32) and
// its kind (u8). A node IP that does not read back the same text (leading zeros) is kept as a
// string beside the columns. Reads build a fresh Route equal to the one stored.
import { formatIpv4, parseIpv4 } from '../ipam/cidr.js';
import { grown, SlotMap } from '../kube/slot-map.js';
import type { Route } from './routes.js';

const LOCAL = 1;

export class RouteSet extends SlotMap<Route> {
  private ip = new Uint32Array(0);
  private kind = new Uint8Array(0);
  /** slot -> a node IP the column cannot hold exactly */
  private readonly oddIp = new Map<number, string>();

  static of(routes: Iterable<Route>): RouteSet {
    const s = new RouteSet();
    for (const r of routes) s.set(r);
    return s;
  }

  get [Symbol.toStringTag](): string {
    return 'RouteSet';
  }

  set(r: Route): this {
    const { slot: s, added } = this.table.add(r.cidr);
    if (added) {
      this.ip = grown(this.ip, this.table.capacity());
      this.kind = grown(this.kind, this.table.capacity());
    }
    const n = parseIpv4(r.nodeIp);
    if (n === undefined) this.oddIp.set(s, r.nodeIp);
    else this.oddIp.delete(s);
    this.ip[s] = n ?? 0;
    this.kind[s] = r.kind === 'local' ? LOCAL : 0;
    return this;
  }

  delete(cidr: string): boolean {
    const s = this.table.delete(cidr);
    if (s < 0) return false;
    this.oddIp.delete(s);
    return true;
  }

  protected valueAt(cidr: string, s: number): Route {
    return { cidr, nodeIp: this.oddIp.get(s) ?? formatIpv4(this.ip[s]!), kind: this.kind[s] === LOCAL ? 'local' : 'remote' };
  }
}

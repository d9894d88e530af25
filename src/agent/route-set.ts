// What the routes map holds since this process last wrote it (the reconcile's diff base), by
// column: at 65,000 Nodes a Map of Route objects kept between runs cost ~90 B per route beside
// the Node cache; here a route is its CIDR as bytes in a KeySlots table, its node IP (u32) and
// its kind (u8). A node IP that does not read back the same text (leading zeros) is kept as a
// string beside the columns. Reads build a fresh Route equal to the one stored.
import { formatIpv4, parseIpv4 } from '../ipam/cidr.js';
import { KeySlots } from '../kube/key-slots.js';
import type { Route } from './routes.js';

const LOCAL = 1;

export class RouteSet implements ReadonlyMap<string, Route> {
  private readonly table = new KeySlots();
  private ip = new Uint32Array(0);
  private kind = new Uint8Array(0);
  /** slot -> a node IP the column cannot hold exactly */
  private readonly oddIp = new Map<number, string>();

  static of(routes: Iterable<Route>): RouteSet {
    const s = new RouteSet();
    for (const r of routes) s.set(r);
    return s;
  }

  get size(): number {
    return this.table.size;
  }

  get [Symbol.toStringTag](): string {
    return 'RouteSet';
  }

  has(cidr: string): boolean {
    return this.table.has(cidr);
  }

  get(cidr: string): Route | undefined {
    const s = this.table.get(cidr);
    return s < 0 ? undefined : this.route(cidr, s);
  }

  set(r: Route): this {
    const { slot: s, added } = this.table.add(r.cidr);
    if (added && this.ip.length < this.table.capacity()) {
      const ip = new Uint32Array(this.table.capacity());
      ip.set(this.ip);
      this.ip = ip;
      const kind = new Uint8Array(this.table.capacity());
      kind.set(this.kind);
      this.kind = kind;
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

  *entries(): MapIterator<[string, Route]> {
    for (const s of this.table.slots()) {
      const k = this.table.keyOf(s);
      yield [k, this.route(k, s)];
    }
  }

  *keys(): MapIterator<string> {
    for (const s of this.table.slots()) yield this.table.keyOf(s);
  }

  *values(): MapIterator<Route> {
    for (const [, r] of this.entries()) yield r;
  }

  [Symbol.iterator](): MapIterator<[string, Route]> {
    return this.entries();
  }

  forEach(cb: (value: Route, key: string, map: ReadonlyMap<string, Route>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }

  private route(cidr: string, s: number): Route {
    return { cidr, nodeIp: this.oddIp.get(s) ?? formatIpv4(this.ip[s]!), kind: this.kind[s] === LOCAL ? 'local' : 'remote' };
  }
}

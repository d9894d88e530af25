// ClusterIP and NodePort allocation for Services, as the real server's service REST storage does
// it between validation and the write: a requested free value is reserved, a taken or
// out-of-range one is refused with a 422 naming the field, an unset one is allocated. Dynamic
// ClusterIPs come from the upper band of the range first, so the lower band (upstream's "static"
// band) stays free for IPs users ask for (e.g. a DNS service at .10). Deleting a Service or
// changing its type releases what it no longer uses.
import { formatIpv4, hostRange, parseIpv4, parseIpv4Cidr, cidrContains, type Ipv4Cidr } from '../ipam/index.js';
import { PodwireError } from '../errors/index.js';
import type { ResourceDef } from './resource-common.js';
import { needsClusterIP, needsNodePorts, servicePorts } from './resources-service.js';
import { invalid, type FieldError } from './status.js';
import type { Admission } from './store.js';
import type { KubeObject } from './types.js';

export class ServiceIpAllocator {
  readonly cidr: Ipv4Cidr;
  private readonly first: number;
  private readonly last: number;
  private readonly staticEnd: number;
  private readonly used = new Set<number>();
  private next: number;

  constructor(cidr: string) {
    const c = parseIpv4Cidr(cidr);
    if ('error' in c) throw new PodwireError('CONFIG_INVALID', `--service-cidr "${cidr}" ${c.error}; use an IPv4 network such as 10.96.0.0/12`);
    if (c.prefix > 29 || c.prefix < 8) throw new PodwireError('CONFIG_INVALID', `--service-cidr "${cidr}" has prefix /${c.prefix}; use a prefix from /8 to /29`);
    this.cidr = c;
    const r = hostRange(c);
    this.first = r.first;
    this.last = r.last;
    // Upstream: the static band is min(max(16, size/16), 256) addresses at the bottom.
    this.staticEnd = this.first + Math.min(Math.max(16, Math.floor(r.size / 16)), 256);
    this.next = this.staticEnd;
  }

  get allocated(): number {
    return this.used.size;
  }

  has(ip: string): boolean {
    const n = parseIpv4(ip);
    return n !== undefined && this.used.has(n);
  }

  /** Reserve `ip`; returns the reason it cannot be, or undefined. */
  occupy(ip: string): string | undefined {
    const n = parseIpv4(ip);
    if (n === undefined) return 'must be a valid IP address';
    if (!cidrContains(this.cidr, n) || n < this.first || n > this.last) {
      return `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.cidr.text}`;
    }
    if (this.used.has(n)) return `failed to allocate IP ${ip}: provided IP is already allocated`;
    this.used.add(n);
    return undefined;
  }

  allocate(): string | undefined {
    const size = this.last - this.first + 1;
    // Upper band first, from a rotating start; then the static band.
    const upper = this.last - this.staticEnd + 1;
    for (let k = 0; k < upper; k++) {
      const n = this.staticEnd + ((this.next - this.staticEnd + k) % upper);
      if (!this.used.has(n)) {
        this.used.add(n);
        this.next = n + 1 > this.last ? this.staticEnd : n + 1;
        return formatIpv4(n);
      }
    }
    for (let n = this.first; n < this.first + size && n < this.staticEnd; n++) {
      if (!this.used.has(n)) {
        this.used.add(n);
        return formatIpv4(n);
      }
    }
    return undefined;
  }

  release(ip: string): void {
    const n = parseIpv4(ip);
    if (n !== undefined) this.used.delete(n);
  }
}

export class NodePortAllocator {
  readonly min: number;
  readonly max: number;
  private readonly used = new Set<number>();
  private next: number;

  constructor(range: string) {
    const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(range);
    const min = m ? Number(m[1]) : NaN;
    const max = m ? Number(m[2]) : NaN;
    if (!m || min < 1 || max > 65535 || min > max) {
      throw new PodwireError('CONFIG_INVALID', `--service-node-port-range "${range}" is not valid; use MIN-MAX within 1-65535, e.g. 30000-32767`);
    }
    this.min = min;
    this.max = max;
    // As for ClusterIPs, dynamic ports start above upstream's static band min(max(16, size/32), 128).
    const size = max - min + 1;
    this.next = min + Math.min(Math.min(Math.max(16, Math.floor(size / 32)), 128), size - 1);
  }

  get text(): string {
    return `${this.min}-${this.max}`;
  }

  get allocated(): number {
    return this.used.size;
  }

  has(port: number): boolean {
    return this.used.has(port);
  }

  occupy(port: number): string | undefined {
    if (port < this.min || port > this.max) return `provided port is not in the valid range. The range of valid ports is ${this.text}`;
    if (this.used.has(port)) return 'provided port is already allocated';
    this.used.add(port);
    return undefined;
  }

  allocate(): number | undefined {
    const size = this.max - this.min + 1;
    for (let k = 0; k < size; k++) {
      const p = this.min + ((this.next - this.min + k) % size);
      if (!this.used.has(p)) {
        this.used.add(p);
        this.next = p + 1 > this.max ? this.min : p + 1;
        return p;
      }
    }
    return undefined;
  }

  release(port: number): void {
    this.used.delete(port);
  }
}

const ipsOf = (obj: KubeObject): string[] => {
  if (!needsClusterIP(obj)) return [];
  const ips = obj.spec?.clusterIPs;
  const list = Array.isArray(ips) ? ips.filter((x): x is string => typeof x === 'string') : [];
  return list.filter((ip) => ip !== '' && ip !== 'None');
};

const nodePortsOf = (obj: KubeObject): number[] =>
  needsNodePorts(obj) ? servicePorts(obj).map((p) => p.nodePort).filter((n): n is number => typeof n === 'number' && n !== 0) : [];

/** The Admission step for Services: all-or-nothing, so a refused write reserves nothing. */
export class ServiceAdmission implements Admission {
  constructor(readonly ips: ServiceIpAllocator, readonly ports: NodePortAllocator) {}

  create(def: ResourceDef, obj: KubeObject): void {
    if (def.name === 'services') this.assign(obj, undefined);
  }

  update(def: ResourceDef, obj: KubeObject, old: KubeObject): void {
    if (def.name === 'services') this.assign(obj, old);
  }

  deleted(def: ResourceDef, obj: KubeObject): void {
    if (def.name !== 'services') return;
    for (const ip of ipsOf(obj)) this.ips.release(ip);
    for (const p of nodePortsOf(obj)) this.ports.release(p);
  }

  private assign(obj: KubeObject, old: KubeObject | undefined): void {
    const spec = obj.spec!;
    const name = obj.metadata.name ?? '';
    const errs: FieldError[] = [];
    const takenIps: string[] = [];
    const takenPorts: number[] = [];
    const oldIps = new Set(old ? ipsOf(old) : []);
    const oldPorts = new Set(old ? nodePortsOf(old) : []);
    const undo = (): void => {
      for (const ip of takenIps) this.ips.release(ip);
      for (const p of takenPorts) this.ports.release(p);
    };

    if (needsClusterIP(obj) && spec.clusterIP !== 'None') {
      const want = typeof spec.clusterIP === 'string' && spec.clusterIP !== '' ? spec.clusterIP : undefined;
      if (want === undefined) {
        const ip = this.ips.allocate();
        if (ip === undefined) {
          errs.push({ field: 'spec.clusterIPs', type: 'Invalid value', value: [], detail: `failed to allocate a serviceIP: range is full` });
        } else {
          takenIps.push(ip);
          spec.clusterIP = ip;
          spec.clusterIPs = [ip];
        }
      } else if (!oldIps.has(want)) {
        const why = this.ips.occupy(want);
        if (why) errs.push({ field: why.startsWith('must') ? 'spec.clusterIPs[0]' : 'spec.clusterIPs', type: 'Invalid value', value: why.startsWith('must') ? want : [want], detail: why });
        else takenIps.push(want);
        spec.clusterIPs = [want];
      }
    } else if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
    }

    if (needsNodePorts(obj)) {
      const seen = new Set<number>();
      servicePorts(obj).forEach((p, i) => {
        const want = typeof p.nodePort === 'number' && p.nodePort !== 0 ? p.nodePort : undefined;
        if (want === undefined) return;
        if (seen.has(want)) {
          // One nodePort may serve the same port number over two protocols, as upstream allows.
          return;
        }
        seen.add(want);
        if (oldPorts.has(want)) return;
        const why = this.ports.occupy(want);
        if (why) errs.push({ field: `spec.ports[${i}].nodePort`, type: 'Invalid value', value: want, detail: why });
        else takenPorts.push(want);
      });
      for (const p of servicePorts(obj)) {
        if (typeof p.nodePort === 'number' && p.nodePort !== 0) continue;
        const got = this.ports.allocate();
        if (got === undefined) {
          errs.push({ field: 'spec.ports[0].nodePort', type: 'Invalid value', value: 0, detail: 'range is full' });
          break;
        }
        takenPorts.push(got);
        p.nodePort = got;
      }
    }

    if (errs.length > 0) {
      undo();
      throw invalid('Service', name, errs);
    }
    // Commit: release what the old object held and the new one does not.
    const nowIps = new Set(ipsOf(obj));
    const nowPorts = new Set(nodePortsOf(obj));
    for (const ip of oldIps) if (!nowIps.has(ip)) this.ips.release(ip);
    for (const p of oldPorts) if (!nowPorts.has(p)) this.ports.release(p);
  }
}

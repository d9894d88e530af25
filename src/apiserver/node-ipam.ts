// Node podCIDR assignment as kube-controller-manager's node-ipam controller does it (range
// allocator over a cluster CIDR): a Node that appears without spec.podCIDR gets the next free
// subnet of the configured mask, written by a separate update — so watchers see ADDED without a
// podCIDR, then MODIFIED with it, exactly as in a real cluster. Nodes that bring their own
// podCIDR occupy it; a deleted Node's subnet is released.
import { formatIpv4, parseIpv4Cidr, type Ipv4Cidr } from '../ipam/index.js';
import { PodwireError } from '../errors/index.js';
import type { StoreEvent } from './history.js';
import { RESOURCES } from './resources.js';
import type { Store } from './store.js';

export class NodeCidrAllocator {
  readonly cluster: Ipv4Cidr;
  readonly maskSize: number;
  private readonly used: Uint8Array;
  /** Rotating start point, like cidrset's nextCandidate: a released subnet is not reused at once. */
  private next = 0;
  allocated = 0;

  constructor(clusterCIDR: string, maskSize: number) {
    const c = parseIpv4Cidr(clusterCIDR);
    if ('error' in c) {
      throw new PodwireError('CONFIG_INVALID', `clusterCIDR "${clusterCIDR}" ${c.error}; use an IPv4 network such as 10.244.0.0/16`);
    }
    if (!Number.isInteger(maskSize) || maskSize < c.prefix || maskSize > 30) {
      throw new PodwireError('CONFIG_INVALID', `nodeCIDRMaskSize ${maskSize} does not fit clusterCIDR ${c.text}; use an integer from ${c.prefix} to 30`);
    }
    if (maskSize - c.prefix > 20) {
      throw new PodwireError('CONFIG_INVALID', `nodeCIDRMaskSize ${maskSize} splits ${c.text} into more than 2^20 subnets; use a mask of at most /${c.prefix + 20}`);
    }
    this.cluster = c;
    this.maskSize = maskSize;
    this.used = new Uint8Array(2 ** (maskSize - c.prefix));
  }

  get capacity(): number {
    return this.used.length;
  }

  private text(i: number): string {
    return `${formatIpv4((this.cluster.network + i * 2 ** (32 - this.maskSize)) >>> 0)}/${this.maskSize}`;
  }

  /** Index of a subnet of this allocator, or -1 when `cidr` is not exactly one of them. */
  private indexOf(cidr: string): number {
    const c = parseIpv4Cidr(cidr);
    if ('error' in c || c.prefix !== this.maskSize) return -1;
    const off = c.network - this.cluster.network;
    if (off < 0) return -1;
    const i = off / 2 ** (32 - this.maskSize);
    return Number.isInteger(i) && i < this.used.length ? i : -1;
  }

  allocate(): string | undefined {
    const n = this.used.length;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      if (!this.used[i]) {
        this.used[i] = 1;
        this.next = (i + 1) % n;
        this.allocated++;
        return this.text(i);
      }
    }
    return undefined;
  }

  occupy(cidr: string): boolean {
    const i = this.indexOf(cidr);
    if (i < 0 || this.used[i]) return false;
    this.used[i] = 1;
    this.allocated++;
    return true;
  }

  release(cidr: string): void {
    const i = this.indexOf(cidr);
    if (i >= 0 && this.used[i]) {
      this.used[i] = 0;
      this.allocated--;
    }
  }
}

function cidrsOf(ev: StoreEvent): string[] {
  const v = ev.obj.spec?.podCIDRs;
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  const one = ev.obj.spec?.podCIDR;
  return typeof one === 'string' && one !== '' ? [one] : [];
}

/** Wire the allocator to the store as the controller would watch Nodes. */
export function startNodeIpam(store: Store, alloc: NodeCidrAllocator): void {
  store.onEvent((ev) => {
    if (ev.def.name !== 'nodes') return;
    const cidrs = cidrsOf(ev);
    if (ev.type === 'DELETED') {
      for (const c of cidrs) alloc.release(c);
      return;
    }
    if (cidrs.length > 0) {
      // Idempotent: the controller's own MODIFIED finds its subnet already taken.
      for (const c of cidrs) alloc.occupy(c);
      return;
    }
    const name = ev.obj.metadata.name ?? '';
    const cidr = alloc.allocate();
    // Exhausted: the real controller records a CIDRNotAvailable event and leaves the node as is.
    if (cidr === undefined) return;
    const current = store.get(RESOURCES.nodes, '', name);
    if (!current) {
      alloc.release(cidr);
      return;
    }
    store.update(RESOURCES.nodes, '', name, {
      ...current.obj,
      spec: { ...(current.obj.spec ?? {}), podCIDR: cidr, podCIDRs: [cidr] },
    });
  });
}

// Typed access to the pinned svc_addrs map: every address kube-proxy DNATs (Service ClusterIPs,
// externalIPs, load-balancer ingress IPs) -> flags (1 = a Service address). lib/policy.h defers
// the egress NetworkPolicy of a packet to such an address until after the DNAT.
import { RawMap } from 'bpf';
import { ipv4Bytes } from './codec.js';
import { openPinnedMap } from './open.js';

/** The value written for every Service address (non-zero: the datapath tests != 0). */
export const SVC_ADDR_SERVICE = 1;

export interface SvcAddrsMap {
  list(): string[];
  set(addrs: readonly string[]): void;
  delete(addr: string): boolean;
  close(): void;
}

export function openSvcAddrs(pinDir: string): SvcAddrsMap {
  const ref = openPinnedMap(pinDir, 'svc_addrs');
  const map = new RawMap(ref);
  const value = Buffer.alloc(4);
  value.writeUInt32LE(SVC_ADDR_SERVICE);
  return {
    list() {
      const out: string[] = [];
      for (const k of map.keys()) out.push([...k].join('.'));
      return out.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    },
    set(addrs) {
      for (const a of addrs) map.set(ipv4Bytes(a), value);
    },
    delete(addr) {
      return map.delete(ipv4Bytes(addr));
    },
    close() {
      ref.close();
    },
  };
}

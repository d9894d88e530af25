// Typed access to the pinned endpoints map (pod IP -> host veth, MACs, id).
import { RawMap } from 'bpf';
import { decodeEndpoint, decodeEndpointKey, encodeEndpoint, encodeEndpointKey, type Endpoint } from './codec.js';
import { openPinnedMap } from './open.js';

export interface EndpointsMap {
  get(ip: string): Endpoint | undefined;
  set(ep: Endpoint): void;
  /** true when an entry was removed. */
  delete(ip: string): boolean;
  list(): Endpoint[];
  /** One BPF_MAP_UPDATE_BATCH syscall for all entries. */
  setBatch(eps: Endpoint[]): void;
  close(): void;
}

export function openEndpoints(pinDir: string): EndpointsMap {
  const ref = openPinnedMap(pinDir, 'endpoints');
  const map = new RawMap(ref);
  return {
    get(ip) {
      const v = map.get(encodeEndpointKey(ip));
      return v === undefined ? undefined : decodeEndpoint(ip, v);
    },
    set(ep) {
      map.set(encodeEndpointKey(ep.ip), encodeEndpoint(ep));
    },
    delete(ip) {
      return map.delete(encodeEndpointKey(ip));
    },
    list() {
      const out: Endpoint[] = [];
      for (const [k, v] of map.entries()) out.push(decodeEndpoint(decodeEndpointKey(k), v));
      return out.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
    },
    setBatch(eps) {
      if (eps.length === 0) return;
      map.setBatch(eps.map((ep) => [encodeEndpointKey(ep.ip), encodeEndpoint(ep)]));
    },
    close() {
      ref.close();
    },
  };
}

// Deterministic host-side names and fresh MACs. The host veth's name is derived from the
// attachment, so DEL, CHECK and GC find it without any stored state.
import { createHash, randomBytes } from 'node:crypto';

/** Prefix of every host veth podwire creates ("pw" + 11 hex chars = 13 bytes ≤ IFNAMSIZ-1). */
export const HOST_VETH_PREFIX = 'pw';
const HOST_VETH_RE = /^pw[0-9a-f]{11}$/;

export function hostVethName(containerID: string, ifname: string): string {
  const h = createHash('sha256').update(`${containerID}\0${ifname}`).digest('hex');
  return `${HOST_VETH_PREFIX}${h.slice(0, 11)}`;
}

export function isHostVethName(name: string): boolean {
  return HOST_VETH_RE.test(name);
}

/**
 * A random locally-administered unicast MAC. Choosing MACs ourselves means we know both ends'
 * addresses without reading them back from the kernel (one exec fewer per ADD).
 */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

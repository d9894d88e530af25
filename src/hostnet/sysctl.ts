// The node's forwarding sysctls, written with one exec. Order matters: writing
// net.ipv4.ip_forward resets forwarding on EVERY device (and the default for new ones), so it
// comes first and the per-device values after it.
import { run } from '../exec/run.js';

export interface NodeSysctlOptions {
  /** Devices that need forwarding on and reverse-path filtering off (uplink, VXLAN device). */
  devices: readonly string[];
  netns?: string;
}

export function nodeSysctls(devices: readonly string[]): string[] {
  const settings = [
    // bpf_fib_lookup() answers FWD_DISABLED unless forwarding is on for the ingress device (the
    // pod's host veth): ip_forward=1 also sets default.forwarding, which new veths inherit
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.forwarding=1',
    'net.ipv4.conf.default.forwarding=1',
    // Return traffic may arrive on another device than the route back points to (vxlan mode:
    // a remote pod answers the host natively over the underlay while the host's route to that
    // pod points into the tunnel); strict rp_filter would drop it. The effective value is
    // max(all, device), so both must be 0 (Cilium sets the same).
    'net.ipv4.conf.all.rp_filter=0',
  ];
  for (const d of devices) settings.push(`net.ipv4.conf.${d}.forwarding=1`, `net.ipv4.conf.${d}.rp_filter=0`);
  return settings;
}

export async function applyNodeSysctls(o: NodeSysctlOptions): Promise<void> {
  // sysctl -w applies its arguments in order
  await run('sysctl', ['-q', '-w', ...nodeSysctls(o.devices)], { netns: o.netns, errorCode: 'IO_FAILED' });
}

// setupNode / teardownNode: the node's host networking around the datapath. Idempotent: an
// agent calls setupNode on every start (and after every datapath reload; the attach re-points
// the device's pinned tcx link at the current program); a second call with the same input
// changes nothing, a call with another mode switches the node over.
import { existsSync } from 'node:fs';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';
import { parseIpv4 } from '../ipam/cidr.js';
import { attachProgram, detachProgram } from '../loader/attach.js';
import { linkPin, pinPaths } from '../loader/pins.js';
import { tcxDetach } from '../loader/tcx.js';
import { openNodeConfig, type DatapathMode, type VxlanDatapathKind } from '../maps/node-config.js';
import { egressIsolationPinned } from '../policy/egress-pinned.js';
import { DEFAULT_VNI, VXLAN_DEVICE, VXLAN_OVERHEAD, VXLAN_PORT } from './constants.js';
import { syncKernelRoutes } from './kernel-routes.js';
import { egressPolicyDevice, syncEgressPolicy } from './egress-policy.js';
import { ifnameOf, isOurVxlan, readLink } from './links.js';
import { applyNodeSysctls } from './sysctl.js';

export interface SetupNodeOptions {
  pinDir: string;
  mode: DatapathMode;
  /** The node's uplink device (carries the node IP, faces the other nodes). */
  uplink: string;
  /** VXLAN network id, 1..16777215 (default DEFAULT_VNI); vxlan mode only. */
  vni?: number;
  /** vxlan mode: 'bpf' = from_pod encapsulates and from_uplink decapsulates (the device stays for
   * the stack's own traffic and what the fast path hands to it); 'device' = every tunnelled packet
   * goes through the collect-metadata device. Unset here = 'device' (what a node_cfg without the
   * flag meant before); the agent always passes its --vxlan-datapath (default bpf). */
  vxlanDatapath?: VxlanDatapathKind;
  /** The node's IP; default: the uplink's first global IPv4 address. */
  nodeIp?: string;
  netns?: string;
}

export interface SetupNodeResult {
  nodeIp: string;
  uplinkIfindex: number;
  /** vxlan mode only. */
  vxlanIfindex?: number;
  /** MTU for pod veths (CNI `mtu`): the uplink's, minus the VXLAN overhead in vxlan mode. */
  podMtu: number;
}

function checkOptions(o: SetupNodeOptions): number {
  if (o.mode !== 'native' && o.mode !== 'vxlan') {
    throw new PodwireError('CONFIG_INVALID', `mode ${JSON.stringify(o.mode)} is not supported: use 'native' or 'vxlan'`);
  }
  if (!/^[^\s/]{1,15}$/.test(o.uplink)) throw new PodwireError('CONFIG_INVALID', `uplink ${JSON.stringify(o.uplink)} is not an interface name`);
  const vni = o.vni ?? DEFAULT_VNI;
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) {
    throw new PodwireError('CONFIG_INVALID', `vni ${JSON.stringify(o.vni)} is out of range: use an integer 1..16777215`);
  }
  if (o.vxlanDatapath !== undefined && o.vxlanDatapath !== 'bpf' && o.vxlanDatapath !== 'device') {
    throw new PodwireError('CONFIG_INVALID', `vxlanDatapath ${JSON.stringify(o.vxlanDatapath)} is not supported: use 'bpf' or 'device'`);
  }
  if (o.vxlanDatapath !== undefined && o.mode !== 'vxlan') {
    throw new PodwireError('CONFIG_INVALID', `vxlanDatapath ${o.vxlanDatapath} only applies to mode vxlan (mode is ${o.mode}): drop it or use mode vxlan`);
  }
  if (o.nodeIp !== undefined && parseIpv4(o.nodeIp) === undefined) {
    throw new PodwireError('CONFIG_INVALID', `nodeIp ${JSON.stringify(o.nodeIp)} is not an IPv4 address`);
  }
  return vni;
}

function checkLoaded(pinDir: string): void {
  const p = pinPaths(pinDir);
  for (const pin of [p.maps.nodeCfg, p.maps.routes, p.progs.fromUplink, p.progs.fromVxlan]) {
    if (!existsSync(pin)) {
      throw new PodwireError('DATAPATH_NOT_LOADED', `no cross-node datapath at ${pinDir} (missing ${pin}): run \`podwire datapath load --pin-dir ${pinDir}\` first`);
    }
  }
}

/** Create (or adopt) the collect-metadata VXLAN device with the given MTU; returns its ifindex. */
async function ensureVxlan(mtu: number, netns?: string): Promise<number> {
  const existing = await readLink(VXLAN_DEVICE, netns);
  const lines: string[] = [];
  if (existing && !isOurVxlan(existing)) lines.push(`link del ${VXLAN_DEVICE}`);
  if (!existing || !isOurVxlan(existing)) lines.push(`link add ${VXLAN_DEVICE} mtu ${mtu} type vxlan external dstport ${VXLAN_PORT}`);
  // NOARP: host routes into the device need no neighbour (see kernel-routes.ts)
  lines.push(`link set ${VXLAN_DEVICE} mtu ${mtu} arp off up`);
  await run('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n`, netns, errorCode: 'IO_FAILED' });
  const l = await readLink(VXLAN_DEVICE, netns);
  if (!l) throw new PodwireError('IO_FAILED', `${VXLAN_DEVICE} vanished right after it was created`);
  return l.ifindex;
}

export async function setupNode(o: SetupNodeOptions): Promise<SetupNodeResult> {
  const vni = checkOptions(o);
  checkLoaded(o.pinDir);
  const uplink = await readLink(o.uplink, o.netns);
  if (!uplink) throw new PodwireError('CONFIG_INVALID', `uplink ${o.uplink} does not exist${o.netns ? ` in ${o.netns}` : ''}: set the node's uplink device`);
  const nodeIp = o.nodeIp ?? uplink.ipv4;
  if (!nodeIp) throw new PodwireError('CONFIG_INVALID', `uplink ${o.uplink} has no global IPv4 address: give nodeIp or address the uplink`);

  let vxlanIfindex: number | undefined;
  let podMtu = uplink.mtu;
  if (o.mode === 'vxlan') {
    podMtu = uplink.mtu - VXLAN_OVERHEAD;
    // the device stays in both datapaths: the stack's own traffic to remote pods (kernel routes)
    // and whatever the BPF datapath leaves encapsulated (NAT replies, ICMP errors, fragments)
    vxlanIfindex = await ensureVxlan(podMtu, o.netns);
    await applyNodeSysctls({ devices: [o.uplink, VXLAN_DEVICE], netns: o.netns });
    await attachProgram('from_vxlan', VXLAN_DEVICE, o.pinDir, { netns: o.netns });
    if (o.vxlanDatapath === 'bpf') {
      // decapsulation of our tunnel's deliveries on the uplink (from_uplink, lib/vxlan.h)
      await attachProgram('from_uplink', o.uplink, o.pinDir, { netns: o.netns });
    } else {
      // natively routed / BPF-tunnelled packets no longer arrive here; the program would only cost
      await detachProgram([o.uplink], o.pinDir, { netns: o.netns });
    }
    // a native node's egress program on the uplink (the stack's remote traffic leaves by the device now)
    await tcxDetach(linkPin(o.pinDir, o.uplink, 'egress'));
  } else {
    // the device's link pin would outlive the device (deleting it only detaches the link)
    await detachProgram([VXLAN_DEVICE], o.pinDir, { netns: o.netns });
    if (await readLink(VXLAN_DEVICE, o.netns)) await run('ip', ['link', 'del', VXLAN_DEVICE], { netns: o.netns, errorCode: 'IO_FAILED' });
    await applyNodeSysctls({ devices: [o.uplink], netns: o.netns });
    await attachProgram('from_uplink', o.uplink, o.pinDir, { netns: o.netns });
  }
  // egress NetworkPolicy of what the stack sends to a remote node (a Service DNATed to a remote
  // backend): only while a local pod is isolated for egress, as the pinned maps say (a restart keeps
  // them); the policy controller re-derives it from the API (egress-policy.ts)
  await syncEgressPolicy({ pinDir: o.pinDir, dev: egressPolicyDevice(o.mode, o.uplink), want: egressIsolationPinned(o.pinDir), netns: o.netns, refresh: true });

  // last: from_pod starts forwarding remote traffic only once the receive side is in place
  const cfg = openNodeConfig(o.pinDir);
  try {
    cfg.set({
      mode: o.mode,
      nodeIp,
      uplinkIfindex: uplink.ifindex,
      vxlanIfindex: vxlanIfindex ?? 0,
      vni: o.mode === 'vxlan' ? vni : 0,
      ...(o.mode === 'vxlan' ? { vxlanDatapath: o.vxlanDatapath ?? 'device' } : {}),
    });
  } finally {
    cfg.close();
  }
  return { nodeIp, uplinkIfindex: uplink.ifindex, ...(vxlanIfindex !== undefined ? { vxlanIfindex } : {}), podMtu };
}

export interface TeardownNodeOptions {
  pinDir: string;
  /** Uplink to detach from; default: the one recorded in node_cfg. */
  uplink?: string;
  netns?: string;
}

/**
 * Undo setupNode: node_cfg back to mode none (from_pod hands remote traffic to the stack), the
 * uplink's and VXLAN device's tcx links detached and unpinned, the VXLAN device and every podwire kernel route deleted. Sysctls stay
 * (other software on the node may rely on forwarding). Idempotent; works without the pins too.
 */
export async function teardownNode(o: TeardownNodeOptions): Promise<void> {
  let uplink = o.uplink;
  if (existsSync(pinPaths(o.pinDir).maps.nodeCfg)) {
    const cfg = openNodeConfig(o.pinDir);
    try {
      const c = cfg.get();
      if (!uplink && c.uplinkIfindex > 0) uplink = await ifnameOf(c.uplinkIfindex, o.netns);
      cfg.set({ mode: 'none', nodeIp: '0.0.0.0', uplinkIfindex: 0, vxlanIfindex: 0, vni: 0 });
    } finally {
      cfg.close();
    }
  }
  await detachProgram(uplink ? [uplink, VXLAN_DEVICE] : [VXLAN_DEVICE], o.pinDir, { netns: o.netns });
  // deleting the device also removes the routes through it; the sync removes native ones
  if (await readLink(VXLAN_DEVICE, o.netns)) await run('ip', ['link', 'del', VXLAN_DEVICE], { netns: o.netns, errorCode: 'IO_FAILED' });
  await syncKernelRoutes({ mode: 'native', remote: [], netns: o.netns });
}

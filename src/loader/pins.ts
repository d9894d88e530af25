// Where everything lives under a node's pin directory. One definition, used by the loader,
// the CNI plugin, the CLI and the tests.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/podwire';

export interface PinPaths {
  root: string;
  mapsDir: string;
  progsDir: string;
  /** tcx ingress links, one pin per device: links/<ifname> (see linkPin). */
  linksDir: string;
  /** tcx egress links (to_pod on host veths, to_uplink on the uplink / VXLAN device): links-egress/<ifname>. */
  egressLinksDir: string;
  maps: { endpoints: string; counters: string; routes: string; nodeCfg: string };
  progs: { fromPod: string; fromUplink: string; fromVxlan: string; toPod: string; toUplink: string };
}

/** Program pin names (= the C function names; bpffs refuses dots, so none have one). */
export type ProgName = 'from_pod' | 'from_uplink' | 'from_vxlan' | 'to_pod' | 'to_uplink';

/** Which tcx hook of a device a link attaches to. */
export type LinkDir = 'ingress' | 'egress';

export function pinPaths(pinDir: string = DEFAULT_PIN_DIR): PinPaths {
  const mapsDir = join(pinDir, 'maps');
  const progsDir = join(pinDir, 'progs');
  return {
    root: pinDir,
    mapsDir,
    progsDir,
    linksDir: join(pinDir, 'links'),
    egressLinksDir: join(pinDir, 'links-egress'),
    maps: {
      endpoints: join(mapsDir, 'endpoints'),
      counters: join(mapsDir, 'counters'),
      routes: join(mapsDir, 'routes'),
      nodeCfg: join(mapsDir, 'node_cfg'),
    },
    progs: {
      fromPod: join(progsDir, 'from_pod'),
      fromUplink: join(progsDir, 'from_uplink'),
      fromVxlan: join(progsDir, 'from_vxlan'),
      toPod: join(progsDir, 'to_pod'),
      toUplink: join(progsDir, 'to_uplink'),
    },
  };
}

/**
 * The pin of the tcx link that attaches a program to ifname's ingress (links/) or egress
 * (links-egress/). bpffs refuses names with a '.', which interface names may contain (VLANs:
 * eth0.100), so '.' becomes ':', a character interface names can never have — the mapping stays
 * one-to-one.
 */
export function linkPin(pinDir: string, ifname: string, dir: LinkDir = 'ingress'): string {
  const p = pinPaths(pinDir);
  return join(dir === 'ingress' ? p.linksDir : p.egressLinksDir, ifname.replaceAll('.', ':'));
}

/** The interface name a link pin's file name stands for (inverse of linkPin). */
export function linkPinIfname(pinName: string): string {
  return pinName.replaceAll(':', '.');
}

/**
 * A fresh staging directory inside the pin dir (same bpffs, so pins can be renamed into place).
 * No leading dot: bpffs refuses any name containing '.' with EPERM.
 */
export function stagingDir(pinDir: string): string {
  return join(pinDir, `staging-${process.pid}-${randomBytes(3).toString('hex')}`);
}

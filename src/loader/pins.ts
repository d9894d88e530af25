// Where everything lives under a node's pin directory. One definition, used by the loader,
// the CNI plugin, the CLI and the tests.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/podwire';

export interface PinPaths {
  root: string;
  mapsDir: string;
  progsDir: string;
  maps: { endpoints: string; counters: string; routes: string; nodeCfg: string };
  progs: { fromPod: string; fromUplink: string; fromVxlan: string };
}

/** Program pin names (= the C function names; bpffs refuses dots, so none have one). */
export type ProgName = 'from_pod' | 'from_uplink' | 'from_vxlan';

export function pinPaths(pinDir: string = DEFAULT_PIN_DIR): PinPaths {
  const mapsDir = join(pinDir, 'maps');
  const progsDir = join(pinDir, 'progs');
  return {
    root: pinDir,
    mapsDir,
    progsDir,
    maps: {
      endpoints: join(mapsDir, 'endpoints'),
      counters: join(mapsDir, 'counters'),
      routes: join(mapsDir, 'routes'),
      nodeCfg: join(mapsDir, 'node_cfg'),
    },
    progs: { fromPod: join(progsDir, 'from_pod'), fromUplink: join(progsDir, 'from_uplink'), fromVxlan: join(progsDir, 'from_vxlan') },
  };
}

/**
 * A fresh staging directory inside the pin dir (same bpffs, so pins can be renamed into place).
 * No leading dot: bpffs refuses any name containing '.' with EPERM.
 */
export function stagingDir(pinDir: string): string {
  return join(pinDir, `staging-${process.pid}-${randomBytes(3).toString('hex')}`);
}

// Which node's maps a map/trace command reads: `--pin-dir DIR` (default /sys/fs/bpf/podwire) or
// `--node NAME` of a running lab (its pin dir, network namespace, CNI state dir and pods from
// the lab state file). One place, so every inspection command resolves nodes the same way.
import type { Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../cni/config.js';
import { PodwireError } from '../errors/index.js';
import { DEFAULT_PIN_DIR } from '../loader/pins.js';
import type { SnapshotPod } from '../maps/snapshot.js';

export interface TargetFlags {
  node?: string;
  pinDir?: string;
  stateDir?: string;
  labState?: string;
}

export interface NodeTarget {
  pinDir: string;
  /** Lab node name. */
  node?: string;
  /** The node's network namespace (undefined: this process's). */
  netnsPath?: string;
  /** The CNI state dir holding IPAM records (pod names). */
  stateDir: string;
  /** The node's uplink device name, when known (trace picks from_uplink for it). */
  uplink?: string;
  /** Pods the lab knows on this node (names for pod IPs). */
  labPods: SnapshotPod[];
}

/** Adds --pin-dir, --node, --state-dir and --lab-state to a command. */
export function targetOptions(cmd: Command): Command {
  return cmd
    .option('--pin-dir <dir>', `bpffs pin directory of the node (default ${DEFAULT_PIN_DIR})`)
    .option('--node <name>', 'a node of the running lab (resolves its pin directory and namespace)')
    .option('--state-dir <dir>', `CNI state directory, for pod names (default ${DEFAULT_STATE_DIR})`)
    .option('--lab-state <file>', 'lab state file (default $PODWIRE_LAB_STATE or /run/podwire/lab.json)');
}

export async function resolveTarget(f: TargetFlags): Promise<NodeTarget> {
  if (f.node !== undefined && f.pinDir !== undefined) {
    throw new PodwireError('USAGE', '--node and --pin-dir both pick the maps to read: give only one');
  }
  if (f.node === undefined) return { pinDir: f.pinDir ?? DEFAULT_PIN_DIR, stateDir: f.stateDir ?? DEFAULT_STATE_DIR, labPods: [] };
  const { readLabState, labStatePath } = await import('../lab/state.js');
  const state = await readLabState(labStatePath(f.labState));
  const node = state.nodes.find((n) => n.name === f.node);
  if (!node) {
    const known = state.nodes.map((n) => n.name).join(', ') || 'none';
    throw new PodwireError('USAGE', `the lab has no node ${JSON.stringify(f.node)} (nodes: ${known}): pick one with --node NAME`);
  }
  return {
    pinDir: node.pinDir,
    node: node.name,
    netnsPath: node.netnsPath,
    stateDir: f.stateDir ?? node.stateDir,
    uplink: node.uplink,
    labPods: (state.pods ?? [])
      .filter((p) => p.node === node.name && !p.hostNetwork)
      .map((p) => ({ ip: p.ip, namespace: p.namespace, name: p.name, containerId: p.containerId })),
  };
}

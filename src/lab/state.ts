// The lab's state file: everything `podwire lab status`, `lab pod …`, `lab down`, the map CLI's
// `--node NAME` and the tests need to find a running lab (namespaces, pin directories, PIDs of
// the processes the lab started). Written atomically; one file per lab.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PodwireError } from '../errors/index.js';

export const DEFAULT_LAB_STATE = '/run/podwire/lab.json';

export interface LabNodeState {
  name: string;
  netnsName: string;
  netnsPath: string;
  underlayIp: string;
  uplink: string;
  podCIDR: string;
  pinDir: string;
  stateDir: string;
  cniConfDir: string;
  agentPid?: number;
  agentLog: string;
  kubeconfig: string;
  /** The agent's /metrics (--metrics-listen on the underlay IP): reachable from every lab namespace on the underlay. */
  metricsUrl?: string;
}

export interface LabPodState {
  name: string;
  namespace: string;
  node: string;
  netnsName: string;
  netnsPath: string;
  ip: string;
  containerId: string;
  ifname: string;
  hostNetwork: boolean;
  /** The result of the last plugin in the chain (kept for DEL's prevResult). */
  result?: Record<string, unknown>;
}

export interface LabState {
  name: string;
  mode: 'native' | 'vxlan';
  dir: string;
  createdAt: string;
  underlay: { netnsName: string; netnsPath: string; controlIp: string; subnet: string };
  apiServer: { url: string; socket: string; pid?: number; log: string };
  nodes: LabNodeState[];
  pods: LabPodState[];
  /** Index of the next node to add (node names and underlay addresses derive from it). */
  nextNodeIndex?: number;
}

export function labStatePath(explicit?: string): string {
  return explicit ?? process.env['PODWIRE_LAB_STATE'] ?? DEFAULT_LAB_STATE;
}

export async function readLabState(path: string = labStatePath()): Promise<LabState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new PodwireError('USAGE', `no lab is running (no state file at ${path}): start one with \`podwire lab up\``, { cause });
  }
  return JSON.parse(text) as LabState;
}

export async function writeLabState(state: LabState, path: string = labStatePath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, path);
}

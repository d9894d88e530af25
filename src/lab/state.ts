// The lab's state file: everything `podwire lab status`, `lab pod …`, `lab down`, the map CLI's
// `--node NAME` and the tests need to find a running lab (namespaces, pin directories, PIDs of
// the processes the lab started). Several processes write it (the orchestrator, every node's
// lab kubelet, concurrent `lab pod add` calls), so every change is a read-modify-write under an
// exclusive lock file and lands with an atomic rename: no writer's update is lost.
import { open, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /** `podwire agent` arguments; the node's kubelet runs (and restarts) the agent with them. */
  agentArgv?: string[];
  /** How many times the kubelet restarted a dead agent. */
  agentRestarts?: number;
  kubeconfig: string;
  /** The node's lab kubelet (wires the Pods bound to this node). */
  kubeletPid?: number;
  kubeletLog?: string;
  /** The node's lab kube-proxy, when the lab runs one. */
  proxyPid?: number;
  proxyLog?: string;
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
  /** The Pod object's uid (the kubelet's key: a re-created Pod is a new pod). */
  uid?: string;
  /** The pod's "containers": the `podwire lab serve` process answering on its ports. */
  servePid?: number;
  /** The runtimeConfig the chain got at ADD (DEL gets the same). */
  capabilityArgs?: Record<string, unknown>;
  /** CNI_ARGS at ADD (DEL gets the same). */
  cniArgs?: string;
  /** The result of the last plugin in the chain (kept for DEL's prevResult). */
  result?: Record<string, unknown>;
}

export interface LabState {
  name: string;
  mode: 'native' | 'vxlan';
  /** vxlan mode: the agents' --vxlan-datapath, when the lab chose one. */
  vxlanDatapath?: 'bpf' | 'device';
  dir: string;
  createdAt: string;
  underlay: { netnsName: string; netnsPath: string; controlIp: string; subnet: string };
  apiServer: { url: string; socket: string; pid?: number; log: string };
  /** kubectl's access from the host namespace: the forwarder and the kubeconfig it serves. */
  access?: { kubeconfig: string; url: string; forwarderPid?: number; forwarderLog: string; tokenFile: string };
  proxyMode?: 'iptables' | 'nftables' | 'none';
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
  const tmp = `${path}.${process.pid}.${Math.random().toString(16).slice(2, 8)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, path);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run `fn` holding the lab's lock (`<state>.lock`, created O_EXCL, holding the owner's pid).
 * A lock whose owner died (SIGKILL mid-update) is taken over; waiting is bounded.
 */
export async function withLabLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const lock = `${path}.lock`;
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new PodwireError('IO_FAILED', `cannot lock ${lock}: ${(e as Error).message}`, { cause: e });
      const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
      // An empty file is a lock being written right now; only a dead owner's lock is stale.
      if (owner > 0 && !pidAlive(owner)) {
        await unlink(lock).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new PodwireError('TRY_AGAIN', `lab state lock ${lock} held by pid ${owner || '?'} for over ${timeoutMs} ms`);
      await sleep(10 + Math.random() * 20);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => {});
  }
}

/** Atomically change the state file: read the current state, apply `mutate`, write it back. */
export async function updateLabState(path: string, mutate: (s: LabState) => void | Promise<void>): Promise<LabState> {
  return withLabLock(path, async () => {
    const s = await readLabState(path);
    await mutate(s);
    await writeLabState(s, path);
    return s;
  });
}

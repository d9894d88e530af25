// A lab node: a network namespace playing a Kubernetes node's host namespace, its own pin
// directory with the datapath loaded, its own CNI state directory, and pods created by
// exec'ing the podwire CNI binary inside the node namespace exactly as a runtime would.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podwireBin } from '../assets/index.js';
import { loadDatapath, unloadDatapath } from '../loader/index.js';
import { createNetns, uniqueName, type Netns } from '../netns/index.js';
import { forwardedDatagrams } from './snmp.js';
import { execCni, type CniCommand, type CniOutcome } from './cni-exec.js';

export interface LabPod {
  name: string;
  containerId: string;
  ifname: string;
  netns: Netns;
  ip: string;
  result: Record<string, unknown>;
}

export interface LabNodeOptions {
  podCIDR: string;
  /** The node's own (host namespace) address; default 10.250.0.1. */
  nodeIp?: string;
  /** Prefix for namespace and pin names; a random suffix is always added. */
  prefix?: string;
  cniVersion?: string;
  mtu?: number;
}

export class LabNode {
  readonly pods = new Map<string, LabPod>();

  private constructor(
    readonly netns: Netns,
    readonly pinDir: string,
    readonly stateDir: string,
    readonly netconf: Record<string, unknown>,
  ) {}

  static async create(opts: LabNodeOptions): Promise<LabNode> {
    const prefix = opts.prefix ?? 'pwn';
    const netns = await createNetns(prefix);
    const pinDir = `/sys/fs/bpf/${uniqueName(`${prefix}-`)}`;
    let stateDir: string | undefined;
    try {
      stateDir = await mkdtemp(join(tmpdir(), `${prefix}-state-`));
      // A real node forwards IP; with forwarding on, any pod packet the host stack forwarded
      // would show in the node's Ip ForwDatagrams counter — which podwire must never move.
      await netns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      // The node's own address (a real node has one on its uplink): host-originated traffic to
      // pods takes it as source, and pods' replies to it are passed to the stack by from_pod.
      // (On lo: this kernel has no dummy driver and loads no modules.)
      await netns.exec('ip', ['addr', 'add', `${opts.nodeIp ?? '10.250.0.1'}/32`, 'dev', 'lo']);
      await loadDatapath({ pinDir });
      const netconf = {
        cniVersion: opts.cniVersion ?? '1.1.0',
        name: 'podwire',
        type: 'podwire',
        podCIDR: opts.podCIDR,
        pinDir,
        stateDir,
        ...(opts.mtu ? { mtu: opts.mtu } : {}),
      };
      return new LabNode(netns, pinDir, stateDir, netconf);
    } catch (e) {
      await unloadDatapath({ pinDir }).catch(() => {});
      if (stateDir) await rm(stateDir, { recursive: true, force: true });
      await netns.remove();
      throw e;
    }
  }

  /** Run one CNI command for a pod inside this node, like a runtime would. */
  cni(command: CniCommand, pod: { containerId: string; netns?: string; ifname: string; name: string }, extra: { config?: Record<string, unknown>; env?: Record<string, string | undefined> } = {}): Promise<CniOutcome> {
    return execCni({
      plugin: podwireBin(),
      command,
      containerId: pod.containerId,
      netns: pod.netns,
      ifname: pod.ifname,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
      path: ['/opt/cni/bin', '/usr/lib/cni'],
      config: extra.config ?? this.netconf,
      nodeNetns: this.netns.path,
      env: extra.env,
    });
  }

  async addPod(name: string): Promise<LabPod> {
    const netns = await createNetns('pwp');
    const containerId = randomBytes(16).toString('hex');
    const ifname = 'eth0';
    const out = await this.cni('ADD', { containerId, netns: netns.path, ifname, name });
    if (out.exitCode !== 0 || !out.json) {
      await netns.remove();
      throw new Error(`CNI ADD for pod ${name} failed (exit ${out.exitCode}): ${out.stdout}${out.stderr}`);
    }
    const ips = out.json['ips'] as Array<{ address: string }> | undefined;
    const ip = ips?.[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD for pod ${name} returned no IP: ${out.stdout}`);
    const pod: LabPod = { name, containerId, ifname, netns, ip, result: out.json };
    this.pods.set(name, pod);
    return pod;
  }

  async delPod(name: string): Promise<CniOutcome | undefined> {
    const pod = this.pods.get(name);
    if (!pod) return undefined;
    const out = await this.cni('DEL', { containerId: pod.containerId, netns: pod.netns.path, ifname: pod.ifname, name }, {
      config: { ...this.netconf, prevResult: pod.result },
    });
    await pod.netns.remove();
    this.pods.delete(name);
    return out;
  }

  /** The node's Ip ForwDatagrams counter (packets the host stack forwarded). */
  forwardedDatagrams(): Promise<number> {
    return forwardedDatagrams(this.netns.path);
  }

  /** Delete every pod through CNI DEL, then remove the node namespace, pins and state. */
  async destroy(): Promise<void> {
    const errors: unknown[] = [];
    for (const name of [...this.pods.keys()]) {
      await this.delPod(name).catch((e: unknown) => errors.push(e));
    }
    await this.netns.remove().catch((e: unknown) => errors.push(e));
    await unloadDatapath({ pinDir: this.pinDir }).catch((e: unknown) => errors.push(e));
    await rm(this.stateDir, { recursive: true, force: true }).catch((e: unknown) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, 'lab node cleanup had errors');
  }
}

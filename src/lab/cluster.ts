// The multi-node lab: N nodes as network namespaces on an underlay switch, the embedded
// Kubernetes-API-compatible server in the underlay namespace, one `podwire agent` process per
// node inside its namespace, and pods wired by running the node's CNI network list exactly
// as a runtime does, then published as Pod objects. Everything it makes is recorded in the
// lab state file so `lab status`, `lab pod …` and `lab down` work from other processes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniShim, podwireBin } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';
import { createNetns, uniqueName, type Netns } from '../netns/index.js';
import { api, apiRequest } from './api-client.js';
import { addNetworkList, delNetworkList, loadConflist, type RuntimeConf } from './runtime.js';
import { labStatePath, readLabState, writeLabState, type LabNodeState, type LabPodState, type LabState } from './state.js';
import { attachToUnderlay, createUnderlay } from './underlay.js';

export interface LabUpOptions {
  nodes?: number;
  podsPerNode?: number;
  mode?: 'native' | 'vxlan';
  /** Lab name; namespaces, pins and the lab directory carry it. Default: random. */
  name?: string;
  statePath?: string;
  /** Where the lab keeps kubeconfigs, logs, CNI dirs; default /run/podwire/lab-NAME. */
  dir?: string;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

const API_PORT = 6443;
/** Each agent serves /metrics on its underlay address (reachable from every namespace on the underlay). */
const LAB_METRICS_PORT = 9880;

/** A handle on a running lab (from `up` or `attach`). All state lives in the state file. */
export class Lab {
  private constructor(
    public state: LabState,
    readonly statePath: string,
  ) {}

  static async attach(statePath?: string): Promise<Lab> {
    const path = labStatePath(statePath);
    return new Lab(await readLabState(path), path);
  }

  static async up(opts: LabUpOptions = {}): Promise<Lab> {
    const log = opts.log ?? (() => {});
    const name = opts.name ?? randomBytes(3).toString('hex');
    const statePath = labStatePath(opts.statePath);
    if (existsSync(statePath)) {
      throw new PodwireError('USAGE', `a lab is already recorded at ${statePath}: run \`podwire lab down\` first (or pass another --state)`);
    }
    const nodes = opts.nodes ?? 2;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) throw new PodwireError('USAGE', `--nodes must be an integer 1..50, got ${String(opts.nodes)}`);
    const mode = opts.mode ?? 'native';
    const dir = opts.dir ?? `/run/podwire/lab-${name}`;
    await mkdir(dir, { recursive: true });

    const underlay = await createUnderlay({ prefix: `pwl${name.slice(0, 4)}u` });
    const state: LabState = {
      name,
      mode,
      dir,
      createdAt: new Date().toISOString(),
      underlay: { netnsName: underlay.netns.name, netnsPath: underlay.netns.path, controlIp: underlay.controlIp, subnet: underlay.subnet },
      apiServer: { url: `http://${underlay.controlIp}:${API_PORT}`, socket: join(dir, 'apiserver.sock'), log: join(dir, 'apiserver.log') },
      nodes: [],
      pods: [],
    };
    const lab = new Lab(state, statePath);
    await lab.save();
    try {
      log(`underlay ${underlay.netns.name}: switch br0, control plane ${underlay.controlIp}`);
      await lab.startApiServer();
      log(`API server ${state.apiServer.url} (pid ${state.apiServer.pid})`);

      // Plugins the lab's runtime finds: podwire itself, then Debian's reference plugins. The
      // plugin `podwire` is the native shim (requests go to the node's agent over its socket);
      // `podwire-full` is the full plugin it execs when no agent answers (its fallback rule).
      const cniBin = join(dir, 'cni-bin');
      await mkdir(cniBin, { recursive: true });
      await symlink(cniShim(), join(cniBin, 'podwire'));
      await symlink(podwireBin(), join(cniBin, 'podwire-full'));

      for (let i = 0; i < nodes; i++) {
        const node = await lab.addNode();
        log(`node ${node.name}: netns ${node.netnsName}, underlay ${node.underlayIp}, podCIDR ${node.podCIDR}, agent pid ${node.agentPid}`);
      }
      await lab.waitReady(opts.readyTimeoutMs ?? 90_000);
      log('agents ready (conflists written)');
      for (const node of state.nodes) {
        for (let j = 0; j < (opts.podsPerNode ?? 0); j++) {
          const pod = await lab.addPod(node.name, `pod-${node.name.replace(/^node-/, '')}-${j + 1}`);
          log(`pod ${pod.name} on ${pod.node}: ${pod.ip}`);
        }
      }
      return lab;
    } catch (e) {
      await lab.down().catch(() => {});
      throw e;
    }
  }

  async save(): Promise<void> {
    await writeLabState(this.state, this.statePath);
  }

  private spawnDetached(args: string[], logFile: string): number {
    const fd = openSync(logFile, 'a');
    try {
      // NODE_EXTRA_CA_CERTS costs ~40 ms per start and the lab needs no extra CAs.
      const env = { ...process.env };
      delete env['NODE_EXTRA_CA_CERTS'];
      const child = spawn('nsenter', args, { detached: true, stdio: ['ignore', fd, fd], env });
      child.unref();
      if (!child.pid) throw new PodwireError('EXEC_FAILED', `could not start ${args.join(' ')}`);
      return child.pid;
    } finally {
      closeSync(fd);
    }
  }

  private async startApiServer(): Promise<void> {
    const s = this.state;
    s.apiServer.pid = this.spawnDetached(
      [`--net=${s.underlay.netnsPath}`, '--', podwireBin(), 'lab', 'apiserver', '--listen', `${s.underlay.controlIp}:${API_PORT}`, '--socket', s.apiServer.socket],
      s.apiServer.log,
    );
    await this.save();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (existsSync(s.apiServer.socket)) {
        const r = await apiRequest(s.apiServer.socket, 'GET', '/_podwire/healthz').catch(() => undefined);
        if (r?.status === 200) return;
      }
      await sleep(100);
    }
    throw new PodwireError('IO_FAILED', `lab API server did not come up; log ${s.apiServer.log}:\n${tail(s.apiServer.log)}`);
  }

  /** Add a node: namespace on the underlay, Node object (podCIDR from node-IPAM), agent. */
  async addNode(): Promise<LabNodeState> {
    const s = this.state;
    // Indexes are never reused, so a removed node's underlay address is not handed out again.
    const index = s.nextNodeIndex ?? s.nodes.length;
    s.nextNodeIndex = index + 1;
    const name = `node-${index + 1}`;
    const netns: Netns = await createNetns(`pwl${s.name.slice(0, 4)}n`);
    const nodeDir = join(s.dir, name);
    const node: LabNodeState = {
      name,
      netnsName: netns.name,
      netnsPath: netns.path,
      underlayIp: '',
      uplink: 'eth0',
      podCIDR: '',
      pinDir: `/sys/fs/bpf/${uniqueName(`pwlab-${s.name}-n${index + 1}-`)}`,
      stateDir: join(nodeDir, 'state'),
      cniConfDir: join(nodeDir, 'net.d'),
      agentLog: join(nodeDir, 'agent.log'),
      kubeconfig: join(s.dir, 'kubeconfig'),
    };
    s.nodes.push(node);
    await this.save();
    await mkdir(node.cniConfDir, { recursive: true });
    const port = await attachToUnderlay(s.underlay, netns, index, node.uplink);
    node.underlayIp = port.ip;
    node.metricsUrl = `http://${port.ip}:${LAB_METRICS_PORT}/metrics`;

    // Register the Node as kubelet would; the API server's node-IPAM assigns its podCIDR.
    await api(s.apiServer.socket, 'POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'podwire.io/lab': s.name } },
      status: { addresses: [{ type: 'InternalIP', address: port.ip }, { type: 'Hostname', address: name }] },
    });
    const obj = await api<{ spec?: { podCIDR?: string }; status?: unknown }>(s.apiServer.socket, 'GET', `/api/v1/nodes/${name}`);
    if (!obj.spec?.podCIDR) throw new PodwireError('IO_FAILED', `lab API server assigned no podCIDR to ${name}`);
    node.podCIDR = obj.spec.podCIDR;
    // Status is a subresource: make sure the addresses are there even if create dropped them.
    await api(s.apiServer.socket, 'PATCH', `/api/v1/nodes/${name}/status`, {
      status: { addresses: [{ type: 'InternalIP', address: port.ip }, { type: 'Hostname', address: name }] },
    });

    await writeFile(node.kubeconfig, kubeconfig(s.apiServer.url));
    node.agentPid = this.spawnDetached(this.agentArgs(node), node.agentLog);
    await this.save();
    return node;
  }

  /** nsenter arguments that run a node's agent inside the node namespace. */
  private agentArgs(node: LabNodeState): string[] {
    const s = this.state;
    return [
      `--net=${node.netnsPath}`, '--', podwireBin(), 'agent',
      '--node-name', node.name,
      '--kubeconfig', node.kubeconfig,
      '--mode', s.mode,
      '--uplink', node.uplink,
      '--pin-dir', node.pinDir,
      '--state-dir', node.stateDir,
      '--cni-conf-dir', node.cniConfDir,
      '--cni-bin-dir', this.pluginDirs().join(':'),
      '--cni-cache-dir', join(s.dir, node.name, 'cni-cache'),
      '--health-listen', '127.0.0.1:9879',
      '--metrics-listen', `${node.underlayIp}:${LAB_METRICS_PORT}`,
      '--cni-socket', join(s.dir, node.name, 'cni.sock'),
    ];
  }

  /** Where the lab's runtime (and the agent, to negotiate the chain) finds CNI plugins. */
  pluginDirs(): string[] {
    return [join(this.state.dir, 'cni-bin'), '/usr/lib/cni'];
  }

  /** Restart one node's agent (e.g. after a test killed it). */
  async startAgent(nodeName: string): Promise<number> {
    const node = this.node(nodeName);
    node.agentPid = this.spawnDetached(this.agentArgs(node), node.agentLog);
    await this.save();
    return node.agentPid;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.state.nodes) {
      for (;;) {
        const conf = await loadConflist(node.cniConfDir).catch(() => undefined);
        if (conf) break;
        if (node.agentPid && !alive(node.agentPid)) {
          throw new PodwireError('IO_FAILED', `agent of ${node.name} exited before it was ready; log ${node.agentLog}:\n${tail(node.agentLog)}`);
        }
        if (Date.now() > deadline) {
          throw new PodwireError('IO_FAILED', `agent of ${node.name} not ready after ${timeoutMs} ms; log ${node.agentLog}:\n${tail(node.agentLog)}`);
        }
        await sleep(200);
      }
    }
  }

  node(name: string): LabNodeState {
    const n = this.state.nodes.find((x) => x.name === name);
    if (!n) throw new PodwireError('USAGE', `no lab node "${name}"; nodes: ${this.state.nodes.map((x) => x.name).join(', ')}`);
    return n;
  }

  pod(name: string): LabPodState {
    const p = this.state.pods.find((x) => x.name === name);
    if (!p) throw new PodwireError('USAGE', `no lab pod "${name}"`);
    return p;
  }

  private runtimeConf(node: LabNodeState, pod: { name: string; namespace: string; containerId: string; netnsPath: string; ifname: string }): RuntimeConf {
    return {
      containerId: pod.containerId,
      netns: pod.netnsPath,
      ifname: pod.ifname,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
      pluginDirs: this.pluginDirs(),
      nodeNetns: node.netnsPath,
      // libcni's result cache, as containerd keeps it: the agent's GC runs the chain's DEL from it
      cacheDir: join(this.state.dir, node.name, 'cni-cache'),
    };
  }

  /** Create a pod on a node: a namespace wired by the node's CNI chain, then a Pod object. */
  async addPod(nodeName: string, name: string, opts: { hostNetwork?: boolean; namespace?: string } = {}): Promise<LabPodState> {
    const node = this.node(nodeName);
    const namespace = opts.namespace ?? 'default';
    if (this.state.pods.some((p) => p.name === name && p.namespace === namespace)) throw new PodwireError('USAGE', `lab pod ${namespace}/${name} exists`);
    let pod: LabPodState;
    if (opts.hostNetwork) {
      pod = { name, namespace, node: node.name, netnsName: node.netnsName, netnsPath: node.netnsPath, ip: node.underlayIp, containerId: '', ifname: '', hostNetwork: true };
    } else {
      const netns = await createNetns(`pwl${this.state.name.slice(0, 4)}p`);
      const containerId = randomBytes(32).toString('hex');
      pod = { name, namespace, node: node.name, netnsName: netns.name, netnsPath: netns.path, ip: '', containerId, ifname: 'eth0', hostNetwork: false };
      try {
        const { list } = await loadConflist(node.cniConfDir);
        const result = await addNetworkList(list, this.runtimeConf(node, pod));
        const ips = result['ips'] as Array<{ address: string }> | undefined;
        pod.ip = ips?.[0]?.address.split('/')[0] ?? '';
        pod.result = result;
        if (!pod.ip) throw new PodwireError('EXEC_FAILED', `CNI ADD for ${name} returned no IP`);
      } catch (e) {
        await netns.remove();
        throw e;
      }
    }
    this.state.pods.push(pod);
    await this.save();
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { 'podwire.io/lab': this.state.name } },
      spec: { nodeName: node.name, hostNetwork: pod.hostNetwork, containers: [{ name: 'main', image: 'lab/none' }] },
      status: { phase: 'Running', hostIP: node.underlayIp, podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
    };
    await api(this.state.apiServer.socket, 'POST', `/api/v1/namespaces/${namespace}/pods`, body);
    await api(this.state.apiServer.socket, 'PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, { status: body.status });
    return pod;
  }

  /** Delete a pod: the Pod object, then CNI DEL through the chain, then its namespace. */
  async delPod(name: string): Promise<void> {
    const pod = this.pod(name);
    const node = this.node(pod.node);
    await apiRequest(this.state.apiServer.socket, 'DELETE', `/api/v1/namespaces/${pod.namespace}/pods/${name}`).catch(() => undefined);
    if (!pod.hostNetwork) {
      const conf = await loadConflist(node.cniConfDir).catch(() => undefined);
      if (conf) await delNetworkList(conf.list, this.runtimeConf(node, pod), pod.result);
      await run('ip', ['netns', 'del', pod.netnsName], { reject: false });
    }
    this.state.pods = this.state.pods.filter((p) => p !== pod);
    await this.save();
  }

  /** Remove a node as a cluster would lose one: its Node object, agent, pods and namespace. */
  async removeNode(name: string): Promise<void> {
    const node = this.node(name);
    for (const p of this.state.pods.filter((x) => x.node === name)) await this.delPod(p.name).catch(() => undefined);
    await apiRequest(this.state.apiServer.socket, 'DELETE', `/api/v1/nodes/${name}`).catch(() => undefined);
    if (node.agentPid) await stopPids([node.agentPid]);
    await run('ip', ['netns', 'del', node.netnsName], { reject: false });
    await rm(node.pinDir, { recursive: true, force: true });
    await rm(join(this.state.dir, name), { recursive: true, force: true });
    this.state.nodes = this.state.nodes.filter((n) => n !== node);
    await this.save();
  }

  /** Stop every process, remove every namespace, pin, directory and the state file. */
  async down(): Promise<void> {
    const s = this.state;
    const pids = [...s.nodes.map((n) => n.agentPid), s.apiServer.pid].filter((p): p is number => typeof p === 'number');
    await stopPids(pids);
    for (const p of s.pods) if (!p.hostNetwork) await run('ip', ['netns', 'del', p.netnsName], { reject: false });
    for (const n of s.nodes) {
      await run('ip', ['netns', 'del', n.netnsName], { reject: false });
      await rm(n.pinDir, { recursive: true, force: true });
    }
    await run('ip', ['netns', 'del', s.underlay.netnsName], { reject: false });
    await rm(s.dir, { recursive: true, force: true });
    await rm(this.statePath, { force: true });
  }
}

function kubeconfig(server: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server } }],
    users: [{ name: 'lab', user: {} }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'lab' } }],
    'current-context': 'lab',
  }, null, 2);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM the lab's own processes, then SIGKILL what is still there after a grace period. */
async function stopPids(pids: number[]): Promise<void> {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

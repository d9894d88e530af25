// The multi-node lab: N nodes as network namespaces on an underlay switch, the embedded
// Kubernetes-API-compatible server in the underlay namespace, and per node the processes a real
// node runs: `podwire agent`, a lab kubelet (wires the Pods bound to the node through the node's
// CNI chain, as containerd's CRI does) and a lab kube-proxy. A forwarder in the host namespace
// makes the API server reachable for kubectl (kind-like). Everything it makes is recorded in the
// lab state file (updated under a lock) so `lab status`, `lab pod …` and `lab down` work from
// other processes; `lab down` also sweeps by the lab's name prefix what the file may have missed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniShim, podwireBin } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';
import { createNetns, uniqueName, type Netns } from '../netns/index.js';
import { makeLabCertificate, renderKubeconfig } from './access.js';
import { api, apiRequest } from './api-client.js';
import { loadConflist } from './runtime.js';
import { labStatePath, readLabState, updateLabState, writeLabState, type LabNodeState, type LabPodState, type LabState } from './state.js';
import { attachToUnderlay, createUnderlay } from './underlay.js';

export type ProxyMode = 'iptables' | 'nftables' | 'none';

export interface LabUpOptions {
  nodes?: number;
  podsPerNode?: number;
  mode?: 'native' | 'vxlan';
  /** vxlan mode: the agents' --vxlan-datapath (default: the agent's default). */
  vxlanDatapath?: 'bpf' | 'device';
  /** Lab name ([a-z0-9], 1..12); namespaces, pins and the lab directory carry it. Default: random. */
  name?: string;
  statePath?: string;
  /** Where the lab keeps kubeconfigs, logs, CNI dirs; default /run/podwire/lab-NAME. */
  dir?: string;
  /** A lab kube-proxy per node in this mode (default iptables); none: no Services. */
  proxyMode?: ProxyMode;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
  /**
   * Aborting stops `up` at its next step and removes what it built so far (the bench's Ctrl-C /
   * SIGTERM handler uses it: a half-built lab must not outlive an interrupted run).
   */
  signal?: AbortSignal;
}

export interface PodSpecOptions {
  hostNetwork?: boolean;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Container ports (the pod answers on each one; see `lab serve`). */
  ports?: Array<{ containerPort: number; protocol?: 'TCP' | 'UDP'; name?: string; hostPort?: number }>;
  timeoutMs?: number;
}

const API_PORT = 6443;
const CLUSTER_CIDR = '10.244.0.0/16';
/** Each agent serves /metrics on its underlay address (reachable from every namespace on the underlay). */
const LAB_METRICS_PORT = 9880;

/** Every namespace and pin of a lab starts with these (`lab down` sweeps by them). */
export const netnsPrefix = (lab: string): string => `pwl-${lab}-`;
export const pinPrefix = (lab: string): string => `pwlab-${lab}-`;

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
    if (!/^[a-z0-9]{1,12}$/.test(name)) throw new PodwireError('USAGE', `--name ${JSON.stringify(name)}: use 1..12 of [a-z0-9] (it prefixes namespace and pin names)`);
    const statePath = labStatePath(opts.statePath);
    if (existsSync(statePath)) {
      throw new PodwireError('USAGE', `a lab is already recorded at ${statePath}: run \`podwire lab down\` first (or pass another --state)`);
    }
    const nodes = opts.nodes ?? 2;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) throw new PodwireError('USAGE', `--nodes must be an integer 1..50, got ${String(opts.nodes)}`);
    const mode = opts.mode ?? 'native';
    if (opts.vxlanDatapath !== undefined && mode !== 'vxlan') throw new PodwireError('USAGE', `--vxlan-datapath ${opts.vxlanDatapath} needs --mode vxlan`);
    const proxyMode = opts.proxyMode ?? 'iptables';
    const dir = opts.dir ?? `/run/podwire/lab-${name}`;
    await mkdir(dir, { recursive: true });

    const underlay = await createUnderlay({ prefix: `${netnsPrefix(name)}u` });
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
    const state: LabState = {
      name,
      mode,
      ...(opts.vxlanDatapath === undefined ? {} : { vxlanDatapath: opts.vxlanDatapath }),
      dir,
      createdAt: new Date().toISOString(),
      underlay: { netnsName: underlay.netns.name, netnsPath: underlay.netns.path, controlIp: underlay.controlIp, subnet: underlay.subnet },
      apiServer: { url: `https://${underlay.controlIp}:${API_PORT}`, socket: join(dir, 'apiserver.sock'), log: join(dir, 'apiserver.log') },
      access: { kubeconfig: join(dir, 'kubeconfig'), url: '', forwarderLog: join(dir, 'forwarder.log'), tokenFile },
      proxyMode,
      nodes: [],
      pods: [],
    };
    await writeLabState(state, statePath);
    const lab = new Lab(state, statePath);
    const step = (): void => opts.signal?.throwIfAborted();
    try {
      step();
      log(`underlay ${underlay.netns.name}: switch br0, control plane ${underlay.controlIp}`);
      await lab.startApiServer();
      log(`API server ${state.apiServer.url} (pid ${lab.state.apiServer.pid})`);
      await lab.startForwarder();
      log(`kubeconfig ${lab.state.access!.kubeconfig} (host: ${lab.state.access!.url})`);

      // Plugins the lab's runtime finds: podwire itself, then Debian's reference plugins. The
      // plugin `podwire` is the native shim (requests go to the node's agent over its socket);
      // `podwire-full` is the full plugin it execs when no agent answers (its fallback rule).
      const cniBin = join(dir, 'cni-bin');
      await mkdir(cniBin, { recursive: true });
      await symlink(cniShim(), join(cniBin, 'podwire'));
      await symlink(podwireBin(), join(cniBin, 'podwire-full'));

      for (let i = 0; i < nodes; i++) {
        step();
        const node = await lab.addNode();
        log(`node ${node.name}: netns ${node.netnsName}, underlay ${node.underlayIp}, podCIDR ${node.podCIDR}, kubelet pid ${node.kubeletPid} (runs the agent)`);
      }
      step();
      await lab.waitReady(opts.readyTimeoutMs ?? 90_000, opts.signal);
      log(`agents ready (conflists written)${proxyMode === 'none' ? '' : `, kube-proxies synced (${proxyMode})`}`);
      const jobs: Array<Promise<LabPodState>> = [];
      for (const node of lab.state.nodes) {
        for (let j = 0; j < (opts.podsPerNode ?? 0); j++) jobs.push(lab.addPod(node.name, `pod-${node.name.replace(/^node-/, '')}-${j + 1}`));
      }
      for (const pod of await Promise.all(jobs)) log(`pod ${pod.name} on ${pod.node}: ${pod.ip}`);
      step();
      return lab;
    } catch (e) {
      await lab.down().catch(() => {});
      throw e;
    }
  }

  /** Re-read the state file (other processes — kubelets, `lab pod add` — change it). */
  async refresh(): Promise<LabState> {
    this.state = await readLabState(this.statePath);
    return this.state;
  }

  /** Change the state file atomically under the lab lock; `this.state` becomes the result. */
  async update(mutate: (s: LabState) => void): Promise<LabState> {
    this.state = await updateLabState(this.statePath, mutate);
    return this.state;
  }

  private spawnDetached(file: string, args: string[], logFile: string): number {
    const fd = openSync(logFile, 'a');
    try {
      // NODE_EXTRA_CA_CERTS costs ~40 ms per start and the lab needs no extra CAs.
      const env = { ...process.env };
      delete env['NODE_EXTRA_CA_CERTS'];
      const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env });
      child.unref();
      if (!child.pid) throw new PodwireError('EXEC_FAILED', `could not start ${file} ${args.join(' ')}`);
      return child.pid;
    } finally {
      closeSync(fd);
    }
  }

  /** Start a podwire role inside a namespace, detached, output appended to a log file. */
  private spawnIn(netnsPath: string, args: string[], logFile: string): number {
    return this.spawnDetached('nsenter', [`--net=${netnsPath}`, '--', podwireBin(), ...args], logFile);
  }

  private async startApiServer(): Promise<void> {
    const s = this.state;
    // TLS and a bearer token on TCP, as a real API server: anonymous requests (from a pod, say)
    // get 401. The Unix socket is the orchestrator's own channel.
    await makeLabCertificate(this.certFile(), this.keyFile(), [s.underlay.controlIp]);
    const args = [
      'lab', 'apiserver',
      '--listen', `${s.underlay.controlIp}:${API_PORT}`,
      '--socket', s.apiServer.socket,
      '--cluster-cidr', CLUSTER_CIDR,
      '--token-file', s.access!.tokenFile,
      '--tls-cert-file', this.certFile(),
      '--tls-key-file', this.keyFile(),
    ];
    const pid = this.spawnIn(s.underlay.netnsPath, args, s.apiServer.log);
    await this.update((x) => (x.apiServer.pid = pid));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (existsSync(s.apiServer.socket)) {
        const r = await apiRequest(s.apiServer.socket, 'GET', '/_podwire/healthz').catch(() => undefined);
        if (r?.status === 200) return;
      }
      if (!alive(pid)) break;
      await sleep(100);
    }
    throw new PodwireError('IO_FAILED', `lab API server did not come up; log ${s.apiServer.log}:\n${tail(s.apiServer.log)}`);
  }

  /** The host-namespace forwarder kubectl talks to, and the kubeconfig naming it. */
  private async startForwarder(): Promise<void> {
    const a = this.state.access!;
    const [cert, key] = [this.certFile(), this.keyFile()];
    const pid = this.spawnDetached(podwireBin(), ['lab', 'forward', '--socket', this.state.apiServer.socket, '--token-file', a.tokenFile, '--tls-cert', cert, '--tls-key', key], a.forwarderLog);
    const port = await waitForLine(a.forwarderLog, (l) => (l.port as number | undefined), 30_000, pid);
    const url = `https://127.0.0.1:${port}`;
    await writeFile(a.kubeconfig, renderKubeconfig(url, this.token(), 'lab-admin', readFileSync(cert, 'utf8')), { mode: 0o600 });
    await this.update((x) => Object.assign(x.access!, { forwarderPid: pid, url }));
  }

  private certFile(): string {
    return join(this.state.dir, 'tls.crt');
  }

  private keyFile(): string {
    return join(this.state.dir, 'tls.key');
  }

  /** The lab's bearer token (every kubeconfig the lab writes carries it). */
  token(): string {
    return readFileSync(this.state.access?.tokenFile ?? join(this.state.dir, 'token'), 'utf8').trim();
  }

  /** Add a node: namespace on the underlay, Node object (podCIDR from node-IPAM), agent, kubelet, kube-proxy. */
  async addNode(): Promise<LabNodeState> {
    let index = 0;
    await this.update((x) => {
      // Indexes are never reused, so a removed node's underlay address is not handed out again.
      index = x.nextNodeIndex ?? x.nodes.length;
      x.nextNodeIndex = index + 1;
    });
    const s = this.state;
    const name = `node-${index + 1}`;
    const netns: Netns = await createNetns(`${netnsPrefix(s.name)}n`);
    const nodeDir = join(s.dir, name);
    const node: LabNodeState = {
      name,
      netnsName: netns.name,
      netnsPath: netns.path,
      underlayIp: '',
      uplink: 'eth0',
      podCIDR: '',
      pinDir: `/sys/fs/bpf/${uniqueName(`${pinPrefix(s.name)}n${index + 1}-`)}`,
      stateDir: join(nodeDir, 'state'),
      cniConfDir: join(nodeDir, 'net.d'),
      agentLog: join(nodeDir, 'agent.log'),
      kubeletLog: join(nodeDir, 'kubelet.log'),
      proxyLog: join(nodeDir, 'kube-proxy.log'),
      kubeconfig: join(nodeDir, 'kubeconfig'),
    };
    await this.update((x) => void x.nodes.push(node));
    await mkdir(node.cniConfDir, { recursive: true });
    const port = await attachToUnderlay({ netnsPath: s.underlay.netnsPath, subnet: s.underlay.subnet }, netns, index, node.uplink);
    node.underlayIp = port.ip;
    node.metricsUrl = `http://${port.ip}:${LAB_METRICS_PORT}/metrics`;
    // Like a real node: a default route via the underlay, so the node (and hostNetwork pods)
    // reach ClusterIPs (DNATed by kube-proxy on the way out) and the control plane's network.
    await netns.exec('ip', ['route', 'add', 'default', 'via', s.underlay.controlIp, 'dev', node.uplink]);

    // Register the Node as kubelet would; the API server's node-IPAM assigns its podCIDR.
    const addresses = [{ type: 'InternalIP', address: port.ip }, { type: 'Hostname', address: name }];
    await api(s.apiServer.socket, 'POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'podwire.io/lab': s.name } },
      status: { addresses },
    });
    const obj = await api<{ spec?: { podCIDR?: string } }>(s.apiServer.socket, 'GET', `/api/v1/nodes/${name}`);
    if (!obj.spec?.podCIDR) throw new PodwireError('IO_FAILED', `lab API server assigned no podCIDR to ${name}`);
    node.podCIDR = obj.spec.podCIDR;
    // Status is a subresource: make sure the addresses are there even if create dropped them.
    await api(s.apiServer.socket, 'PATCH', `/api/v1/nodes/${name}/status`, {
      status: { addresses, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastTransitionTime: new Date().toISOString() }] },
    });

    await writeFile(node.kubeconfig, renderKubeconfig(s.apiServer.url, this.token(), `system:node:${name}`, readFileSync(this.certFile(), 'utf8')), { mode: 0o600 });
    // The kubelet runs the agent (and restarts it when it dies), as kubelet runs a DaemonSet's pod.
    node.agentArgv = this.agentArgs(node).slice(1);
    await this.update((x) => Object.assign(x.nodes.find((n) => n.name === name)!, node));
    node.kubeletPid = this.spawnIn(node.netnsPath, this.kubeletArgs(node), node.kubeletLog!);
    if ((s.proxyMode ?? 'none') !== 'none') node.proxyPid = this.spawnIn(node.netnsPath, this.proxyArgs(node), node.proxyLog!);
    await this.update((x) => (x.nodes.find((n) => n.name === name)!.kubeletPid = node.kubeletPid));
    return this.node(name);
  }

  /** nsenter arguments that run a node's agent inside the node namespace. */
  private agentArgs(node: LabNodeState): string[] {
    return [
      'agent',
      '--node-name', node.name,
      '--kubeconfig', node.kubeconfig,
      '--mode', this.state.mode,
      ...(this.state.vxlanDatapath ? ['--vxlan-datapath', this.state.vxlanDatapath] : []),
      '--uplink', node.uplink,
      '--pin-dir', node.pinDir,
      '--state-dir', node.stateDir,
      '--cni-conf-dir', node.cniConfDir,
      '--cni-bin-dir', this.pluginDirs().join(':'),
      '--cni-cache-dir', this.cniCacheDir(node),
      '--health-listen', '127.0.0.1:9879',
      '--metrics-listen', `${node.underlayIp}:${LAB_METRICS_PORT}`,
      '--cni-socket', join(this.state.dir, node.name, 'cni.sock'),
    ];
  }

  private kubeletArgs(node: LabNodeState): string[] {
    return [
      'lab', 'kubelet',
      '--node-name', node.name,
      '--kubeconfig', node.kubeconfig,
      '--lab-state', this.statePath,
      '--cni-conf-dir', node.cniConfDir,
      '--cni-bin-dir', this.pluginDirs().join(':'),
      '--netns-prefix', `${netnsPrefix(this.state.name)}p`,
      '--cni-cache-dir', this.cniCacheDir(node),
      '--supervise-agent',
    ];
  }

  private proxyArgs(node: LabNodeState): string[] {
    return [
      'lab', 'kube-proxy',
      '--node-name', node.name,
      '--kubeconfig', node.kubeconfig,
      '--proxy-mode', this.state.proxyMode ?? 'iptables',
      '--cluster-cidr', CLUSTER_CIDR,
      '--node-ip', node.underlayIp,
    ];
  }

  /** Where the lab's runtime (and the agent, to negotiate the chain) finds CNI plugins. */
  pluginDirs(): string[] {
    return [join(this.state.dir, 'cni-bin'), '/usr/lib/cni'];
  }

  /**
   * Make sure a node's agent runs (e.g. after a test killed it): its supervisor (the node's
   * kubelet) starts a dead one at once instead of after the backoff. Returns the running pid.
   */
  async startAgent(nodeName: string, timeoutMs = 30_000): Promise<number> {
    const kubelet = this.node(nodeName).kubeletPid;
    if (!kubelet || !alive(kubelet)) throw new PodwireError('IO_FAILED', `the kubelet of ${nodeName} (the agent's supervisor) is not running`);
    process.kill(kubelet, 'SIGUSR1');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pid = (await this.refresh()).nodes.find((n) => n.name === nodeName)?.agentPid;
      if (pid && alive(pid)) return pid;
      if (Date.now() > deadline) throw new PodwireError('IO_FAILED', `agent of ${nodeName} not restarted after ${timeoutMs} ms`);
      await sleep(50);
      if (alive(kubelet)) process.kill(kubelet, 'SIGUSR1');
    }
  }

  /** Every node's agent wrote its conflist and every kube-proxy synced once. */
  async waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of (await this.refresh()).nodes) {
      for (;;) {
        signal?.throwIfAborted();
        const conf = await loadConflist(node.cniConfDir).catch(() => undefined);
        if (conf) break;
        if (node.kubeletPid && !alive(node.kubeletPid)) {
          throw new PodwireError('IO_FAILED', `kubelet of ${node.name} (which runs its agent) exited; log ${node.kubeletLog}:\n${tail(node.kubeletLog ?? '')}`);
        }
        if (Date.now() > deadline) {
          throw new PodwireError('IO_FAILED', `agent of ${node.name} not ready after ${timeoutMs} ms; log ${node.agentLog}:\n${tail(node.agentLog)}`);
        }
        await sleep(200);
      }
      if (node.proxyPid && node.proxyLog) {
        await waitForLine(node.proxyLog, (l) => (l.synced === true ? true : undefined), Math.max(1000, deadline - Date.now()), node.proxyPid, `kube-proxy of ${node.name}`);
      }
    }
  }

  node(name: string): LabNodeState {
    const n = this.state.nodes.find((x) => x.name === name);
    if (!n) throw new PodwireError('USAGE', `no lab node "${name}"; nodes: ${this.state.nodes.map((x) => x.name).join(', ')}`);
    return n;
  }

  pod(name: string, namespace?: string): LabPodState {
    const p = this.state.pods.find((x) => x.name === name && (namespace === undefined || x.namespace === namespace));
    if (!p) throw new PodwireError('USAGE', `no lab pod "${name}"`);
    return p;
  }

  /** libcni's result cache of a node, as containerd keeps it: the agent's GC runs the chain's DEL from it. */
  cniCacheDir(node: LabNodeState): string {
    return join(this.state.dir, node.name, 'cni-cache');
  }

  /**
   * Create a Pod bound to a node and wait until its kubelet ran it (CNI ADD, servers, status
   * Running with an IP). The pod is what the kubelet recorded in the state file.
   */
  async addPod(nodeName: string, name: string, opts: PodSpecOptions = {}): Promise<LabPodState> {
    const node = this.node(nodeName);
    const namespace = opts.namespace ?? 'default';
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { 'podwire.io/lab': this.state.name, ...opts.labels }, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
      spec: {
        nodeName: node.name,
        ...(opts.hostNetwork ? { hostNetwork: true } : {}),
        containers: [{ name: 'main', image: 'podwire.io/lab-serve', ...(opts.ports?.length ? { ports: opts.ports } : {}) }],
      },
    };
    const r = await apiRequest<{ metadata?: { uid?: string }; message?: string }>(this.state.apiServer.socket, 'POST', `/api/v1/namespaces/${namespace}/pods`, body);
    if (r.status === 409) throw new PodwireError('USAGE', `lab pod ${namespace}/${name} exists`);
    if (r.status < 200 || r.status >= 300) throw new PodwireError('IO_FAILED', `creating pod ${namespace}/${name} → ${r.status}: ${r.body?.message ?? ''}`);
    const uid = r.body.metadata?.uid;
    const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
    for (;;) {
      const st = await this.refresh();
      const rec = st.pods.find((p) => p.uid === uid && p.ip && (p.hostNetwork || p.result));
      if (rec) {
        const cur = await apiRequest<{ status?: { phase?: string; podIP?: string } }>(st.apiServer.socket, 'GET', `/api/v1/namespaces/${namespace}/pods/${name}`);
        if (cur.body.status?.phase === 'Running' && cur.body.status.podIP === rec.ip) return rec;
      }
      if (Date.now() > deadline) {
        throw new PodwireError('IO_FAILED', `pod ${namespace}/${name} not Running on ${nodeName} after ${opts.timeoutMs ?? 90_000} ms; kubelet log ${node.kubeletLog}:\n${tail(node.kubeletLog ?? '', 15)}`);
      }
      await sleep(100);
    }
  }

  /** Delete a Pod object and wait until its kubelet tore it down (servers, CNI DEL, namespace). */
  async delPod(name: string, namespace?: string, timeoutMs = 60_000): Promise<void> {
    await this.refresh();
    const pod = this.pod(name, namespace);
    const r = await apiRequest(this.state.apiServer.socket, 'DELETE', `/api/v1/namespaces/${pod.namespace}/pods/${name}`);
    if (r.status !== 200 && r.status !== 202 && r.status !== 404) throw new PodwireError('IO_FAILED', `deleting pod ${pod.namespace}/${name} → ${r.status}`);
    const deadline = Date.now() + timeoutMs;
    while ((await this.refresh()).pods.some((p) => p.uid === pod.uid && p.name === name && p.namespace === pod.namespace)) {
      if (Date.now() > deadline) throw new PodwireError('IO_FAILED', `pod ${pod.namespace}/${name} not torn down after ${timeoutMs} ms; kubelet log:\n${tail(this.node(pod.node).kubeletLog ?? '', 15)}`);
      await sleep(100);
    }
  }

  /** Remove a node as a cluster would lose one: its pods, Node object, processes and namespace. */
  async removeNode(name: string): Promise<void> {
    const node = this.node(name);
    for (const p of this.state.pods.filter((x) => x.node === name)) await this.delPod(p.name, p.namespace).catch(() => undefined);
    await apiRequest(this.state.apiServer.socket, 'DELETE', `/api/v1/nodes/${name}`).catch(() => undefined);
    await stopPids([node.kubeletPid]); // first: it would restart the agent
    await this.refresh();
    await stopPids([this.node(name).agentPid, node.proxyPid]);
    await run('ip', ['netns', 'del', node.netnsName], { reject: false });
    await rm(node.pinDir, { recursive: true, force: true });
    await rm(join(this.state.dir, name), { recursive: true, force: true });
    await this.update((x) => {
      x.nodes = x.nodes.filter((n) => n.name !== name);
      x.pods = x.pods.filter((p) => p.node !== name);
    });
  }

  /**
   * Stop every process, remove every namespace, pin, directory and the state file. What the
   * state file missed is found by the lab's name prefix: namespaces (and any process still in
   * them) and pin directories.
   */
  async down(): Promise<void> {
    await stopPids((await readLabState(this.statePath).catch(() => this.state)).nodes.map((n) => n.kubeletPid)); // first: they restart agents
    const s = await readLabState(this.statePath).catch(() => this.state);
    this.state = s;
    await stopPids([
      ...s.nodes.flatMap((n) => [n.proxyPid, n.agentPid]),
      ...s.pods.map((p) => p.servePid),
      s.access?.forwarderPid,
      s.apiServer.pid,
    ]);
    const names = new Set([...s.pods.filter((p) => !p.hostNetwork).map((p) => p.netnsName), ...s.nodes.map((n) => n.netnsName), s.underlay.netnsName]);
    const prefix = netnsPrefix(s.name);
    for (const f of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (f.startsWith(prefix)) names.add(f);
    // Processes left in the lab's namespaces are the lab's (a pod's servers whose pid was never recorded).
    const stray: number[] = [];
    for (const n of names) {
      const r = await run('ip', ['netns', 'pids', n], { reject: false });
      if (r.exitCode === 0) stray.push(...r.stdout.split('\n').map(Number).filter((x) => x > 0));
    }
    await stopPids(stray);
    for (const n of names) await run('ip', ['netns', 'del', n], { reject: false });
    const pins = new Set(s.nodes.map((n) => n.pinDir));
    for (const f of readdirSync('/sys/fs/bpf')) if (f.startsWith(pinPrefix(s.name))) pins.add(join('/sys/fs/bpf', f));
    for (const p of pins) await rm(p, { recursive: true, force: true });
    await rm(s.dir, { recursive: true, force: true });
    await rm(this.statePath, { force: true });
    await rm(`${this.statePath}.lock`, { force: true });
  }
}

/** Wait for a JSON line in a log file for which `pick` returns a value. */
async function waitForLine<T>(file: string, pick: (line: Record<string, unknown>) => T | undefined, timeoutMs: number, pid?: number, what = file): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const v = pick(JSON.parse(line) as Record<string, unknown>);
        if (v !== undefined) return v;
      } catch {
        // not JSON: a log line
      }
    }
    if (pid && !alive(pid)) throw new PodwireError('IO_FAILED', `${what} exited; log ${file}:\n${tail(file)}`);
    if (Date.now() > deadline) throw new PodwireError('IO_FAILED', `${what} not ready after ${timeoutMs} ms; log ${file}:\n${tail(file)}`);
    await sleep(100);
  }
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
async function stopPids(list: Array<number | undefined>): Promise<void> {
  const pids = list.filter((p): p is number => typeof p === 'number' && p > 0);
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

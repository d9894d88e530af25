// The lab kubelet: one per node, run inside the node's namespace. It watches the Pods bound to
// its node and runs each one as containerd's CRI would: a fresh network namespace, the node's
// CNI chain ADD (K8S_POD_* CNI_ARGS, portMappings and bandwidth runtimeConfig), the pod's
// "containers" (`podwire lab serve` on its container ports), then the Pod's status (IPs, phase
// Running, Ready) through the status subresource. A Pod that goes away is torn down in reverse:
// servers stopped, CNI DEL with the same arguments and the ADD result, namespace removed.
// Every pod it wires is recorded in the lab state file (under the lab lock) before and after
// ADD, so a restarted kubelet, `lab status` and `lab down` always know it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { podwireBin } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';
import { connectKube, watchPodsOnNode, type ResilientInformer } from '../kube/index.js';
import { createNetns } from '../netns/index.js';
import { capabilityArgs, criCniArgs, servePorts } from './pod-network.js';
import { addNetworkList, delNetworkList, loadConflist, type RuntimeConf } from './runtime.js';
import { formatServePorts } from './serve.js';
import { alive, superviseAgent } from './supervise.js';
import { readLabState, updateLabState, type LabPodState } from './state.js';

export interface KubeletOptions {
  nodeName: string;
  kubeconfig: string;
  labState: string;
  cniConfDir: string;
  cniBinDirs: string[];
  /** Prefix of the pods' namespace names (the lab's, so `lab down` can sweep them). */
  netnsPrefix: string;
  /** libcni's result cache (as containerd keeps it), so the agent's GC can run the chain's DEL. */
  cniCacheDir?: string;
  /** Run the node's agent (argv from the lab state) and restart it when it dies. */
  superviseAgent?: boolean;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface Kubelet {
  restartAgentNow(): void;
  stop(): Promise<void>;
}

interface Api {
  patchStatus(ns: string, name: string, status: Record<string, unknown>): Promise<void>;
}

/** The status writer: https with the kubeconfig's CA and token (client-node applies both). */
function statusApi(config: KubeConfig, server: string): Api {
  return {
    async patchStatus(ns, name, status) {
      const url = new URL(`${server}/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/status`);
      const body = JSON.stringify({ status });
      const opts: RequestOptions = {
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 15_000,
      };
      await config.applyToHTTPSOptions(opts);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const { code, text } = await new Promise<{ code: number; text: string }>((resolve, reject) => {
        const req = send(url, opts, (res) => {
          let t = '';
          res.on('data', (c: Buffer) => (t += c.toString()));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, text: t }));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end(body);
      });
      if (code < 200 || code >= 300) throw new PodwireError('IO_FAILED', `PATCH status of pod ${ns}/${name} → ${code}: ${text.slice(0, 300)}`);
    },
  };
}


async function stopPid(pid: number | undefined): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid!, 'SIGTERM');
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid!, 'SIGKILL');
}

/** Start `podwire lab serve` in a namespace; resolves with its pid once every port listens. */
function startServer(netnsPath: string | undefined, identity: string, ports: string): Promise<number> {
  const argv = [podwireBin(), 'lab', 'serve', '--name', identity, '--ports', ports];
  const [file, args] = netnsPath ? ['nsenter', [`--net=${netnsPath}`, '--', ...argv]] : [argv[0]!, argv.slice(1)];
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  // Detached: the pod's servers outlive a kubelet restart, like containers outlive kubelet.
  const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new PodwireError('IO_FAILED', `servers of ${identity} did not start within 30 s: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new PodwireError('IO_FAILED', `servers of ${identity} exited (${code}): ${err.trim()}`));
    });
    createInterface({ input: child.stdout! }).once('line', () => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.destroy();
      child.stderr!.destroy();
      child.unref();
      resolve(child.pid!);
    });
  });
}

export async function startKubelet(o: KubeletOptions): Promise<Kubelet> {
  const client = connectKube({ kubeconfig: o.kubeconfig });
  const api = statusApi(client.config, client.server.replace(/\/$/, ''));
  const initial = await readLabState(o.labState);
  const me = initial.nodes.find((n) => n.name === o.nodeName);
  if (!me) throw new PodwireError('USAGE', `--node-name ${o.nodeName}: the lab at ${o.labState} has no such node`);
  const node = { ip: me.underlayIp, netnsName: me.netnsName, netnsPath: me.netnsPath };
  const supervisor = o.superviseAgent && me.agentArgv ? superviseAgent({ nodeName: o.nodeName, labState: o.labState, argv: me.agentArgv, logFile: me.agentLog, log: o.log }) : undefined;

  let informer: ResilientInformer<V1Pod> | undefined;
  let running = false;
  let again = false;
  let stopped = false;
  /** Pods that failed: uid → earliest next attempt (so a broken pod does not spin). */
  const retryAt = new Map<string, number>();

  const runtimeConf = (rec: LabPodState): RuntimeConf => ({
    containerId: rec.containerId,
    netns: rec.netnsPath,
    ifname: rec.ifname,
    args: rec.cniArgs ?? '',
    pluginDirs: o.cniBinDirs,
    capabilityArgs: rec.capabilityArgs,
    ...(o.cniCacheDir ? { cacheDir: o.cniCacheDir } : {}),
  });

  const record = (uid: string, change: (p: LabPodState) => void) =>
    updateLabState(o.labState, (s) => {
      const p = s.pods.find((x) => x.uid === uid);
      if (p) change(p);
    });

  async function wire(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata!.namespace ?? 'default';
    const name = pod.metadata!.name!;
    const uid = pod.metadata!.uid!;
    const identity = `${namespace}/${name}`;
    const hostNetwork = pod.spec?.hostNetwork === true;
    const ports = formatServePorts(servePorts(pod));
    let rec: LabPodState;
    if (hostNetwork) {
      rec = { name, namespace, node: o.nodeName, uid, netnsName: node.netnsName, netnsPath: node.netnsPath, ip: node.ip, containerId: '', ifname: '', hostNetwork: true };
      await updateLabState(o.labState, (s) => void s.pods.push(rec));
    } else {
      const caps = capabilityArgs(pod); // may throw on a bad annotation: nothing made yet
      const { list } = await loadConflist(o.cniConfDir);
      const netns = await createNetns(o.netnsPrefix);
      const containerId = randomBytes(32).toString('hex');
      rec = {
        name, namespace, node: o.nodeName, uid, netnsName: netns.name, netnsPath: netns.path, ip: '', containerId, ifname: 'eth0', hostNetwork: false,
        cniArgs: criCniArgs({ namespace, name, uid }, containerId), capabilityArgs: caps,
      };
      // Recorded before ADD: if this process dies mid-ADD, the next kubelet (or `lab down`) finds it.
      await updateLabState(o.labState, (s) => void s.pods.push(rec));
      const result = await addNetworkList(list, runtimeConf(rec));
      const ip = (result['ips'] as Array<{ address: string }> | undefined)?.[0]?.address.split('/')[0] ?? '';
      if (!ip) throw new PodwireError('EXEC_FAILED', `CNI ADD for ${identity} returned no IP`);
      rec.ip = ip;
      rec.result = result;
      await record(uid, (p) => Object.assign(p, { ip, result }));
    }
    if (ports) {
      rec.servePid = await startServer(hostNetwork ? undefined : rec.netnsPath, identity, ports);
      await record(uid, (p) => (p.servePid = rec.servePid));
    }
    await writeStatus(pod, rec.ip);
    o.log('pod running', { pod: identity, ip: rec.ip, netns: rec.netnsName, ports });
  }

  async function writeStatus(pod: V1Pod, ip: string): Promise<void> {
    const now = new Date().toISOString();
    const cond = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
    await api.patchStatus(pod.metadata!.namespace ?? 'default', pod.metadata!.name!, {
      phase: 'Running',
      hostIP: node.ip,
      hostIPs: [{ ip: node.ip }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: now,
      conditions: [cond('PodReadyToStartContainers'), cond('Initialized'), cond('Ready'), cond('ContainersReady'), cond('PodScheduled')],
      containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
        name: c.name, image: c.image ?? '', imageID: '', containerID: `lab://${pod.metadata!.uid}/${c.name}`,
        ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } },
      })),
    });
  }

  async function teardown(rec: LabPodState): Promise<void> {
    await stopPid(rec.servePid);
    if (!rec.hostNetwork) {
      const conf = await loadConflist(o.cniConfDir).catch(() => undefined);
      if (conf) await delNetworkList(conf.list, runtimeConf(rec), rec.result);
      await run('ip', ['netns', 'del', rec.netnsName], { reject: false });
    }
    await updateLabState(o.labState, (s) => {
      s.pods = s.pods.filter((p) => !(p.node === o.nodeName && p.uid === rec.uid && p.name === rec.name));
    });
    o.log('pod removed', { pod: `${rec.namespace}/${rec.name}`, ip: rec.ip });
  }

  async function reconcileOnce(): Promise<void> {
    const pods = (informer?.list() ?? []).filter((p) => p.spec?.nodeName === o.nodeName && p.metadata?.uid);
    if (!informer?.synced) return;
    const desired = new Map(pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').map((p) => [p.metadata!.uid!, p]));
    const mine = (await readLabState(o.labState)).pods.filter((p) => p.node === o.nodeName && p.uid);
    const have = new Set(mine.map((p) => p.uid!));
    const jobs: Array<Promise<void>> = [];
    for (const rec of mine) {
      if (!desired.has(rec.uid!)) jobs.push(teardown(rec).catch((e: unknown) => o.log('teardown failed', { pod: `${rec.namespace}/${rec.name}`, error: (e as Error).message })));
    }
    for (const [uid, pod] of desired) {
      const rec = mine.find((p) => p.uid === uid);
      if (rec) {
        // Half-wired (a crash mid-ADD) or servers gone: start over from a clean teardown.
        const broken = (!rec.hostNetwork && !rec.result) || (servePorts(pod).length > 0 && !alive(rec.servePid));
        if (broken) jobs.push(teardown(rec).catch(() => {}));
        else if (pod.status?.phase !== 'Running' || pod.status?.podIP !== rec.ip) jobs.push(writeStatus(pod, rec.ip).catch(() => {}));
        continue;
      }
      if (have.has(uid) || (retryAt.get(uid) ?? 0) > Date.now()) continue;
      jobs.push(
        wire(pod).then(
          () => void retryAt.delete(uid),
          async (e: unknown) => {
            o.log('pod setup failed', { pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`, error: (e as Error).message });
            retryAt.set(uid, Date.now() + 2000);
            const s = await readLabState(o.labState).catch(() => undefined);
            const partial = s?.pods.find((p) => p.uid === uid);
            if (partial) await teardown(partial).catch(() => {});
          },
        ),
      );
    }
    await Promise.all(jobs);
  }

  async function reconcile(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await reconcileOnce().catch((e: unknown) => o.log('reconcile failed', { error: (e as Error).message }));
      } while (again && !stopped);
    } finally {
      running = false;
    }
  }

  informer = watchPodsOnNode(client, o.nodeName, {
    onChange: () => void reconcile(),
    log: { debug: () => {}, info: (m, f) => o.log(m, f), warn: (m, f) => o.log(m, f) },
  });
  informer.start();
  // Retries (failed pods, a conflist that appeared) need no event.
  const timer = setInterval(() => void reconcile(), 2000);
  return {
    restartAgentNow: () => supervisor?.restartNow(),
    async stop() {
      supervisor?.stop();
      stopped = true;
      clearInterval(timer);
      await informer?.stop();
    },
  };
}

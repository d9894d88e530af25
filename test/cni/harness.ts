// Shared set-up for the CNI tests: a unique node namespace that the plugin runs in (as a
// runtime would run it in the host namespace), a unique pin dir with the datapath loaded, a
// unique state dir, pod namespaces on demand, and probes for residue (IP records, host veths,
// routes, endpoint entries, tcx link pins). Everything is removed by `destroy`, also after failures.
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podwireBin } from '../../src/assets/index.js';
import { execCni, type CniCommand, type CniOutcome } from '../../src/lab/cni-exec.js';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { openEndpoints, type Endpoint } from '../../src/maps/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';

export interface CniCall {
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** Replaces the harness's network config entirely (string = raw stdin). */
  config?: Record<string, unknown> | string;
  /** Merged into the harness's network config. */
  extra?: Record<string, unknown>;
  cniVersion?: string;
  /** Environment overrides; undefined removes a variable. */
  env?: Record<string, string | undefined>;
}

export interface Harness {
  node: Netns;
  pinDir: string;
  stateDir: string;
  podCIDR: string;
  conf(extra?: Record<string, unknown>, cniVersion?: string): Record<string, unknown>;
  cni(command: CniCommand, call?: CniCall): Promise<CniOutcome>;
  /** A fresh pod namespace, removed by destroy(). */
  pod(): Promise<Netns>;
  /** Files under <stateDir>/ipam/ips (one per allocated address). */
  records(): string[];
  /** podwire host veths (pw…) in the node namespace. */
  hostVeths(): Promise<string[]>;
  /** Routes in the node namespace's main table. */
  nodeRoutes(): Promise<Array<{ dst: string; dev?: string }>>;
  endpoints(): Endpoint[];
  /** Pin names under <pinDir>/links (tcx link pins; default: the harness's pin dir). */
  linkPins(pinDir?: string): string[];
  destroy(): Promise<void>;
}

export interface HarnessOptions {
  podCIDR?: string;
  /** Do not load a datapath (STATUS/ADD code 50 tests). */
  noDatapath?: boolean;
}

export async function createHarness(opts: HarnessOptions = {}): Promise<Harness> {
  if (!existsSync(podwireBin())) throw new Error(`${podwireBin()} is missing: run \`npm run build\` first`);
  const pinDir = `/sys/fs/bpf/${uniqueName('pwtest-')}`;
  const stateRoot = await mkdtemp(join(tmpdir(), 'pwcni-'));
  const stateDir = join(stateRoot, 'state');
  const podCIDR = opts.podCIDR ?? '10.200.0.0/24';
  const pods: Netns[] = [];
  let node: Netns | undefined;
  const destroy = async (): Promise<void> => {
    // Pods first (their veths go with them), then the node, pins and state; each step runs
    // even when an earlier one fails.
    const steps = [
      ...pods.map((p) => () => p.remove()),
      () => node?.remove(),
      () => unloadDatapath({ pinDir }),
      () => rm(stateRoot, { recursive: true, force: true }),
    ];
    for (const s of steps) await Promise.resolve().then(s).catch(() => {});
  };
  try {
    node = await createNetns('pwcn');
    if (!opts.noDatapath) await loadDatapath({ pinDir });
  } catch (e) {
    await destroy();
    throw e;
  }
  const theNode = node;
  const conf = (extra: Record<string, unknown> = {}, cniVersion = '1.1.0'): Record<string, unknown> => ({
    cniVersion,
    name: 'podwire-test',
    type: 'podwire',
    podCIDR,
    pinDir,
    stateDir,
    ...extra,
  });
  return {
    node: theNode,
    pinDir,
    stateDir,
    podCIDR,
    conf,
    cni: (command, call = {}) =>
      execCni({
        plugin: podwireBin(),
        command,
        containerId: call.containerId,
        netns: call.netns,
        ifname: call.ifname ?? (call.netns ? 'eth0' : undefined),
        args: call.args ?? 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=test;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u',
        path: ['/usr/lib/cni'],
        config: call.config ?? conf(call.extra, call.cniVersion),
        nodeNetns: theNode.path,
        env: { NODE_EXTRA_CA_CERTS: undefined, ...call.env },
      }),
    pod: async () => {
      const p = await createNetns('pwcp');
      pods.push(p);
      return p;
    },
    records: () => {
      const dir = join(stateDir, 'ipam', 'ips');
      return existsSync(dir) ? readdirSync(dir).sort() : [];
    },
    hostVeths: async () => {
      const r = await theNode.exec('ip', ['-j', 'link', 'show']);
      return (JSON.parse(r.stdout) as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => /^pw[0-9a-f]{11}$/.test(n));
    },
    nodeRoutes: async () => {
      const r = await theNode.exec('ip', ['-j', 'route', 'show']);
      return r.stdout.trim() ? (JSON.parse(r.stdout) as Array<{ dst: string; dev?: string }>) : [];
    },
    endpoints: () => {
      if (opts.noDatapath) return [];
      const eps = openEndpoints(pinDir);
      try {
        return eps.list();
      } finally {
        eps.close();
      }
    },
    linkPins: (dir = pinDir) => {
      const links = join(dir, 'links');
      return existsSync(links) ? readdirSync(links).sort() : [];
    },
    destroy,
  };
}

/** The pod-side view of an interface: its IPv4 addresses and default route. */
export async function podView(pod: Netns, ifname = 'eth0'): Promise<{ addrs: string[]; defaultVia?: string }> {
  const a = await pod.exec('ip', ['-j', 'addr', 'show', 'dev', ifname]);
  const links = JSON.parse(a.stdout) as Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
  const r = await pod.exec('ip', ['-j', 'route', 'show', 'default']);
  const routes = (r.stdout.trim() ? JSON.parse(r.stdout) : []) as Array<{ gateway?: string }>;
  return {
    addrs: (links[0]?.addr_info ?? []).filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`),
    ...(routes[0]?.gateway ? { defaultVia: routes[0].gateway } : {}),
  };
}

export function containerId(): string {
  return uniqueName('ctr');
}

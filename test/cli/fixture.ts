// A node for the CLI tests: a namespace with two pod veths, an uplink with a route to a remote
// node, a VXLAN device, the datapath loaded into a unique pin dir, endpoints/routes/node_cfg
// filled through the typed map API, IPAM records with pod names in a state dir, and a lab state
// file naming it (for --node). Everything is removed by `remove()`.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podwireBin } from '../../src/assets/index.js';
import { run, type RunResult } from '../../src/exec/run.js';
import { parseIpv4Cidr } from '../../src/ipam/index.js';
import { IpamStore } from '../../src/ipam/store.js';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { openEndpoints, openNodeConfig, openRoutes, type Endpoint } from '../../src/maps/index.js';
import { createNetns, type Netns } from '../../src/netns/index.js';

export interface CliNode {
  ns: Netns;
  pinDir: string;
  stateDir: string;
  labState: string;
  nodeName: string;
  podA: Endpoint;
  podB: Endpoint;
  ifindex: Record<string, number>;
  /** Runs bin/podwire with the args; never throws on a non-zero exit. */
  cli(args: string[], env?: Record<string, string>): Promise<RunResult>;
  remove(): Promise<void>;
}

export const REMOTE_NODE = '192.168.77.2';
export const UNROUTABLE_NODE = '10.99.99.99';

export async function createCliNode(): Promise<CliNode> {
  const tag = randomBytes(3).toString('hex');
  const ns = await createNetns('pwcli');
  const pinDir = `/sys/fs/bpf/pwcli-${tag}`;
  const work = await mkdtemp(join(tmpdir(), 'pwcli-'));
  const stateDir = join(work, 'state');
  const labState = join(work, 'lab.json');
  const nodeName = `node-${tag}`;
  const remove = async () => {
    await unloadDatapath({ pinDir, netns: ns.path }).catch(() => {});
    await ns.remove();
    await rm(work, { recursive: true, force: true });
  };
  try {
    await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']); // before the devices: it resets them
    await ns.exec('ip', ['-batch', '-'], {
      input: [
        'link add hA type veth peer name pA',
        'link add hB type veth peer name pB',
        'link add up0 type veth peer name up1',
        'link add pwvxlan0 type vxlan external dstport 8472',
        ...['hA', 'pA', 'hB', 'pB', 'up0', 'up1', 'pwvxlan0'].map((d) => `link set ${d} up`),
        'addr add 192.168.77.1/24 dev up0',
        '',
      ].join('\n'),
    });
    const links = JSON.parse((await ns.exec('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifindex: number; ifname: string }>;
    const ifindex = Object.fromEntries(links.map((l) => [l.ifname, l.ifindex]));
    await loadDatapath({ pinDir });

    // pod addresses come from the CNI's IPAM store, which also keeps the pod names
    const store = new IpamStore(stateDir);
    const pool = parseIpv4Cidr('10.244.0.0/24');
    if ('error' in pool) throw new Error(pool.error);
    const ipA = store.allocate({ containerID: `ctr-a-${tag}`, ifname: 'eth0' }, { podNamespace: 'default', podName: 'web-a' }, pool).record.ip;
    const ipB = store.allocate({ containerID: `ctr-b-${tag}`, ifname: 'eth0' }, { podNamespace: 'shop', podName: 'cart-0' }, pool).record.ip;
    const podA: Endpoint = { ip: ipA, ifindex: ifindex['hA']!, podMac: '02:00:0a:f4:00:0a', hostMac: 'ee:00:00:00:00:0a', flags: 0, endpointId: 10 };
    const podB: Endpoint = { ip: ipB, ifindex: ifindex['hB']!, podMac: '02:00:0a:f4:00:0b', hostMac: 'ee:00:00:00:00:0b', flags: 0, endpointId: 11 };
    const eps = openEndpoints(pinDir);
    eps.setBatch([podA, podB]);
    eps.close();
    const routes = openRoutes(pinDir);
    routes.setBatch([
      { cidr: '10.244.0.0/24', nodeIp: '192.168.77.1', kind: 'local' },
      { cidr: '10.244.9.0/24', nodeIp: REMOTE_NODE, kind: 'remote' },
      { cidr: '10.244.10.0/24', nodeIp: UNROUTABLE_NODE, kind: 'remote' },
    ]);
    routes.close();
    const cfg = openNodeConfig(pinDir);
    cfg.set({ mode: 'native', nodeIp: '192.168.77.1', uplinkIfindex: ifindex['up0']!, vxlanIfindex: 0, vni: 0 });
    cfg.close();

    // just the fields `--node` reads; a real lab writes many more
    await writeFile(
      labState,
      JSON.stringify({ nodes: [{ name: nodeName, netnsPath: ns.path, pinDir, stateDir, uplink: 'up0' }], pods: [] }),
    );
    return {
      ns,
      pinDir,
      stateDir,
      labState,
      nodeName,
      podA,
      podB,
      ifindex,
      cli: (args, env = {}) => runCli(args, env),
      remove,
    };
  } catch (e) {
    await remove();
    throw e;
  }
}

export async function runCli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const prefix = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run('env', [...prefix, podwireBin(), ...args], { reject: false, timeoutMs: 60_000 });
}

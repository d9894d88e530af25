// Pod bandwidth limits (issue 11): accuracy (achieved IP rate / configured limit) at 10M, 100M and
// 1G for single-stream TCP and a UDP flood, both directions; TCP retransmits per 10 s at 20M; ping
// latency through a limited pod while it is loaded. Pods are made by the real CNI plugin on a
// private node namespace and pin dir (removed afterwards), limits through runtimeConfig.bandwidth
// with containerd's unset burst (2^32-1).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podwireBin } from '../../src/assets/index.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { iperfTcp, iperfUdp, ping } from '../../src/lab/traffic.js';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';

/** iperf3 reports payload; the limit counts IP bytes as queued, a GSO packet's headers once: TCP
 * goodput is that unit within 0.5 %, a 1400-byte datagram is 1428 bytes. */
const TCP_L3 = 1;
const UDP_L3 = 1428 / 1400;
const UNSET_BURST = 4294967295;

interface Pod {
  ns: Netns;
  ip: string;
  id: string;
}

export async function runBandwidth(o: { quick: boolean }, col: Collector, progress: Progress): Promise<void> {
  const seconds = o.quick ? 2 : 10;
  const node = await createNetns('pwbw');
  const pinDir = `/sys/fs/bpf/${uniqueName('pwbench-bw-')}`;
  const stateRoot = await mkdtemp(join(tmpdir(), 'pwbw-'));
  const pods: Pod[] = [];
  const cleanup = async (): Promise<void> => {
    for (const p of pods) await p.ns.remove().catch(() => {});
    await node.remove().catch(() => {});
    await unloadDatapath({ pinDir }).catch(() => {});
    await rm(stateRoot, { recursive: true, force: true });
  };
  const unregister = registerCleanup(cleanup);
  const info = (metric: string, unit: '%' | 'count' | 'ms', better: 'higher' | 'lower', describe: string) =>
    col.metricInfo.set(metric, { unit, better, noRatio: true, describe });
  try {
    await loadDatapath({ pinDir });
    const conf = (bandwidth?: Record<string, number>) => ({
      cniVersion: '1.1.0',
      name: 'podwire-bench',
      type: 'podwire',
      podCIDR: '10.212.0.0/24',
      pinDir,
      stateDir: join(stateRoot, 'state'),
      ...(bandwidth ? { runtimeConfig: { bandwidth } } : {}),
    });
    let n = 0;
    const add = async (bandwidth?: Record<string, number>): Promise<Pod> => {
      const ns = await createNetns('pwbwp');
      const id = `bench${(n++).toString().padStart(4, '0')}${uniqueName('')}`;
      pods.push({ ns, id, ip: '' });
      const r = await execCni({ plugin: podwireBin(), command: 'ADD', containerId: id, netns: ns.path, ifname: 'eth0', args: 'IgnoreUnknown=1', path: ['/usr/lib/cni'], config: conf(bandwidth), nodeNetns: node.path });
      if (r.exitCode !== 0) throw new Error(`CNI ADD failed: ${r.stdout}${r.stderr}`);
      const ip = ((r.json as { ips: Array<{ address: string }> }).ips[0]!.address).replace('/32', '');
      pods[pods.length - 1]!.ip = ip;
      return { ns, id, ip };
    };
    const del = async (p: Pod, bandwidth?: Record<string, number>) => {
      await execCni({ plugin: podwireBin(), command: 'DEL', containerId: p.id, netns: p.ns.path, ifname: 'eth0', args: 'IgnoreUnknown=1', path: ['/usr/lib/cni'], config: conf(bandwidth), nodeNetns: node.path });
      await p.ns.remove();
      pods.splice(pods.indexOf(p), 1);
    };
    const both = (rate: number) => ({ egressRate: rate, egressBurst: UNSET_BURST, ingressRate: rate, ingressBurst: UNSET_BURST });
    let port = 5600;

    info('tcp-egress-accuracy', '%', 'higher', 'single-stream TCP from the limited pod to a same-node pod: achieved rate (goodput) / limit (goal 95-105%)');
    info('tcp-ingress-accuracy', '%', 'higher', 'single-stream TCP from a same-node pod into the limited pod: achieved rate (goodput) / limit (goal 95-105%)');
    info('udp-egress-accuracy', '%', 'lower', 'UDP flood at 2x the limit from the limited pod: delivered IP rate / limit (goal <= 105%)');
    info('udp-ingress-accuracy', '%', 'lower', 'UDP flood at 2x the limit into the limited pod: delivered IP rate / limit (goal <= 105%)');
    info('tcp-retransmits-per-10s', 'count', 'lower', "TCP retransmits per 10 s through a 20M limit (Cilium's documented figure: 2471; goal <= 247)");
    info('ping-under-load', 'ms', 'lower', 'mean ping RTT (20 pings) from the limited pod to a same-node pod while it sends (or receives) a TCP bulk flow (goal < 1 ms)');
    info('ping-idle', 'ms', 'lower', 'mean ping RTT, same pods, no load');

    for (const rate of [10_000_000, 100_000_000, 1_000_000_000]) {
      const topology = `limit-${rate / 1e6}M`;
      progress.step(`${topology}: TCP and UDP, both ways, ${seconds} s each`);
      const l = await add(both(rate));
      const peer = await add();
      const tcpE = await iperfTcp(peer.ns.path, peer.ip, l.ns.path, { seconds, port: port++ });
      col.add({ section: 'bandwidth', topology, metric: 'tcp-egress-accuracy', unit: '%', value: (tcpE.gbps * 1e9 * TCP_L3 * 100) / rate, rep: 0, extra: { goodputBps: tcpE.gbps * 1e9, retransmits: tcpE.retransmits } });
      const tcpI = await iperfTcp(l.ns.path, l.ip, peer.ns.path, { seconds, port: port++ });
      col.add({ section: 'bandwidth', topology, metric: 'tcp-ingress-accuracy', unit: '%', value: (tcpI.gbps * 1e9 * TCP_L3 * 100) / rate, rep: 0, extra: { goodputBps: tcpI.gbps * 1e9, retransmits: tcpI.retransmits } });
      const udpE = await iperfUdp(peer.ns.path, peer.ip, l.ns.path, { seconds, port: port++, offeredBps: rate * 2 });
      col.add({ section: 'bandwidth', topology, metric: 'udp-egress-accuracy', unit: '%', value: (udpE.receivedBps * UDP_L3 * 100) / rate, rep: 0, extra: { ...udpE } });
      const udpI = await iperfUdp(l.ns.path, l.ip, peer.ns.path, { seconds, port: port++, offeredBps: rate * 2 });
      col.add({ section: 'bandwidth', topology, metric: 'udp-ingress-accuracy', unit: '%', value: (udpI.receivedBps * UDP_L3 * 100) / rate, rep: 0, extra: { ...udpI } });
      await del(l, both(rate));
      await del(peer);
    }

    progress.step(`limit-20M: retransmits per 10 s and ping latency under load`);
    const rate = 20_000_000;
    const l = await add(both(rate));
    const peer = await add();
    const topology = 'limit-20M';
    for (const [dir, server, ip, client] of [
      ['egress', peer.ns, peer.ip, l.ns],
      ['ingress', l.ns, l.ip, peer.ns],
    ] as const) {
      const r = await iperfTcp(server.path, ip, client.path, { seconds: 10, port: port++ });
      col.add({ section: 'bandwidth', topology: `${topology}-${dir}`, metric: 'tcp-retransmits-per-10s', unit: 'count', value: r.retransmits ?? NaN, rep: 0, extra: { goodputBps: r.gbps * 1e9 } });
    }
    const idle = await ping(l.ns.path, peer.ip, { count: o.quick ? 5 : 20, intervalS: 0.1 });
    col.add({ section: 'bandwidth', topology, metric: 'ping-idle', unit: 'ms', value: idle.rttAvgMs ?? NaN, rep: 0, extra: { ...idle } });
    for (const [dir, server, ip, client] of [
      ['egress', peer.ns, peer.ip, l.ns],
      ['ingress', l.ns, l.ip, peer.ns],
    ] as const) {
      const bulk = iperfTcp(server.path, ip, client.path, { seconds: 6, port: port++ });
      await new Promise((r) => setTimeout(r, 2000)); // past slow start
      const loaded = await ping(l.ns.path, peer.ip, { count: o.quick ? 5 : 20, intervalS: 0.1 });
      await bulk;
      col.add({ section: 'bandwidth', topology: `${topology}-${dir}-load`, metric: 'ping-under-load', unit: 'ms', value: loaded.rttAvgMs ?? NaN, rep: 0, extra: { ...loaded } });
    }
  } finally {
    await cleanup();
    unregister();
  }
}

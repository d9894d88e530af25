// The forwarding benchmark: set every selected topology up once, then measure in repetitions
// that go round-robin over the topologies (the starting topology rotates each repetition), so
// slow drift of the machine (thermal, a noisy neighbour) hits every topology alike. Medians of
// the repetitions are reported; the raw samples keep their repetition index.
import { registerCleanup } from '../cleanup.js';
import type { Collector, MetricInfo } from '../results.js';
import type { Progress } from '../progress.js';
import { rr, tcp1c, tcp4s, udp64 } from './tools.js';
import type { Running, Topology, TopologyName } from './topology.js';
import { bridge, direct, podwireSameNode, podwireSameNodeClusterIp, routed } from './same-node.js';
import { floorNative, floorSameNode } from './floor.js';
import { hostGw, kernelVxlan, podwireNative, podwireNativePrefilter, podwireNativeToUplink, podwireVxlan, podwireVxlanBpf, podwireVxlanDevice, underlay } from './cross-node.js';

export { ALL_TOPOLOGIES, CROSS_NODE, EXPERIMENTS, SAME_NODE, type TopologyName } from './topology.js';

const TOPOLOGIES: Record<TopologyName, Topology> = {
  direct,
  bridge,
  routed,
  'podwire-same-node': podwireSameNode,
  'podwire-same-node-clusterip': podwireSameNodeClusterIp,
  underlay,
  'host-gw': hostGw,
  'kernel-vxlan': kernelVxlan,
  'podwire-native': podwireNative,
  'podwire-vxlan': podwireVxlan,
  'podwire-vxlan-bpf': podwireVxlanBpf,
  'podwire-vxlan-device': podwireVxlanDevice,
  'podwire-native-prefilter': podwireNativePrefilter,
  'floor-same-node': floorSameNode,
  'floor-native': floorNative,
  'podwire-native-to-uplink': podwireNativeToUplink,
};

export const FORWARDING_METRICS: Record<string, MetricInfo> = {
  tcp1c_gbps: { unit: 'Gbit/s', better: 'higher', describe: 'TCP single stream, client and server on one CPU (iperf3)' },
  udp64_pps: { unit: 'pps', better: 'higher', describe: 'UDP 64-byte datagrams/s reaching the receiver (iperf3 -u -l 64 -b 0, sender CPU 0, receiver CPU 1)' },
  udp64_loss_pct: { unit: '%', better: 'lower', noRatio: true, describe: 'share of sent 64-byte datagrams that never reached the receiver' },
  rr_p50_us: { unit: 'us', better: 'lower', describe: 'TCP ping-pong round trip p50, both ends on one CPU (sockperf pp --tcp -m 64 --full-rtt)' },
  rr_p99_us: { unit: 'us', better: 'lower', describe: 'TCP ping-pong round trip p99, both ends on one CPU' },
  rr_xcpu_p50_us: { unit: 'us', better: 'lower', secondary: true, describe: 'TCP ping-pong round trip p50, client CPU 0, server CPU 1' },
  rr_xcpu_p99_us: { unit: 'us', better: 'lower', secondary: true, describe: 'TCP ping-pong round trip p99, client CPU 0, server CPU 1' },
  tcp4s_gbps: { unit: 'Gbit/s', better: 'higher', secondary: true, describe: 'TCP four streams, unpinned (iperf3 -P 4)' },
};

export interface ForwardingOptions {
  topologies: TopologyName[];
  reps: number;
  /** Seconds per primary measurement. */
  seconds: number;
  /** Also measure cross-CPU latency and multi-stream TCP. */
  secondary: boolean;
}

type Measure = { name: string; secondary: boolean; run(r: Running, topo: string, rep: number, col: Collector): Promise<string> };

function measures(o: ForwardingOptions): Measure[] {
  const s = o.seconds;
  const list: Measure[] = [
    {
      name: 'tcp1c',
      secondary: false,
      async run(r, topology, rep, col) {
        const x = await tcp1c(r, s);
        col.add({ section: 'forwarding', topology, metric: 'tcp1c_gbps', unit: 'Gbit/s', value: x.gbps, rep, extra: { retransmits: x.retransmits } });
        return `${x.gbps.toFixed(2)} Gbit/s`;
      },
    },
    {
      name: 'udp64',
      secondary: false,
      async run(r, topology, rep, col) {
        const x = await udp64(r, s);
        col.add({ section: 'forwarding', topology, metric: 'udp64_pps', unit: 'pps', value: x.pps, rep, extra: { sent: x.sent, arrived: x.arrived, appReceivedPps: x.appReceivedPps } });
        col.add({ section: 'forwarding', topology, metric: 'udp64_loss_pct', unit: '%', value: x.lossPct, rep });
        return `${Math.round(x.pps).toLocaleString('en')} pps, loss ${x.lossPct.toFixed(2)}%`;
      },
    },
    {
      name: 'rr',
      secondary: false,
      async run(r, topology, rep, col) {
        const x = await rr(r, s, { client: 1, server: 1 });
        col.add({ section: 'forwarding', topology, metric: 'rr_p50_us', unit: 'us', value: x.p50, rep, extra: { observations: x.observations } });
        col.add({ section: 'forwarding', topology, metric: 'rr_p99_us', unit: 'us', value: x.p99, rep });
        return `p50 ${x.p50.toFixed(2)} µs, p99 ${x.p99.toFixed(2)} µs`;
      },
    },
  ];
  if (o.secondary) {
    list.push(
      {
        name: 'rr_xcpu',
        secondary: true,
        async run(r, topology, rep, col) {
          const x = await rr(r, s, { client: 0, server: 1 });
          col.add({ section: 'forwarding', topology, metric: 'rr_xcpu_p50_us', unit: 'us', value: x.p50, rep });
          col.add({ section: 'forwarding', topology, metric: 'rr_xcpu_p99_us', unit: 'us', value: x.p99, rep });
          return `p50 ${x.p50.toFixed(2)} µs, p99 ${x.p99.toFixed(2)} µs`;
        },
      },
      {
        name: 'tcp4s',
        secondary: true,
        async run(r, topology, rep, col) {
          const x = await tcp4s(r, s);
          col.add({ section: 'forwarding', topology, metric: 'tcp4s_gbps', unit: 'Gbit/s', value: x.gbps, rep });
          return `${x.gbps.toFixed(2)} Gbit/s`;
        },
      },
    );
  }
  return list;
}

export async function runForwarding(o: ForwardingOptions, col: Collector, progress: Progress): Promise<void> {
  for (const [k, v] of Object.entries(FORWARDING_METRICS)) col.metricInfo.set(k, v);
  const running = new Map<TopologyName, Running>();
  const unregister = registerCleanup(async () => {
    for (const r of [...running.values()].reverse()) await r.teardown().catch(() => {});
  });
  try {
    for (const name of o.topologies) {
      const topo = TOPOLOGIES[name];
      col.limits.set(name, topo.limit);
      progress.info(`setting up ${name} …`);
      try {
        const r = await topo.setup((l) => progress.info(l));
        running.set(name, r);
        progress.info(`${name}: ${r.describe}`);
      } catch (e) {
        progress.warn(`${name}: setup failed: ${(e as Error).message}`);
        col.error({ section: 'forwarding', topology: name, stage: 'setup', message: (e as Error).message });
      }
    }
    const names = o.topologies.filter((n) => running.has(n));
    const ms = measures(o);
    progress.total += o.reps * names.length * ms.length;
    for (let rep = 0; rep < o.reps; rep++) {
      // rotate the order each repetition: no topology always runs first (or right after another)
      const order = names.map((_, i) => names[(i + rep) % names.length]!);
      for (const name of order) {
        for (const m of ms) {
          try {
            const text = await m.run(running.get(name)!, name, rep, col);
            progress.step(`rep ${rep + 1}/${o.reps} ${name.padEnd(18)} ${m.name.padEnd(8)} ${text}`);
          } catch (e) {
            progress.step(`rep ${rep + 1}/${o.reps} ${name.padEnd(18)} ${m.name.padEnd(8)} FAILED`);
            progress.warn(`${name} ${m.name}: ${(e as Error).message}`);
            col.error({ section: 'forwarding', topology: name, stage: m.name, message: (e as Error).message });
          }
        }
      }
    }
  } finally {
    unregister();
    for (const [name, r] of [...running].reverse()) {
      await r.teardown().catch((e: unknown) => {
        progress.warn(`${name}: teardown failed: ${(e as Error).message}`);
        col.error({ section: 'forwarding', topology: name, stage: 'teardown', message: (e as Error).message });
      });
    }
  }
}

// `podwire demo`: a 2-node lab with real traffic. It brings up the lab (API server, one agent
// per node, pods wired through the CNI chain), adds a hostNetwork pod per node, prints the
// ping/TCP connectivity matrix (every TCP server checks it saw the client's own address: no
// NAT), confirms the nodes' IP stacks forwarded no pod-to-pod packet, measures single-stream
// TCP next to the kernel's limits in the same run, and tears everything down unless --keep.
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { PodwireError } from '../errors/index.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('2-node lab: pods through the CNI chain, connectivity matrix, throughput, teardown')
    .option('--mode <mode>', 'cross-node mode: native | vxlan', 'native')
    .option('--keep', 'leave the lab up for inspection (`podwire lab status`, `podwire lab down`)')
    .option('--seconds <n>', 'iperf3 duration per throughput run', '3')
    .action(async (opts: { mode: string; keep?: boolean; seconds: string }) => {
      if (opts.mode !== 'native' && opts.mode !== 'vxlan') throw new PodwireError('USAGE', `--mode must be native or vxlan, got "${opts.mode}"`);
      await runDemo({ mode: opts.mode, keep: Boolean(opts.keep), seconds: Number(opts.seconds) });
    });
}

async function runDemo(opts: { mode: 'native' | 'vxlan'; keep: boolean; seconds: number }): Promise<void> {
  const [{ Lab }, { connectivityMatrix, formatMatrix }, { iperfTcp }, { createDirectPair }, { forwardedDatagrams }] = await Promise.all([
    import('../lab/cluster.js'),
    import('../lab/matrix.js'),
    import('../lab/traffic.js'),
    import('../lab/baseline.js'),
    import('../lab/snmp.js'),
  ]);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`podwire demo: 2 nodes, ${opts.mode} mode, traffic through the eBPF datapath\n`);
  // A kept lab uses the default state file so `podwire lab status/down` find it.
  const statePath = opts.keep ? undefined : `/run/podwire/demo-${randomBytes(3).toString('hex')}.json`;
  const lab = await Lab.up({ nodes: 2, podsPerNode: 2, mode: opts.mode, statePath, log: (l) => say(`  ${l}`) });
  let failures = 0;
  try {
    for (const n of lab.state.nodes) await lab.addPod(n.name, `host-${n.name}`, { hostNetwork: true });
    const parties = lab.state.pods.map((p) => ({ name: p.name, netnsPath: p.netnsPath, ip: p.ip }));
    const nodes = lab.state.nodes;
    const podOnly = parties.filter((p) => !p.name.startsWith('host-'));
    // Pod↔pod first, alone, so the nodes' forwarding counters speak for that traffic only
    // (a pod talking to another node's host address is routed by its node's stack, by design).
    const fwdBefore = await Promise.all(nodes.map((n) => forwardedDatagrams(n.netnsPath)));
    const podCells = await connectivityMatrix(podOnly);
    const fwdAfter = await Promise.all(nodes.map((n) => forwardedDatagrams(n.netnsPath)));
    const hostPairs = parties.flatMap((a) => parties.filter((b) => b !== a && (a.name.startsWith('host-') || b.name.startsWith('host-'))).map((b) => [a.name, b.name] as [string, string]));
    const cells = [...podCells, ...(await connectivityMatrix(parties, { pairs: hostPairs }))];
    say('\nconnectivity matrix (row → column, ping RTT; every TCP server checks it saw the client\'s own IP):');
    say(formatMatrix(parties, cells));
    for (const c of cells.filter((x) => !x.ok)) say(`  FAIL ${c.from} → ${c.to}: ${c.detail}`);
    failures += cells.filter((x) => !x.ok).length;
    const forwarded = nodes.map((n, i) => fwdAfter[i]! - fwdBefore[i]!);
    say(`\nIP datagrams the node stacks forwarded during pod↔pod traffic: ${nodes.map((n, i) => `${n.name} ${forwarded[i]}`).join(', ')} (0 = every packet took the eBPF path)`);
    if (forwarded.some((x) => x !== 0)) failures++;

    say(`\nsingle-stream TCP, ${opts.seconds}s each (iperf3), ratios to the limit of the same path:`);
    const [a1, a2, b1] = [podOnly.find((p) => p.name === 'pod-1-1')!, podOnly.find((p) => p.name === 'pod-1-2')!, podOnly.find((p) => p.name === 'pod-2-1')!];
    const direct = await createDirectPair();
    try {
      const limit1 = await iperfTcp(direct.b.path, direct.ipB, direct.a.path, { seconds: opts.seconds });
      const same = await iperfTcp(a2.netnsPath, a2.ip, a1.netnsPath, { seconds: opts.seconds });
      const underlay = await iperfTcp(nodes[1]!.netnsPath, nodes[1]!.underlayIp, nodes[0]!.netnsPath, { seconds: opts.seconds });
      const cross = await iperfTcp(b1.netnsPath, b1.ip, a1.netnsPath, { seconds: opts.seconds });
      say(`  direct veth pair (1-hop limit)   ${limit1.gbps.toFixed(2)} Gbit/s`);
      say(`  podwire pod → pod, same node     ${same.gbps.toFixed(2)} Gbit/s  ${(same.gbps / limit1.gbps).toFixed(2)}×`);
      say(`  underlay node → node (limit)     ${underlay.gbps.toFixed(2)} Gbit/s`);
      say(`  podwire pod → pod, cross node    ${cross.gbps.toFixed(2)} Gbit/s  ${(cross.gbps / underlay.gbps).toFixed(2)}×`);
    } finally {
      await direct.remove();
    }

    // headline numbers from each agent's real /metrics, scraped inside the node's namespace
    const { fetchMetrics, headline, parseSamples } = await import('../metrics/headline.js');
    say('\nmetrics (each agent\'s /metrics after the traffic):');
    for (const n of nodes) say(`  ${n.name}: ${n.metricsUrl ? headline(parseSamples(await fetchMetrics(n.metricsUrl, n.netnsPath))) : 'no metrics URL'}`);
  } finally {
    if (opts.keep) {
      say(`\nlab kept: \`podwire lab status\` to inspect, \`podwire lab down\` to remove.`);
    } else {
      await lab.down();
      say('\nlab removed.');
    }
  }
  if (failures) throw new PodwireError('CHECK_FAILED', `demo: ${failures} connectivity checks failed`);
}

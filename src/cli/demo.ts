// `podwire demo`: a single-node lab with real traffic. Three pods are created through the CNI
// binary inside a node namespace; the demo prints a ping/TCP connectivity matrix (with the
// source address each server saw, to show there is no NAT) and a short TCP throughput figure
// next to a direct veth pair measured in the same run. Everything is torn down at the end
// unless --keep is given.
import type { Command } from 'commander';
import { createDirectPair } from '../lab/baseline.js';
import { LabNode } from '../lab/node.js';
import { iperfTcp, ping, startTcpEcho, tcpProbe } from '../lab/traffic.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('single-node lab: 3 pods through the CNI binary, connectivity matrix, throughput')
    .option('--keep', 'leave the lab up for inspection (prints how to remove it)')
    .option('--seconds <n>', 'iperf3 duration per throughput run', '3')
    .action(async (opts: { keep?: boolean; seconds: string }) => {
      await runDemo({ keep: Boolean(opts.keep), seconds: Number(opts.seconds) });
    });
}

async function runDemo(opts: { keep: boolean; seconds: number }): Promise<void> {
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say('podwire demo: one node, three pods, traffic through the eBPF datapath\n');
  const node = await LabNode.create({ podCIDR: '10.244.1.0/24', prefix: 'pwdemo' });
  const servers: Array<{ stop(): Promise<void> }> = [];
  let failures = 0;
  try {
    say(`node namespace ${node.netns.path}, pins ${node.pinDir}`);
    const pods = [];
    for (const name of ['web-1', 'web-2', 'db-1']) {
      const p = await node.addPod(name);
      pods.push(p);
      say(`  pod ${p.name.padEnd(6)} ${p.ip.padEnd(12)} netns ${p.netns.path}`);
    }
    for (const p of pods) servers.push(await startTcpEcho(p.netns.path, p.ip, 7000));

    const fwdBefore = await node.forwardedDatagrams();
    say('\nconnectivity matrix (row → column): ping RTT, TCP, source IP the server saw');
    say(`${'from \\ to'.padEnd(10)}${pods.map((p) => p.name.padEnd(34)).join('')}`);
    for (const a of pods) {
      let line = a.name.padEnd(10);
      for (const b of pods) {
        if (a === b) {
          line += '-'.padEnd(34);
          continue;
        }
        const pr = await ping(a.netns.path, b.ip, { count: 3 });
        const tr = await tcpProbe(a.netns.path, b.ip, 7000);
        const ok = pr.ok && tr.ok && tr.peerSeen === a.ip;
        if (!ok) failures++;
        const cell = `${ok ? 'ok' : 'FAIL'} ${pr.rttAvgMs?.toFixed(3) ?? '?'}ms tcp saw ${tr.peerSeen ?? tr.error ?? '?'}`;
        line += cell.padEnd(34);
      }
      say(line);
    }
    const fwdAfter = await node.forwardedDatagrams();
    say(`host stack forwarded ${fwdAfter - fwdBefore} datagrams during the matrix (0 = every packet took redirect_peer)`);
    if (fwdAfter !== fwdBefore) failures++;

    say(`\nthroughput, single TCP stream, ${opts.seconds}s (iperf3):`);
    const direct = await createDirectPair();
    try {
      const base = await iperfTcp(direct.b.path, direct.ipB, direct.a.path, { seconds: opts.seconds });
      const pw = await iperfTcp(pods[1]!.netns.path, pods[1]!.ip, pods[0]!.netns.path, { seconds: opts.seconds });
      say(`  direct veth pair (limit)   ${base.gbps.toFixed(2)} Gbit/s`);
      say(`  podwire pod → pod          ${pw.gbps.toFixed(2)} Gbit/s  (${(pw.gbps / base.gbps).toFixed(2)}× the limit)`);
    } finally {
      await direct.remove();
    }
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
    if (opts.keep) {
      say(`\nlab kept: node ${node.netns.name}, pins ${node.pinDir}. Remove with: ip netns del ${node.netns.name}; ` +
        `${[...node.pods.values()].map((p) => `ip netns del ${p.netns.name}`).join('; ')}; rm -rf ${node.pinDir} ${node.stateDir}`);
    } else {
      await node.destroy();
      say('\nlab removed.');
    }
  }
  if (failures) throw new Error(`demo: ${failures} connectivity checks failed`);
}

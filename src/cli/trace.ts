// `podwire trace`: what would the datapath do with this packet? Runs the WebAssembly twin of the
// programs' decision code against the node's live maps (or a `maps dump` snapshot) and prints
// every step and the verdict in words (-o json for scripts).
import type { Command } from 'commander';
import { Option } from 'commander';
import { PodwireError } from '../errors/index.js';
import { outputFormat, toJson } from './table.js';
import { resolveTarget, targetOptions, type TargetFlags } from './target.js';

interface TraceFlags extends TargetFlags {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'icmp';
  sport?: string;
  dport?: string;
  ttl?: string;
  ingressIf?: string;
  srcMac?: string;
  program?: string;
  snapshot?: string;
  output?: string;
}

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new PodwireError('USAGE', `--${name} ${JSON.stringify(v)} is not a number`);
  return Number(v);
}

async function trace(f: TraceFlags): Promise<void> {
  const fmt = outputFormat(f.output);
  const { NodeNames, readLinks, readPods } = await import('../maps/names.js');
  const { liveSource, snapshotSource, tracePacket } = await import('../twin/index.js');
  let target;
  if (f.snapshot !== undefined) {
    if (f.node !== undefined || f.pinDir !== undefined) throw new PodwireError('USAGE', '--snapshot replaces --node/--pin-dir: give only one of them');
    const { readFile } = await import('node:fs/promises');
    const { decodeSnapshot } = await import('../maps/snapshot.js');
    const bytes = await readFile(f.snapshot).catch((cause: unknown) => {
      throw new PodwireError('IO_FAILED', `cannot read snapshot ${f.snapshot}: ${(cause as Error).message}`, { cause });
    });
    const snap = await decodeSnapshot(bytes, f.snapshot);
    target = { source: snapshotSource(snap), names: new NodeNames(snap.links, snap.pods) };
  } else {
    const t = await resolveTarget(f);
    const links = await readLinks(t.netnsPath).catch(() => []);
    const { policyNamesFromStateDir } = await import('../policy/names.js');
    const policy = policyNamesFromStateDir(t.stateDir);
    target = {
      ...(policy ? { policy } : {}),
      source: liveSource(t.pinDir),
      names: new NodeNames(links, readPods({ stateDir: t.stateDir, extra: t.labPods })),
      ...(t.uplink ? { uplink: t.uplink } : {}),
      liveFib: t.netnsPath ? { netnsPath: t.netnsPath } : {},
    };
  }
  try {
    const r = await tracePacket(
      {
        src: f.src,
        dst: f.dst,
        proto: f.proto,
        ...(intFlag('sport', f.sport) === undefined ? {} : { sport: intFlag('sport', f.sport)! }),
        ...(intFlag('dport', f.dport) === undefined ? {} : { dport: intFlag('dport', f.dport)! }),
        ...(intFlag('ttl', f.ttl) === undefined ? {} : { ttl: intFlag('ttl', f.ttl)! }),
        ...(f.srcMac === undefined ? {} : { srcMac: f.srcMac }),
        ...(f.ingressIf === undefined ? {} : { ingressIf: f.ingressIf }),
        ...(f.program === undefined ? {} : { program: f.program }),
      },
      target,
    );
    if (fmt === 'json') {
      process.stdout.write(`${toJson(r)}\n`);
      return;
    }
    const lines = [`trace ${r.packet.proto} ${r.packet.src}${r.packet.sport === undefined ? '' : `:${r.packet.sport}`} → ${r.packet.dst}${r.packet.dport === undefined ? '' : `:${r.packet.dport}`} (${r.source})`];
    // the verdict step is the last line, once
    r.steps.filter((s) => s.kind !== 'verdict').forEach((s, i) => lines.push(`${String(i + 1).padStart(2)}. ${s.text}`));
    for (const n of r.notes) lines.push(`note: ${n}`);
    lines.push(`verdict: ${r.verdict.summary}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    target.source.close();
  }
}

export function registerTrace(program: Command): void {
  targetOptions(
    program
      .command('trace')
      .description("explain what the datapath does with a packet: the programs' decision code (WebAssembly twin) on the node's maps"),
  )
    .requiredOption('--src <ip>', 'source IPv4 address')
    .requiredOption('--dst <ip>', 'destination IPv4 address')
    .addOption(new Option('--proto <proto>', 'L4 protocol').choices(['tcp', 'udp', 'icmp']).default('tcp'))
    .option('--sport <n>', 'source port (tcp/udp)')
    .option('--dport <n>', 'destination port (tcp/udp)')
    .option('--ttl <n>', 'IPv4 TTL (default 64)')
    .option('--ingress-if <name>', "device the packet arrives on (default: the source pod's host veth)")
    .option('--src-mac <mac>', "source MAC (default: the source pod's MAC)")
    .option('--program <name>', 'program to run (default: from the ingress device)')
    .option('--snapshot <file>', 'use a `podwire maps dump` snapshot instead of live maps')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((f: TraceFlags) => trace(f));
}

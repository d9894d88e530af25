// `podwire prefilter add|del|list|attach|detach`: the XDP prefilter of the node picked with
// --pin-dir or --node (src/cli/target.ts). add/del edit the deny list (the pinned LPM map, live at
// once on an attached prefilter); list shows the CIDRs, the failsafe list, where the program
// runs and in which XDP mode (native or generic), and its counters. attach/detach are for nodes
// run by hand and for tests; an agent started with --prefilter attaches it itself.
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';
import { outputFormat, renderTable, toJson } from './table.js';
import { resolveTarget, targetOptions, type NodeTarget, type TargetFlags } from './target.js';

interface Flags extends TargetFlags {
  output?: string;
  dev?: string;
  xdpMode?: string;
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function netnsOf(t: NodeTarget): { netns?: string } {
  return t.netnsPath ? { netns: t.netnsPath } : {};
}

/** --dev, else the lab node's uplink, else the uplink in node_cfg. */
async function uplinkOf(t: NodeTarget, dev: string | undefined): Promise<string | undefined> {
  if (dev !== undefined) return dev;
  if (t.uplink !== undefined) return t.uplink;
  const { uplinkName } = await import('../loader/datapath.js');
  return uplinkName(t.pinDir, netnsOf(t)).catch(() => undefined);
}

async function edit(cidrs: string[], f: Flags, op: 'add' | 'del'): Promise<void> {
  const t = await resolveTarget(f);
  const { openPrefilter, canonicalCidr } = await import('../maps/prefilter.js');
  const list = cidrs.map(canonicalCidr); // all validated before the first write
  const m = openPrefilter(t.pinDir);
  try {
    for (const c of list) {
      const changed = op === 'add' ? m.add(c) : m.delete(c);
      out(`${c} ${op === 'add' ? (changed ? 'added' : 'already listed') : changed ? 'deleted' : 'was not listed'}`);
    }
  } finally {
    m.close();
  }
}

export interface PrefilterReport {
  pinDir: string;
  node?: string;
  device: string | null;
  attached: boolean;
  /** native (driver) or generic (skb) XDP, as the kernel reports it. */
  mode: string | null;
  progId: number | null;
  cidrs: string[];
  failsafe: string[];
  dropped: { packets: number; bytes: number };
  failsafePassed: { packets: number; bytes: number };
}

async function report(f: Flags): Promise<PrefilterReport> {
  const t = await resolveTarget(f);
  const { openPrefilter, openFailsafe, formatFailsafe } = await import('../maps/prefilter.js');
  const { openCounters } = await import('../maps/counters.js');
  const { xdpStatus } = await import('../loader/xdp.js');
  const p = openPrefilter(t.pinDir);
  const s = openFailsafe(t.pinDir);
  const c = openCounters(t.pinDir);
  let cidrs: string[];
  let failsafe: string[];
  let rows;
  try {
    cidrs = p.list();
    failsafe = s.list().map(formatFailsafe);
    rows = c.read();
  } finally {
    p.close();
    s.close();
    c.close();
  }
  const sum = (reason: string) => {
    const r = rows.filter((x) => x.reason === reason);
    return { packets: Number(r.reduce((a, x) => a + x.packets, 0n)), bytes: Number(r.reduce((a, x) => a + x.bytes, 0n)) };
  };
  const device = await uplinkOf(t, f.dev);
  const x = device ? await xdpStatus(device, netnsOf(t)).catch(() => undefined) : undefined;
  const ours = x?.ours === true;
  return {
    pinDir: t.pinDir,
    ...(t.node ? { node: t.node } : {}),
    device: device ?? null,
    attached: ours,
    mode: ours ? (x?.mode ?? null) : null,
    progId: ours ? (x?.progId ?? null) : null,
    cidrs,
    failsafe,
    dropped: sum('DROP_PREFILTER'),
    failsafePassed: sum('PASS_PREFILTER_FAILSAFE'),
  };
}

async function list(f: Flags): Promise<void> {
  const fmt = outputFormat(f.output);
  const r = await report(f);
  if (fmt === 'json') return out(toJson(r));
  const where = r.node ? `node ${r.node}, pin dir ${r.pinDir}` : `pin dir ${r.pinDir}`;
  out(`# XDP prefilter of ${where}`);
  out(
    r.attached
      ? `attached to ${r.device} in ${r.mode} XDP mode (program id ${r.progId})`
      : `not attached${r.device ? ` (uplink ${r.device})` : ''}: start the agent with --prefilter auto, or run \`podwire prefilter attach\``,
  );
  out(`dropped ${r.dropped.packets} packets (${r.dropped.bytes} bytes); failsafe passed ${r.failsafePassed.packets} packets`);
  out(`failsafe (never dropped): ${r.failsafe.length ? r.failsafe.join(', ') : 'none'}`);
  out(renderTable(['CIDR'], r.cidrs.map((c) => [c])));
}

async function attach(f: Flags): Promise<void> {
  const mode = f.xdpMode ?? 'auto';
  if (!['auto', 'native', 'generic'].includes(mode)) throw new PodwireError('USAGE', `--xdp-mode ${mode}: use auto, native or generic`);
  const t = await resolveTarget(f);
  const dev = await uplinkOf(t, f.dev);
  if (!dev) throw new PodwireError('USAGE', `no uplink known for ${t.pinDir} (the node is not set up): pass --dev DEV`);
  const { xdpAttach } = await import('../loader/xdp.js');
  const s = await xdpAttach(dev, t.pinDir, mode as 'auto' | 'native' | 'generic', netnsOf(t));
  out(`attached xdp_prefilter to ${dev} in ${s.mode} XDP mode (program id ${s.progId})`);
}

async function detach(f: Flags): Promise<void> {
  const t = await resolveTarget(f);
  const dev = await uplinkOf(t, f.dev);
  if (!dev) throw new PodwireError('USAGE', `no uplink known for ${t.pinDir} (the node is not set up): pass --dev DEV`);
  const { xdpDetach } = await import('../loader/xdp.js');
  out((await xdpDetach(dev, netnsOf(t))) ? `detached xdp_prefilter from ${dev}` : `no prefilter was attached to ${dev}`);
}

export function registerPrefilter(program: Command): void {
  const pf = program.command('prefilter').description('XDP prefilter on the uplink: drop listed source CIDRs before an skb exists');
  targetOptions(pf.command('add').description('drop packets from these source CIDRs (or addresses)').argument('<cidr...>')).action((cidrs: string[], f: Flags) =>
    edit(cidrs, f, 'add'),
  );
  targetOptions(pf.command('del').description('stop dropping these source CIDRs').argument('<cidr...>')).action((cidrs: string[], f: Flags) => edit(cidrs, f, 'del'));
  targetOptions(pf.command('list').description('listed CIDRs, failsafe list, attachment and XDP mode, counters'))
    .option('--dev <dev>', 'device to report on (default: the node\'s uplink)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((f: Flags) => list(f));
  targetOptions(pf.command('attach').description('attach the prefilter to the uplink (the agent does this with --prefilter)'))
    .option('--dev <dev>', 'device (default: the node\'s uplink)')
    .option('--xdp-mode <mode>', 'auto (native where the driver supports it, else generic), native or generic', 'auto')
    .action((f: Flags) => attach(f));
  targetOptions(pf.command('detach').description('detach the prefilter from the uplink'))
    .option('--dev <dev>', 'device (default: the node\'s uplink)')
    .action((f: Flags) => detach(f));
}

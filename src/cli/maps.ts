// `podwire maps list|dump`, `podwire endpoints`, `podwire routes`, `podwire conntrack`, `podwire counters`: what the
// node's pinned maps hold, as tables (default) or JSON (-o json), for the node picked with
// --pin-dir or --node (src/cli/target.ts). Heavy modules are imported inside the actions.
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';
import type { NodeNames } from '../maps/names.js';
import { outputFormat, renderTable, toJson, type OutputFormat } from './table.js';
import { resolveTarget, targetOptions, type NodeTarget, type TargetFlags } from './target.js';

interface CommonFlags extends TargetFlags {
  output?: string;
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Link and pod names for the target; best effort (a table without names beats no table). */
async function namesFor(t: NodeTarget): Promise<NodeNames> {
  const { NodeNames, readLinks, readPods } = await import('../maps/names.js');
  const links = await readLinks(t.netnsPath).catch(() => []);
  return new NodeNames(links, readPods({ stateDir: t.stateDir, extra: t.labPods }));
}

function header(t: NodeTarget): string {
  return t.node ? `node ${t.node}, pin dir ${t.pinDir}` : `pin dir ${t.pinDir}`;
}

function common(cmd: Command): Command {
  return targetOptions(cmd).option('-o, --output <format>', 'text or json', 'text');
}

async function mapsList(f: CommonFlags, fmt: OutputFormat): Promise<void> {
  const t = await resolveTarget(f);
  const { listPinnedMaps } = await import('../maps/inspect.js');
  const maps = listPinnedMaps(t.pinDir);
  if (fmt === 'json') return out(toJson({ pinDir: t.pinDir, ...(t.node ? { node: t.node } : {}), maps }));
  out(
    renderTable(
      ['NAME', 'TYPE', 'KEY', 'VALUE', 'ENTRIES', 'MAX', 'ID', 'LAYOUT'],
      maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.entries, m.maxEntries, m.id ?? null, m.layout]),
    ),
  );
}

async function mapsDump(f: CommonFlags & { format: string; out?: string }): Promise<void> {
  if (f.format !== 'msgpack') throw new PodwireError('USAGE', `--format ${f.format}: only msgpack is supported (read it back with \`podwire trace --snapshot FILE\`)`);
  if (f.out === undefined && process.stdout.isTTY) {
    throw new PodwireError('USAGE', 'a msgpack snapshot is binary: redirect it (`podwire maps dump --format msgpack > snap.mpk`) or use --out FILE');
  }
  const t = await resolveTarget(f);
  const { snapshotMaps, encodeSnapshot } = await import('../maps/snapshot.js');
  const { readLinks, readPods } = await import('../maps/names.js');
  const snap = snapshotMaps(t.pinDir, {
    ...(t.node ? { node: t.node } : {}),
    links: await readLinks(t.netnsPath).catch(() => []),
    pods: readPods({ stateDir: t.stateDir, extra: t.labPods }),
  });
  const bytes = await encodeSnapshot(snap);
  if (f.out !== undefined) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(f.out, bytes);
    const n = Object.values(snap.maps).reduce((a, m) => a + m.entries.length, 0);
    process.stderr.write(`wrote ${f.out}: ${Object.keys(snap.maps).length} maps, ${n} entries, ${bytes.length} bytes\n`);
  } else {
    await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (e) => (e ? reject(e) : resolve())));
  }
}

async function endpoints(f: CommonFlags, fmt: OutputFormat): Promise<void> {
  const t = await resolveTarget(f);
  const { openEndpoints } = await import('../maps/endpoints.js');
  const m = openEndpoints(t.pinDir);
  let list;
  try {
    list = m.list();
  } finally {
    m.close();
  }
  const names = await namesFor(t);
  const limits = await readLimits(t.pinDir);
  const rows = list.map((e) => {
    const l = limits.get(e.ip);
    return {
      ...e,
      ifname: names.link(e.ifindex)?.name ?? null,
      pod: names.podLabel(e.ip) ?? null,
      egressLimit: l?.egress ?? null,
      ingressLimit: l?.ingress ?? null,
    };
  });
  if (fmt === 'json') return out(toJson({ pinDir: t.pinDir, ...(t.node ? { node: t.node } : {}), endpoints: rows }));
  out(`# endpoints of ${header(t)}: ${rows.length} (limits: rate/burst in bit/s and bits, enforced in the datapath)`);
  out(
    renderTable(
      ['IP', 'IFINDEX', 'VETH', 'POD MAC', 'HOST MAC', 'ID', 'EGRESS LIMIT', 'INGRESS LIMIT', 'POD'],
      rows.map((e) => [e.ip, e.ifindex, e.ifname, e.podMac, e.hostMac, e.endpointId, fmtLimit(e.egressLimit), fmtLimit(e.ingressLimit), e.pod]),
    ),
  );
}

/** Bandwidth limits by pod IP; empty for a datapath without the bw map (an older load). */
async function readLimits(pinDir: string): Promise<Map<string, import('../maps/bandwidth.js').BandwidthLimits>> {
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { pinPaths } = await import('../loader/pins.js');
  if (!existsSync(join(pinPaths(pinDir).mapsDir, 'bw'))) return new Map();
  const { openBandwidth } = await import('../maps/bandwidth.js');
  const m = openBandwidth(pinDir);
  try {
    return new Map(m.list().map((l) => [l.ip, l]));
  } finally {
    m.close();
  }
}

/** "10M/1.05M": rate and burst with SI suffixes; "-" when unlimited. */
function fmtLimit(l: { rateBps: number; burstBits: number } | null): string {
  if (!l) return '-';
  const si = (n: number): string => {
    for (const [d, s] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) if (n >= d) return `${+(n / d).toFixed(2)}${s}`;
    return String(n);
  };
  return `${si(l.rateBps)}/${si(l.burstBits)}`;
}

async function routes(f: CommonFlags, fmt: OutputFormat): Promise<void> {
  const t = await resolveTarget(f);
  const { maps } = await import('../maps/generated/layouts.js');
  if (!('routes' in maps)) throw new PodwireError('USAGE', 'this podwire build has no routes map');
  const { existsSync } = await import('node:fs');
  const { pinPaths } = await import('../loader/pins.js');
  const { pinnedMapNames } = await import('../maps/pinned.js');
  pinnedMapNames(t.pinDir); // "no datapath at …" before "no routes map"
  if (!existsSync(pinPaths(t.pinDir).maps.routes)) {
    throw new PodwireError('MAP_LAYOUT_MISMATCH', `the datapath at ${t.pinDir} has no routes map (loaded by an older podwire): run \`podwire datapath load --pin-dir ${t.pinDir}\``);
  }
  const { openRoutes } = await import('../maps/routes.js');
  const { openNodeConfig } = await import('../maps/node-config.js');
  const r = openRoutes(t.pinDir);
  let list;
  try {
    list = r.list();
  } finally {
    r.close();
  }
  let nodeConfig = null;
  if (existsSync(pinPaths(t.pinDir).maps.nodeCfg)) {
    const c = openNodeConfig(t.pinDir);
    try {
      nodeConfig = c.get();
    } finally {
      c.close();
    }
  }
  if (fmt === 'json') return out(toJson({ pinDir: t.pinDir, ...(t.node ? { node: t.node } : {}), nodeConfig, routes: list }));
  const names = await namesFor(t);
  const dev = (i: number) => (i ? `${i}${names.link(i) ? ` (${names.link(i)!.name})` : ''}` : '-');
  out(`# routes of ${header(t)}: ${list.length}`);
  if (nodeConfig) {
    out(`# node: mode ${nodeConfig.mode}, node IP ${nodeConfig.nodeIp}, uplink ${dev(nodeConfig.uplinkIfindex)}, vxlan ${dev(nodeConfig.vxlanIfindex)}, vni ${nodeConfig.vni}${nodeConfig.vxlanDatapath ? `, ${nodeConfig.vxlanDatapath} datapath` : ''}`);
  }
  out(renderTable(['CIDR', 'KIND', 'NODE IP'], list.map((x) => [x.cidr, x.kind, x.nodeIp])));
}

async function counters(f: CommonFlags & { all?: boolean }, fmt: OutputFormat): Promise<void> {
  const t = await resolveTarget(f);
  const { openCounters } = await import('../maps/counters.js');
  const c = openCounters(t.pinDir);
  let rows;
  try {
    rows = c.read();
  } finally {
    c.close();
  }
  const { reasonNames, directionNames } = await import('../maps/counters.js');
  if (fmt === 'json') return out(toJson({ pinDir: t.pinDir, ...(t.node ? { node: t.node } : {}), counters: rows }));
  const reasons = f.all ? reasonNames.filter((n) => n !== 'UNSPEC') : [...new Set(rows.map((r) => r.reason))];
  const order = new Map(reasonNames.map((n, i) => [n, i]));
  reasons.sort((a, b) => (order.get(a) ?? 1e9) - (order.get(b) ?? 1e9));
  const cell = (reason: string, dir: string, k: 'packets' | 'bytes') => rows.find((r) => r.reason === reason && r.direction === dir)?.[k] ?? 0n;
  out(`# counters of ${header(t)} (summed over CPUs)`);
  out(
    renderTable(
      ['REASON', ...directionNames.flatMap((d) => [`${d} PKTS`, `${d} BYTES`])],
      reasons.map((r) => [r, ...directionNames.flatMap((d) => [cell(r, d, 'packets'), cell(r, d, 'bytes')])]),
    ),
  );
}

async function conntrack(f: CommonFlags, fmt: OutputFormat): Promise<void> {
  const t = await resolveTarget(f);
  const { existsSync } = await import('node:fs');
  const { pinPaths } = await import('../loader/pins.js');
  const { pinnedMapNames } = await import('../maps/pinned.js');
  pinnedMapNames(t.pinDir); // "no datapath at …" before "no ct map"
  if (!existsSync(`${pinPaths(t.pinDir).mapsDir}/ct`)) {
    throw new PodwireError('MAP_LAYOUT_MISMATCH', `the datapath at ${t.pinDir} has no ct map (loaded by an older podwire): run \`podwire datapath load --pin-dir ${t.pinDir}\``);
  }
  const { openConntrack, monotonicNs, protoName, DEFAULT_CT_TIMEOUTS } = await import('../maps/conntrack.js');
  const m = openConntrack(t.pinDir);
  let list;
  try {
    list = m.list();
  } finally {
    m.close();
  }
  const now = monotonicNs();
  const names = await namesFor(t);
  const rows = list.map((e) => {
    const idle = Number(now - e.lastSeenNs) / 1e9;
    const timeout = e.proto === 6 ? DEFAULT_CT_TIMEOUTS.tcpSeconds : DEFAULT_CT_TIMEOUTS.otherSeconds;
    return {
      kind: e.kind,
      addr: e.addr,
      port: e.port,
      proto: protoName(e.proto),
      ...(e.kind === 'flow' ? { peer: e.peer, peerPort: e.peerPort, reply: e.reply, revision: e.revision } : {}),
      origin: e.origin,
      ifindex: e.ifindex,
      ifname: names.link(e.ifindex)?.name ?? null,
      pod: names.podLabel(e.addr) ?? null,
      idleSeconds: Math.max(0, Math.round(idle * 10) / 10),
      expiresInSeconds: Math.max(0, Math.round(timeout - idle)),
    };
  });
  if (fmt === 'json') return out(toJson({ pinDir: t.pinDir, ...(t.node ? { node: t.node } : {}), conntrack: rows }));
  out(
    `# conntrack of ${header(t)}: ${rows.length} (stack: replies to these initiators go through the node's stack, which un-NATs them; ` +
      `flow: a NetworkPolicy-isolated pod's admitted flow, judged again when the policy revision moves on)`,
  );
  out(
    renderTable(
      ['KIND', 'INITIATOR', 'PEER', 'PROTO', 'POD', 'RECORDED BY', 'ON', 'REPLY', 'REVISION', 'IDLE', 'EXPIRES IN'],
      rows.map((r) => [
        r.kind,
        `${r.addr}:${r.port}`,
        'peer' in r ? `${r.peer}:${r.peerPort}` : '-',
        r.proto,
        r.pod,
        r.origin,
        r.ifname ?? r.ifindex,
        'reply' in r ? (r.reply ? 'yes' : 'no') : '-',
        'revision' in r ? String(r.revision) : '-',
        `${r.idleSeconds}s`,
        `${r.expiresInSeconds}s`,
      ]),
    ),
  );
}

export function registerMaps(program: Command): void {
  const maps = program.command('maps').description("inspect the node's pinned BPF maps");
  common(maps.command('list').description('every pinned map: type, key/value sizes, entries, max entries, layout check')).action((f: CommonFlags) =>
    mapsList(f, outputFormat(f.output)),
  );
  targetOptions(maps.command('dump').description('snapshot of every map for offline `podwire trace --snapshot`'))
    .option('--format <format>', 'snapshot encoding', 'msgpack')
    .option('--out <file>', 'write to FILE instead of stdout')
    .action((f: CommonFlags & { format: string; out?: string }) => mapsDump(f));
  common(program.command('endpoints').description('pods on this node as the datapath sees them (endpoints map)')).action((f: CommonFlags) =>
    endpoints(f, outputFormat(f.output)),
  );
  common(program.command('routes').description('pod CIDRs of every node (routes map) and the node config')).action((f: CommonFlags) =>
    routes(f, outputFormat(f.output)),
  );
  common(program.command('conntrack').description("the ct map: flows the node's stack owns (their replies bypass the fast path) and NetworkPolicy flows")).action((f: CommonFlags) =>
    conntrack(f, outputFormat(f.output)),
  );
  common(program.command('counters').description('packets and bytes per verdict reason and direction, summed over CPUs'))
    .option('--all', 'include reasons with no packets')
    .action((f: CommonFlags & { all?: boolean }) => counters(f, outputFormat(f.output)));
}

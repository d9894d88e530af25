// Applying a render to the kernel of the namespace we run in (or `netns`): one atomic
// iptables-restore or nft transaction per sync, plus what cannot be part of it — kube-proxy's
// jump rules in the built-in chains (ensured, never owned) and the removal of UDP conntrack
// entries that still point at endpoints which went away.
import { run } from '../exec/run.js';
import { PodwireError } from '../errors/index.js';
import { JUMP_RULES, chainsInSave, renderIptables } from './iptables.js';
import type { ServicePort } from './model.js';
import { NFT_TABLE, namesInNftJson, renderNftables } from './nftables.js';

export type ProxyMode = 'iptables' | 'nftables';

export interface ApplyOptions {
  mode: ProxyMode;
  clusterCIDR: string;
  netns?: string;
}

export interface ApplyResult {
  /** Service/endpoint chains programmed. */
  chains: number;
  /** Stale chains deleted. */
  deleted: number;
  /** Jump rules that were missing and got inserted (iptables mode). */
  jumpsAdded: number;
}

/** Split iptables-save output into table → its lines. */
function tablesOfSave(save: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) out.set(line.slice(1).trim(), (cur = []));
    else if (cur) cur.push(line);
  }
  return out;
}

export function jumpPresent(lines: readonly string[], chain: string, target: string): boolean {
  return lines.some((l) => l.startsWith(`-A ${chain} `) && l.endsWith(`-j ${target}`));
}

async function applyIptables(sps: readonly ServicePort[], o: ApplyOptions): Promise<ApplyResult> {
  const save = await run('iptables-save', [], { netns: o.netns });
  const tables = tablesOfSave(save.stdout);
  const existingNatChains = chainsInSave((tables.get('nat') ?? []).join('\n'));
  const r = renderIptables(sps, { clusterCIDR: o.clusterCIDR, existingNatChains });
  await run('iptables-restore', ['-w', '5', '--noflush'], { netns: o.netns, input: r.text });
  // Jump rules go after the restore (which created their target chains). Checked against the
  // save taken above: inserting is rare (first start, someone flushed the built-in chains).
  let jumpsAdded = 0;
  // kube-proxy prepends them: insert in reverse so their relative order matches
  for (const j of [...JUMP_RULES].reverse()) {
    if (jumpPresent(tables.get(j.table) ?? [], j.chain, j.target)) continue;
    await run('iptables', ['-w', '5', '-t', j.table, '-I', j.chain, ...j.args, '-j', j.target], { netns: o.netns });
    jumpsAdded++;
  }
  return { chains: r.natServiceChains.length, deleted: r.staleNatChains.length, jumpsAdded };
}

async function applyNftables(sps: readonly ServicePort[], o: ApplyOptions): Promise<ApplyResult> {
  const list = await run('nft', ['-j', 'list', 'table', 'ip', NFT_TABLE], { netns: o.netns, reject: false });
  let existing = { chains: [] as string[], sets: [] as string[] };
  if (list.exitCode === 0) {
    try {
      existing = namesInNftJson(JSON.parse(list.stdout));
    } catch (cause) {
      throw new PodwireError('EXEC_FAILED', `nft -j list table ip ${NFT_TABLE} printed output that is not JSON`, { cause });
    }
  } else if (!/No such file or directory|does not exist/i.test(list.stderr)) {
    throw new PodwireError('EXEC_FAILED', `nft list table ip ${NFT_TABLE} failed: ${list.stderr.trim()}`);
  }
  const r = renderNftables(sps, { clusterCIDR: o.clusterCIDR, existingChains: existing.chains, existingSets: existing.sets });
  await run('nft', ['-f', '-'], { netns: o.netns, input: r.text });
  return { chains: r.serviceChains.length, deleted: r.staleChains.length, jumpsAdded: 0 };
}

export function applyRules(sps: readonly ServicePort[], o: ApplyOptions): Promise<ApplyResult> {
  return o.mode === 'nftables' ? applyNftables(sps, o) : applyIptables(sps, o);
}

/**
 * UDP has no connection end: a conntrack entry DNATed to an endpoint that is gone (or a reject
 * cached while the service had none) keeps blackholing the client's flow. Like kube-proxy, delete
 * the entries for ClusterIPs/NodePorts whose endpoint set lost members or gained its first one.
 */
export function staleUdpFlows(prev: readonly ServicePort[], next: readonly ServicePort[]): string[][] {
  const key = (sp: ServicePort) => `${sp.namespace}/${sp.name}:${sp.portName}`;
  const before = new Map(prev.filter((s) => s.protocol === 'UDP').map((s) => [key(s), s]));
  const cmds: string[][] = [];
  for (const sp of next) {
    if (sp.protocol !== 'UDP') continue;
    const old = before.get(key(sp));
    if (!old) continue;
    const now = new Set(sp.endpoints.map((e) => e.ip));
    if (old.endpoints.length === 0 && sp.endpoints.length > 0) {
      cmds.push(['-D', '-p', 'udp', '--orig-dst', sp.clusterIP, '--orig-port-dst', String(sp.port)]);
      if (sp.nodePort > 0) cmds.push(['-D', '-p', 'udp', '--orig-port-dst', String(sp.nodePort)]);
      continue;
    }
    for (const ip of new Set(old.endpoints.map((e) => e.ip))) {
      if (now.has(ip)) continue;
      cmds.push(['-D', '-p', 'udp', '--orig-dst', old.clusterIP, '--dst-nat', ip]);
      if (old.nodePort > 0) cmds.push(['-D', '-p', 'udp', '--orig-port-dst', String(old.nodePort), '--dst-nat', ip]);
    }
  }
  return cmds;
}

export async function flushConntrack(cmds: readonly string[][], netns?: string): Promise<number> {
  let n = 0;
  for (const args of cmds) {
    // exit 1 with "0 flow entries have been deleted" is the common, harmless case
    const r = await run('conntrack', args, { netns, reject: false });
    if (r.exitCode === 0) n++;
  }
  return n;
}

// What the soak counts on a node to find leaks: IPAM allocations, entries of every pinned map
// (whatever maps the datapath has: nothing here names them), pin files per pin sub-directory,
// veths and pod namespaces, and the agent's open fds and RSS. Reading is side-effect free.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { IpamStore } from '../../src/ipam/index.js';
import { listPinnedMaps } from '../../src/maps/inspect.js';
import type { LabNodeState } from '../../src/lab/state.js';

export interface NodeCounts {
  node: string;
  ipamAllocations: number;
  /** name → entries (hash maps: present keys; arrays: max_entries) */
  mapEntries: Record<string, number>;
  /** pin sub-directory (links, links-egress, maps, progs …) → files pinned under it */
  pins: Record<string, number>;
  veths: number;
  agentPid?: number;
  agentFds?: number;
  agentRssKb?: number;
}

function countFiles(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    n += statSync(p).isDirectory() ? countFiles(p) : 1;
  }
  return n;
}

export function agentFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

export function agentRssKb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export async function countNode(node: LabNodeState): Promise<NodeCounts> {
  const mapEntries: Record<string, number> = {};
  for (const m of listPinnedMaps(node.pinDir)) mapEntries[m.name] = m.entries ?? -1;
  const pins: Record<string, number> = {};
  if (existsSync(node.pinDir)) {
    for (const f of readdirSync(node.pinDir)) {
      const p = join(node.pinDir, f);
      pins[f] = statSync(p).isDirectory() ? countFiles(p) : 1;
    }
  }
  const links = await run('ip', ['-o', 'link', 'show', 'type', 'veth'], { netns: node.netnsPath, reject: false });
  const pid = node.agentPid;
  return {
    node: node.name,
    ipamAllocations: new IpamStore(node.stateDir).list().length,
    mapEntries,
    pins,
    veths: links.stdout.split('\n').filter((l) => l.trim()).length,
    ...(pid ? { agentPid: pid, agentFds: agentFds(pid), agentRssKb: agentRssKb(pid) } : {}),
  };
}

/**
 * Maps the datapath fills with one entry per other node (not per pod), so an entry appears as soon
 * as the long-lived pods talk across nodes, whatever the churn did: nh_cache (lib/forward.h, the
 * next hop toward each remote node). Their bound is the number of other nodes, not the baseline.
 */
export const PER_REMOTE_NODE_MAPS = new Set<string>(['nh_cache']);

// What a pod's DEL must leave on its node: no veth of the pod. The agent's warm veth pool
// (src/cni/pool.ts) may keep the pair, recycled: renamed to a pool name, both ends down, no
// address, in the node namespace — that is not the pod's any more. Anything else named pw* is.
import { DEFAULT_VETH_POOL_SIZE } from '../../src/agent/config.js';
import { isPoolHostName, poolPeerOf } from '../../src/cni/pool.js';
import { runJson } from '../../src/exec/run.js';

interface Link {
  ifname: string;
  flags: string[];
  addr_info?: Array<{ family: string }>;
}

/** pw* veths in the node namespace that are not idle pool pairs; throws if the pool outgrew its bound. */
export async function podVethsLeft(netns: string): Promise<string[]> {
  const links = await runJson<Link[]>('ip', ['-j', 'addr', 'show', 'type', 'veth'], { netns });
  const byName = new Map(links.map((l) => [l.ifname, l]));
  const idle = (l: Link | undefined) => l !== undefined && !l.flags.includes('UP') && !(l.addr_info ?? []).some((a) => a.family === 'inet');
  const pool = new Set<string>();
  for (const l of links) {
    if (!isPoolHostName(l.ifname)) continue;
    const peer = poolPeerOf(l.ifname);
    if (idle(l) && idle(byName.get(peer))) pool.add(l.ifname).add(peer);
  }
  // DEL recycles up to twice the pool size (the surplus is deleted while idle)
  if (pool.size / 2 > 2 * DEFAULT_VETH_POOL_SIZE) throw new Error(`${pool.size / 2} veth pairs in the warm pool, more than 2 × ${DEFAULT_VETH_POOL_SIZE}`);
  return links.map((l) => l.ifname).filter((n) => n.startsWith('pw') && !pool.has(n));
}

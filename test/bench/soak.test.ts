// `npm run soak` in short: 1.5 minutes of pod churn through `podwire lab kubectl` on a 2-node lab
// while long-lived pods ping each other (same node and both directions across nodes) and the
// agents are SIGKILLed every 30 s (the lab kubelet restarts them). Nothing may leak (IPAM
// allocations, entries of any pinned map, pin files, veths, agent fds back at their baseline once
// the churn pods are gone) and not one ping may be lost: an agent restart does not touch the
// pinned datapath, so it may cost no packet (the policy in bench/soak/run.ts and the README).
import { describe, expect, it } from 'vitest';
import { compareCounts, runSoak, type SoakReport } from '../../bench/soak/run.js';
import { renderSoak } from '../../bench/soak/text.js';
import type { NodeCounts } from '../../bench/soak/probe.js';

describe('soak', () => {
  it('the leak check flags every counter that stays above its baseline', () => {
    const base: NodeCounts = { node: 'node-1', ipamAllocations: 2, mapEntries: { endpoints: 2, ct: 0 }, pins: { links: 3 }, veths: 3, agentPid: 1, agentFds: 26, agentRssKb: 1 };
    expect(compareCounts([base], [structuredClone(base)])).toEqual([]);
    const after: NodeCounts = { ...structuredClone(base), ipamAllocations: 3, mapEntries: { endpoints: 2, ct: 0, policy: 1 }, pins: { links: 4 }, veths: 4, agentFds: 27 };
    expect(compareCounts([base], [after]).map((l) => l.what).sort()).toEqual(['agent fds', 'ipam allocations', 'map policy entries', 'pins under links/', 'veths']);
    // nh_cache holds one entry per OTHER node: up to 1 of 2 nodes is no leak, 2 is
    const two = [base, { ...structuredClone(base), node: 'node-2' }];
    const cached = (n: number) => two.map((c) => ({ ...structuredClone(c), mapEntries: { ...c.mapEntries, nh_cache: n } }));
    expect(compareCounts(two, cached(1))).toEqual([]);
    expect(compareCounts(two, cached(2)).map((l) => l.what)).toEqual(['map nh_cache entries', 'map nh_cache entries']);
  });

  it('1.5 min of churn with agent restarts every 30 s: no leak, no lost ping, every churn pod reachable', { timeout: 360_000 }, async () => {
    const lines: string[] = [];
    const r: SoakReport = await runSoak({ minutes: 1.5, restartEveryS: 30, log: (l) => lines.push(l) });
    console.log(renderSoak(r));
    expect(r.churn.errors).toEqual([]);
    expect(r.churn.unreachable).toEqual([]);
    expect(r.churn.created).toBeGreaterThanOrEqual(10);
    expect(r.churn.deleted).toBe(r.churn.created);
    expect(r.restarts.length).toBeGreaterThanOrEqual(2);
    expect(r.restarts.filter((x) => x.newPid === undefined)).toEqual([]);
    expect(r.leaks).toEqual([]);
    expect(r.ping).toHaveLength(3);
    for (const p of r.ping) {
      expect(p.sent, p.label).toBeGreaterThan(300);
      expect({ label: p.label, lost: p.lost, received: p.received }).toEqual({ label: p.label, lost: [], received: p.sent });
    }
    // the counts cover the datapath's maps and pins by what is pinned, not by a list here
    for (const c of r.counts.after) {
      expect(Object.keys(c.mapEntries).length).toBeGreaterThanOrEqual(4);
      expect(c.pins['links']).toBeGreaterThan(0);
    }
    expect(r.ok).toBe(true);
  });
});

// The lab shows the metrics: `podwire lab status -o json` lists every agent's metrics URL, the
// URL answers from the node's own namespace and from another lab namespace on the underlay (the
// other node's), and the headline line the demo prints is computed from that real scrape after
// pod↔pod traffic (forwarded packets counted, one endpoint per pod, CNI ADDs served by the agent).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { Lab } from '../../src/lab/cluster.js';
import { ping } from '../../src/lab/traffic.js';
import { fetchMetrics, headline, parseSamples } from '../../src/metrics/index.js';
import { parseExposition, sample } from './parse.js';

let lab: Lab;
let tmp: string;
let statePath: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pwlabm-'));
  statePath = join(tmp, 'lab.json');
  lab = await Lab.up({ nodes: 2, podsPerNode: 1, mode: 'native', statePath, dir: join(tmp, 'lab'), name: `m${Math.random().toString(16).slice(2, 6)}` });
}, 240_000);

afterAll(async () => {
  await lab?.down();
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, 60_000);

describe('lab metrics', () => {
  it('lab status -o json lists nodes[].metricsUrl; each answers in the node\'s netns and from the other node', async () => {
    const status = JSON.parse((await run(podwireBin(), ['lab', 'status', '--state', statePath, '-o', 'json'])).stdout) as { nodes: { name: string; netns: string; underlayIp: string; metricsUrl: string }[] };
    expect(status.nodes).toHaveLength(2);
    for (const [i, n] of status.nodes.entries()) {
      expect(n.metricsUrl).toBe(`http://${n.underlayIp}:9880/metrics`);
      const own = parseExposition(await fetchMetrics(n.metricsUrl, n.netns));
      expect(sample(own, 'podwire_build_info', { node: n.name })).toBe(1);
      const other = status.nodes[1 - i]!;
      const remote = parseExposition(await fetchMetrics(n.metricsUrl, other.netns));
      expect(sample(remote, 'podwire_build_info', { node: n.name })).toBe(1);
    }
    const text = (await run(podwireBin(), ['lab', 'status', '--state', statePath])).stdout;
    for (const n of status.nodes) expect(text).toContain(n.metricsUrl);
  });

  it('the demo\'s headline comes from a real scrape after pod↔pod traffic', async () => {
    const [a, b] = lab.state.pods.filter((p) => !p.hostNetwork);
    const nodeA = lab.state.nodes.find((n) => n.name === a!.node)!;
    const before = parseSamples(await fetchMetrics(nodeA.metricsUrl!, nodeA.netnsPath));
    const fwd = (s: ReturnType<typeof parseSamples>) => s.filter((x) => x.name === 'podwire_datapath_packets_total' && x.labels['reason'] === 'FWD_REMOTE_NATIVE').reduce((acc, x) => acc + x.value, 0);
    const r = await ping(a!.netnsPath, b!.ip, { count: 5 });
    expect(r.received).toBe(5);
    const after = parseSamples(await fetchMetrics(nodeA.metricsUrl!, nodeA.netnsPath));
    // 5 echo requests leave node A's pod for node B through the datapath
    expect(fwd(after) - fwd(before)).toBeGreaterThanOrEqual(5);
    const line = headline(after);
    expect(line).toMatch(/^1 endpoints · forwarded [0-9,]+ pkts · to the stack [0-9,]+ · dropped [0-9,]+/);
    expect(line).toMatch(/CNI ADDs on the socket 1 · reconciles [1-9]/);
  });
});

// An interrupted `Lab.up` (the bench's SIGINT/SIGTERM handler aborts it) removes the half-built
// lab: no namespace, pin directory, process or state file of it survives. Before, the bench only
// registered its teardown after `up` returned, so a signal during the 10–30 s of agent start-up
// left the lab running.
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab, alive, netnsPrefix, pinPrefix } from '../../src/lab/cluster.js';

describe('Lab.up aborted half-way', () => {
  let tmp: string | undefined;
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('removes every namespace, pin directory, process and the state file it made', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'pwlab-abort-'));
    const name = `ab${Math.random().toString(16).slice(2, 8)}`;
    const statePath = join(tmp, 'lab.json');
    const ac = new AbortController();
    const kubelets: number[] = [];
    let sawState = false;
    const up = Lab.up({
      nodes: 2,
      podsPerNode: 0,
      proxyMode: 'none',
      name,
      statePath,
      dir: join(tmp, 'lab'),
      signal: ac.signal,
      log: (l) => {
        // abort once the first node (its kubelet, which starts the agent) is running
        const m = /^node \S+: .*kubelet pid (\d+)/.exec(l);
        if (m) {
          kubelets.push(Number(m[1]));
          sawState = existsSync(statePath);
          ac.abort();
        }
      },
    });
    await expect(up).rejects.toThrow(/abort/i);
    expect(kubelets.length).toBe(1); // it stopped before the second node
    expect(sawState).toBe(true); // there was a lab to remove
    expect(alive(kubelets[0]!)).toBe(false);
    expect(existsSync(statePath)).toBe(false);
    const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
    expect(netns.filter((n) => n.startsWith(netnsPrefix(name)))).toEqual([]);
    expect(readdirSync('/sys/fs/bpf').filter((f) => f.startsWith(pinPrefix(name)))).toEqual([]);
  }, 120_000);
});

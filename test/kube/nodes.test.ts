// The agent's Node cache holds compact records (issue 13 item 5): listed in pages (limit +
// continue) against the lab API server, every object reduced by slimNode before it is cached —
// listed ones and watched ones alike — and nodeFacts reads the same facts from the compact record.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { nodeFacts } from '../../src/kube/objects.js';
import { listNodesPaged, slimNode, watchNodes } from '../../src/kube/watches.js';
import type { KubeClient } from '../../src/kube/client.js';
import { withServer } from '../apiserver/harness.js';

let s: ApiServer;
let client: KubeClient;

const node = (i: number): k8s.V1Node => ({
  metadata: { name: `n-${i}`, labels: { zone: `z${i % 2}` }, annotations: { big: 'x'.repeat(2000) } },
  spec: { podCIDR: `10.9.${i}.0/24`, podCIDRs: [`10.9.${i}.0/24`], providerID: `sim://${i}` },
  status: {
    addresses: [{ type: 'InternalIP', address: `192.0.2.${i + 1}` }, { type: 'Hostname', address: `n-${i}` }],
    conditions: [{ type: 'Ready', status: 'True' }],
    capacity: { cpu: '2', memory: '4Gi' },
  },
});

beforeAll(async () => {
  s = await withServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'lab', server: s.url, skipTLSVerify: true }],
    users: [{ name: 'lab' }],
    contexts: [{ name: 'lab', cluster: 'lab', user: 'lab' }],
    currentContext: 'lab',
  });
  client = { config: kc, core: kc.makeApiClient(k8s.CoreV1Api), server: s.url };
  for (let i = 0; i < 7; i++) await client.core.createNode({ body: node(i) });
});
afterAll(async () => {
  await s?.stop();
});

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('compact Node records', () => {
  it('slimNode keeps exactly what nodeFacts and policy read', () => {
    const n = node(3);
    const slim = slimNode(n);
    expect(nodeFacts(slim)).toEqual(nodeFacts(n));
    expect(slim).toEqual({
      metadata: { name: 'n-3', labels: { zone: 'z1' } },
      spec: { podCIDR: '10.9.3.0/24', podCIDRs: ['10.9.3.0/24'] },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.4' }] },
    });
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(n).length / 10);
  });

  it('lists in pages of the given size and returns every Node, compact, with the list resourceVersion', async () => {
    const l = await listNodesPaged(client, 3); // 7 nodes: pages of 3, 3, 1
    expect(l.items.map((n) => n.metadata?.name).sort()).toEqual(['n-0', 'n-1', 'n-2', 'n-3', 'n-4', 'n-5', 'n-6']);
    expect(l.items.every((n) => n.metadata?.annotations === undefined && n.status?.conditions === undefined)).toBe(true);
    expect(l.metadata?.resourceVersion).toMatch(/^[0-9]+$/);
  });

  it('the informer caches compact records from the paged list and from watch events', async () => {
    const log = { debug() {}, info() {}, warn() {} };
    const inf = watchNodes(client, { onChange: () => {}, log }, 2);
    inf.start();
    try {
      await until(() => inf.synced && inf.list().length === 7, 'the paged list');
      await client.core.createNode({ body: node(7) });
      await until(() => inf.list().some((n) => n.metadata?.name === 'n-7'), 'the watched ADDED');
      const n7 = inf.list().find((n) => n.metadata?.name === 'n-7')!;
      expect(n7.metadata?.annotations).toBeUndefined();
      expect(n7.status?.conditions).toBeUndefined();
      expect(nodeFacts(n7)).toEqual({ name: 'n-7', podCIDRs: ['10.9.7.0/24'], internalIp: '192.0.2.8' });
      expect(inf.list().every((n) => n.spec?.providerID === undefined)).toBe(true);
    } finally {
      await inf.stop();
    }
  });
});

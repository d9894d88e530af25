// The compact Node informer (watchNodes) against the lab API server: the agent's routes come from
// these records. Paged raw list (limit/continue), add/update/delete through the watch, an update
// that changes nothing a route reads is no change, and a watch that comes back to a compacted
// history (410 Gone) relists and drops the Node deleted while it was away.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer, KubeObject } from '../../src/apiserver/index.js';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client.js';
import { watchNodes } from '../../src/kube/watches.js';
import { kubeConfigFor, withServer } from '../apiserver/harness.js';

async function waitFor(what: string, fn: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const nodeObj = (i: number, ip = `192.0.2.${i}`): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: `n${i}`, labels: { big: 'x'.repeat(200) } },
    spec: { podCIDR: `10.9.${i}.0/24`, podCIDRs: [`10.9.${i}.0/24`] },
    status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: `n${i}` }], conditions: [{ type: 'Ready', status: 'True' }] },
  }) as KubeObject;

describe('watchNodes: compact Node records', () => {
  let s: ApiServer;
  let client: KubeClient;
  beforeAll(async () => {
    s = await withServer({ scheduler: false });
    const config = kubeConfigFor(s);
    client = { config, core: config.makeApiClient(CoreV1Api), server: s.url };
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('lists in pages, follows add/update/delete, ignores updates no route reads, and relists after 410 Gone', async () => {
    for (let i = 1; i <= 5; i++) s.objects.create('nodes', nodeObj(i), { keepStatus: true });
    const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
    const log = { debug: (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, fields }), info: (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, fields }), warn: (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, fields }) };
    let changes = 0;
    const events: Record<string, number> = { add: 0, update: 0, delete: 0 };
    const hooks = { event: (k: 'add' | 'update' | 'delete', n = 1) => void (events[k] = (events[k] ?? 0) + n), listed() {}, error() {}, restarted() {} };
    const nodes = watchNodes(client, { onChange: () => changes++, log, hooks, pageSize: 2, backoff: { initialMs: 50, maxMs: 200 } });
    nodes.start();
    try {
      await waitFor('the first list', () => nodes.synced && changes > 0);
      // 5 Nodes in pages of 2: three requests chained by continue tokens
      expect(logs.find((l) => l.msg === 'listed')?.fields).toMatchObject({ items: 5, pages: 3 });
      expect(nodes.records().get('n3')).toEqual({ name: 'n3', podCIDRs: ['10.9.3.0/24'], internalIp: '192.0.2.3' });
      expect([...nodes.records().keys()].sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
      expect(nodes.size).toBe(5);
      // the list's adds are counted (once, with their number)
      expect(events).toEqual({ add: 5, update: 0, delete: 0 });
      // the cache holds records only: no V1Node, no labels
      expect(Object.keys(nodes.records().get('n1')!).sort()).toEqual(['internalIp', 'name', 'podCIDRs']);

      // add
      s.objects.create('nodes', nodeObj(6), { keepStatus: true });
      await waitFor('n6', () => nodes.records().has('n6'));
      expect(nodes.size).toBe(6);
      // update: a new InternalIP is a change
      const n2 = s.objects.get('nodes', '', 'n2')!;
      s.objects.update('nodes', { ...n2, status: { ...(n2 as { status: object }).status, addresses: [{ type: 'InternalIP', address: '198.51.100.2' }] } } as KubeObject, { subresource: 'status' });
      await waitFor('n2 moved', () => nodes.records().get('n2')?.internalIp === '198.51.100.2');
      // an update of something no route reads (a label) changes no record: no onChange
      const before = changes;
      const n4 = s.objects.get('nodes', '', 'n4')!;
      s.objects.update('nodes', { ...n4, metadata: { ...n4.metadata, labels: { other: 'y' } } } as KubeObject);
      // delete (after the label update: its event is behind the update's on the same watch)
      s.objects.delete('nodes', '', 'n5');
      await waitFor('n5 gone', () => !nodes.records().has('n5'));
      expect(changes).toBe(before + 1);

      // 410: the port closes, n1 is deleted and the history compacted while the watch is away;
      // the rewatch from the old version gets 410 and the relist drops n1
      const lists = nodes.lists;
      const { reopened } = await s.faults.refuseConnections(300);
      s.objects.delete('nodes', '', 'n1');
      s.faults.expireHistory();
      await reopened;
      await waitFor('the relist after 410', () => nodes.lists > lists && !nodes.records().has('n1'));
      expect([...nodes.records().keys()].sort()).toEqual(['n2', 'n3', 'n4', 'n6']);
      // watch: n6 added, n2 updated, n5 deleted; relist: n1 deleted (the label update is no event)
      expect(events).toEqual({ add: 6, update: 1, delete: 2 });
      expect(logs.some((l) => l.msg === 'relisted')).toBe(true);
      // and it watches again from the relist
      s.objects.create('nodes', nodeObj(7), { keepStatus: true });
      await waitFor('n7 after the relist', () => nodes.records().get('n7')?.internalIp === '192.0.2.7');
    } finally {
      await nodes.stop();
    }
  });
});

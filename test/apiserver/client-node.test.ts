// A real client: @kubernetes/client-node 1.4.0 (what the agent uses) lists, reads, creates and
// runs informers against the server — through a watch close (rewatch from the last version),
// an ERROR 410 (relist), and a 500 (the 1.4.x informer reports an error and stops, which is why
// the agent restarts it).
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { kubeConfigFor, pod, withServer } from './harness.js';

let s: ApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
const informers: Array<k8s.Informer<k8s.V1Pod>> = [];

beforeAll(async () => {
  s = await withServer();
  kc = kubeConfigFor(s);
  core = kc.makeApiClient(k8s.CoreV1Api);
});
afterAll(async () => {
  for (const i of informers) await i.stop().catch(() => undefined);
  await s?.stop();
});

/** Poll (bounded) until `cond` holds; informers deliver asynchronously. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('@kubernetes/client-node against the lab API server', () => {
  it('creates, reads and lists typed objects', async () => {
    const node = await core.createNode({ body: { metadata: { name: 'cn-1' } } });
    expect(node.metadata?.uid).toBeTruthy();
    expect(node.metadata?.creationTimestamp).toBeInstanceOf(Date);
    const read = await core.readNode({ name: 'cn-1' });
    expect(read.spec?.podCIDR).toBe('10.244.0.0/24');
    const created = await core.createNamespacedPod({ namespace: 'default', body: pod('cp-1', { nodeName: 'cn-1' }) as k8s.V1Pod });
    expect(created.status?.phase).toBe('Pending');
    const list = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=cn-1' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['cp-1']);
    expect(list.metadata?.resourceVersion).toBe(String(s.resourceVersion));
    const nss = await core.listNamespace({ labelSelector: 'kubernetes.io/metadata.name=kube-system' });
    expect(nss.items).toHaveLength(1);
    await expect(core.readNamespacedPod({ name: 'nope', namespace: 'default' })).rejects.toMatchObject({ code: 404 });
    const st = await core.replaceNamespacedPodStatus({
      name: 'cp-1', namespace: 'default', body: { ...created, status: { phase: 'Running', podIP: '10.244.0.5' } },
    });
    expect(st.status?.podIP).toBe('10.244.0.5');
  });

  it('an informer converges through watch close, 410 Expired and a 500', async () => {
    const fieldSelector = 'spec.nodeName=cn-1';
    // makeInformer in 1.4.0 takes no field selector; ListWatch does (list and watch both filtered).
    const informer = new k8s.ListWatch<k8s.V1Pod>('/api/v1/pods', new k8s.Watch(kc), () => core.listPodForAllNamespaces({ fieldSelector }), false, undefined, fieldSelector);
    informers.push(informer);
    const log: string[] = [];
    const errors: unknown[] = [];
    let connects = 0;
    informer.on('add', (p) => log.push(`add ${p.metadata?.name}`));
    informer.on('update', (p) => log.push(`update ${p.metadata?.name}`));
    informer.on('delete', (p) => log.push(`delete ${p.metadata?.name}`));
    informer.on('error', (e) => errors.push(e));
    informer.on('connect', () => connects++);
    await informer.start();
    await until(() => s.stats().openWatches === 1, 'the informer to watch');
    expect(log).toEqual(['add cp-1']);

    await core.createNamespacedPod({ namespace: 'default', body: pod('cp-2', { nodeName: 'cn-1' }) as k8s.V1Pod });
    await core.createNamespacedPod({ namespace: 'default', body: pod('elsewhere', { nodeName: 'cn-2' }) as k8s.V1Pod });
    await until(() => log.includes('add cp-2'), 'add cp-2');

    // Watch closed: the informer rewatches from its last version and misses nothing.
    expect(s.faults.closeWatches()).toBe(1);
    await core.deleteNamespacedPod({ name: 'cp-2', namespace: 'default' });
    await until(() => log.includes('delete cp-2') && s.stats().openWatches === 1, 'delete cp-2 after rewatch');

    // 410: the informer relists and sees what changed meanwhile.
    const connectsBefore = connects;
    s.faults.expireHistory();
    await core.createNamespacedPod({ namespace: 'default', body: pod('cp-3', { nodeName: 'cn-1' }) as k8s.V1Pod });
    await until(() => log.includes('add cp-3') && connects > connectsBefore, 'relist after 410');
    expect(informer.list().map((p) => p.metadata?.name).sort()).toEqual(['cp-1', 'cp-3']);
    // The pod on another node never reached this informer.
    expect(log.filter((l) => l.includes('elsewhere'))).toEqual([]);
    expect(errors).toEqual([]);

    // 500 on the watch: 1.4.x reports the error and stops for good (DESIGN.md).
    s.faults.failNextWatches(1);
    s.faults.closeWatches();
    await until(() => errors.length === 1, 'the informer error');
    expect(errors[0]).toMatchObject({ statusCode: 500 });
    expect(s.stats().openWatches).toBe(0);
  });
});

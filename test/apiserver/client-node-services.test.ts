// @kubernetes/client-node (what the agents and lab kube-proxies use) against a token + TLS
// server: typed Services, informers on EndpointSlices and NetworkPolicies across namespaces
// (the shapes kube-proxy and the policy engine consume), and 401 without the token.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTls, selfSignedCert, type ApiServer } from '../../src/apiserver/index.js';
import { withServer } from './harness.js';

const TOKEN = 'client-node-token';
let s: ApiServer;
let dir: string;
let ca: string;
const informers: Array<k8s.Informer<k8s.KubernetesObject>> = [];

function config(token?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'lab', server: s.url, caData: Buffer.from(ca).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'lab', ...(token ? { token } : {}) }],
    contexts: [{ name: 'lab', cluster: 'lab', user: 'lab' }],
    currentContext: 'lab',
  });
  return kc;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pwcn-'));
  const files = await selfSignedCert(dir);
  ca = await readFile(files.certFile, 'utf8');
  s = await withServer({ token: TOKEN, tls: await readTls(files) });
});
afterAll(async () => {
  for (const i of informers) await i.stop().catch(() => undefined);
  await s?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('@kubernetes/client-node with a token over TLS', () => {
  it('is refused without the token', async () => {
    const core = config().makeApiClient(k8s.CoreV1Api);
    await expect(core.listNamespace()).rejects.toMatchObject({ code: 401 });
    const bad = config('wrong').makeApiClient(k8s.CoreV1Api);
    await expect(bad.createNamespace({ body: { metadata: { name: 'x' } } })).rejects.toMatchObject({ code: 401 });
    expect(s.objects.get('namespaces', '', 'x')).toBeUndefined();
  });

  it('creates Services and follows EndpointSlices and NetworkPolicies with informers', async () => {
    const kc = config(TOKEN);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const disc = kc.makeApiClient(k8s.DiscoveryV1Api);
    const net = kc.makeApiClient(k8s.NetworkingV1Api);
    const slices = k8s.makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => disc.listEndpointSliceForAllNamespaces(), 'kubernetes.io/service-name=api');
    const policies = k8s.makeInformer(kc, '/apis/networking.k8s.io/v1/networkpolicies', () => net.listNetworkPolicyForAllNamespaces());
    informers.push(slices as any, policies as any);
    await slices.start();
    await policies.start();

    await core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'api-0', labels: { app: 'api' } }, spec: { nodeName: 'n', containers: [{ name: 'c', image: 'x', ports: [{ name: 'grpc', containerPort: 9000 }] }] } },
    });
    const svc = await core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'api' }, spec: { type: 'NodePort', selector: { app: 'api' }, ports: [{ port: 443, targetPort: 'grpc' as any }] } },
    });
    expect(svc.spec?.clusterIP).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\./);
    expect(svc.spec?.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);
    const cur = await core.readNamespacedPod({ name: 'api-0', namespace: 'default' });
    await core.replaceNamespacedPodStatus({
      name: 'api-0', namespace: 'default',
      body: { ...cur, status: { phase: 'Running', podIP: '10.244.3.3', conditions: [{ type: 'Ready', status: 'True' }] } },
    });
    const ready = () => slices.list().flatMap((sl: any) => sl.endpoints ?? []).filter((e: any) => e.conditions?.ready);
    await until(() => ready().length === 1, 'a ready endpoint in the informer cache');
    const sl = slices.list()[0] as k8s.V1EndpointSlice;
    expect(sl.addressType).toBe('IPv4');
    expect(sl.ports).toEqual([{ name: '', port: 9000, protocol: 'TCP' }]);
    expect(sl.endpoints[0]).toMatchObject({ addresses: ['10.244.3.3'], nodeName: 'n', targetRef: { kind: 'Pod', name: 'api-0' } });

    await net.createNamespacedNetworkPolicy({
      namespace: 'default',
      body: { metadata: { name: 'only-api' }, spec: { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ ports: [{ port: 'grpc' as any }] }] } },
    });
    await until(() => policies.list().length === 1, 'the policy in the informer cache');
    expect((policies.list()[0] as k8s.V1NetworkPolicy).spec?.policyTypes).toEqual(['Ingress']);

    await core.deleteNamespacedService({ name: 'api', namespace: 'default' });
    await until(() => slices.list().length === 0, 'slices removed with the service');
  });
});

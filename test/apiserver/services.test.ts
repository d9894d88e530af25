// Services over HTTP: defaults, ClusterIP allocation from the service CIDR (requested, taken,
// out of range, headless, released on delete), NodePort allocation (requested, taken, out of
// range, kept on update, released when the type changes), validation messages, the status
// subresource; NetworkPolicy defaults and validation; the namespace name label.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { call, withServer } from './harness.js';

let s: ApiServer;
beforeAll(async () => {
  s = await withServer({ serviceCIDR: '10.100.0.0/24', serviceNodePortRange: '31000-31099' });
});
afterAll(async () => {
  await s?.stop();
});

const svc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec });
const post = (body: unknown, ns = 'default') => call(s.url, 'POST', `/api/v1/namespaces/${ns}/services`, body);
const path = (name: string, ns = 'default') => `/api/v1/namespaces/${ns}/services/${name}`;

describe('Services', () => {
  it('fills in the defaults and allocates a ClusterIP from the service CIDR', async () => {
    const r = await post(svc('a', { selector: { app: 'a' }, ports: [{ port: 80 }] }));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const spec = r.body.spec;
    expect(spec).toMatchObject({
      type: 'ClusterIP', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
      ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }],
    });
    expect(spec.clusterIP).toMatch(/^10\.100\.0\.\d+$/);
    expect(spec.clusterIPs).toEqual([spec.clusterIP]);
    expect(r.body.status).toEqual({ loadBalancer: {} });
    expect(s.stats().clusterIPsAllocated).toBe(1);
  });

  it('honours a requested free IP, refuses a taken or out-of-range one, and releases on delete', async () => {
    const ok = await post(svc('dns', { clusterIP: '10.100.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.spec.clusterIPs).toEqual(['10.100.0.10']);
    const taken = await post(svc('dns2', { clusterIP: '10.100.0.10', ports: [{ port: 53 }] }));
    expect(taken.status).toBe(422);
    expect(taken.body.reason).toBe('Invalid');
    expect(taken.body.message).toMatch(/^Service "dns2" is invalid: spec\.clusterIPs: Invalid value: .*failed to allocate IP 10\.100\.0\.10: provided IP is already allocated/);
    const out = await post(svc('far', { clusterIP: '10.96.0.10', ports: [{ port: 53 }] }));
    expect(out.status).toBe(422);
    expect(out.body.message).toMatch(/the provided IP \(10\.96\.0\.10\) is not in the valid range\. The range of valid IPs is 10\.100\.0\.0\/24/);
    const junk = await post(svc('junk', { clusterIP: 'abc', ports: [{ port: 53 }] }));
    expect(junk.status).toBe(422);
    expect(junk.body.message).toMatch(/spec\.clusterIPs\[0\]: Invalid value: "abc": must be a valid IP address/);
    // A refused create reserves nothing; deleting releases the IP for the next one who asks.
    const before = s.stats().clusterIPsAllocated;
    expect((await call(s.url, 'DELETE', path('dns'))).status).toBe(200);
    expect(s.stats().clusterIPsAllocated).toBe(before - 1);
    const again = await post(svc('dns2', { clusterIP: '10.100.0.10', ports: [{ port: 53 }] }));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
  });

  it('headless services get no IP; clusterIP may not change on update', async () => {
    const h = await post(svc('headless', { clusterIP: 'None', selector: { app: 'h' } }));
    expect(h.status, JSON.stringify(h.body)).toBe(201);
    expect(h.body.spec.clusterIPs).toEqual(['None']);
    const cur = (await call(s.url, 'GET', path('a'))).body;
    const moved = await call(s.url, 'PUT', path('a'), { ...cur, spec: { ...cur.spec, clusterIP: '10.100.0.99', clusterIPs: ['10.100.0.99'] } });
    expect(moved.status).toBe(422);
    expect(moved.body.message).toMatch(/spec\.clusterIPs\[0\]: Invalid value: .*may not change once set/);
    // A PUT without clusterIP keeps the allocated one (kubectl replace of a manifest).
    const { clusterIP: _c, clusterIPs: _cs, ...rest } = cur.spec;
    const kept = await call(s.url, 'PUT', path('a'), { ...cur, metadata: { name: 'a' }, spec: rest });
    expect(kept.status, JSON.stringify(kept.body)).toBe(200);
    expect(kept.body.spec.clusterIP).toBe(cur.spec.clusterIP);
  });

  it('allocates NodePorts for NodePort and LoadBalancer services, honours free ones, refuses taken or out-of-range ones', async () => {
    const np = await post(svc('np', { type: 'NodePort', selector: { app: 'np' }, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81, nodePort: 31050 }] }));
    expect(np.status, JSON.stringify(np.body)).toBe(201);
    const [p0, p1] = np.body.spec.ports;
    expect(p0.nodePort).toBeGreaterThanOrEqual(31000);
    expect(p0.nodePort).toBeLessThanOrEqual(31099);
    expect(p1.nodePort).toBe(31050);
    expect(np.body.spec.externalTrafficPolicy).toBe('Cluster');
    const lb = await post(svc('lb', { type: 'LoadBalancer', ports: [{ port: 80 }] }));
    expect(lb.status).toBe(201);
    expect(lb.body.spec.allocateLoadBalancerNodePorts).toBe(true);
    expect(lb.body.spec.ports[0].nodePort).not.toBe(p0.nodePort);
    const taken = await post(svc('np2', { type: 'NodePort', ports: [{ port: 80, nodePort: 31050 }] }));
    expect(taken.status).toBe(422);
    expect(taken.body.message).toBe('Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 31050: provided port is already allocated');
    const range = await post(svc('np3', { type: 'NodePort', ports: [{ port: 80, nodePort: 30000 }] }));
    expect(range.status).toBe(422);
    expect(range.body.message).toMatch(/spec\.ports\[0\]\.nodePort: Invalid value: 30000: provided port is not in the valid range\. The range of valid ports is 31000-31099/);
    const forbidden = await post(svc('np4', { ports: [{ port: 80, nodePort: 31060 }] }));
    expect(forbidden.status).toBe(422);
    expect(forbidden.body.message).toMatch(/spec\.ports\[0\]\.nodePort: Forbidden: may not be used when `type` is 'ClusterIP'/);
  });

  it('keeps nodePorts across updates and releases them when the type changes to ClusterIP', async () => {
    const ports = (await call(s.url, 'GET', path('np'))).body.spec.ports.map((p: any) => p.nodePort);
    const used = s.stats().nodePortsAllocated;
    // A merge patch that only relabels keeps the ports.
    const lab = await call(s.url, 'PATCH', path('np'), { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
    expect(lab.body.spec.ports.map((p: any) => p.nodePort)).toEqual(ports);
    const toCip = await call(s.url, 'PATCH', path('np'), { spec: { type: 'ClusterIP', externalTrafficPolicy: null } }, 'application/strategic-merge-patch+json');
    expect(toCip.status, JSON.stringify(toCip.body)).toBe(200);
    expect(toCip.body.spec.ports.map((p: any) => p.nodePort)).toEqual([undefined, undefined]);
    expect(s.stats().nodePortsAllocated).toBe(used - 2);
    // The released port can be requested again.
    const reuse = await post(svc('np5', { type: 'NodePort', ports: [{ port: 80, nodePort: 31050 }] }));
    expect(reuse.status, JSON.stringify(reuse.body)).toBe(201);
    // Back to NodePort: new ports are allocated.
    const back = await call(s.url, 'PATCH', path('np'), { spec: { type: 'NodePort' } }, 'application/merge-patch+json');
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body.spec.ports.every((p: any) => p.nodePort >= 31000 && p.nodePort <= 31099 && p.nodePort !== 31050)).toBe(true);
  });

  it('validates like the real server', async () => {
    const noPorts = await post(svc('noports', { selector: { a: 'b' } }));
    expect(noPorts.body.message).toBe('Service "noports" is invalid: spec.ports: Required value');
    const name = await post(svc('1bad', { ports: [{ port: 80 }] }));
    expect(name.body.message).toMatch(/^Service "1bad" is invalid: metadata\.name: Invalid value: "1bad": a DNS-1035 label must consist of/);
    const multi = await post(svc('multi', { ports: [{ port: 80 }, { port: 81, protocol: 'ICMP' }] }));
    expect(multi.status).toBe(422);
    expect(multi.body.message).toContain('spec.ports[0].name: Required value');
    expect(multi.body.message).toContain('spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"');
    const type = await post(svc('typo', { type: 'Nodeport', ports: [{ port: 80 }] }));
    expect(type.body.message).toMatch(/spec\.type: Unsupported value: "Nodeport"/);
    // A refused create allocated nothing.
    expect((await call(s.url, 'GET', path('multi'))).status).toBe(404);
  });

  it('serves the status subresource', async () => {
    const cur = (await call(s.url, 'GET', path('lb'))).body;
    const st = await call(s.url, 'PUT', `${path('lb')}/status`, { ...cur, spec: { ...cur.spec, sessionAffinity: 'ClientIP' }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } });
    expect(st.status, JSON.stringify(st.body)).toBe(200);
    expect(st.body.status.loadBalancer.ingress).toEqual([{ ip: '192.0.2.1' }]);
    expect(st.body.spec.sessionAffinity).toBe('None');
    const main = await call(s.url, 'PATCH', path('lb'), { status: { loadBalancer: {} } }, 'application/merge-patch+json');
    expect(main.body.status.loadBalancer.ingress).toEqual([{ ip: '192.0.2.1' }]);
  });

  it('lists and watches across namespaces with label selectors', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'other' } });
    expect((await post({ ...svc('o', { ports: [{ port: 1 }] }), metadata: { name: 'o', labels: { team: 'x' } } }, 'other')).status).toBe(201);
    const all = await call(s.url, 'GET', '/api/v1/services?labelSelector=team%3Dx');
    expect(all.body.kind).toBe('ServiceList');
    expect(all.body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['other/o']);
    // Deleting the namespace deletes its services and releases their IPs.
    const used = s.stats().clusterIPsAllocated;
    await call(s.url, 'DELETE', '/api/v1/namespaces/other');
    expect(s.stats().clusterIPsAllocated).toBe(used - 1);
  });
});

describe('NetworkPolicies', () => {
  const np = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec });
  const base = '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies';

  it('defaults policyTypes and port protocols, lists cluster-wide', async () => {
    const a = await call(s.url, 'POST', base, np('ing', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] }));
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    expect(a.body).toMatchObject({ kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', spec: { policyTypes: ['Ingress'], ingress: [{ ports: [{ port: 80, protocol: 'TCP' }] }] } });
    const b = await call(s.url, 'POST', base, np('eg', { podSelector: { matchLabels: { a: 'b' } }, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }] }));
    expect(b.body.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const list = await call(s.url, 'GET', '/apis/networking.k8s.io/v1/networkpolicies');
    expect(list.body).toMatchObject({ kind: 'NetworkPolicyList', apiVersion: 'networking.k8s.io/v1' });
    expect(list.body.items.map((i: any) => i.metadata.name)).toEqual(['eg', 'ing']);
  });

  it('rejects bad peers, CIDRs and port ranges with field paths', async () => {
    const r = await call(s.url, 'POST', base, np('bad', {
      podSelector: {},
      policyTypes: ['Inbound'],
      ingress: [{ from: [{}, { ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] }, podSelector: {} }], ports: [{ port: 90, endPort: 80 }] }],
    }));
    expect(r.status).toBe(422);
    for (const m of [
      'spec.policyTypes[0]: Unsupported value: "Inbound"',
      'spec.ingress[0].from[0]: Required value: must specify a peer',
      'spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer',
      'spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`',
      'spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`',
    ]) expect(r.body.message).toContain(m);
  });
});

describe('PATCH content types over HTTP', () => {
  it('strategic merge patch merges containers by name; JSON merge patch replaces the list', async () => {
    const p = '/api/v1/namespaces/default/pods/two';
    await call(s.url, 'POST', '/api/v1/namespaces/default/pods', {
      metadata: { name: 'two' },
      spec: { nodeName: 'n', containers: [{ name: 'a', image: 'a:1', ports: [{ name: 'http', containerPort: 80 }] }, { name: 'b', image: 'b:1' }] },
    });
    const smp = await call(s.url, 'PATCH', p, { spec: { containers: [{ name: 'b', image: 'b:2' }] } }, 'application/strategic-merge-patch+json');
    expect(smp.status, JSON.stringify(smp.body)).toBe(200);
    expect(smp.body.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual(['a=a:1', 'b=b:2']);
    // The server defaulted the container port's protocol, as the real one does.
    expect(smp.body.spec.containers[0].ports).toEqual([{ name: 'http', containerPort: 80, protocol: 'TCP' }]);
    const merge = await call(s.url, 'PATCH', p, { spec: { containers: [{ name: 'b', image: 'b:3' }] } }, 'application/merge-patch+json');
    expect(merge.body.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual(['b=b:3']);
    const bad = await call(s.url, 'PATCH', p, { spec: { containers: [{ image: 'x' }] } }, 'application/strategic-merge-patch+json');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/does not contain declared merge key: name/);
  });
});

describe('Namespaces', () => {
  it('carry kubernetes.io/metadata.name on create and after any update', async () => {
    const c = await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'labelled', labels: { 'kubernetes.io/metadata.name': 'spoofed' } } });
    expect(c.body.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'labelled' });
    const p = await call(s.url, 'PATCH', '/api/v1/namespaces/labelled', { metadata: { labels: { 'kubernetes.io/metadata.name': null, team: 'a' } } }, 'application/merge-patch+json');
    expect(p.body.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'labelled', team: 'a' });
  });
});

// Strategic merge patch against the patch metadata of the served kinds: lists merged by key,
// atomic lists replaced, every directive; and JSON merge patch staying distinct (lists replaced,
// `$` keys kept as data).
import { describe, expect, it } from 'vitest';
import { mergePatch } from '../../src/apiserver/patch.js';
import { strategicMergePatch } from '../../src/apiserver/smp.js';

const pod = () => ({
  metadata: { name: 'p', labels: { a: '1', b: '2' }, finalizers: ['x'] },
  spec: {
    containers: [
      { name: 'app', image: 'app:1', ports: [{ containerPort: 80, name: 'http' }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], volumeMounts: [{ name: 'v', mountPath: '/data' }] },
      { name: 'side', image: 'side:1' },
    ],
    volumes: [{ name: 'v', emptyDir: {} }],
    tolerations: [{ key: 't1', operator: 'Exists' }],
  },
  status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Initialized', status: 'True' }] },
});

describe('strategic merge patch', () => {
  it('merges containers by name, ports by containerPort, env by name, volumeMounts by mountPath', () => {
    const out: any = strategicMergePatch('Pod', pod(), {
      spec: {
        containers: [
          { name: 'app', image: 'app:2', ports: [{ containerPort: 443, name: 'https' }], env: [{ name: 'B', value: 'two' }, { name: 'C', value: '3' }], volumeMounts: [{ mountPath: '/data', readOnly: true }] },
          { name: 'new', image: 'new:1' },
        ],
      },
    });
    expect(out.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual(['app=app:2', 'side=side:1', 'new=new:1']);
    const app = out.spec.containers[0];
    expect(app.ports).toEqual([{ containerPort: 80, name: 'http' }, { containerPort: 443, name: 'https' }]);
    expect(app.env).toEqual([{ name: 'A', value: '1' }, { name: 'B', value: 'two' }, { name: 'C', value: '3' }]);
    expect(app.volumeMounts).toEqual([{ name: 'v', mountPath: '/data', readOnly: true }]);
  });

  it('replaces atomic lists (tolerations, as upstream) and merges conditions by type', () => {
    const out: any = strategicMergePatch('Pod', pod(), {
      spec: { tolerations: [{ key: 't2', operator: 'Exists' }] },
      status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }] },
    });
    expect(out.spec.tolerations).toEqual([{ key: 't2', operator: 'Exists' }]);
    expect(out.status.conditions).toEqual([{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }, { type: 'PodScheduled', status: 'True' }]);
  });

  it('$patch: delete removes a list item by key and a whole map; null deletes a key', () => {
    const out: any = strategicMergePatch('Pod', pod(), {
      metadata: { labels: { a: null } },
      spec: { containers: [{ name: 'side', $patch: 'delete' }, { name: 'app', env: [{ name: 'A', $patch: 'delete' }] }], volumes: [{ name: 'v', $patch: 'delete' }] },
      status: { $patch: 'delete' },
    });
    expect(out.metadata.labels).toEqual({ b: '2' });
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['app']);
    expect(out.spec.containers[0].env).toEqual([{ name: 'B', value: '2' }]);
    expect(out.spec.volumes).toEqual([]);
    expect(out.status).toBeUndefined();
  });

  it('$patch: replace on a map and on a list', () => {
    const out: any = strategicMergePatch('Pod', pod(), {
      metadata: { labels: { $patch: 'replace', only: 'this' } },
      spec: { containers: [{ $patch: 'replace' }, { name: 'solo', image: 'solo:1' }] },
    });
    expect(out.metadata.labels).toEqual({ only: 'this' });
    expect(out.spec.containers).toEqual([{ name: 'solo', image: 'solo:1' }]);
  });

  it('$deleteFromPrimitiveList and primitive set merge (finalizers, Node podCIDRs)', () => {
    const out: any = strategicMergePatch('Pod', pod(), { metadata: { finalizers: ['y'], '$deleteFromPrimitiveList/finalizers': ['x'] } });
    expect(out.metadata.finalizers).toEqual(['y']);
    const node: any = strategicMergePatch('Node', { spec: { podCIDRs: ['10.0.0.0/24'] } }, { spec: { podCIDRs: ['10.0.1.0/24', '10.0.0.0/24'] } });
    expect(node.spec.podCIDRs).toEqual(['10.0.0.0/24', '10.0.1.0/24']);
  });

  it('$setElementOrder orders merged items and keeps server-only items in place', () => {
    const out: any = strategicMergePatch('Pod', pod(), {
      spec: {
        '$setElementOrder/containers': [{ name: 'new' }, { name: 'app' }],
        containers: [{ name: 'new', image: 'new:1' }],
      },
    });
    // app held slot 0 and new slot 2; side (server-only) stays in slot 1.
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['new', 'side', 'app']);
  });

  it('$retainKeys clears fields not listed (volume source switch)', () => {
    const out: any = strategicMergePatch('Pod', pod(), {
      spec: { volumes: [{ name: 'v', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/x' } }] },
    });
    expect(out.spec.volumes).toEqual([{ name: 'v', hostPath: { path: '/x' } }]);
  });

  it('merges Service ports by port and leaves EndpointSlice/NetworkPolicy lists atomic', () => {
    const svc: any = strategicMergePatch('Service', { spec: { ports: [{ name: 'a', port: 80, targetPort: 8080 }, { name: 'b', port: 443 }] } }, { spec: { ports: [{ port: 80, targetPort: 9090 }] } });
    expect(svc.spec.ports).toEqual([{ name: 'a', port: 80, targetPort: 9090 }, { name: 'b', port: 443 }]);
    const np: any = strategicMergePatch('NetworkPolicy', { spec: { ingress: [{ from: [] }, { ports: [] }] } }, { spec: { ingress: [{ ports: [{ port: 80 }] }] } });
    expect(np.spec.ingress).toEqual([{ ports: [{ port: 80 }] }]);
  });

  it('rejects an item without its merge key and unknown $patch values', () => {
    expect(() => strategicMergePatch('Pod', pod(), { spec: { containers: [{ image: 'x' }] } })).toThrow(/does not contain declared merge key: name/);
    expect(() => strategicMergePatch('Pod', pod(), { spec: { $patch: 'explode' } })).toThrow(/Unknown patch type: explode/);
  });

  it('does not modify its input', () => {
    const before = pod();
    const copy = structuredClone(before);
    strategicMergePatch('Pod', before, { spec: { containers: [{ name: 'app', image: 'z', env: [{ name: 'A', $patch: 'delete' }] }] }, metadata: { labels: { a: null } } });
    expect(before).toEqual(copy);
  });
});

describe('JSON merge patch (RFC 7386) stays distinct', () => {
  it('replaces lists whole and treats $ keys as data', () => {
    const out: any = mergePatch(pod(), { spec: { containers: [{ name: 'app', image: 'only' }] }, metadata: { labels: { a: null, $patch: 'x' } } });
    expect(out.spec.containers).toEqual([{ name: 'app', image: 'only' }]);
    expect(out.metadata.labels).toEqual({ b: '2', $patch: 'x' });
    expect(out.spec.volumes).toEqual([{ name: 'v', emptyDir: {} }]);
  });
});

// deploy/ without a cluster: every document validates against the Kubernetes schemas shipped by
// kubernetes-models (schema types, required fields, formats), and the policy a reviewer of a CNI
// DaemonSet checks holds — including the API server's own rules that a schema cannot express
// (Bidirectional propagation only for privileged containers) and agreement with the code (the
// ConfigMap's keys are the agent's environment variables and its config parser accepts them;
// probes hit the port the agent listens on; the installer writes where the hostPath is).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_FALLBACK, parseAgentFlags } from '../../src/agent/config.js';
import { deployDir, loadManifests, validateObject, type K8sObject } from './manifests.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Mount {
  name: string;
  mountPath: string;
  mountPropagation?: string;
}
interface Probe {
  httpGet?: { host?: string; path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: { privileged?: boolean; capabilities?: { add?: string[]; drop?: string[] }; allowPrivilegeEscalation?: boolean };
  volumeMounts?: Mount[];
  resources?: { requests?: Record<string, string> };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
}
interface PodSpec {
  serviceAccountName: string;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  priorityClassName?: string;
  tolerations?: Record<string, unknown>[];
  terminationGracePeriodSeconds?: number;
  initContainers?: Container[];
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string; type?: string }; emptyDir?: unknown }[];
}

const manifests = loadManifests();
const byKind = (kind: string): K8sObject[] => manifests.map((m) => m.object).filter((o) => o.kind === kind);
const one = (kind: string): K8sObject => {
  const all = byKind(kind);
  expect(all, kind).toHaveLength(1);
  return all[0]!;
};
const ds = () => one('DaemonSet') as K8sObject & { spec: { updateStrategy: { type: string; rollingUpdate?: { maxUnavailable?: number } }; template: { spec: PodSpec } } };
const pod = (): PodSpec => ds().spec.template.spec;
const allContainers = (): Container[] => [...(pod().initContainers ?? []), ...pod().containers];
const agent = (): Container => pod().containers.find((c) => c.name === 'agent')!;
const volume = (name: string) => pod().volumes.find((v) => v.name === name);
const hostPathMount = (c: Container, hostPath: string): Mount | undefined =>
  (c.volumeMounts ?? []).find((m) => volume(m.name)?.hostPath?.path === hostPath);
const envOf = (c: Container, name: string) => (c.env ?? []).find((e) => e.name === name);

describe('deploy/ manifests against the Kubernetes schemas (kubernetes-models)', () => {
  it('holds exactly the objects an operator applies', () => {
    expect(manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/podwire-agent',
        'ClusterRoleBinding/podwire-agent',
        'ConfigMap/podwire-config',
        'DaemonSet/podwire-agent',
        'Namespace/podwire-system',
        'ServiceAccount/podwire-agent',
      ].sort(),
    );
  });

  it.each(manifests.map((m) => [`${m.file} ${m.object.kind}`, m.object] as const))('%s validates', async (_name, o) => {
    await expect(validateObject(o)).resolves.toBeUndefined();
  });

  it('the validator is live: a broken DaemonSet is rejected with the path of the error', async () => {
    const broken = structuredClone(ds()) as unknown as { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } } };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = '9879';
    await expect(validateObject(broken as unknown as K8sObject)).rejects.toThrow(/containers\/0\/ports\/0\/containerPort must be integer/);
    const noSelector = structuredClone(ds()) as unknown as { spec: Record<string, unknown> };
    delete noSelector.spec['selector'];
    await expect(validateObject(noSelector as unknown as K8sObject)).rejects.toThrow(/selector/);
  });

  it('namespaced objects live in podwire-system, which admits privileged-level pods', () => {
    const ns = one('Namespace');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
    for (const o of manifests.map((m) => m.object)) {
      if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) expect(o.metadata.namespace, o.kind).toBeUndefined();
      else expect(o.metadata.namespace, o.kind).toBe('podwire-system');
    }
  });
});

describe('deploy/ policy', () => {
  it('RBAC: list/watch on what the agent watches, create on Events only, bound to the agent\'s service account', () => {
    const role = one('ClusterRole') as K8sObject & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const grants = role.rules.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups.join(',')}/${res}:${v}`)));
    expect(grants.sort()).toEqual([
      ',events.k8s.io/events:create', // NetworkPolicy warnings (src/agent/policy.ts), its only write
      '/namespaces:list',
      '/namespaces:watch',
      '/nodes:list',
      '/nodes:watch',
      '/pods:list',
      '/pods:watch',
      '/services:list',
      '/services:watch',
      'networking.k8s.io/networkpolicies:list',
      'networking.k8s.io/networkpolicies:watch',
    ]);
    const binding = one('ClusterRoleBinding') as K8sObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: pod().serviceAccountName, namespace: 'podwire-system' }]);
    expect(one('ServiceAccount').metadata.name).toBe(pod().serviceAccountName);
  });

  it('DaemonSet: host network, node-critical, tolerates every taint, rolls one node at a time', () => {
    const p = pod();
    expect(p.hostNetwork).toBe(true);
    expect(p.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(p.priorityClassName).toBe('system-node-critical');
    expect(p.tolerations).toContainEqual({ operator: 'Exists' });
    expect(ds().spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(p.terminationGracePeriodSeconds).toBeGreaterThan(0);
    expect(p.terminationGracePeriodSeconds).toBeLessThanOrEqual(30);
    for (const c of allContainers()) {
      expect(c.resources?.requests?.['cpu'], c.name).toBeDefined();
      expect(c.resources?.requests?.['memory'], c.name).toBeDefined();
      expect(c.image, c.name).toBe(agent().image);
    }
  });

  it('privileged only where the API requires it: the one-shot bpffs mounter; the agent runs on capabilities', () => {
    const privileged = allContainers().filter((c) => c.securityContext?.privileged === true);
    expect(privileged.map((c) => c.name)).toEqual(['mount-bpf-fs']);
    expect((pod().initContainers ?? []).map((c) => c.name)).toContain('mount-bpf-fs');
    const sc = agent().securityContext!;
    expect(sc.privileged).not.toBe(true);
    expect(sc.capabilities?.drop).toEqual(['ALL']);
    expect(sc.capabilities?.add).toEqual(expect.arrayContaining(['BPF', 'NET_ADMIN', 'SYS_ADMIN', 'PERFMON']));
    // /proc/sys is read-only in unprivileged containers: the agent makes its own bind writable
    expect(agent().command?.join(' ')).toMatch(/mount -o remount,bind,rw \/proc\/sys && exec \/usr\/local\/bin\/podwire agent$/);
  });

  it('the API server\'s rule the schema cannot express: Bidirectional propagation only in privileged containers', () => {
    for (const c of allContainers()) {
      for (const m of c.volumeMounts ?? []) {
        if (m.mountPropagation === 'Bidirectional') expect(c.securityContext?.privileged, `${c.name} ${m.mountPath}`).toBe(true);
      }
    }
  });

  it('bpffs: the host\'s /sys/fs/bpf, mounted Bidirectional by the mounter and seen by the agent at the same path', () => {
    const mounter = pod().initContainers!.find((c) => c.name === 'mount-bpf-fs')!;
    expect(hostPathMount(mounter, '/sys/fs/bpf')).toMatchObject({ mountPath: '/sys/fs/bpf', mountPropagation: 'Bidirectional' });
    expect(mounter.command?.join(' ')).toContain('mount -t bpf bpf /sys/fs/bpf');
    expect(hostPathMount(agent(), '/sys/fs/bpf')).toMatchObject({ mountPath: '/sys/fs/bpf', mountPropagation: 'HostToContainer' });
    expect(envOf(agent(), 'PODWIRE_PIN_DIR')?.value).toMatch(/^\/sys\/fs\/bpf\//);
  });

  it('host paths the CNI binary reads are the same inside the agent (the conflist hands them over)', () => {
    expect(hostPathMount(agent(), '/var/lib/podwire')?.mountPath).toBe('/var/lib/podwire');
    expect(envOf(agent(), 'PODWIRE_STATE_DIR')?.value).toBe('/var/lib/podwire');
    const conf = hostPathMount(agent(), '/etc/cni/net.d');
    expect(conf).toBeDefined();
    expect(envOf(agent(), 'PODWIRE_CNI_CONF_DIR')?.value).toBe(conf!.mountPath);
    expect(envOf(agent(), 'NODE_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
  });

  it('CNI fast path: the agent serves the shim on a host-path socket and sees pod netns by their host paths', () => {
    const sock = envOf(agent(), 'PODWIRE_CNI_SOCKET')?.value;
    expect(sock).toBe('/run/podwire/cni.sock');
    const run = hostPathMount(agent(), '/run/podwire');
    expect(run?.mountPath).toBe('/run/podwire');
    const netns = hostPathMount(agent(), '/run/netns');
    expect(netns?.mountPath).toBe('/run/netns');
    expect(netns?.mountPropagation).toBe('HostToContainer');
  });

  it('install-cni: the init container runs the atomic installer into the host\'s /opt/cni/bin', () => {
    const init = pod().initContainers!.find((c) => c.name === 'install-cni')!;
    const mount = hostPathMount(init, '/opt/cni/bin')!;
    expect(mount).toBeDefined();
    expect(init.command).toEqual(['/usr/local/bin/podwire', 'install-cni', '--dest', mount.mountPath]);
    expect(init.securityContext?.privileged).not.toBe(true);
  });

  it('probes: readiness on /readyz and liveness on /healthz, at the address the agent listens on', () => {
    const a = agent();
    const listen = envOf(a, 'PODWIRE_HEALTH_LISTEN')!.value!;
    const [host, port] = listen.split(':');
    const named = a.ports!.find((p) => p.name === 'health')!;
    expect(named.containerPort).toBe(Number(port));
    for (const [probe, path] of [[a.readinessProbe, '/readyz'], [a.livenessProbe, '/healthz']] as const) {
      expect(probe?.httpGet).toEqual({ host, path, port: 'health' });
    }
  });

  it('ConfigMap keys are the agent\'s environment variables, and the agent accepts the shipped values', () => {
    const cm = one('ConfigMap') as K8sObject & { data: Record<string, string> };
    expect(agent().envFrom).toEqual([{ configMapRef: { name: cm.metadata.name } }]);
    const known = new Set(Object.values(ENV_FALLBACK));
    for (const k of Object.keys(cm.data)) expect(known.has(k), k).toBe(true);
    // what the container's environment will hold: the ConfigMap, overridden by explicit env
    const env: Record<string, string> = { ...cm.data, NODE_NAME: 'node-a', KUBECONFIG: join(deployDir(), '00-namespace.yaml') };
    for (const e of agent().env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const parsed = parseAgentFlags({}, env);
    expect(parsed).toMatchObject({ nodeName: 'node-a', mode: 'native', pinDir: '/sys/fs/bpf/podwire', stateDir: '/var/lib/podwire', health: { host: '127.0.0.1', port: 9879 } });
    expect(parsed.uplink).toBeUndefined(); // empty = the default route's device
  });

  it('Dockerfile (static: no container engine here): multi-stage build → slim runtime with the agent\'s tools and the binary', () => {
    const text = readFileSync(join(deployDir(), 'Dockerfile'), 'utf8');
    const stages = text.split('\n').filter((l) => /^FROM /.test(l));
    expect(stages).toEqual(['FROM node:20-bookworm AS build', 'FROM debian:bookworm-slim']);
    const [build, runtime] = text.split(/^FROM debian:bookworm-slim$/m) as [string, string];
    expect(build).toMatch(/RUN npm ci/);
    expect(build).toMatch(/RUN npm run build:bin/);
    for (const pkg of ['clang-16', 'lld-16', 'bpftool', 'libbpf-dev', 'binutils']) expect(build, pkg).toContain(pkg);
    // what the agent and the init containers exec at run time
    for (const pkg of ['clang-16', 'libbpf-dev', 'linux-libc-dev', 'bpftool', 'iproute2', 'procps', 'mount', 'util-linux']) expect(runtime, pkg).toContain(pkg);
    expect(runtime).toContain('COPY --from=build /src/dist/podwire /usr/local/bin/podwire');
    expect(runtime).not.toMatch(/nodejs|npm /);
    for (const c of allContainers()) expect(c.command?.join(' '), c.name).toMatch(/\/usr\/local\/bin\/podwire|mount/);
  });
});

// The NetworkPolicy truth-table fixture, as upstream's e2e (test/e2e/network/netpol): namespaces
// x, y and z (label ns=<name>), pods a, b and c in each (label pod=<name>) spread over the lab's
// nodes, every pod serving TCP and UDP on ports 80 and 81 under the NAMED container ports
// serve-80-tcp, serve-80-udp, serve-81-tcp and serve-81-udp. One extra pod, x/d, serves TCP and
// UDP 80 under other names (http, dns): named-port rules must never match it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodwireError } from '../../errors/index.js';
import { labKubectl, type Kubectl } from '../kubectl.js';
import { Lab, type ProxyMode } from '../cluster.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const PORTS = [80, 81] as const;

/** A fixture pod: id is "namespace/name" (the truth table's label). */
export interface NetpolPod {
  id: string;
  namespace: string;
  name: string;
  node: string;
  ip: string;
  netnsPath: string;
}

/** The 9 matrix pods in a fixed order: x/a x/b x/c y/a … z/c. */
export const MATRIX_IDS: readonly string[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));
/** The pod without the serve-* port names. */
export const UNNAMED_ID = 'x/d';

/** Node of the i-th matrix pod: alternating, so every namespace and every pod name spans nodes. */
export function nodeFor(index: number, nodes: readonly string[]): string {
  return nodes[index % nodes.length]!;
}

type Port = { name: string; containerPort: number; protocol: 'TCP' | 'UDP' };
const namedPorts: Port[] = PORTS.flatMap((port) => (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol })));

function podObject(namespace: string, name: string, node: string, ports: Port[]): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { pod: name } },
    spec: { nodeName: node, containers: [{ name: 'cont', image: 'podwire.io/lab-serve', ports }] },
  };
}

export function namespaceObject(name: string, labels: Record<string, string> = { ns: name }): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

/** Objects as a multi-document manifest of JSON documents: plain YAML would read the namespace
 * name `y` as the boolean true (YAML 1.1), and the lab serves no OpenAPI for `kind: List`. */
export function manifest(items: readonly object[]): string {
  return items.map((o) => JSON.stringify(o)).join('\n---\n');
}


export function fixtureManifest(nodes: readonly string[]): string {
  const items = NAMESPACES.map((ns) => namespaceObject(ns));
  MATRIX_IDS.forEach((id, i) => {
    const [ns, name] = id.split('/') as [string, string];
    items.push(podObject(ns, name, nodeFor(i, nodes), namedPorts));
  });
  items.push(podObject('x', 'd', nodes[nodes.length - 1]!, [{ name: 'http', containerPort: 80, protocol: 'TCP' }, { name: 'dns', containerPort: 80, protocol: 'UDP' }]));
  return manifest(items);
}

/** Apply the fixture, wait for every pod to run, and return them by id (matrix pods and x/d). */
export async function createFixture(lab: Lab, kubectl: Kubectl): Promise<Map<string, NetpolPod>> {
  const nodes = lab.state.nodes.map((n) => n.name);
  await kubectl(['apply', '-f', '-'], { input: fixtureManifest(nodes) });
  for (const ns of NAMESPACES) await kubectl(['wait', '-n', ns, '--for=condition=Ready', 'pod', '--all', '--timeout=120s'], { timeoutMs: 150_000 });
  await lab.refresh();
  const pods = new Map<string, NetpolPod>();
  for (const id of [...MATRIX_IDS, UNNAMED_ID]) {
    const [namespace, name] = id.split('/') as [string, string];
    const p = lab.state.pods.find((x) => x.namespace === namespace && x.name === name);
    if (!p?.ip) throw new PodwireError('IO_FAILED', `fixture pod ${id} is not recorded in the lab state with an IP`);
    pods.set(id, { id, namespace, name, node: p.node, ip: p.ip, netnsPath: p.netnsPath });
  }
  return pods;
}

/** Between cases: no policy anywhere (returns once the API server has none left). */
export async function deletePolicies(kubectl: Kubectl): Promise<void> {
  await kubectl(['delete', 'networkpolicy', '--all', '-A']);
}

/** Put a namespace's or a pod's fixture label back (cases that relabel call it in finally). */
export async function restoreLabels(kubectl: Kubectl, what: { namespace?: string; pod?: string }): Promise<void> {
  if (what.pod) {
    const [ns, name] = what.pod.split('/') as [string, string];
    await kubectl(['label', 'pod', '-n', ns, name, `pod=${name}`, '--overwrite']);
  }
  if (what.namespace) await kubectl(['label', 'namespace', what.namespace, `ns=${what.namespace}`, '--overwrite']);
}

/** A NetworkPolicy object (networking.k8s.io/v1) for `manifest`. */
export function networkPolicy(namespace: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

/** A label selector matching exactly these labels. */
export const matchLabels = (labels: Record<string, string>): { matchLabels: Record<string, string> } => ({ matchLabels: labels });

export interface NetpolLab {
  lab: Lab;
  kubectl: Kubectl;
  pods: Map<string, NetpolPod>;
  /** Apply objects with the real kubectl. */
  apply: (...items: object[]) => Promise<string>;
  /** Remove the lab and its scratch directory. */
  down: () => Promise<void>;
}

/**
 * A 2-node lab with the fixture running. A failed set-up removes what it made before it throws,
 * so a test's afterAll has nothing to find.
 */
export async function netpolLab(o: { mode: 'native' | 'vxlan'; proxyMode: ProxyMode; tag: string }): Promise<NetpolLab> {
  const tmp = await mkdtemp(join(tmpdir(), `pwlab-${o.tag}-${o.mode}-`));
  const down = async (): Promise<void> => {
    await lab?.down();
    await rm(tmp, { recursive: true, force: true });
  };
  let lab: Lab | undefined;
  try {
    lab = await Lab.up({ nodes: 2, podsPerNode: 0, mode: o.mode, proxyMode: o.proxyMode, statePath: join(tmp, 'lab.json'), dir: join(tmp, 'lab'), name: `${o.tag}${o.mode[0]}${Math.random().toString(16).slice(2, 7)}` });
    const kubectl = labKubectl(lab.state);
    const pods = await createFixture(lab, kubectl);
    return { lab, kubectl, pods, apply: (...items) => kubectl(['apply', '-f', '-'], { input: manifest(items) }), down };
  } catch (e) {
    await down().catch(() => {});
    throw e;
  }
}

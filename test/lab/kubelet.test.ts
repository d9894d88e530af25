// The lab as a kind-like cluster without Services: kubectl from the host namespace through the
// lab's TLS forwarder (bearer token required), Pods run by the per-node lab kubelet through the
// node's CNI chain (hostPort through the chained portmap, servers on the container ports that
// see the client's own address), concurrent `lab pod add` all recorded (issue 14 #8), and
// `lab down` sweeping what the state file never knew.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlBin, podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { Lab, netnsPrefix, pinPrefix } from '../../src/lab/cluster.js';
import { ask } from '../../src/lab/probe.js';
import { openEndpoints } from '../../src/maps/index.js';

const exec = promisify(execFile);

describe('lab kubelet, kubectl access and lab state', () => {
  let lab: Lab;
  let tmp: string;
  let statePath: string;
  const cli = (args: string[]) => exec(podwireBin(), args, { env: { ...process.env, PODWIRE_LAB_STATE: statePath }, timeout: 120_000 });
  const cliRc = (args: string[]) => cli(args).then(() => 0, (e: { code?: number }) => e.code ?? -1);

  beforeAll(async () => {
    if (!existsSync(kubectlBin())) throw new Error(`kubectl missing at ${kubectlBin()}: run deploy/host-prereqs.sh`);
    tmp = await mkdtemp(join(tmpdir(), 'pwlab-kubelet-'));
    statePath = join(tmp, 'lab.json');
    lab = await Lab.up({ nodes: 2, podsPerNode: 0, mode: 'native', proxyMode: 'none', statePath, dir: join(tmp, 'lab'), name: `k${Math.random().toString(16).slice(2, 7)}` });
  }, 180_000);

  afterAll(async () => {
    await lab?.down();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  it('writes a kubeconfig a host-namespace kubectl uses; anonymous requests get 401', async () => {
    const status = JSON.parse((await cli(['lab', 'status', '-o', 'json'])).stdout);
    expect(status.kubeconfig).toBe(lab.state.access!.kubeconfig);
    expect(status.pods).toEqual([]);
    const nodes = JSON.parse((await cli(['lab', 'kubectl', 'get', 'nodes', '-o', 'json'])).stdout);
    expect(nodes.items.map((n: { metadata: { name: string } }) => n.metadata.name).sort()).toEqual(['node-1', 'node-2']);
    // kubectl's own exit code comes through
    expect(await cliRc(['lab', 'kubectl', 'get', 'pod', 'no-such-pod'])).toBe(1);
    const url = `${lab.state.access!.url}/api/v1/pods`;
    const anon = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', url]);
    expect(anon.stdout).toBe('401');
    const wrong = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Authorization: Bearer nope', url]);
    expect(wrong.stdout).toBe('401');
    const ok = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${lab.token()}`, url]);
    expect(ok.stdout).toBe('200');
  });

  it('records every pod of concurrent `lab pod add` calls, and `lab pod del` removes each one', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `conc-${i + 1}`);
    const outs = await Promise.all(names.map((n, i) => cli(['lab', 'pod', 'add', `node-${(i % 2) + 1}`, n])));
    const added = outs.map((o) => JSON.parse(o.stdout) as { name: string; ip: string; netns: string });
    const status = JSON.parse((await cli(['lab', 'status', '-o', 'json'])).stdout) as { pods: Array<{ namespace: string; name: string; node: string; netns: string; ip: string }> };
    const listed = status.pods.filter((p) => names.includes(p.name));
    expect(listed.map((p) => p.name).sort()).toEqual([...names].sort());
    for (const p of listed) {
      expect(p.namespace).toBe('default');
      expect(p.node).toMatch(/^node-[12]$/);
      expect(p.ip).toBe(added.find((a) => a.name === p.name)!.ip);
      expect(existsSync(p.netns)).toBe(true);
    }
    expect(new Set(listed.map((p) => p.ip)).size).toBe(6);
    await Promise.all(names.map((n) => cli(['lab', 'pod', 'del', n])));
    const after = JSON.parse((await cli(['lab', 'status', '-o', 'json'])).stdout) as { pods: unknown[] };
    expect(after.pods).toEqual([]);
    for (const p of listed) expect(existsSync(p.netns)).toBe(false);
  }, 180_000);

  it('runs kubectl-applied Pods through the CNI chain: ports answer with the client\'s own IP, hostPort via portmap, DEL on delete', async () => {
    const manifest = join(tmp, 'pods.yaml');
    await writeFile(manifest, `
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node-1
  containers:
  - name: web
    image: lab/serve
    ports:
    - {name: http, containerPort: 8080, protocol: TCP, hostPort: 18080}
    - {name: dns, containerPort: 5353, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node-2
  containers: [{name: c, image: lab/serve}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  nodeName: node-2
  hostNetwork: true
  containers: [{name: h, image: lab/serve, ports: [{containerPort: 19090}]}]
`);
    await cli(['lab', 'kubectl', 'apply', '-f', manifest]);
    await cli(['lab', 'kubectl', 'wait', '--for=condition=Ready', 'pod/web', 'pod/client', 'pod/hostnet', '--timeout=90s']);
    await lab.refresh();
    const web = lab.pod('web');
    const client = lab.pod('client');
    const [n1, n2] = lab.state.nodes;
    const got = JSON.parse((await cli(['lab', 'kubectl', 'get', 'pod', 'web', '-o', 'json'])).stdout);
    expect(got.status).toMatchObject({ phase: 'Running', podIP: web.ip, hostIP: n1!.underlayIp, podIPs: [{ ip: web.ip }] });
    expect(got.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    expect(got.spec.containers[0].ports.map((p: { name: string }) => p.name)).toEqual(['http', 'dns']);
    expect(web.cniArgs).toBe(`IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=${web.containerId};K8S_POD_UID=${got.metadata.uid}`);

    const tcp = await ask(client.netnsPath, 'tcp', web.ip, 8080);
    expect(tcp).toMatchObject({ backend: 'default/web', clientIp: client.ip });
    const udp = await ask(client.netnsPath, 'udp', web.ip, 5353);
    expect(udp).toMatchObject({ backend: 'default/web', clientIp: client.ip });
    // hostPort: the chained portmap got the mapping from the Pod's spec
    const hp = await ask(n1!.netnsPath, 'tcp', n1!.underlayIp, 18080);
    expect(hp.backend).toBe('default/web');
    // a hostNetwork pod answers on its node's address
    const hn = lab.pod('hostnet');
    expect(hn.ip).toBe(n2!.underlayIp);
    expect(await ask(client.netnsPath, 'tcp', n2!.underlayIp, 19090)).toMatchObject({ backend: 'default/hostnet' });

    await cli(['lab', 'kubectl', 'delete', '-f', manifest, '--wait=true']);
    const deadline = Date.now() + 60_000;
    while ((await lab.refresh()).pods.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(lab.state.pods).toEqual([]);
    expect(existsSync(web.netnsPath)).toBe(false);
    const eps = openEndpoints(n1!.pinDir);
    try {
      expect(eps.get(web.ip)).toBeUndefined();
    } finally {
      eps.close();
    }
    expect((await ask(n1!.netnsPath, 'tcp', n1!.underlayIp, 18080)).error).toBeDefined();
  }, 180_000);

  it('lab down also removes namespaces, processes and pins the state file missed', async () => {
    const name = lab.state.name;
    const strayNs = `${netnsPrefix(name)}pstray`;
    await run('ip', ['netns', 'add', strayNs]);
    const strayPin = join('/sys/fs/bpf', `${pinPrefix(name)}stray`);
    await mkdir(strayPin);
    await lab.down();
    expect(existsSync(`/run/netns/${strayNs}`)).toBe(false);
    expect(existsSync(strayPin)).toBe(false);
    expect(existsSync(statePath)).toBe(false);
    expect(existsSync(lab.state.dir)).toBe(false);
  }, 60_000);
});

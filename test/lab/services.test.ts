// Kubernetes Services in the 2-node lab, end to end (issue 9), in both cross-node modes and both
// kube-proxy modes: Pods and Services applied with the real kubectl, EndpointSlices from the
// lab API server's controller, rules from the lab kube-proxy in every node, pods wired by the
// lab kubelets, and the podwire datapath handing replies of NATed flows back to the stack.
// Every answer names the backend that served it and the client address it saw.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlBin, podwireBin } from '../../src/assets/index.js';
import { Lab } from '../../src/lab/cluster.js';
import { ask, probe, type ProbeAnswer } from '../../src/lab/probe.js';
import type { LabPodState } from '../../src/lab/state.js';

const exec = promisify(execFile);

const servePorts = `
    ports:
    - {name: http, containerPort: 8080, protocol: TCP}
    - {name: dns, containerPort: 5353, protocol: UDP}`;
const pod = (name: string, node: string, app: string, extra = servePorts) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: ${app}}}
spec:
  nodeName: ${node}
  containers:
  - name: main
    image: podwire.io/lab-serve${extra}
---`;
const MANIFEST = [
  pod('web-1', 'node-1', 'web'),
  pod('web-2', 'node-2', 'web'),
  pod('one-1', 'node-1', 'one'),
  pod('client-1', 'node-1', 'client', ''),
  pod('client-2', 'node-2', 'client', ''),
  pod('hp-1', 'node-1', 'hp', `
    ports:
    - {name: http, containerPort: 8080, protocol: TCP, hostPort: 18080}`),
  `
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, protocol: TCP}
  - {name: dns, port: 53, targetPort: dns, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: one}
spec:
  selector: {app: one}
  ports:
  - {name: http, port: 80, targetPort: http, protocol: TCP}
  - {name: dns, port: 53, targetPort: dns, protocol: UDP}
`,
].join('\n');

interface Svc { clusterIP: string; nodePorts: Record<string, number> }

const show = (a: ProbeAnswer) => a.line ?? `error ${a.error}`;

// Known failure on the datapath merged here (3d1d4af), iptables mode only: node → ClusterIP and
// NodePort with a backend on the other node. The masqueraded SYN reaches the backend pod by the
// fast path (uplink → pod), its SYN-ACK goes through the backend node's stack, whose conntrack
// never saw the SYN: ctstate INVALID, dropped by kube-proxy's `KUBE-FORWARD --ctstate INVALID -j
// DROP` (deleting that rule makes them pass; the lab's nftables mode writes no such rule).
for (const mode of ['native', 'vxlan'] as const) {
  for (const proxyMode of ['iptables', 'nftables'] as const) {
    describe(`Services in the lab, ${mode} mode, kube-proxy ${proxyMode}`, () => {
      let lab: Lab;
      let tmp: string;
      let statePath: string;
      const svcs: Record<string, Svc> = {};
      const p = (name: string): LabPodState => lab.pod(name);
      const node = (i: number) => lab.state.nodes[i]!;
      const kubectl = async (...args: string[]) =>
        (await exec(podwireBin(), ['lab', 'kubectl', ...args], { env: { ...process.env, PODWIRE_LAB_STATE: statePath }, timeout: 120_000 })).stdout;

      beforeAll(async () => {
        if (!existsSync(kubectlBin())) throw new Error(`kubectl missing at ${kubectlBin()}: run deploy/host-prereqs.sh`);
        tmp = await mkdtemp(join(tmpdir(), `pwlab-svc-${mode}-${proxyMode}-`));
        statePath = join(tmp, 'lab.json');
        lab = await Lab.up({ nodes: 2, podsPerNode: 0, mode, proxyMode, statePath, dir: join(tmp, 'lab'), name: `s${mode[0]}${proxyMode[0]}${Math.random().toString(16).slice(2, 6)}` });
        await writeFile(join(tmp, 'app.yaml'), MANIFEST);
        await kubectl('apply', '-f', join(tmp, 'app.yaml'));
        await kubectl('wait', '--for=condition=Ready', 'pod', '--all', '--timeout=120s');
        await lab.refresh();
        for (const s of JSON.parse(await kubectl('get', 'services', '-o', 'json')).items as Array<{ metadata: { name: string }; spec: { clusterIP: string; ports: Array<{ name: string; nodePort?: number }> } }>) {
          svcs[s.metadata.name] = { clusterIP: s.spec.clusterIP, nodePorts: Object.fromEntries(s.spec.ports.map((x) => [x.name, x.nodePort ?? 0])) };
        }
        // kube-proxy programs the rules once the slices are there: wait for both Services to answer.
        const deadline = Date.now() + 90_000;
        for (const name of ['web', 'one']) {
          while (!(await ask(p('client-1').netnsPath, 'tcp', svcs[name]!.clusterIP, 80)).line) {
            if (Date.now() > deadline) throw new Error(`Service ${name} (${svcs[name]!.clusterIP}) never answered; kube-proxy log:\n${await exec('tail', ['-5', node(0).proxyLog!]).then((r) => r.stdout)}`);
            await sleep(250);
          }
        }
      }, 300_000);

      afterAll(async () => {
        await lab?.down();
        if (tmp) await rm(tmp, { recursive: true, force: true });
      }, 60_000);

      it('kubectl get endpointslices lists the ready Pods behind each Service, named ports resolved', async () => {
        const slices = JSON.parse(await kubectl('get', 'endpointslices', '-o', 'json')).items as Array<{ metadata: { labels: Record<string, string> }; endpoints: Array<{ addresses: string[]; nodeName?: string }>; ports: Array<{ name: string; port: number; protocol: string }> }>;
        const of = (svc: string) => slices.filter((s) => s.metadata.labels['kubernetes.io/service-name'] === svc);
        expect(of('web').flatMap((s) => s.endpoints.flatMap((e) => e.addresses)).sort()).toEqual([p('web-1').ip, p('web-2').ip].sort());
        expect(of('one').flatMap((s) => s.endpoints.flatMap((e) => e.addresses))).toEqual([p('one-1').ip]);
        expect(of('web')[0]!.ports.map((x) => `${x.name}/${x.protocol}/${x.port}`).sort()).toEqual(['dns/UDP/5353', 'http/TCP/8080']);
        const table = await kubectl('get', 'endpointslices');
        expect(table).toContain(p('one-1').ip);
      });

      it('pod → ClusterIP, backend on the same node and on the other node, TCP and UDP, backend sees the client pod\'s IP', async () => {
        const one = svcs['one']!.clusterIP;
        for (const client of ['client-1', 'client-2']) {
          for (const proto of ['tcp', 'udp'] as const) {
            const a = await ask(p(client).netnsPath, proto, one, proto === 'tcp' ? 80 : 53);
            expect({ client, proto, answer: show(a) }).toEqual({ client, proto, answer: `default/one-1 ${p(client).ip}:${a.line?.split(':').pop()}` });
          }
        }
      });

      it('every one of many connections to a Service with endpoints on both nodes succeeds, from both nodes', async () => {
        const web = svcs['web']!.clusterIP;
        for (const client of ['client-1', 'client-2']) {
          const answers = await probe(p(client).netnsPath, 'tcp', web, 80, { count: 40 });
          expect(answers.filter((a) => !a.line).map(show)).toEqual([]);
          expect(new Set(answers.map((a) => a.backend))).toEqual(new Set(['default/web-1', 'default/web-2']));
          expect(new Set(answers.map((a) => a.clientIp))).toEqual(new Set([p(client).ip]));
          const dns = await probe(p(client).netnsPath, 'udp', web, 53, { count: 10 });
          expect(dns.filter((a) => !a.line).map(show)).toEqual([]);
        }
      });

      it('pod → NodePort on its own node and on the other node; outside (underlay) → NodePort on both nodes', async () => {
        const port = svcs['web']!.nodePorts['http']!;
        expect(port).toBeGreaterThanOrEqual(30000);
        for (const from of [p('client-1').netnsPath, lab.state.underlay.netnsPath]) {
          for (const n of [node(0), node(1)]) {
            const a = await ask(from, 'tcp', n.underlayIp, port);
            expect({ to: n.name, answer: show(a) }).toEqual({ to: n.name, answer: expect.stringMatching(/^default\/web-[12] /) });
          }
        }
        const udp = await ask(p('client-2').netnsPath, 'udp', node(0).underlayIp, svcs['web']!.nodePorts['dns']!);
        expect(show(udp)).toMatch(/^default\/web-[12] /);
      });

      it('node → ClusterIP (the node\'s default route via the underlay)', async () => {
        for (const n of [node(0), node(1)]) {
          expect(show(await ask(n.netnsPath, 'tcp', svcs['web']!.clusterIP, 80))).toMatch(/^default\/web-[12] /);
          expect(show(await ask(n.netnsPath, 'tcp', svcs['one']!.clusterIP, 80))).toMatch(/^default\/one-1 /);
        }
      });

      it('hairpin: a pod reaches itself through its own Service', async () => {
        const answers = await probe(p('one-1').netnsPath, 'tcp', svcs['one']!.clusterIP, 80, { count: 3 });
        expect(answers.map(show)).toEqual(answers.map(() => expect.stringMatching(/^default\/one-1 /)));
        expect(show(await ask(p('one-1').netnsPath, 'udp', svcs['one']!.clusterIP, 53))).toMatch(/^default\/one-1 /);
      });

      it('hostPort through the chained portmap: from the node, from a pod on the same node, from a pod on the other node', async () => {
        const hostIp = node(0).underlayIp;
        for (const [from, ns] of [['node-1', node(0).netnsPath], ['client-1', p('client-1').netnsPath], ['client-2', p('client-2').netnsPath]] as const) {
          expect({ from, answer: show(await ask(ns, 'tcp', hostIp, 18080)) }).toEqual({ from, answer: expect.stringMatching(/^default\/hp-1 /) });
        }
      });
    });
  }
}

// NetworkPolicy in `podwire agent` on the real kernel: the agent exec'd in a node namespace
// against the lab API server, pods wired through the native CNI shim and the agent's socket
// (so the ADD hook runs), real TCP and ICMP between pod namespaces. Policies and labels change
// through the API while the agent runs (no restart); a malformed NetworkPolicy the API accepts
// leaves the agent running and enforcing; a pod selected by a deny policy is closed at birth.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cniShim, podwireBin, tcxHelper } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { ping, startTcpEcho, tcpProbe, type TcpEchoServer } from '../../src/lab/traffic.js';
import { attachedProgramId, pinnedProgramId } from '../../src/loader/index.js';
import { openConntrack } from '../../src/maps/conntrack.js';
import { openSvcAddrs } from '../../src/maps/svc-addrs.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { readPolicyModel } from '../../src/policy/index.js';
import { AgentCluster, readLog, waitFor, type AgentProc, type TestNode } from './harness.js';

const NS = 'pwpol';
const CONFLIST = '05-podwire.conflist';

let cluster: AgentCluster;
let node: TestNode;
let agent: AgentProc;
const pods = new Map<string, { netns: Netns; ip: string }>();
const servers: TcpEchoServer[] = [];

async function wirePod(name: string, labels: Record<string, string>, opts: { publishIp?: boolean } = {}): Promise<{ netns: Netns; ip: string }> {
  await cluster.api('POST', `/api/v1/namespaces/${NS}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels },
    spec: { nodeName: node.name, containers: [{ name: 'c', image: 'busybox', ports: [{ name: 'http', containerPort: 8080 }] }] },
  });
  const conf = JSON.parse(readFileSync(join(node.confDir, CONFLIST), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  const netns = await createNetns('pwpolp');
  // through the shim and the agent's socket, as a runtime does; a fallback would fail (points nowhere)
  const out = await execCni({
    plugin: cniShim(),
    command: 'ADD',
    containerId: `ctr-${name}-${netns.name}`,
    netns: netns.path,
    ifname: 'eth0',
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${NS};K8S_POD_NAME=${name}`,
    config: { ...conf.plugins[0], cniVersion: conf.cniVersion, name: conf.name, fallback: '/nonexistent/podwire' },
    nodeNetns: node.netns.path,
    env: { NODE_EXTRA_CA_CERTS: undefined },
  });
  expect(out.exitCode, out.stdout + out.stderr).toBe(0);
  const ip = (out.json!['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
  if (opts.publishIp !== false) {
    await cluster.api('PATCH', `/api/v1/namespaces/${NS}/pods/${name}/status`, { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } }, 'application/merge-patch+json');
  }
  const p = { netns, ip };
  pods.set(name, p);
  return p;
}

const pod = (name: string) => pods.get(name)!;
const tcp = async (from: string, to: string, port: number) => (await tcpProbe(pod(from).netns.path, pod(to).ip, port)).ok;
const icmp = async (from: string, to: string) => (await ping(pod(from).netns.path, pod(to).ip, { count: 1 })).ok;

/** Wait until every probe gives its expected answer (the agent applies asynchronously). */
async function expectReach(what: string, probes: Array<[string, string, number | 'icmp', boolean]>, timeoutMs = 15_000): Promise<void> {
  let last = '';
  await waitFor(
    `${what}: ${probes.map(([f, t, p, ok]) => `${f}→${t}:${p} ${ok ? 'open' : 'closed'}`).join(', ')}`,
    async () => {
      const got = await Promise.all(probes.map(([f, t, p]) => (p === 'icmp' ? icmp(f, t) : tcp(f, t, p))));
      last = got.map((g, i) => `${probes[i]![0]}→${probes[i]![1]}:${probes[i]![2]}=${g}`).join(' ');
      return got.every((g, i) => g === probes[i]![3]);
    },
    timeoutMs,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last: ${last}`);
  });
}

async function putPolicy(name: string, spec: Record<string, unknown>): Promise<void> {
  await cluster.api('POST', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: NS }, spec });
}
const deletePolicy = (name: string) => cluster.api('DELETE', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/${name}`);

async function metric(name: string): Promise<string[]> {
  const r = await run('curl', ['-s', '--max-time', '5', 'http://127.0.0.1:9879/metrics'], { netns: node.netns.path });
  return r.stdout.split('\n').filter((l) => l.startsWith(name));
}

/** ms from t0 (just before an API write) to the agent's first map-changing apply after it. */
async function applyLatencyMs(t0: number): Promise<number> {
  const l = await cluster.waitLog(agent, 'a policy apply after the write', (x) => x.msg === 'policy applied' && x['changed'] === true && Date.parse(String(x['ts'])) >= t0);
  return Date.parse(String(l['ts'])) - t0;
}

const latencies: number[] = [];

function alive(): void {
  expect(agent.child.exitCode, `agent exited:\n${readFileSync(agent.log, 'utf8').slice(-3000)}`).toBeNull();
  expect(agent.child.signalCode).toBeNull();
}

beforeAll(async () => {
  cluster = await AgentCluster.create('pwpol');
  node = await cluster.addNode('node-p');
  agent = cluster.startAgent(node);
  await cluster.createNodeObject('node-p', node.ip);
  await waitFor('the conflist', () => readLog(agent.log).some((l) => l.msg === 'conflist written'), 60_000);
  await cluster.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { team: 'a' } } });
  await wirePod('srv', { app: 'srv' });
  await wirePod('cli', { app: 'cli' });
  await wirePod('other', { app: 'other' });
  for (const port of [8080, 9090]) servers.push(await startTcpEcho(pod('srv').netns.path, pod('srv').ip, port));
}, 120_000);

afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  for (const p of pods.values()) await p.netns.remove().catch(() => undefined);
  await cluster?.cleanup();
}, 60_000);

describe('NetworkPolicy in the agent (real packets, policies and labels changed live)', () => {
  it('leaves the uplink egress without to_uplink and applies nothing isolating while there is no policy', async () => {
    const ns = { netns: node.netns.path };
    expect(await attachedProgramId('eth0', ns, 'egress')).toBeUndefined();
    await expectReach('no policy: everything open', [
      ['cli', 'srv', 8080, true],
      ['other', 'srv', 9090, true],
      ['cli', 'srv', 'icmp', true],
    ]);
    const model = readPolicyModel(join(node.stateDir, 'policy.json'));
    expect(model.endpoints.filter((e) => e.flags !== 0)).toEqual([]);
  });

  it('deny-all ingress closes the selected pod; an allow rule on a named port opens exactly that', async () => {
    const t0 = Date.now();
    await putPolicy('srv-deny', { podSelector: { matchLabels: { app: 'srv' } }, policyTypes: ['Ingress'] });
    await expectReach('deny-all ingress of srv', [
      ['cli', 'srv', 8080, false],
      ['other', 'srv', 9090, false],
      ['cli', 'srv', 'icmp', false],
      ['srv', 'cli', 'icmp', true], // egress of srv is not isolated; the reply is admitted
    ]);
    latencies.push(await applyLatencyMs(t0));
    const t1 = Date.now();
    await putPolicy('srv-allow-cli', {
      podSelector: { matchLabels: { app: 'srv' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'cli' } } }], ports: [{ port: 'http' }] }],
    });
    await expectReach('cli may reach srv on http (8080) only', [
      ['cli', 'srv', 8080, true],
      ['cli', 'srv', 9090, false],
      ['other', 'srv', 8080, false],
      ['cli', 'srv', 'icmp', false],
    ]);
    latencies.push(await applyLatencyMs(t1));
    // the admitted flow is tracked as a FLOW pair carrying the policy revision
    const ct = openConntrack(node.pinDir);
    try {
      const flows = ct.list().filter((e) => e.kind === 'flow' && (e.addr === pod('srv').ip || e.peer === pod('srv').ip));
      expect(flows.length).toBeGreaterThan(0);
      const model = readPolicyModel(join(node.stateDir, 'policy.json'));
      expect(flows.every((f) => f.revision > 0 && f.revision <= model.revision)).toBe(true);
      expect(flows.some((f) => f.reply)).toBe(true);
    } finally {
      ct.close();
    }
    // `podwire conntrack` lists them with peer, reply flag and revision (json and table)
    const cli = (args: string[]) => run('nsenter', [`--net=${node.netns.path}`, '--', podwireBin(), 'conntrack', '--pin-dir', node.pinDir, '--state-dir', node.stateDir, ...args]);
    const j = JSON.parse((await cli(['-o', 'json'])).stdout) as { conntrack: Array<{ kind: string; addr: string; port: number; peer?: string; reply?: boolean; revision?: number; pod: string | null }> };
    // srv:8080 -> cli: the replies of cli's connections (srv's own pings to cli are forward entries)
    const srvFlows = j.conntrack.filter((e) => e.kind === 'flow' && e.addr === pod('srv').ip && e.port === 8080 && e.peer === pod('cli').ip);
    expect(srvFlows.length).toBeGreaterThan(0);
    expect(srvFlows.every((e) => e.reply === true && typeof e.revision === 'number' && e.revision > 0)).toBe(true);
    const table = (await cli([])).stdout;
    expect(table).toMatch(/KIND\s+INITIATOR\s+PEER\s+PROTO.*REPLY\s+REVISION/);
    expect(table).toContain(`${pod('srv').ip}:8080`);
    const verdicts = await metric('podwire_policy_verdicts_total');
    expect(verdicts.find((l) => l.includes('direction="ingress"') && l.includes('action="denied"'))).toMatch(/ [1-9]\d*$/);
    expect(verdicts.find((l) => l.includes('direction="ingress"') && l.includes('action="allowed"'))).toMatch(/ [1-9]\d*$/);
    expect(await metric('podwire_policy_revision')).toEqual([expect.stringMatching(/^podwire_policy_revision [1-9]\d*$/)]);
  });

  it('follows label changes of peers without a restart', async () => {
    const t0 = Date.now();
    await cluster.api('PATCH', `/api/v1/namespaces/${NS}/pods/other`, { metadata: { labels: { app: 'cli' } } }, 'application/merge-patch+json');
    await expectReach('other relabelled app=cli is admitted', [['other', 'srv', 8080, true]]);
    latencies.push(await applyLatencyMs(t0));
    await cluster.api('PATCH', `/api/v1/namespaces/${NS}/pods/other`, { metadata: { labels: { app: 'other' } } }, 'application/merge-patch+json');
    await expectReach('other relabelled back is denied again (its established flow is re-judged)', [['other', 'srv', 8080, false], ['cli', 'srv', 8080, true]]);
  });

  it('egress policy: cli may only reach srv:8080 (ICMP has no port: denied)', async () => {
    await putPolicy('cli-egress', {
      podSelector: { matchLabels: { app: 'cli' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'srv' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
    });
    await expectReach('cli egress restricted', [
      ['cli', 'srv', 8080, true],
      ['cli', 'other', 'icmp', false],
      ['other', 'cli', 'icmp', true], // cli's ingress is not isolated, and the reply of an admitted flow passes
    ]);
    expect(await metric('podwire_policy_isolated_endpoints')).toEqual(
      expect.arrayContaining([expect.stringMatching(/direction="egress"\} 1$/), expect.stringMatching(/direction="ingress"\} 1$/)]),
    );
    // cli is isolated for egress: to_uplink judges what the stack routes toward other nodes, and
    // was attached before the apply that marked cli (the log line precedes the apply's)
    expect(await attachedProgramId('eth0', { netns: node.netns.path }, 'egress')).toBe(await pinnedProgramId(node.pinDir, 'to_uplink'));
    const lines = readLog(agent.log);
    const attached = lines.findIndex((l) => l.msg === 'to_uplink attached');
    expect(attached).toBeGreaterThanOrEqual(0);
    const marked = lines.findIndex((l, i) => i > attached && l.msg === 'policy applied' && l['changed'] === true);
    expect(marked).toBeGreaterThan(attached);
    expect(lines.slice(0, attached).some((l) => l.msg === 'policy applied' && typeof l['egressIsolated'] === 'number' && l['egressIsolated'] > 0)).toBe(false);
  });

  it('a malformed NetworkPolicy the API accepts does not crash the agent: logged, counted as a warning, the rest still enforced', async () => {
    await putPolicy('broken', { podSelector: { matchExpressions: [{ key: 'app', operator: 'Sideways', values: ['x'] }] }, ingress: 5 });
    await cluster.waitLog(agent, 'a warning about the broken policy', (l) => l.msg === 'NetworkPolicy not enforceable as written' && l['policy'] === `${NS}/broken`);
    alive();
    // and a Warning Event on the policy, for `kubectl describe networkpolicy broken`
    const events = await waitFor('a Warning Event on the broken policy', async () => {
      const l = await cluster.api<{ items: Array<{ type: string; reason: string; involvedObject: { kind: string; name: string } }> }>(
        'GET',
        `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name%3Dbroken`,
      );
      return l.items.length > 0 && l.items;
    });
    expect(events[0]).toMatchObject({ type: 'Warning', involvedObject: { kind: 'NetworkPolicy', name: 'broken' } });
    await waitFor('the warnings gauge', async () => (await metric('podwire_policy_warnings{')).some((l) => / [1-9]\d*$/.test(l)));
    await expectReach('still enforcing', [['other', 'srv', 8080, false], ['cli', 'srv', 8080, true]]);
    await deletePolicy('broken');
    alive();
  });

  it('Service addresses go into svc_addrs (egress to them is judged after DNAT)', async () => {
    const svc = await cluster.api<{ spec: { clusterIP: string } }>('POST', `/api/v1/namespaces/${NS}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: NS },
      spec: { selector: { app: 'srv' }, ports: [{ port: 80, targetPort: 8080 }], externalIPs: ['192.0.2.10'] },
    });
    const addrs = () => {
      const m = openSvcAddrs(node.pinDir);
      try {
        return m.list();
      } finally {
        m.close();
      }
    };
    await waitFor('svc_addrs has the ClusterIP and the external IP', () => addrs().includes(svc.spec.clusterIP) && addrs().includes('192.0.2.10'));
    await cluster.api('DELETE', `/api/v1/namespaces/${NS}/services/web`);
    await waitFor('svc_addrs forgets them', () => !addrs().includes(svc.spec.clusterIP) && !addrs().includes('192.0.2.10'));
  });

  it('a pod selected by a deny policy is closed at birth: the ADD applies its policy before answering', async () => {
    await putPolicy('late-deny', { podSelector: { matchLabels: { app: 'late' } }, policyTypes: ['Ingress'] });
    // the API never learns this pod's IP: only the ADD hook can have isolated it
    const late = await wirePod('late', { app: 'late' }, { publishIp: false });
    const applied = await cluster.waitLog(agent, 'the apply of the ADD', (l) => l.msg === 'policy applied' && String(l['trigger']).includes(`add ${NS}/late`));
    expect(applied['changed']).toBe(true);
    servers.push(await startTcpEcho(late.netns.path, late.ip, 8080));
    expect(await tcp('other', 'late', 8080)).toBe(false);
    expect(await icmp('other', 'late')).toBe(false);

    // a burst of ADDs: every pod is isolated before its ADD answers (the model written by the
    // apply that served the ADD already has it), the applies coalesce
    const burst = await Promise.all(['b0', 'b1', 'b2', 'b3'].map((n) => wirePod(n, { app: 'late' }, { publishIp: false })));
    const model = readPolicyModel(join(node.stateDir, 'policy.json'));
    for (const b of burst) expect(model.endpoints.find((e) => e.ip === b.ip)?.ingress, b.ip).toBeGreaterThan(0);
    const pings = await Promise.all(burst.map((b) => ping(pod('other').netns.path, b.ip, { count: 1 })));
    expect(pings.map((p) => p.ok)).toEqual([false, false, false, false]);
    const burstRuns = readLog(agent.log).filter((l) => l.msg === 'policy applied' && /add pwpol\/b\d/.test(String(l['trigger'])));
    console.log(`[policy] 4 concurrent ADDs served by ${burstRuns.length} apply run(s): ${burstRuns.map((l) => `${l['trigger']} ${l['totalMs']} ms`).join('; ')}`);
    await deletePolicy('late-deny');
    await expectReach('open once the policy is gone', [['other', 'late', 8080, true]]);
  });

  it('an agent SIGKILLed and restarted writes nothing (same revision) and enforcement never lapses', async () => {
    await expectReach('before the restart', [['other', 'srv', 8080, false], ['cli', 'srv', 8080, true]]);
    const before = readPolicyModel(join(node.stateDir, 'policy.json'));
    agent.child.kill('SIGKILL'); // by PID: the agent this test started
    await agent.exited;
    // lose the to_uplink link too: the new agent re-derives it from the pinned maps (cli is still
    // isolated for egress) at node setup, before its policy caches have synced
    const egressPin = join(node.pinDir, 'links-egress', 'eth0');
    await run(tcxHelper(), ['detach', '--pin', egressPin]);
    expect(await attachedProgramId('eth0', { netns: node.netns.path }, 'egress')).toBeUndefined();
    // the maps stay with the pins: still enforced with no agent at all
    expect(await tcp('other', 'srv', 8080)).toBe(false);
    expect(await tcp('cli', 'srv', 8080)).toBe(true);
    agent = cluster.startAgent(node);
    await cluster.waitLog(agent, 'node set up', (l) => l.msg === 'node set up', 60_000);
    expect(await attachedProgramId('eth0', { netns: node.netns.path }, 'egress')).toBe(await pinnedProgramId(node.pinDir, 'to_uplink'));
    const first = await cluster.waitLog(agent, 'the first apply of the new agent', (l) => l.msg === 'policy caches synced; first apply', 60_000);
    expect(first['changed']).toBe(false);
    expect(first['revision']).toBe(before.revision);
    expect(await tcp('other', 'srv', 8080)).toBe(false);
    expect(await tcp('cli', 'srv', 8080)).toBe(true);
  }, 90_000);

  it('deleting every policy opens everything again; the agent logged its timings', async () => {
    for (const p of ['srv-deny', 'srv-allow-cli', 'cli-egress']) await deletePolicy(p);
    await expectReach('all open', [
      ['other', 'srv', 9090, true],
      ['cli', 'other', 'icmp', true],
      ['cli', 'srv', 'icmp', true],
    ]);
    // the last egress isolation is gone: to_uplink is detached after the apply that cleared it
    await waitFor('to_uplink detached', async () => (await attachedProgramId('eth0', { netns: node.netns.path }, 'egress')) === undefined);
    await cluster.waitLog(agent, 'the detach logged', (l) => l.msg === 'to_uplink detached');
    const runs = cluster.procs.flatMap((p) => readLog(p.log)).filter((l) => l.msg === 'policy applied');
    const total = runs.map((l) => l['totalMs'] as number).sort((a, b) => a - b);
    const load = (await run('cat', ['/proc/loadavg'])).stdout.trim();
    console.log(`[policy] API write -> maps changed: ${latencies.join(', ')} ms (load ${load})`);
    console.log(`[policy] ${runs.length} applies logged; compile+apply median ${total[Math.floor(total.length / 2)]} ms, max ${total.at(-1)} ms`);
    alive();
  });
});

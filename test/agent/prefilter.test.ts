// The agent's side of the XDP prefilter against the lab API server: with --prefilter auto it writes
// the failsafe list (the API server's addr:port from the kubeconfig, its health port, the
// configured extras) and attaches xdp_prefilter to the uplink in native mode (a veth has native
// XDP); with the API server's own address listed in the deny list, a restarted agent still lists
// and watches and gets ready (the failsafe at work on real traffic); without --prefilter it
// detaches what an earlier run attached, and the deny list stays.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/exec/run.js';
import { xdpStatus } from '../../src/loader/index.js';
import { formatFailsafe, openCounters, openFailsafe, openPrefilter } from '../../src/maps/index.js';
import { AgentCluster, API_PORT, waitFor, type AgentProc, type TestNode } from './harness.js';

let cluster: AgentCluster;
let node: TestNode;

beforeAll(async () => {
  cluster = await AgentCluster.create('pwpfa');
  node = await cluster.addNode('node-pf');
  await cluster.createNodeObject('node-pf', node.ip);
}, 60_000);

afterAll(async () => {
  await cluster?.cleanup();
}, 60_000);

async function stop(p: AgentProc): Promise<void> {
  p.child.kill('SIGTERM'); // by PID: the agent we spawned
  // bounded: an agent that does not stop is a failure with its log, not a silent test timeout
  const stopped = await Promise.race([p.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
  if (!stopped) {
    p.child.kill('SIGKILL');
    await p.exited;
    throw new Error(`agent ${p.pid} did not exit within 20 s of SIGTERM:\n${readFileSync(p.log, 'utf8').slice(-3000)}`);
  }
}

function failsafePasses(): bigint {
  const c = openCounters(node.pinDir);
  try {
    return c.read().find((r) => r.reason === 'PASS_PREFILTER_FAILSAFE')?.packets ?? 0n;
  } finally {
    c.close();
  }
}

describe('podwire agent --prefilter', () => {
  it('attaches the prefilter with the API server and health port as failsafe; ready with the API server listed', async () => {
    const api = cluster.underlay.controlIp;
    const extra = ['--prefilter', 'auto', '--prefilter-failsafe', '198.51.100.9'];
    let agent = cluster.startAgent(node, { extra });
    const line = await cluster.waitLog(agent, 'XDP prefilter attached', (l) => l.msg === 'XDP prefilter attached');
    expect(line).toMatchObject({ uplink: 'eth0', requested: 'auto', mode: 'native' });
    const x = await xdpStatus('eth0', { netns: node.netns.path });
    expect(x).toMatchObject({ attached: true, ours: true, mode: 'native', progName: 'xdp_prefilter' });
    const fs = openFailsafe(node.pinDir);
    expect(fs.list().map(formatFailsafe).sort()).toEqual([':9879/tcp', '198.51.100.9', `${api}:${API_PORT}/tcp`].sort());
    fs.close();
    await waitFor('ready', async () => (await cluster.readyz(node)) === 200, 60_000);
    // /readyz tells a human where the prefilter runs and in which XDP mode
    const body = JSON.parse((await run('curl', ['-s', '--max-time', '5', 'http://127.0.0.1:9879/readyz'], { netns: node.netns.path })).stdout) as { info?: { prefilter?: unknown } };
    expect(body.info?.prefilter).toMatchObject({ uplink: 'eth0', mode: 'native' });
    await stop(agent);

    // the API server's own address is denied: only the failsafe lets its answers through
    const m = openPrefilter(node.pinDir);
    m.add(`${api}/32`);
    m.close();
    const before = failsafePasses();
    agent = cluster.startAgent(node, { extra });
    await cluster.waitLog(agent, 'XDP prefilter attached', (l) => l.msg === 'XDP prefilter attached');
    await cluster.waitLog(agent, 'a reconcile with the Node list', (l) => l.msg === 'reconciled' && typeof l['routes'] === 'number');
    await waitFor('ready', async () => (await cluster.readyz(node)) === 200, 60_000);
    expect(failsafePasses()).toBeGreaterThan(before);
    await stop(agent);

    // prefilter off: the agent detaches it; the deny list is the operator's and stays
    agent = cluster.startAgent(node);
    await cluster.waitLog(agent, 'prefilter detached', (l) => l.msg === 'XDP prefilter detached (--prefilter off)');
    expect((await xdpStatus('eth0', { netns: node.netns.path })).attached).toBe(false);
    const m2 = openPrefilter(node.pinDir);
    expect(m2.list()).toEqual([`${api}/32`]);
    m2.close();
    await stop(agent);
  }, 180_000);
});

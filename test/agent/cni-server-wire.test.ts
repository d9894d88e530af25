// The agent's in-process CNI path: ADD/DEL through the CNI socket do their kernel steps in the
// one long-lived pw-wire helper (no exec per step). Proved on the real kernel: the pod wired by
// the helper passes the exec'd plugin's CHECK and carries real packets; a failure after each ADD
// step (faultPoint) rolls back completely; the helper dying or hanging mid-request fails that
// ADD with a CNI error, leaves nothing behind, and the next ADD works with a new helper.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_STEPS } from '../../src/cni/fault.js';
import { openBandwidth, shapePlan } from '../../src/maps/bandwidth.js';
import { enums } from '../../src/maps/generated/layouts.js';
import { ping } from '../../src/lab/traffic.js';
import { containerId, createHarness, podView, type Harness } from '../cni/harness.js';
import { request, startServerProc, type Reply, type ServerProc } from './cni-server-proc.js';

let h: Harness;
let dir: string;
let server: ServerProc;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pwcw-'));
  h = await createHarness({ podCIDR: '10.202.0.0/24' });
  server = await startServerProc(h.node.path, join(dir, 'cni.sock'));
});

afterAll(async () => {
  await server?.stop();
  await h?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const ARGS = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=wire;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u';

function env(command: string, id: string, netns: string): Record<string, string> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_ARGS: ARGS, CNI_PATH: '/usr/lib/cni' };
}

/** pw-wire processes descending from `pid` (the server process). */
function wireHelpers(pid: number): number[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      comm.set(Number(d), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(d), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const descends = (p: number): boolean => {
    for (let q = parent.get(p), i = 0; q !== undefined && q > 1 && i < 64; q = parent.get(q), i++) if (q === pid) return true;
    return false;
  };
  return [...comm].filter(([p, c]) => c === 'pw-wire' && descends(p)).map(([p]) => p);
}

function expectCniError(r: Reply, code: number, msg: RegExp): void {
  expect(r.exitCode, r.stdout + r.stderr).not.toBe(0);
  const j = JSON.parse(r.stdout) as { code: number; msg: string };
  expect(j.code).toBe(code);
  expect(j.msg).toMatch(msg);
}

const linkPins = () => ['links', 'links-egress'].flatMap((d) => (existsSync(join(h.pinDir, d)) ? readdirSync(join(h.pinDir, d)) : []));

/** Nothing of any attachment is left: records, veths, routes, endpoints, both hooks' link pins. */
async function expectNoResidue(): Promise<void> {
  expect(h.records()).toEqual([]);
  expect(await h.hostVeths()).toEqual([]);
  expect((await h.nodeRoutes()).map((r) => r.dst)).toEqual([]);
  expect(h.endpoints()).toEqual([]);
  expect(linkPins()).toEqual([]);
}

async function addDel(s: ServerProc): Promise<void> {
  const pod = await h.pod();
  const id = containerId();
  const conf = JSON.stringify(h.conf());
  const add = await request(s.socket, env('ADD', id, pod.path), conf);
  expect(add.exitCode, add.stdout).toBe(0);
  expect((await podView(pod)).addrs).toHaveLength(1);
  const del = await request(s.socket, env('DEL', id, pod.path), conf);
  expect(del.exitCode, del.stdout).toBe(0);
  await expectNoResidue();
}

describe('in-process ADD/DEL (pw-wire helper)', () => {
  it('wires a pod the exec path accepts: CHECK passes, IPv6 off, packets flow pod to pod; DEL removes all', async () => {
    const [a, b] = [await h.pod(), await h.pod()];
    const [ida, idb] = [containerId(), containerId()];
    const conf = h.conf();
    const ra = await request(server.socket, env('ADD', ida, a.path), JSON.stringify(conf));
    const rb = await request(server.socket, env('ADD', idb, b.path), JSON.stringify(conf));
    expect(ra.exitCode, ra.stdout).toBe(0);
    expect(rb.exitCode, rb.stdout).toBe(0);
    // the helper served them: one pw-wire process under the server
    expect(wireHelpers(server.child.pid!)).toHaveLength(1);
    const ipOf = (r: Reply) => (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    const [ipa, ipb] = [ipOf(ra), ipOf(rb)];
    expect(await podView(a)).toEqual({ addrs: [`${ipa}/32`], defaultVia: '169.254.1.1' });
    expect((await a.exec('cat', ['/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).stdout.trim()).toBe('1');
    expect(h.endpoints().map((e) => e.ip).sort()).toEqual([ipa, ipb].sort());
    expect(linkPins().sort()).toEqual([...(await h.hostVeths()), ...(await h.hostVeths())].sort());
    // the exec'd plugin's CHECK reads everything back (MACs, neighbour, tcx programs, endpoint)
    const check = await h.cni('CHECK', { containerId: ida, netns: a.path, config: { ...conf, prevResult: JSON.parse(ra.stdout) } });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect((await ping(a.path, ipb, { count: 2, intervalS: 0.2 })).received).toBe(2);
    for (const [id, p] of [[ida, a], [idb, b]] as const) {
      const del = await request(server.socket, env('DEL', id, p.path), JSON.stringify(conf));
      expect(del).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    }
    await expectNoResidue();
    // DEL again (the runtime may repeat it): idempotent
    const again = await request(server.socket, env('DEL', ida, a.path), JSON.stringify(conf));
    expect(again.exitCode).toBe(0);
  });

  it('bandwidth limits: the bw entry and endpoint flags written through the helper (shapers exec tc), DEL removes them', async () => {
    const pod = await h.pod();
    const id = containerId();
    const conf = JSON.stringify(h.conf({ runtimeConfig: { bandwidth: { egressRate: 10_000_000, egressBurst: 4294967295 } } }));
    const r = await request(server.socket, env('ADD', id, pod.path), conf);
    expect(r.exitCode, r.stdout).toBe(0);
    const ip = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    const m = openBandwidth(h.pinDir);
    try {
      expect(m.get(ip)).toEqual({ ip, egress: { rateBps: 10_000_000, burstBits: shapePlan(10_000_000, 4294967295, 1500).policerBurstBits } });
    } finally {
      m.close();
    }
    expect(h.endpoints().find((e) => e.ip === ip)?.flags).toBe(enums.pw_ep_flag.values.EGRESS);
    expect((await pod.exec('tc', ['qdisc', 'show', 'dev', 'eth0'])).stdout).toMatch(/htb 1: root/);
    const del = await request(server.socket, env('DEL', id, pod.path), conf);
    expect(del.exitCode, del.stdout).toBe(0);
    const m2 = openBandwidth(h.pinDir);
    try {
      expect(m2.list()).toEqual([]);
    } finally {
      m2.close();
    }
    await expectNoResidue();
  });

  it('runtime strings travel as bytes: an interface name the kernel refuses is a CNI error, nothing created', async () => {
    const pod = await h.pod();
    for (const ifname of ['a b', 'x/y', '..']) {
      const r = await request(server.socket, { ...env('ADD', containerId(), pod.path), CNI_IFNAME: ifname }, JSON.stringify(h.conf()));
      expect(r.exitCode, `${ifname}: ${r.stdout}`).not.toBe(0);
    }
    await expectNoResidue();
  });

  it.each(FAULT_STEPS.map((s) => [s]))('a failure injected after step "%s" rolls back completely', async (step) => {
    const s = await startServerProc(h.node.path, join(dir, `fault-${step}.sock`), { PODWIRE_CNI_FAULT: step });
    try {
      const pod = await h.pod();
      const r = await request(s.socket, env('ADD', containerId(), pod.path), JSON.stringify(h.conf()));
      expectCniError(r, 5, new RegExp(`injected fault after ADD step "${step}"`));
      expect(wireHelpers(s.child.pid!)).toHaveLength(1);
      await expectNoResidue();
      expect((await pod.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    } finally {
      await s.stop();
    }
  });

  it.each([
    ['crash', 'veth'],
    ['crash', 'route'],
    ['crash', 'pod'],
    ['crash', 'attach'],
    ['crash', 'map-update'],
  ])('the helper %s after its "%s" work: a CNI error, full rollback, and the next ADD works with a new helper', async (kind, op) => {
    const marker = join(dir, `${kind}-${op}.armed`);
    const s = await startServerProc(h.node.path, join(dir, `${kind}-${op}.sock`), { PODWIRE_WIRE_FAULT: `${kind}:${op}:${marker}` });
    try {
      await addDel(s); // a helper is running
      const [first] = wireHelpers(s.child.pid!);
      expect(first).toBeDefined();
      writeFileSync(marker, '');
      const pod = await h.pod();
      const r = await request(s.socket, env('ADD', containerId(), pod.path), JSON.stringify(h.conf()));
      expectCniError(r, 5, /pw-wire helper killed by SIGKILL/);
      expect(existsSync(marker), 'the fault fired').toBe(false);
      await expectNoResidue();
      await addDel(s);
      const now = wireHelpers(s.child.pid!);
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(first);
    } finally {
      await s.stop();
    }
  });

  it('a helper killed from outside between requests is restarted for the next ADD', async () => {
    await addDel(server);
    const [pid] = wireHelpers(server.child.pid!);
    process.kill(pid!, 'SIGKILL');
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'); i++) await new Promise((r) => setTimeout(r, 20));
    await addDel(server);
    expect(wireHelpers(server.child.pid!)).not.toContain(pid);
  });

  it('a helper stuck in a request dies with its agent (no orphan left behind)', async () => {
    const marker = join(dir, 'orphan.armed');
    const s = await startServerProc(h.node.path, join(dir, 'orphan.sock'), { PODWIRE_WIRE_FAULT: `hang:pod:${marker}` });
    try {
      writeFileSync(marker, '');
      const pod = await h.pod();
      const id = containerId();
      const add = request(s.socket, env('ADD', id, pod.path), JSON.stringify(h.conf())).catch(() => undefined);
      for (let i = 0; i < 500 && existsSync(marker); i++) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(marker), 'the helper reached the hang').toBe(false);
      const [helper] = wireHelpers(s.child.pid!);
      expect(helper).toBeDefined();
      process.kill(s.child.pid!, 'SIGKILL');
      await add;
      const gone = () => !existsSync(`/proc/${helper}`) || /\) Z /.test(readFileSync(`/proc/${helper}/stat`, 'utf8'));
      for (let i = 0; i < 100 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(gone(), `pw-wire ${helper} outlived its agent`).toBe(true);
      // the killed agent left a half-wired pod: the runtime's DEL (here the exec'd plugin) cleans up
      const del = await h.cni('DEL', { containerId: id, netns: pod.path });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      await expectNoResidue();
    } finally {
      await s.stop();
    }
  });

  it('a hung helper: the ADD fails within the request deadline (never hangs), rolls back, and the next ADD works', async () => {
    const marker = join(dir, 'hang.armed');
    const s = await startServerProc(h.node.path, join(dir, 'hang.sock'), { PODWIRE_WIRE_FAULT: `hang:attach:${marker}` });
    try {
      writeFileSync(marker, '');
      const pod = await h.pod();
      const r = await request(s.socket, env('ADD', containerId(), pod.path), JSON.stringify(h.conf()));
      expectCniError(r, 5, /did not answer within 10000 ms/);
      await expectNoResidue();
      await addDel(s);
    } finally {
      await s.stop();
    }
  }, 60_000);
});

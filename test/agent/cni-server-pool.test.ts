// The warm veth pool (src/cni/pool.ts) on the real kernel, through the agent's CNI socket: ADD
// takes a pre-attached pair (same ifindex as the pool pair, no new tcx link), pods ping each
// other; DEL recycles the pair (back in the node netns under a pool name, its links still
// attached) and the next ADD that gets it has a fresh MAC and nothing of the old pod; an empty
// pool falls back to the direct path; a restarted agent adopts complete pairs and deletes broken
// ones; a failure or helper crash at each pool step rolls back without leaking a device or pin.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POOL_FAULT_STEPS } from '../../src/cni/fault.js';
import { ping } from '../../src/lab/traffic.js';
import { containerId, createHarness, podView, type Harness } from '../cni/harness.js';
import { request, startServerProc, type Reply, type ServerProc } from './cni-server-proc.js';

let h: Harness;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pwcpool-'));
  h = await createHarness({ podCIDR: '10.203.0.0/24' });
});

afterAll(async () => {
  await h?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const ARGS = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pool;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u';
const env = (command: string, id: string, netns: string): Record<string, string> => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: netns,
  CNI_IFNAME: 'eth0',
  CNI_ARGS: ARGS,
  CNI_PATH: '/usr/lib/cni',
});

let n = 0;
function startPool(size: number, extra: Record<string, string> = {}, idleMs = 20): Promise<ServerProc> {
  return startServerProc(h.node.path, join(dir, `s${n++}.sock`), {
    PODWIRE_TEST_VETH_POOL: JSON.stringify({ size, pinDir: h.pinDir, mtu: 1500, idleMs }),
    ...extra,
  });
}

interface Link {
  ifindex: number;
  ifname: string;
  address: string;
  flags: string[];
}
async function nodeLinks(): Promise<Link[]> {
  return JSON.parse((await h.node.exec('ip', ['-j', 'link', 'show'])).stdout) as Link[];
}
const pinsIn = (d: string) => (existsSync(join(h.pinDir, d)) ? readdirSync(join(h.pinDir, d)).sort() : []);

/** Pool pairs in the node netns: host end, its peer present, both down, both link pins there. */
async function poolPairs(): Promise<Link[]> {
  const links = await nodeLinks();
  const names = new Set(links.map((l) => l.ifname));
  const [ing, egr] = [new Set(pinsIn('links')), new Set(pinsIn('links-egress'))];
  return links.filter((l) => /^pwph[0-9a-f]{8}$/.test(l.ifname) && names.has(`pwpp${l.ifname.slice(4)}`) && ing.has(l.ifname) && egr.has(l.ifname));
}

/** Until the pool holds `size` complete pairs and nothing pool-named is half made or half deleted. */
async function waitPool(size: number): Promise<Link[]> {
  for (let i = 0; i < 300; i++) {
    const p = await poolPairs();
    const names = p.map((l) => l.ifname);
    const named = (await nodeLinks()).filter((l) => /^pwp[hp]/.test(l.ifname)).length;
    const settled = named === 2 * p.length && [...pinsIn('links'), ...pinsIn('links-egress')].filter((x) => x.startsWith('pwph')).every((x) => names.includes(x));
    if (p.length === size && settled) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the pool did not reach ${size} pairs: ${(await poolPairs()).map((l) => l.ifname).join(',')}`);
}

/** No attachment left; every pool-named link and pin belongs to a complete pool pair. */
async function expectOnlyPool(): Promise<void> {
  expect(h.records()).toEqual([]);
  expect(await h.hostVeths()).toEqual([]);
  expect((await h.nodeRoutes()).map((r) => r.dst)).toEqual([]);
  expect(h.endpoints()).toEqual([]);
  const pool = (await poolPairs()).map((l) => l.ifname).sort();
  expect(pinsIn('links')).toEqual(pool);
  expect(pinsIn('links-egress')).toEqual(pool);
  const named = (await nodeLinks()).map((l) => l.ifname).filter((x) => /^pwp[hp]/.test(x));
  expect(named.sort()).toEqual([...pool, ...pool.map((p) => `pwpp${p.slice(4)}`)].sort());
}

const ipOf = (r: Reply) => (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
const macOf = (r: Reply) => (JSON.parse(r.stdout) as { interfaces: { mac: string }[] }).interfaces[1]!.mac;

describe('warm veth pool', () => {
  it('ADD takes pre-attached pairs, pods ping; DEL recycles; the reused pair carries nothing of the old pod', async () => {
    // refill after 300 ms without a request: the requests below follow each other faster
    const s = await startPool(2, {}, 300);
    try {
      const pool0 = await waitPool(2);
      const [a, b] = [await h.pod(), await h.pod()];
      const [ida, idb] = [containerId(), containerId()];
      const conf = JSON.stringify(h.conf());
      const ra = await request(s.socket, env('ADD', ida, a.path), conf);
      const rb = await request(s.socket, env('ADD', idb, b.path), conf);
      expect(ra.exitCode, ra.stdout).toBe(0);
      expect(rb.exitCode, rb.stdout).toBe(0);
      const hosts = await h.hostVeths();
      const byName = new Map((await nodeLinks()).map((l) => [l.ifname, l]));
      // the pool's devices, renamed: same ifindexes
      expect(hosts.map((x) => byName.get(x)!.ifindex).sort()).toEqual(pool0.map((l) => l.ifindex).sort());
      expect(h.endpoints().map((e) => e.ifindex).sort()).toEqual(pool0.map((l) => l.ifindex).sort());
      expect(h.linkPins().filter((p) => /^pw[0-9a-f]{11}$/.test(p)).sort()).toEqual(hosts.sort());
      const [ipa, ipb] = [ipOf(ra), ipOf(rb)];
      expect(await podView(a)).toEqual({ addrs: [`${ipa}/32`], defaultVia: '169.254.1.1' });
      expect((await a.exec('cat', ['/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).stdout.trim()).toBe('1');
      expect((await a.exec('ip', ['-j', 'link', 'show', 'eth0'])).stdout).toContain(macOf(ra));
      // the exec'd plugin's CHECK reads it all back: MACs, neighbour, both tcx programs, endpoint
      const check = await h.cni('CHECK', { containerId: ida, netns: a.path, config: { ...h.conf(), prevResult: JSON.parse(ra.stdout) } });
      expect(check.exitCode, check.stdout + check.stderr).toBe(0);
      expect((await ping(a.path, ipb, { count: 2, intervalS: 0.2 })).received).toBe(2);

      // the pool refills while idle
      await waitPool(2);
      // c takes a pair, so a's DEL (before any refill) finds room: a's pair is recycled
      const aIndex = byName.get(hosts.find((x) => h.endpoints().find((e) => e.ip === ipa)?.ifindex === byName.get(x)!.ifindex)!)!.ifindex;
      const c = await h.pod();
      const idc = containerId();
      const rc = await request(s.socket, env('ADD', idc, c.path), conf);
      expect(rc.exitCode, rc.stdout).toBe(0);
      const da = await request(s.socket, env('DEL', ida, a.path), conf);
      expect(da).toEqual({ exitCode: 0, stdout: '', stderr: '' });
      // a's pair is back in the pool (pool had room for one): same ifindex, pool names, both pins
      const back = (await poolPairs()).find((l) => l.ifindex === aIndex);
      expect(back, 'the DELeted pair is back in the pool').toBeDefined();
      expect(back!.flags).not.toContain('UP');
      expect((await a.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
      expect(h.endpoints().map((e) => e.ip).sort()).toEqual([ipb, ipOf(rc)].sort());
      const peer = (await nodeLinks()).find((l) => l.ifname === `pwpp${back!.ifname.slice(4)}`)!;
      const peerAddrs = JSON.parse((await h.node.exec('ip', ['-j', 'addr', 'show', 'dev', peer.ifname])).stdout) as Array<{ addr_info: unknown[] }>;
      expect(peerAddrs[0]!.addr_info).toEqual([]);
      // ADD until a new pod gets that pair: fresh MAC, only its own address/routes/neighbour
      const more: Array<{ id: string; pod: Awaited<ReturnType<Harness['pod']>>; r: Reply }> = [];
      let reused: { pod: Awaited<ReturnType<Harness['pod']>>; r: Reply } | undefined;
      for (let i = 0; i < 3 && !reused; i++) {
        const p = await h.pod();
        const id = containerId();
        const r = await request(s.socket, env('ADD', id, p.path), conf);
        expect(r.exitCode, r.stdout).toBe(0);
        more.push({ id, pod: p, r });
        const ep = h.endpoints().find((e) => e.ip === ipOf(r))!;
        if (ep.ifindex === aIndex) reused = { pod: p, r };
      }
      expect(reused, 'a later ADD got the recycled pair').toBeDefined();
      expect(macOf(reused!.r)).not.toBe(macOf(ra));
      const view = await podView(reused!.pod);
      expect(view).toEqual({ addrs: [`${ipOf(reused!.r)}/32`], defaultVia: '169.254.1.1' });
      const neigh = (await reused!.pod.exec('ip', ['neigh', 'show', 'dev', 'eth0'])).stdout.trim().split('\n');
      expect(neigh).toHaveLength(1);
      expect(neigh[0]).toMatch(/^169\.254\.1\.1 lladdr \S+ PERMANENT/);
      // host side: one /32 per live endpoint, nothing of a's
      expect((await h.nodeRoutes()).map((r) => r.dst).sort()).toEqual(h.endpoints().map((e) => e.ip).sort());
      expect((await ping(reused!.pod.path, ipb, { count: 2, intervalS: 0.2 })).received).toBe(2);
      for (const [id, p] of [[idb, b], [idc, c], ...more.map((m) => [m.id, m.pod] as const)] as const) {
        const d = await request(s.socket, env('DEL', id, p.path), conf);
        expect(d.exitCode, d.stdout).toBe(0);
      }
      await waitPool(2);
      await expectOnlyPool();
    } finally {
      await s.stop();
    }
  }, 120_000);

  it('a restarted agent adopts complete pairs and deletes broken ones; an empty pool: ADD takes the direct path', async () => {
    // a broken leftover: a pool-named pair without its link pins
    await h.node.exec('ip', ['link', 'add', 'pwph0bad0bad', 'type', 'veth', 'peer', 'name', 'pwpp0bad0bad']);
    const before = (await poolPairs()).map((l) => l.ifname).sort();
    expect(before.length).toBeGreaterThan(0);
    // refill only at start (idle 10 min after any request): the pool empties below
    const s = await startPool(3, {}, 600_000);
    try {
      const after = (await waitPool(3)).map((l) => l.ifname);
      for (let i = 0; i < 100 && (await nodeLinks()).some((l) => l.ifname === 'pwph0bad0bad'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(after).toEqual(expect.arrayContaining(before));
      await expectOnlyPool();
      const conf = JSON.stringify(h.conf());
      const pods: Array<[string, Awaited<ReturnType<Harness['pod']>>, Reply]> = [];
      for (let i = 0; i < 5; i++) {
        const p = await h.pod();
        const id = containerId();
        const r = await request(s.socket, env('ADD', id, p.path), conf);
        expect(r.exitCode, r.stdout).toBe(0);
        pods.push([id, p, r]);
      }
      expect(await poolPairs()).toEqual([]);
      // pool misses were wired the direct way: pods reach each other across both kinds
      const last = pods[pods.length - 1]!;
      expect((await ping(pods[0]![1].path, ipOf(last[2]), { count: 2, intervalS: 0.2 })).received).toBe(2);
      for (const [id, p] of pods) expect((await request(s.socket, env('DEL', id, p.path), conf)).exitCode).toBe(0);
      // DEL fills the pool up to twice its size: all five recycled (the surplus goes when idle,
      // which this agent never is again)
      expect(await poolPairs()).toHaveLength(5);
      await expectOnlyPool();
    } finally {
      await s.stop();
    }
  }, 120_000);

  it('pool size 0 deletes what a previous agent left and takes the direct path', async () => {
    const s = await startPool(0);
    try {
      for (let i = 0; i < 100 && (await poolPairs()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await poolPairs()).toEqual([]);
      await expectOnlyPool();
      const p = await h.pod();
      const id = containerId();
      const r = await request(s.socket, env('ADD', id, p.path), JSON.stringify(h.conf()));
      expect(r.exitCode, r.stdout).toBe(0);
      expect((await request(s.socket, env('DEL', id, p.path), JSON.stringify(h.conf()))).exitCode).toBe(0);
      await expectOnlyPool();
      expect(await poolPairs()).toEqual([]);
    } finally {
      await s.stop();
    }
  }, 60_000);

  it.each(POOL_FAULT_STEPS.map((x) => [x]))('a failure injected after pool step "%s" rolls back: no device or pin leaks', async (step) => {
    const s = await startPool(1, { PODWIRE_CNI_FAULT: step }, 600_000);
    try {
      await waitPool(1);
      const pod = await h.pod();
      const r = await request(s.socket, env('ADD', containerId(), pod.path), JSON.stringify(h.conf()));
      expect(r.exitCode).not.toBe(0);
      expect((JSON.parse(r.stdout) as { msg: string }).msg).toContain(`injected fault after ADD step "${step}"`);
      expect((await pod.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
      await expectOnlyPool();
      expect(await poolPairs()).toEqual([]);
    } finally {
      await s.stop();
    }
  }, 60_000);

  it.each([['pool-take'], ['pool-put']])('the helper crashes after its "%s" work: no leak, the pool recovers', async (op) => {
    const marker = join(dir, `crash-${op}.armed`);
    // refill only at start: the one pair is the one the ADD takes and the DEL puts back
    const s = await startPool(1, { PODWIRE_WIRE_FAULT: `crash:${op}:${marker}` }, 600_000);
    try {
      await waitPool(1);
      const conf = JSON.stringify(h.conf());
      const pod = await h.pod();
      const id = containerId();
      if (op === 'pool-take') writeFileSync(marker, '');
      const r = await request(s.socket, env('ADD', id, pod.path), conf);
      if (op === 'pool-take') {
        expect(r.exitCode).not.toBe(0);
        expect(r.stdout).toMatch(/pw-wire helper killed by SIGKILL/);
        expect(existsSync(marker), 'the fault fired').toBe(false);
      } else {
        expect(r.exitCode, r.stdout).toBe(0);
        writeFileSync(marker, '');
      }
      // DEL: after a crashed put the pair is deleted the old way (a new helper does it)
      const d = await request(s.socket, env('DEL', id, pod.path), conf);
      expect(d.exitCode, d.stdout).toBe(0);
      if (op === 'pool-put') expect(existsSync(marker), 'the fault fired').toBe(false);
      await expectOnlyPool();
      expect(await poolPairs()).toEqual([]);
      // and the next ADD works (direct path: the pool is empty)
      const p2 = await h.pod();
      const id2 = containerId();
      const a2 = await request(s.socket, env('ADD', id2, p2.path), conf);
      expect(a2.exitCode, a2.stdout).toBe(0);
      const d2 = await request(s.socket, env('DEL', id2, p2.path), conf);
      expect(d2.exitCode, d2.stdout).toBe(0);
    } finally {
      await s.stop();
    }
  }, 60_000);
});

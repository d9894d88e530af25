// The XDP prefilter on a real veth uplink, with real packets: a node namespace whose uplink up0
// faces a peer namespace (up1) that sends from several source addresses. Listed sources are
// dropped at XDP and counted under DROP_PREFILTER, unlisted ones pass, failsafe traffic (a whole
// address, a remote addr:port like the API server, a local port like the agent's health port)
// passes even from a listed source and is counted under PASS_PREFILTER_FAILSAFE. The CLI is
// driven through bin/podwire (--node of a lab state file naming this namespace), in native and
// generic XDP mode, and the mode it reports is the kernel's.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPrefilter } from '../../src/agent/prefilter.js';
import { createLogger } from '../../src/agent/log.js';
import { podwireBin } from '../../src/assets/index.js';
import { run, type RunResult } from '../../src/exec/run.js';
import { loadDatapath, unloadDatapath, xdpStatus } from '../../src/loader/index.js';
import { openCounters, openFailsafe, openNodeConfig, openPrefilter, formatFailsafe } from '../../src/maps/index.js';
import { createNetns, type Netns } from '../../src/netns/index.js';

const tag = randomBytes(3).toString('hex');
const pinDir = `/sys/fs/bpf/pwpf-prefilter-${tag}`;
const NODE_IP = '172.31.9.1';
const UNLISTED = '172.31.9.2';
const LISTED = '172.31.9.66'; // in 172.31.9.64/26
const LISTED_SAFE = '172.31.9.70'; // in the /26, and a failsafe address
const LISTED_SERVER = '172.31.9.67'; // in the /26: plays the API server (failsafe addr:port)
const API_PORT = 6443;
const HEALTH_PORT = 9879;
const OTHER_PORT = 9880;

let node: Netns;
let peer: Netns;
let work: string;
let labState: string;
const servers: Array<{ pid: number }> = [];

function counter(reason: string): bigint {
  const c = openCounters(pinDir);
  try {
    return c.read().find((r) => r.reason === reason && r.direction === 'INGRESS')?.packets ?? 0n;
  } finally {
    c.close();
  }
}

function cli(args: string[]): Promise<RunResult> {
  return run(podwireBin(), [...args, '--node', 'pf-node', '--lab-state', labState], { reject: false, timeoutMs: 60_000 });
}

/** 3 echo requests from `src` to the node; true when any reply came back. */
async function ping(src: string): Promise<boolean> {
  const r = await peer.exec('ping', ['-n', '-q', '-c', '3', '-i', '0.2', '-W', '1', '-I', src, NODE_IP], { reject: false, timeoutMs: 20_000 });
  return r.exitCode === 0;
}

/** A TCP connect from ns (bound to `from`) to addr:port; 'ok' once the server's greeting arrived. */
async function tcp(ns: Netns, from: string, addr: string, port: number): Promise<string> {
  const script = `const s=require('net').connect({host:'${addr}',port:${port},localAddress:'${from}'});` +
    `const t=setTimeout(()=>{console.log('timeout');process.exit(0)},2500);` +
    `s.on('data',()=>{clearTimeout(t);console.log('ok');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)});`;
  return (await ns.exec(process.execPath, ['-e', script], { timeoutMs: 20_000 })).stdout.trim();
}

/** A TCP server in ns that greets every connection; killed by PID in afterAll. */
async function serve(ns: Netns, addr: string, port: number): Promise<void> {
  const { spawn } = await import('node:child_process');
  const script = `require('net').createServer((s)=>s.end('hi\\n')).listen(${port},'${addr}',()=>console.log('up'))`;
  const p = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push({ pid: p.pid! });
  await new Promise<void>((resolve, reject) => {
    p.stdout.once('data', () => resolve());
    p.once('exit', (c) => reject(new Error(`server ${addr}:${port} exited ${c}`)));
  });
}

beforeAll(async () => {
  node = await createNetns('pwpfn');
  peer = await createNetns('pwpfp');
  const up1 = `pf${tag}`;
  await node.exec('ip', ['-batch', '-'], {
    input: [`link add up0 type veth peer name ${up1}`, `link set ${up1} netns ${peer.name}`, `addr add ${NODE_IP}/24 dev up0`, 'link set up0 up', ''].join('\n'),
  });
  await peer.exec('ip', ['-batch', '-'], {
    input: [
      `link set ${up1} name up1`,
      ...[UNLISTED, LISTED, LISTED_SAFE, LISTED_SERVER].map((a) => `addr add ${a}/24 dev up1`),
      'link set up1 up',
      '',
    ].join('\n'),
  });
  await loadDatapath({ pinDir });
  const up0 = (JSON.parse((await node.exec('ip', ['-j', 'link', 'show', 'up0'])).stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
  const cfg = openNodeConfig(pinDir);
  cfg.set({ mode: 'native', nodeIp: NODE_IP, uplinkIfindex: up0, vxlanIfindex: 0, vni: 0 });
  cfg.close();
  work = await mkdtemp(join(tmpdir(), 'pwpf-'));
  labState = join(work, 'lab.json');
  await writeFile(labState, JSON.stringify({ nodes: [{ name: 'pf-node', netnsPath: node.path, pinDir, stateDir: work, uplink: 'up0' }], pods: [] }));
  await serve(node, NODE_IP, HEALTH_PORT);
  await serve(node, NODE_IP, OTHER_PORT);
  await serve(peer, LISTED_SERVER, API_PORT);
  await serve(peer, LISTED_SERVER, API_PORT + 1);
}, 120_000);

afterAll(async () => {
  for (const s of servers) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await unloadDatapath({ pinDir, netns: node?.path }).catch(() => {});
  await node?.remove();
  await peer?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('XDP prefilter on a veth uplink', () => {
  it('add/del/list through the CLI: canonical CIDRs, bad input refused, nothing attached yet', async () => {
    const add = await cli(['prefilter', 'add', '172.31.9.64/26', '203.0.113.5']);
    expect(add.exitCode, add.stderr).toBe(0);
    expect(add.stdout).toContain('172.31.9.64/26 added');
    expect(add.stdout).toContain('203.0.113.5/32 added');
    expect((await cli(['prefilter', 'add', '172.31.9.64/26'])).stdout).toContain('already listed');
    const bad = await cli(['prefilter', 'add', '172.31.9.65/26']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('host bits set');
    const del = await cli(['prefilter', 'del', '203.0.113.5']);
    expect(del.stdout).toContain('203.0.113.5/32 deleted');
    expect((await cli(['prefilter', 'del', '203.0.113.5'])).stdout).toContain('was not listed');
    const list = JSON.parse((await cli(['prefilter', 'list', '-o', 'json'])).stdout) as Record<string, unknown>;
    expect(list).toMatchObject({ cidrs: ['172.31.9.64/26'], attached: false, mode: null, device: 'up0' });
    // listed but not attached: nothing is dropped
    expect(await ping(LISTED)).toBe(true);
  });

  it.each(['native', 'generic'] as const)('%s XDP: a listed source is dropped and counted, an unlisted one passes; the mode is reported', async (mode) => {
    const a = await cli(['prefilter', 'attach', '--xdp-mode', mode]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(a.stdout).toContain(`in ${mode} XDP mode`);
    expect((await xdpStatus('up0', { netns: node.path })).mode).toBe(mode);
    const list = JSON.parse((await cli(['prefilter', 'list', '-o', 'json'])).stdout) as Record<string, unknown>;
    expect(list).toMatchObject({ attached: true, mode, device: 'up0' });
    expect((await cli(['prefilter', 'list'])).stdout).toContain(`attached to up0 in ${mode} XDP mode`);

    const dropped = counter('DROP_PREFILTER');
    expect(await ping(LISTED)).toBe(false);
    expect(counter('DROP_PREFILTER') - dropped).toBe(3n); // the 3 echo requests, nothing else
    expect(await ping(UNLISTED)).toBe(true);
    expect(counter('DROP_PREFILTER') - dropped).toBe(3n);
    // the CLI's counters are the same map `podwire counters` reads
    const counters = await cli(['counters']);
    expect(counters.stdout).toMatch(/DROP_PREFILTER\s+\d+/);
  });

  it('del takes effect on the attached program at once; add again drops again', async () => {
    await cli(['prefilter', 'del', '172.31.9.64/26']);
    expect(await ping(LISTED)).toBe(true);
    await cli(['prefilter', 'add', '172.31.9.64/26']);
    expect(await ping(LISTED)).toBe(false);
  });

  it('failsafe traffic passes even from a listed source: the API server endpoint, the health port, a configured address', async () => {
    // as the agent does it: built-in API server + health port, plus the configured extras
    const log = createLogger({ write: () => {} });
    const status = await applyPrefilter({
      pinDir,
      uplink: 'up0',
      mode: 'native',
      extraFailsafe: [{ kind: 'src-addr', addr: LISTED_SAFE }],
      apiServer: `https://${LISTED_SERVER}:${API_PORT}`,
      healthPort: HEALTH_PORT,
      log,
      netns: node.path,
    });
    expect(status?.mode).toBe('native');
    const fs = openFailsafe(pinDir);
    expect(fs.list().map(formatFailsafe).sort()).toEqual([`:${HEALTH_PORT}/tcp`, LISTED_SAFE, `${LISTED_SERVER}:${API_PORT}/tcp`].sort());
    fs.close();

    const passed = counter('PASS_PREFILTER_FAILSAFE');
    const dropped = counter('DROP_PREFILTER');
    // a configured failsafe address: everything from it passes
    expect(await ping(LISTED_SAFE)).toBe(true);
    expect(counter('PASS_PREFILTER_FAILSAFE') - passed).toBe(3n);
    // the agent's health port, from a listed source; another port from it is dropped
    expect(await tcp(peer, LISTED, NODE_IP, HEALTH_PORT)).toBe('ok');
    expect(await tcp(peer, LISTED, NODE_IP, OTHER_PORT)).toBe('timeout');
    // the node talking to the API server (a listed address): its answers from addr:6443 pass,
    // the same address on another port does not
    expect(await tcp(node, NODE_IP, LISTED_SERVER, API_PORT)).toBe('ok');
    expect(await tcp(node, NODE_IP, LISTED_SERVER, API_PORT + 1)).toBe('timeout');
    expect(counter('DROP_PREFILTER')).toBeGreaterThan(dropped);
    const text = (await cli(['prefilter', 'list'])).stdout;
    expect(text).toContain(`failsafe (never dropped):`);
    expect(text).toContain(`${LISTED_SERVER}:${API_PORT}/tcp`);
  });

  it('a reload re-points the attached prefilter at the new program, same mode, list intact', async () => {
    const before = await xdpStatus('up0', { netns: node.path });
    const r = await loadDatapath({ pinDir, netns: node.path });
    const after = await xdpStatus('up0', { netns: node.path });
    expect(r.reusedMaps).toContain('prefilter');
    expect(after.ours).toBe(true);
    expect(after.mode).toBe(before.mode);
    expect(after.progId).not.toBe(before.progId);
    expect(await ping(LISTED)).toBe(false);
    const m = openPrefilter(pinDir);
    expect(m.list()).toEqual(['172.31.9.64/26']);
    m.close();
  });

  it('detach (CLI, and the agent with --prefilter off) removes it; a foreign XDP program is never replaced', async () => {
    const d = await cli(['prefilter', 'detach']);
    expect(d.stdout).toContain('detached xdp_prefilter from up0');
    expect((await xdpStatus('up0', { netns: node.path })).attached).toBe(false);
    expect(await ping(LISTED)).toBe(true);
    expect((await cli(['prefilter', 'detach'])).stdout).toContain('no prefilter was attached');

    await cli(['prefilter', 'attach']);
    expect((await xdpStatus('up0', { netns: node.path })).mode).toBe('native'); // auto: veth has native XDP
    const log = createLogger({ write: () => {} });
    await applyPrefilter({ pinDir, uplink: 'up0', mode: 'off', extraFailsafe: [], apiServer: 'https://127.0.0.1:6443', healthPort: 0, log, netns: node.path });
    expect((await xdpStatus('up0', { netns: node.path })).attached).toBe(false);

    // another tool's XDP program (a trivial XDP_PASS one) is reported, never replaced or removed
    const passObj = join(work, 'pass.o');
    await writeFile(join(work, 'pass.c'), '#include <linux/bpf.h>\n__attribute__((section("xdp"), used)) int other_xdp(struct xdp_md *c) { return XDP_PASS; }\nchar _l[] __attribute__((section("license"), used)) = "GPL";\n');
    await run('clang-16', ['-O2', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', join(work, 'pass.c'), '-o', passObj]);
    await node.exec('ip', ['link', 'set', 'dev', 'up0', 'xdpgeneric', 'object', passObj, 'section', 'xdp']);
    const refused = await cli(['prefilter', 'attach']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('not podwire');
    expect((await cli(['prefilter', 'detach'])).stdout).toContain('no prefilter was attached');
    expect((await xdpStatus('up0', { netns: node.path })).progName).toBe('other_xdp');
    await node.exec('ip', ['link', 'set', 'dev', 'up0', 'xdpgeneric', 'off']);
  });
});

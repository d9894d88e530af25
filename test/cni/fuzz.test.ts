// Property-based fuzzing of the CNI plugin, through the exec'd binary (bin/podwire, as a runtime
// runs it) and through the agent's socket (the CNI server in its own process in the node
// namespace). Inputs: CNI_* environment, network configuration and prevResult (fuzz-arbitraries.ts).
// For every case: the outcome is a success or a spec error JSON with a known code (never 999,
// an internal error), it comes within a bound (no hang), and nothing is left behind: no IPAM
// record, endpoint entry, tcx link pin, host veth, node route or stray link, in the node or the
// pods. A fully valid ADD must succeed; it is then DELeted and must leave nothing either.
// Fixed seed; PODWIRE_FUZZ_RUNS=N runs N cases per path (default 100 binary, 2000 socket; most fail validation in milliseconds, about 3% are real ADD+DEL).
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { execCni, type CniCommand } from '../../src/lab/cni-exec.js';
import { uniqueName, type Netns } from '../../src/netns/index.js';
import { request, startServerProc, type Reply, type ServerProc } from '../agent/cni-server-proc.js';
import { fuzzCases, SPEC_CODES, type FuzzCase, type FuzzWorld } from './fuzz-arbitraries.js';
import { createHarness, type Harness } from './harness.js';

const SEED = 0x9d5e1;
const RUNS = Number(process.env['PODWIRE_FUZZ_RUNS'] ?? 0);
const BIN_RUNS = RUNS > 0 ? RUNS : 100;
const SOCKET_RUNS = RUNS > 0 ? RUNS : 2000;
/** Per-case bound; a loaded 2-core machine can take seconds for a real ADD. */
const CASE_BOUND_MS = 30_000;

let h: Harness;
let dir: string;
let server: ServerProc;
let world: FuzzWorld;
const pods: Netns[] = [];

beforeAll(async () => {
  h = await createHarness({ podCIDR: '10.204.0.0/28' });
  dir = await mkdtemp(join(tmpdir(), 'pwfz-'));
  const file = join(dir, 'file');
  await writeFile(file, '');
  await run('mkfifo', [join(dir, 'fifo')]);
  for (let i = 0; i < 2; i++) pods.push(await h.pod());
  world = {
    pinDir: h.pinDir,
    stateDir: h.stateDir,
    podCIDR: h.podCIDR,
    podNetns: pods.map((p) => p.path),
    notNetns: [file, dir, join(dir, 'fifo')],
    emptyPinDir: `/sys/fs/bpf/${uniqueName('pwfz-none-')}`,
    plainDir: dir,
  };
  server = await startServerProc(h.node.path, join(dir, 'cni.sock'));
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await h?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// exec'd env values cannot carry NUL; a runtime could not send one either
const clean = (env: FuzzCase['env']): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v?.replaceAll('\0', '')]));

async function viaBinary(c: FuzzCase): Promise<Reply> {
  // bin/podwire is the CLI when CNI_COMMAND is unset (src/dispatch): a runtime always sets it,
  // so "absent" is sent as the empty string, which the plugin must refuse with code 4
  const env = clean({ ...c.env, CNI_COMMAND: c.env['CNI_COMMAND'] ?? '' });
  const out = await execCni({
    plugin: podwireBin(),
    command: (env['CNI_COMMAND'] ?? 'VERSION') as CniCommand,
    config: c.stdin,
    nodeNetns: h.node.path,
    env: { ...env, NODE_EXTRA_CA_CERTS: undefined },
    timeoutMs: CASE_BOUND_MS,
  });
  return { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr };
}

async function viaSocket(c: FuzzCase): Promise<Reply> {
  let t: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`no answer on the agent socket within ${CASE_BOUND_MS} ms`)), CASE_BOUND_MS);
  });
  try {
    return await Promise.race([request(server.socket, c.env, c.stdin), bound]);
  } finally {
    clearTimeout(t);
  }
}

/** Success, or the spec's error JSON with a known code. Returns the parsed stdout. */
function checkOutcome(c: FuzzCase, r: Reply): Record<string, unknown> | undefined {
  const what = `${JSON.stringify(c)}\n→ exit ${r.exitCode}\n${r.stdout}${r.stderr}`;
  expect([0, 1], what).toContain(r.exitCode); // -1: killed at the bound (hang) or crashed
  const text = r.stdout.trim();
  if (r.exitCode === 0) {
    if (text === '') return undefined;
    const j = JSON.parse(text) as Record<string, unknown>;
    expect(typeof j['cniVersion'], what).toBe('string');
    return j;
  }
  const j = JSON.parse(text) as Record<string, unknown>;
  expect(typeof j['cniVersion'], what).toBe('string');
  expect(typeof j['msg'], what).toBe('string');
  expect(SPEC_CODES.has(j['code'] as number), what).toBe(true);
  return j;
}

async function expectNoResidue(label: string, withExecs: boolean): Promise<void> {
  // file-system probes every case; the map read and the execs when the kernel may have been touched
  expect(h.records(), label).toEqual([]);
  expect(h.linkPins(), label).toEqual([]);
  if (!withExecs) return;
  expect(h.endpoints(), label).toEqual([]);
  expect(await h.hostVeths(), label).toEqual([]);
  expect(await h.nodeRoutes(), label).toEqual([]);
  const names = async (ns: Netns) => (JSON.parse((await ns.exec('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
  expect(await names(h.node), label).toEqual(['lo']);
  for (const p of pods) expect(await names(p), label).toEqual(['lo']);
}

function property(send: (c: FuzzCase) => Promise<Reply>, stats: { cases: number; added: number; deepChecks: number }) {
  return fc.asyncProperty(fuzzCases(world), async (c) => {
    stats.cases++;
    const r = await send(c);
    const j = checkOutcome(c, r);
    const cmd = c.env['CNI_COMMAND'];
    if (c.allValid && cmd === 'ADD') expect(r.exitCode, `${JSON.stringify(c)}\n${r.stdout}`).toBe(0);
    if (r.exitCode === 0 && cmd === 'ADD') {
      stats.added++;
      const del = await send({ ...c, env: { ...c.env, CNI_COMMAND: 'DEL' } });
      expect(del.exitCode, `DEL after ${JSON.stringify(c)}\n${del.stdout}`).toBe(0);
    }
    // The map read and the execs cost tens of ms: after any case that may have touched the
    // kernel (success, or an error from past validation: 5, 11, 50, 51), and every 25th case.
    const deep = r.exitCode === 0 || [5, 11, 50, 51].includes(j?.['code'] as number) || stats.cases % 25 === 0;
    if (deep) stats.deepChecks++;
    await expectNoResidue(JSON.stringify(c), deep);
  });
}

describe('CNI fuzzing (fast-check, fixed seed)', () => {
  it(`through the binary: ${BIN_RUNS} cases`, async () => {
    const stats = { cases: 0, added: 0, deepChecks: 0 };
    await fc.assert(property(viaBinary, stats), { seed: SEED, numRuns: BIN_RUNS, endOnFailure: true });
    console.log(`[fuzz] binary: ${stats.cases} cases, ${stats.added} real ADD/DEL, ${stats.deepChecks} full residue checks`);
    expect(stats.added).toBeGreaterThan(0);
  }, 1_800_000);

  it(`through the agent socket: ${SOCKET_RUNS} cases`, async () => {
    const stats = { cases: 0, added: 0, deepChecks: 0 };
    await fc.assert(property(viaSocket, stats), { seed: SEED + 1, numRuns: SOCKET_RUNS, endOnFailure: true });
    console.log(`[fuzz] socket: ${stats.cases} cases, ${stats.added} real ADD/DEL, ${stats.deepChecks} full residue checks`);
    expect(stats.added).toBeGreaterThan(0);
  }, 1_800_000);
});

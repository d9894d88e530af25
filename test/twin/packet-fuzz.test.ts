// Packet fuzzing (issue 14): fast-check generates random frames and mutations of valid ones
// (bit flips, byte overwrites, truncation, extension, IPv4/Ethernet header fields set to any
// value, with or without a recomputed header checksum) over random map contents; every frame
// runs through the loaded program with BPF_PROG_TEST_RUN and through the WebAssembly twin.
//   1. kernel and twin agree on everything (return code, reason, action, target, next hop,
//      tunnel id, the bytes written) — compare.ts, shared with differential.test.ts;
//   2. a malformed frame is never forwarded (TC_ACT_REDIRECT), by the kernel or by the twin.
//      "Malformed" is judged here, independently of bpf/lib/decide.h: an IPv4 ethertype whose
//      header is cut short, has a version other than 4, an IHL below 5, options past the frame,
//      or a total length of 0 (no GSO), below its header or past the frame;
//   3. forwarding never repairs a header: a forwarded frame's IPv4 header checksum is valid
//      exactly when the input's was (the TTL decrement is an incremental update).
// Nothing here names a map or a reason: map contents come from generate.ts, verdicts are
// compared as numbers, "forwarded" is the return code. New maps and reasons need no change.
// PODWIRE_FUZZ_SEED fixes the seed (CI default below), PODWIRE_FUZZ_CASES the number of frames
// (default 5000; e.g. 200000 for a long run). A failure prints the seed and path to replay it.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { snapshotMaps } from '../../src/maps/snapshot.js';
import { inetChecksum, snapshotSource, Twin } from '../../src/twin/index.js';
import { CtOverlay, differences, expectedRetval, TC_ACT_REDIRECT } from './compare.js';
import { randomMapState, type MapState, type Program } from './generate.js';
import { createKernelEnv, kernelAccepts, runKernelBatch, type KernelEnv } from './kernel-env.js';
import { Rng } from './rng.js';
import { writeMapState } from './write-maps.js';

const SEED = Number(process.env['PODWIRE_FUZZ_SEED'] ?? 0x0f0220e5);
const CASES = Number(process.env['PODWIRE_FUZZ_CASES'] ?? 5000);
const PER_BATCH = 100; // one map state and one bpftool batch per property run

const pinDir = `/sys/fs/bpf/pwfuzz-hardening-${randomBytes(4).toString('hex')}`;
let env: KernelEnv | undefined;
let work = '';

beforeAll(async () => {
  if (!Number.isInteger(SEED) || !Number.isInteger(CASES) || CASES <= 0) throw new Error('PODWIRE_FUZZ_SEED and PODWIRE_FUZZ_CASES must be integers');
  env = await createKernelEnv();
  await loadDatapath({ pinDir });
  work = await mkdtemp(join(tmpdir(), 'pwfuzz-'));
});

afterAll(async () => {
  await unloadDatapath({ pinDir, netns: env?.ns.path });
  await env?.ns.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

// ---- what the fuzzer draws (plain data, so fast-check can print and replay it) ----

type Field = 'version' | 'ihl' | 'totlen' | 'frag' | 'proto' | 'ttl' | 'ethertype' | 'csum';
type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; to: number }
  | { op: 'extend'; bytes: Uint8Array }
  | { op: 'field'; field: Field; value: number }
  | { op: 'fixcsum' };

interface ValidSpec {
  shape: 'valid';
  program: Program;
  src: number;
  dst: number;
  proto: number;
  ttl: number;
  ports: number;
  payload: Uint8Array;
  mutations: Mutation[];
}
interface RawSpec {
  shape: 'raw';
  program: Program;
  ethertype: number | null;
  bytes: Uint8Array;
}
type Spec = ValidSpec | RawSpec;

const program = fc.constantFrom<Program>('from_pod', 'from_pod', 'from_pod', 'from_uplink', 'from_vxlan');
// offsets biased to the headers: Ethernet (0-13), IPv4 (14-33), L4 (34-53)
const offset = fc.oneof({ weight: 4, arbitrary: fc.nat(54) }, { weight: 1, arbitrary: fc.nat(200) });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: offset, bit: fc.nat(7) }),
  fc.record({ op: fc.constant('set' as const), at: offset, value: fc.nat(255) }),
  fc.record({ op: fc.constant('truncate' as const), to: fc.nat(80) }),
  fc.record({ op: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    op: fc.constant('field' as const),
    field: fc.constantFrom<Field>('version', 'ihl', 'totlen', 'frag', 'proto', 'ttl', 'ethertype', 'csum'),
    value: fc.oneof(fc.nat(0xffff), fc.constantFrom(0, 1, 4, 5, 6, 15, 19, 20, 21, 0x4000, 0x2000, 0xffff)),
  }),
  fc.constant({ op: 'fixcsum' as const }),
);
const validSpec: fc.Arbitrary<ValidSpec> = fc.record({
  shape: fc.constant('valid' as const),
  program,
  src: fc.nat(1000),
  dst: fc.nat(1000),
  proto: fc.constantFrom(6, 17, 1, 1, 47),
  ttl: fc.constantFrom(64, 64, 64, 2, 1, 0, 255),
  ports: fc.nat(0xffffffff),
  payload: fc.uint8Array({ maxLength: 64 }),
  // a fifth of the frames stay valid: they reach the forwarding decisions the others break
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 4, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }) }),
});
const rawSpec: fc.Arbitrary<RawSpec> = fc.record({
  shape: fc.constant('raw' as const),
  program,
  ethertype: fc.option(fc.constantFrom(0x0800, 0x0800, 0x0806, 0x86dd, 0x8100), { nil: null }),
  bytes: fc.uint8Array({ maxLength: 128 }),
});
const batch = fc.record({
  stateSeed: fc.nat(0xffffffff),
  specs: fc.array(fc.oneof({ weight: 4, arbitrary: validSpec }, { weight: 1, arbitrary: rawSpec }), { minLength: PER_BATCH, maxLength: PER_BATCH }),
});

// ---- turning a spec into a frame against one map state ----

const macBytes = (m: string) => Buffer.from(m.replaceAll(':', ''), 'hex');
const ipBytes = (ip: string) => Buffer.from(ip.split('.').map(Number));

function fixChecksum(f: Buffer): void {
  if (f.length < 34) return;
  const hlen = Math.max(20, (f[14]! & 0x0f) * 4);
  if (f.length < 14 + hlen) return;
  f.writeUInt16BE(0, 24);
  f.writeUInt16BE(inetChecksum(f.subarray(14, 14 + hlen)), 24);
}

function mutate(frame: Buffer, m: Mutation): Buffer {
  const f = Buffer.from(frame);
  switch (m.op) {
    case 'flip':
      if (m.at < f.length) f[m.at]! ^= 1 << m.bit;
      return f;
    case 'set':
      if (m.at < f.length) f[m.at] = m.value;
      return f;
    case 'truncate':
      return f.subarray(0, Math.min(m.to, f.length));
    case 'extend':
      return Buffer.concat([f, m.bytes]);
    case 'fixcsum':
      fixChecksum(f);
      return f;
    case 'field': {
      const at: Record<Field, [number, number]> = { ethertype: [12, 2], version: [14, 1], ihl: [14, 1], totlen: [16, 2], frag: [20, 2], ttl: [22, 1], proto: [23, 1], csum: [24, 2] };
      const [o, n] = at[m.field];
      if (o + n > f.length) return f;
      if (m.field === 'version') f[o] = ((m.value & 0xf) << 4) | (f[o]! & 0x0f);
      else if (m.field === 'ihl') f[o] = (f[o]! & 0xf0) | (m.value & 0xf);
      else if (n === 1) f[o] = m.value & 0xff;
      else f.writeUInt16BE(m.value, o);
      return f;
    }
  }
}

interface Built {
  program: Program;
  frame: Buffer;
  ifindex: number;
  ingressIfindex: number;
  kind: string;
}

function build(spec: Spec, state: MapState, e: KernelEnv): Built {
  const real = state.endpoints.filter((x) => e.devices.some((d) => d.ifindex === x.ifindex));
  const ifindexFor = (p: Program, epIfindex?: number) => (p === 'from_pod' ? (epIfindex ?? e.podVeths[0]!.ifindex) : p === 'from_uplink' ? e.uplink.ifindex : e.vxlan.ifindex);
  if (spec.shape === 'raw') {
    const f = Buffer.from(spec.bytes);
    if (spec.ethertype !== null && f.length >= 14) f.writeUInt16BE(spec.ethertype, 12);
    const ep = real[0];
    const ifindex = ifindexFor(spec.program, ep?.ifindex);
    return { program: spec.program, frame: f, ifindex, ingressIfindex: ifindex, kind: 'raw' };
  }
  const dsts = [...state.endpoints.map((x) => x.ip), ...state.routes.map((r) => r.addr), ...e.nodeIps, '10.244.3.7', '8.8.8.8'];
  const fromPod = spec.program === 'from_pod';
  const ep = real.length ? real[spec.src % real.length] : undefined;
  const src = fromPod && ep ? ep.ip : `10.244.${(spec.src >> 8) & 3}.${spec.src & 0xff}`;
  const dst = dsts[spec.dst % dsts.length]!;
  const payload = Buffer.from(spec.payload);
  const l4 = spec.proto === 6 || spec.proto === 17 ? Buffer.concat([Buffer.alloc(4), payload]) : payload;
  if (spec.proto === 6 || spec.proto === 17) l4.writeUInt32BE(spec.ports >>> 0, 0);
  if (spec.proto === 1 && l4.length) l4[0] = 8; // echo request
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(0x4000, 6);
  ip[8] = spec.ttl;
  ip[9] = spec.proto;
  ipBytes(src).copy(ip, 12);
  ipBytes(dst).copy(ip, 16);
  ip.writeUInt16BE(inetChecksum(ip), 10);
  const eth = Buffer.alloc(14);
  macBytes(ep?.hostMac ?? '02:00:00:00:00:01').copy(eth, 0);
  macBytes(fromPod && ep ? ep.podMac : '02:66:66:66:66:66').copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  let frame: Buffer = Buffer.concat([eth, ip, l4]);
  for (const m of spec.mutations) frame = mutate(frame, m);
  const ifindex = ifindexFor(spec.program, ep?.ifindex);
  return { program: spec.program, frame, ifindex, ingressIfindex: ifindex, kind: spec.mutations.length ? 'mutated' : 'valid' };
}

/** The fuzzer's own judgement (not decide.h's): why this frame must not be forwarded, if it is malformed. */
export function malformedBecause(f: Buffer, gso = false): string | undefined {
  if (f.length < 14 || f.readUInt16BE(12) !== 0x0800) return undefined; // not IPv4: not this check's business
  if (f.length < 34) return 'IPv4 base header cut short';
  if (f[14]! >> 4 !== 4) return `IP version ${f[14]! >> 4}`;
  const ihl = (f[14]! & 0x0f) * 4;
  if (ihl < 20) return `IHL ${ihl / 4}`;
  if (14 + ihl > f.length) return `options past the frame (IHL ${ihl / 4}, ${f.length - 14} bytes)`;
  const tot = f.readUInt16BE(16);
  if (tot === 0 && !gso) return 'total length 0 without GSO';
  if (tot !== 0 && tot < ihl) return `total length ${tot} below the header (${ihl})`;
  if (tot > f.length - 14) return `total length ${tot} past the frame (${f.length - 14})`;
  return undefined;
}

const headerChecksumOk = (f: Buffer) => inetChecksum(f.subarray(14, 14 + (f[14]! & 0x0f) * 4)) === 0;

describe('packet fuzzing: BPF_PROG_TEST_RUN vs the twin (fast-check)', () => {
  it(`${CASES} random and mutated frames (seed ${SEED}): equal verdicts, malformed never forwarded`, { timeout: 900_000 }, async () => {
    const e = env!;
    const progs = pinPaths(pinDir).progs;
    const progPin: Record<Program, string> = { from_pod: progs.fromPod, from_uplink: progs.fromUplink, from_vxlan: progs.fromVxlan, to_pod: progs.toPod, to_uplink: progs.toUplink };
    const stats = { frames: 0, kernel: 0, twinOnly: 0, malformed: 0, forwarded: 0, forwardedMutated: 0, badCsumForwarded: 0, reasons: new Map<string, number>(), why: new Map<string, number>() };
    let twin: Twin | undefined;
    let run = 0;
    const t0 = performance.now();

    await fc.assert(
      fc.asyncProperty(batch, async ({ stateSeed, specs }) => {
        const state = randomMapState(new Rng(stateSeed), e);
        writeMapState(pinDir, state);
        const snap = snapshotSource(snapshotMaps(pinDir));
        twin ??= await Twin.load(snap, e.fib);
        const built = specs.map((s) => build(s, state, e));
        const problems: string[] = [];
        const tag = (b: Built) => `${b.program} ${b.kind} if ${b.ifindex} frame ${b.frame.toString('hex')}`;

        // frames test_run refuses before the program runs: the twin alone, and it must not forward them
        twin.setSource(snap);
        for (const b of built.filter((x) => !kernelAccepts(x.frame))) {
          const t = twin.decide(b.program, b.frame, { ifindex: b.ifindex, ingressIfindex: b.ingressIfindex });
          if (expectedRetval(t.action) === TC_ACT_REDIRECT) problems.push(`twin forwards a frame the kernel refuses to run: ${tag(b)}`);
          stats.twinOnly++;
        }
        const runnable = built.filter((x) => kernelAccepts(x.frame));
        const kernel = await runKernelBatch(e, work, `f${run++}`, runnable.map((b) => ({ progPin: progPin[b.program], frame: b.frame, ifindex: b.ifindex, ingressIfindex: b.ingressIfindex })));
        const overlay = new CtOverlay(snap);
        twin.setSource(overlay);
        runnable.forEach((b, i) => {
          const k = kernel[i]!;
          const t = twin!.run(b.program, b.frame, { ifindex: b.ifindex, ingressIfindex: b.ingressIfindex });
          overlay.record(t);
          const diff = differences(b, k, t);
          if (diff.length) problems.push(`kernel and twin disagree (${diff.join('; ')}): ${tag(b)}`);
          const why = malformedBecause(b.frame);
          const forwarded = k.retval === TC_ACT_REDIRECT || expectedRetval(t.core.action) === TC_ACT_REDIRECT;
          if (why) {
            stats.malformed++;
            stats.why.set(why.replace(/\d+/g, 'N'), (stats.why.get(why.replace(/\d+/g, 'N')) ?? 0) + 1);
            if (forwarded) problems.push(`malformed frame (${why}) forwarded as ${t.reasonName}: ${tag(b)}`);
          }
          if (forwarded && !why) {
            stats.forwarded++;
            if (b.kind === 'mutated') stats.forwardedMutated++;
            // a BPF VXLAN encapsulation's own (outer) header is new: the pod's is the inner one
            const out = t.actionName === 'ENCAP_NEIGH' ? Buffer.concat([k.dataOut.subarray(0, 14), k.dataOut.subarray(64)]) : k.dataOut;
            if (headerChecksumOk(b.frame) !== headerChecksumOk(out)) problems.push(`forwarding changed the header checksum's validity (${headerChecksumOk(b.frame)} → ${headerChecksumOk(out)}): ${tag(b)}`);
            if (!headerChecksumOk(b.frame)) stats.badCsumForwarded++;
          }
          stats.reasons.set(`${b.program}:${t.reasonName}`, (stats.reasons.get(`${b.program}:${t.reasonName}`) ?? 0) + 1);
          stats.kernel++;
        });
        stats.frames += built.length;
        snap.close();
        await rm(work, { recursive: true, force: true });
        await mkdir(work, { recursive: true });
        if (problems.length) throw new Error(`${problems.length} problem(s) in a batch of ${built.length} (map state seed ${stateSeed}):\n${problems.slice(0, 10).join('\n')}`);
      }),
      { seed: SEED, numRuns: Math.ceil(CASES / PER_BATCH), endOnFailure: true },
    );
    console.log(
      `packet fuzz: seed ${SEED}, ${stats.frames} frames in ${run} batches, ${stats.kernel} through the kernel and the twin, ${stats.twinOnly} twin-only (test_run refuses them), ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s\n  malformed IPv4: ${stats.malformed} (${[...stats.why.entries()].sort().map(([k, v]) => `${k}=${v}`).join(', ')}), none forwarded\n` +
        `  forwarded: ${stats.forwarded} (${stats.forwardedMutated} mutated, ${stats.badCsumForwarded} with a bad header checksum kept bad)\n  reasons: ${[...stats.reasons.entries()].sort().map(([k, v]) => `${k}=${v}`).join(' ')}`,
    );
    // the checks above are only worth something if the fuzzer reached both sides of them
    expect(stats.frames).toBe(Math.ceil(CASES / PER_BATCH) * PER_BATCH);
    if (CASES >= 1000) {
      expect(stats.malformed).toBeGreaterThan(CASES / 20);
      expect(stats.forwarded).toBeGreaterThan(CASES / 50);
      expect(stats.forwardedMutated).toBeGreaterThan(0);
    }
  });

  it('the malformed judgement itself: a valid frame passes, each defect is named', () => {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(28, 2);
    const f = Buffer.concat([Buffer.from('0200000000010200000000020800', 'hex'), ip, Buffer.alloc(8)]);
    expect(malformedBecause(f)).toBeUndefined();
    const w = (o: number, v: number, n = 1) => {
      const g = Buffer.from(f);
      if (n === 1) g[o] = v;
      else g.writeUInt16BE(v, o);
      return malformedBecause(g);
    };
    expect(w(14, 0x65)).toBe('IP version 6');
    expect(w(14, 0x44)).toBe('IHL 4');
    expect(w(14, 0x4f)).toMatch(/^options past the frame/);
    expect(w(16, 0, 2)).toBe('total length 0 without GSO');
    expect(w(16, 19, 2)).toMatch(/below the header/);
    expect(w(16, 29, 2)).toMatch(/past the frame/);
    expect(malformedBecause(f.subarray(0, 30))).toBe('IPv4 base header cut short');
  });
});

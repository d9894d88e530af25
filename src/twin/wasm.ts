// Instantiating build/twin/decide.wasm (bpf/twin/twin.c: the datapath's shared decision C) and
// running its programs on frames. Map lookups are served by a MapSource and the FIB by a Fib;
// both can be swapped between runs. The layouts of the wasm build are checked against the
// generated TypeScript layouts before any offset is trusted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../assets/index.js';
import { TWIN_WASM } from '../build/twin.mjs';
import { PodwireError } from '../errors/index.js';
import { enumNames } from '../maps/codec.js';
import { enums, maps as mapLayouts, structs } from '../maps/generated/layouts.js';
import { type Fib, noFib } from './fib.js';
import type { MapSource } from './sources.js';
import { decodeStruct, type FieldValue } from './struct.js';

export const twinWasmPath = (): string => join(packageRoot(), TWIN_WASM);

/** The verdict's core, as the BPF programs record it in skb->cb[0..4]. */
export interface CoreVerdict {
  reason: number;
  action: number;
  ifindex: number;
  /** Network byte order, as a little-endian u32 (the cb word's value). */
  nhAddr: number;
  tunnelId: number;
}

export interface TwinLookup {
  map: string;
  key: Buffer;
  /** undefined: miss. */
  value: Buffer | undefined;
}

export interface TwinRun {
  program: string;
  /** pw_pkt as parsed by the shared pw_parse(). */
  pkt: Record<string, FieldValue>;
  /** pw_verdict, every field. */
  verdict: Record<string, FieldValue>;
  core: CoreVerdict;
  reasonName: string;
  actionName: string;
  /** Every map lookup the decision made, in order. */
  lookups: TwinLookup[];
  /** The FIB query and answer of a REDIRECT_NEIGH decision (answer undefined: no FIB). */
  fib?: { ingressIfindex: number; dst: string; rc?: number; ifindex?: number; nexthop?: string };
}

export interface RunContext {
  /** skb->ifindex: the device the program is attached to. */
  ifindex: number;
  /** skb->ingress_ifindex (the FIB's input device); default = ifindex. */
  ingressIfindex?: number;
  /** skb->len; default = the frame's length. */
  len?: number;
  /** The skb is a GSO aggregate (skb->gso_size != 0); default false. Only then is IPv4 tot_len 0 valid. */
  gso?: boolean;
}

export const reasonNames: readonly string[] = enumNames(enums.pw_reason);
export const actionNames: readonly string[] = enumNames(enums.pw_action);

const FIB_UNKNOWN = -1000; // PW_TWIN_FIB_UNKNOWN in twin.c
const PROG_PREFIX = 'prog_';
const V = structs.pw_verdict.fields;

type ProgFn = (dataLen: number, skbLen: number, ifindex: number, ingressIfindex: number, gso: number) => number;

interface Exports {
  memory: WebAssembly.Memory;
  pw_twin_data(): number;
  pw_twin_data_max(): number;
  pw_twin_pkt(): number;
  pw_twin_verdict(): number;
  pw_twin_fib_rc(): number;
  pw_twin_sizeof_pkt(): number;
  pw_twin_sizeof_verdict(): number;
}

const compiled = new Map<string, WebAssembly.Module>();

function wasmModule(path = twinWasmPath()): WebAssembly.Module {
  let mod = compiled.get(path);
  if (mod) return mod;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new PodwireError('IO_FAILED', `the WebAssembly twin ${path} is missing: run \`npm run build\``, { cause });
  }
  compiled.set(path, (mod = new WebAssembly.Module(new Uint8Array(bytes))));
  return mod;
}

export class Twin {
  /** Programs the twin can run (the BPF program names). */
  readonly programs: readonly string[];
  private readonly ex: Exports;
  private readonly progs = new Map<string, ProgFn>();
  private mem: Uint8Array;
  private dv: DataView;
  private readonly dataPtr: number;
  private readonly dataMax: number;
  private readonly verdictPtr: number;
  private readonly pktPtr: number;
  private recording: TwinLookup[] | undefined;
  private fibQuery: TwinRun['fib'];

  private constructor(
    instance: WebAssembly.Instance,
    private source: MapSource,
    private fib: Fib,
  ) {
    this.ex = instance.exports as unknown as Exports;
    for (const [name, fn] of Object.entries(instance.exports)) {
      if (name.startsWith(PROG_PREFIX)) this.progs.set(name.slice(PROG_PREFIX.length), fn as ProgFn);
    }
    this.programs = [...this.progs.keys()];
    this.mem = new Uint8Array(this.ex.memory.buffer);
    this.dv = new DataView(this.ex.memory.buffer);
    this.dataPtr = this.ex.pw_twin_data();
    this.dataMax = this.ex.pw_twin_data_max();
    this.verdictPtr = this.ex.pw_twin_verdict();
    this.pktPtr = this.ex.pw_twin_pkt();
    const pairs: Array<[string, number, number]> = [
      ['pw_pkt', this.ex.pw_twin_sizeof_pkt(), structs.pw_pkt.size],
      ['pw_verdict', this.ex.pw_twin_sizeof_verdict(), structs.pw_verdict.size],
    ];
    for (const [name, wasm, ts] of pairs) {
      if (wasm !== ts) throw mismatch(`struct ${name} is ${wasm} bytes in the twin and ${ts} in the generated layouts`);
    }
  }

  /** Instantiates the twin with lookups served by `source` and the FIB by `fib` (default: none). */
  static async load(source: MapSource, fib: Fib = noFib, wasmPath?: string): Promise<Twin> {
    const mod = wasmModule(wasmPath);
    let self: Twin | undefined;
    const mapImports: Record<string, (k: number, ks: number, v: number, vs: number) => number> = {};
    for (const imp of WebAssembly.Module.imports(mod)) {
      if (imp.module !== 'maps') continue;
      const layout = (mapLayouts as Record<string, { keySize: number; valueSize: number }>)[imp.name];
      if (!layout) throw mismatch(`the twin looks up map ${JSON.stringify(imp.name)}, which the generated layouts do not define`);
      mapImports[imp.name] = (k, ks, v, vs) => self!.lookup(imp.name, layout, k, ks, v, vs);
    }
    const kernel = {
      fib_lookup: (ifindex: number, src: number, dst: number, tos: number, protocol: number, outIf: number, outNh: number) =>
        self!.fibLookup(ifindex, src, dst, tos, protocol, outIf, outNh),
    };
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(mod, { maps: mapImports, kernel });
    } catch (cause) {
      throw mismatch(`cannot instantiate the twin: ${(cause as Error).message}`);
    }
    self = new Twin(instance, source, fib);
    return self;
  }

  setSource(source: MapSource): void {
    this.source = source;
  }

  setFib(fib: Fib): void {
    this.fib = fib;
  }

  private view(): Uint8Array {
    // the twin never grows its memory (no allocator), but a grown memory would detach the old
    // buffer, which then reads as 0 bytes long: cheaper to test than the memory.buffer getter
    if (this.mem.byteLength === 0) {
      this.mem = new Uint8Array(this.ex.memory.buffer);
      this.dv = new DataView(this.ex.memory.buffer);
    }
    return this.mem;
  }

  private lookup(map: string, layout: { keySize: number; valueSize: number }, k: number, ks: number, v: number, vs: number): number {
    if (ks !== layout.keySize || vs !== layout.valueSize) {
      throw mismatch(`map ${map}: the twin uses key ${ks} B / value ${vs} B, the generated layouts ${layout.keySize} B / ${layout.valueSize} B`);
    }
    const mem = this.view();
    const key = mem.subarray(k, k + ks);
    const value = this.source.lookup(map, key);
    if (this.recording) this.recording.push({ map, key: Buffer.from(key), value: value && Buffer.from(value) });
    if (value === undefined) return 0;
    if (value.length < vs) throw mismatch(`map ${map} returned ${value.length} B for a ${vs} B value`);
    mem.set(value.length === vs ? value : value.subarray(0, vs), v);
    return 1;
  }

  private fibLookup(ifindex: number, src: number, dst: number, tos: number, protocol: number, outIf: number, outNh: number): number {
    const mem = this.view();
    // an i32 holding network-order bytes read little-endian: the first byte is the low one
    const addr = (n: number) => `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`;
    const q = { ingressIfindex: ifindex, src: addr(src), dst: addr(dst), tos, protocol };
    const a = this.fib(q);
    this.fibQuery = { ingressIfindex: ifindex, dst: q.dst, ...(a ? { rc: a.rc, ifindex: a.ifindex, nexthop: a.nexthop } : {}) };
    if (!a) return FIB_UNKNOWN;
    this.dv.setUint32(outIf, a.ifindex >>> 0, true);
    const nh = a.nexthop.split('.').map(Number);
    for (let i = 0; i < 4; i++) mem[outNh + i] = nh[i] ?? 0;
    return a.rc;
  }

  private prog(program: string): ProgFn {
    const fn = this.progs.get(program);
    if (!fn) throw new PodwireError('USAGE', `no program ${JSON.stringify(program)} in the twin: choose one of ${this.programs.join(', ')}`);
    return fn;
  }

  private exec(fn: ProgFn, frame: Uint8Array, ctx: RunContext): void {
    const mem = this.view();
    const n = Math.min(frame.length, this.dataMax);
    mem.set(n === frame.length ? frame : frame.subarray(0, n), this.dataPtr);
    fn(n, ctx.len ?? frame.length, ctx.ifindex >>> 0, (ctx.ingressIfindex ?? ctx.ifindex) >>> 0, ctx.gso ? 1 : 0);
  }

  /** The verdict core only: no allocation beyond the result object (differential tests, benchmarks). */
  decide(program: string, frame: Uint8Array, ctx: RunContext): CoreVerdict {
    this.recording = undefined;
    this.exec(this.prog(program), frame, ctx);
    return this.core();
  }

  private core(): CoreVerdict {
    this.view();
    const dv = this.dv;
    const p = this.verdictPtr;
    // wasm32 is little-endian, like the hosts podwire runs on
    return {
      reason: dv.getUint32(p + V.reason.offset, true),
      action: dv.getUint32(p + V.action.offset, true),
      ifindex: dv.getUint32(p + V.ifindex.offset, true),
      nhAddr: dv.getUint32(p + V.nh_addr.offset, true),
      tunnelId: dv.getUint32(p + V.tunnel_id.offset, true),
    };
  }

  /** Everything: parsed packet, verdict, every lookup, the FIB step. */
  run(program: string, frame: Uint8Array, ctx: RunContext): TwinRun {
    const fn = this.prog(program);
    const lookups: TwinLookup[] = [];
    this.recording = lookups;
    this.fibQuery = undefined;
    try {
      this.exec(fn, frame, ctx);
    } finally {
      this.recording = undefined;
    }
    const mem = this.view();
    const core = this.core();
    const out: TwinRun = {
      program,
      pkt: decodeStruct(structs.pw_pkt, mem.subarray(this.pktPtr, this.pktPtr + structs.pw_pkt.size)),
      verdict: decodeStruct(structs.pw_verdict, mem.subarray(this.verdictPtr, this.verdictPtr + structs.pw_verdict.size)),
      core,
      reasonName: reasonNames[core.reason] ?? `REASON_${core.reason}`,
      actionName: actionNames[core.action] ?? `ACTION_${core.action}`,
      lookups,
    };
    if (this.fibQuery) out.fib = this.fibQuery;
    return out;
  }
}

function mismatch(what: string): PodwireError {
  return new PodwireError('MAP_LAYOUT_MISMATCH', `${what}: the twin and the generated layouts come from different builds; run \`npm run build\``);
}

// Map migration for an upgrade that changed a map's layout: the entries of the old pinned map
// are copied into the new (staged, not yet used) map field by field, matched by BTF name — the
// old map's own BTF, as `bpftool map dump` formats it, so it works for maps pinned by any
// release, with or without a layout record. Fields the new layout added start at zero; fields it
// dropped are reported. Integer fields and arrays of integers are converted; a field of any other
// shape (nested struct, union) stops the migration with an error naming it.
import { createMapRef, objGet, RawMap } from 'bpf';
import { BPFTOOL, type MapLayout, type ObjectLayouts } from '../build/bpf.mjs';
import { PodwireError } from '../errors/index.js';
import { runJson } from '../exec/run.js';
import { percpuView, possibleCpus, roundup8 } from '../maps/open.js';

type Formatted = number | number[] | { [field: string]: unknown };

interface DumpEntry {
  key: string[];
  value?: string[];
  values?: Array<{ cpu: number; value: string[] }>;
  formatted?: { key: Formatted; value?: Formatted; values?: Array<{ cpu: number; value: Formatted }> };
}

export interface MigrationResult {
  map: string;
  entries: number;
  /** Fields of the new layout the old one did not have (written as zero). */
  addedFields: string[];
  /** Fields of the old layout the new one does not have (their values are dropped). */
  droppedFields: string[];
}

const raw = (hex: string[]): Buffer => Buffer.from(hex.map((h) => parseInt(h, 16)));

function writeInt(buf: Buffer, at: number, size: number, v: unknown, where: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where} is not an integer (${JSON.stringify(v)?.slice(0, 60)})`);
  if (size === 1) buf.writeUInt8(v & 0xff, at);
  else if (size === 2) buf.writeUInt16LE(v & 0xffff, at);
  else if (size === 4) buf.writeUInt32LE(v >>> 0, at);
  else if (size === 8) buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(Math.trunc(v))), at);
  else throw new Error(`${where} has an integer size ${size}`);
}

/** One key or value of the new layout from the old entry's BTF-formatted fields. */
function encode(type: string, size: number, formatted: Formatted | undefined, rawOld: Buffer, layouts: ObjectLayouts, seen: Set<string>, where: string): Buffer {
  const s = layouts.structs[type];
  if (!s) {
    // a scalar key or value (u32): same size → the bytes as they are
    if (rawOld.length === size) return rawOld;
    const out = Buffer.alloc(size);
    writeInt(out, 0, size, formatted, where);
    return out;
  }
  if (typeof formatted !== 'object' || formatted === null || Array.isArray(formatted)) {
    throw new Error(`${where}: the old map has no BTF field names for ${type} (it was created without BTF)`);
  }
  const out = Buffer.alloc(s.size);
  for (const [name, f] of Object.entries(s.fields)) {
    if (!(name in formatted)) continue; // a field the old layout did not have: zero
    seen.add(name);
    const v = formatted[name];
    if (f.count !== undefined) {
      const elem = f.size / f.count;
      if (!Array.isArray(v)) throw new Error(`${where}.${name} was not an array in the old layout`);
      for (let i = 0; i < f.count && i < v.length; i++) writeInt(out, f.offset + i * elem, elem, v[i], `${where}.${name}[${i}]`);
    } else {
      writeInt(out, f.offset, f.size, v, `${where}.${name}`);
    }
  }
  return out;
}

function fieldsOf(f: Formatted | undefined): string[] {
  return f && typeof f === 'object' && !Array.isArray(f) ? Object.keys(f) : [];
}

/**
 * Copy every entry of the pinned map at oldPin into the map pinned at newPin (created by this
 * build's object with layout `want`). The new map must not be in use yet.
 */
export async function migrateMap(name: string, oldPin: string, newPin: string, want: MapLayout, layouts: ObjectLayouts): Promise<MigrationResult> {
  const dump = await runJson<DumpEntry[]>(BPFTOOL, ['-j', 'map', 'dump', 'pinned', oldPin], { errorCode: 'IO_FAILED' });
  const ref = createMapRef(objGet(newPin), { transfer: true });
  const percpu = want.type.startsWith('percpu_') || want.type.startsWith('lru_percpu');
  const view = percpu ? percpuView(ref, want.valueSize) : ref;
  const map = new RawMap(view);
  const keySeen = new Set<string>();
  const valueSeen = new Set<string>();
  const oldFields = new Set<string>();
  let entries = 0;
  try {
    for (const [i, e] of dump.entries()) {
      const where = `map '${name}' entry ${i}`;
      const key = encode(want.key, want.keySize, e.formatted?.key, raw(e.key), layouts, keySeen, `${where} key`);
      let value: Buffer;
      if (percpu) {
        const per = roundup8(want.valueSize);
        value = Buffer.alloc(per * possibleCpus());
        for (const [k, pv] of (e.values ?? []).entries()) {
          if (pv.cpu >= possibleCpus()) continue;
          const f = e.formatted?.values?.[k]?.value;
          for (const n of fieldsOf(f)) oldFields.add(n);
          encode(want.value, want.valueSize, f, raw(pv.value), layouts, valueSeen, `${where} cpu ${pv.cpu}`).copy(value, pv.cpu * per);
        }
      } else {
        for (const n of fieldsOf(e.formatted?.value)) oldFields.add(n);
        value = encode(want.value, want.valueSize, e.formatted?.value, raw(e.value ?? []), layouts, valueSeen, `${where} value`);
      }
      map.set(key, value);
      entries++;
    }
  } catch (cause) {
    throw new PodwireError('MAP_LAYOUT_MISMATCH', `cannot migrate the pinned map '${name}' (${oldPin}) to this build's layout: ${(cause as Error).message}`, { cause });
  } finally {
    ref.close();
  }
  const newFields = Object.keys(layouts.structs[want.value]?.fields ?? {});
  return {
    map: name,
    entries,
    addedFields: entries ? newFields.filter((f) => !valueSeen.has(f)) : [],
    droppedFields: [...oldFields].filter((f) => !newFields.includes(f)),
  };
}

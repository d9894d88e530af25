// The layout record: what the loader that last loaded a pin dir knew about its maps, pinned next
// to them as PINDIR/layout (bpffs holds only BPF objects, so it is a one-element array map whose
// value is a length-prefixed JSON document). Every load writes it; the next loader reads it first.
// It exists for the downgrade: an older podwire that meets maps of a newer layout cannot know
// what changed, but it can read who pinned them (the record's generation and writer) and say so
// instead of failing on a size difference or, worse, loading silently. LAYOUT_GENERATION goes up
// whenever a map layout changes (test/loader/layout-record.test.ts fails until it does).
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createMapRef, objGet, RawMap } from 'bpf';
import { BPFTOOL, type MapLayout, type ObjectLayouts } from '../build/bpf.mjs';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';

/** Bump when any map's type, key/value struct, size or max_entries changes (or a map is added). */
export const LAYOUT_GENERATION = 3;
export const LAYOUT_RECORD_FORMAT = 'podwire-layout/1';
const RECORD_VALUE_SIZE = 16384;

export interface FieldRecord {
  name: string;
  offset: number;
  size: number;
  count?: number;
}

export interface MapRecord extends MapLayout {
  keyFields?: FieldRecord[];
  valueFields?: FieldRecord[];
}

export interface LayoutRecord {
  format: string;
  generation: number;
  /** Who wrote it: "podwire <version>" and, when known, more. */
  writer: string;
  writtenAt: string;
  maps: Record<string, MapRecord>;
}

export const layoutRecordPin = (pinDir: string): string => join(pinDir, 'layout');

/** The record for an object's maps (BTF field names and offsets of every key and value struct). */
export function recordFor(layouts: ObjectLayouts, writer: string): LayoutRecord {
  const fields = (type: string): FieldRecord[] | undefined => {
    const s = layouts.structs[type];
    return s ? Object.entries(s.fields).map(([name, f]) => ({ name, ...f })) : undefined;
  };
  const maps: Record<string, MapRecord> = {};
  for (const [name, m] of Object.entries(layouts.maps).sort(([a], [b]) => a.localeCompare(b))) {
    const keyFields = fields(m.key);
    const valueFields = fields(m.value);
    maps[name] = { ...m, ...(keyFields ? { keyFields } : {}), ...(valueFields ? { valueFields } : {}) };
  }
  return { format: LAYOUT_RECORD_FORMAT, generation: LAYOUT_GENERATION, writer, writtenAt: new Date().toISOString(), maps };
}

function openRecordMap(pin: string): { map: RawMap; valueSize: number; close(): void } {
  const ref = createMapRef(objGet(pin), { transfer: true });
  return { map: new RawMap(ref), valueSize: ref.valueSize, close: () => ref.close() };
}

/** The record pinned at PINDIR/layout; undefined when there is none (a pin dir from before records). */
export function readLayoutRecord(pinDir: string): LayoutRecord | undefined {
  const pin = layoutRecordPin(pinDir);
  if (!existsSync(pin)) return undefined;
  let m;
  try {
    m = openRecordMap(pin);
  } catch (cause) {
    throw new PodwireError('IO_FAILED', `cannot open the layout record ${pin}: ${(cause as Error).message}`, { cause });
  }
  try {
    const v = m.map.get(Buffer.alloc(4));
    const len = v && v.length >= 4 ? v.readUInt32LE(0) : 0;
    if (!v || len === 0 || len > v.length - 4) throw new Error('empty or truncated');
    const rec = JSON.parse(v.subarray(4, 4 + len).toString('utf8')) as LayoutRecord;
    if (typeof rec.generation !== 'number' || typeof rec.maps !== 'object') throw new Error('no generation or maps');
    return rec;
  } catch (cause) {
    throw new PodwireError(
      'MAP_LAYOUT_MISMATCH',
      `the layout record ${pin} is unreadable (${(cause as Error).message}): it was not written by this podwire's record format; ` +
        `remove it (rm ${pin}) only if you know the maps under ${pinDir} match this build`,
      { cause },
    );
  } finally {
    m.close();
  }
}

export async function writeLayoutRecord(pinDir: string, rec: LayoutRecord): Promise<void> {
  const pin = layoutRecordPin(pinDir);
  const json = Buffer.from(JSON.stringify(rec), 'utf8');
  if (json.length + 4 > RECORD_VALUE_SIZE) throw new PodwireError('IO_FAILED', `the layout record is ${json.length} bytes, more than the ${RECORD_VALUE_SIZE - 4} its map holds`);
  if (existsSync(pin)) {
    const m = openRecordMap(pin);
    const size = m.valueSize;
    m.close();
    if (size !== RECORD_VALUE_SIZE) await rm(pin, { force: true });
  }
  if (!existsSync(pin)) {
    await run(BPFTOOL, ['map', 'create', pin, 'type', 'array', 'key', '4', 'value', String(RECORD_VALUE_SIZE), 'entries', '1', 'name', 'pw_layout'], { errorCode: 'IO_FAILED' });
  }
  const value = Buffer.alloc(RECORD_VALUE_SIZE);
  value.writeUInt32LE(json.length, 0);
  json.copy(value, 4);
  const m = openRecordMap(pin);
  try {
    m.map.set(Buffer.alloc(4), value);
  } finally {
    m.close();
  }
}

const describe = (m: Partial<MapRecord> | undefined): string =>
  m ? `${m.type} key ${m.keySize}${m.key ? ` (${m.key})` : ''} value ${m.valueSize}${m.value ? ` (${m.value}${m.valueFields ? `: ${m.valueFields.map((f) => `${f.name}@${f.offset}`).join(' ')}` : ''})` : ''} max ${m.maxEntries}` : 'absent';

/** Why a pinned map cannot serve this build, in words, or undefined when it can. */
export function layoutDifference(have: Pick<MapLayout, 'type' | 'keySize' | 'valueSize' | 'maxEntries'>, want: MapLayout): string | undefined {
  const d: string[] = [];
  if (have.type !== want.type) d.push(`type ${have.type} != ${want.type}`);
  if (have.keySize !== want.keySize) d.push(`key size ${have.keySize} != ${want.keySize}`);
  if (have.valueSize !== want.valueSize) d.push(`value size ${have.valueSize} != ${want.valueSize}`);
  if (have.maxEntries !== want.maxEntries) d.push(`max_entries ${have.maxEntries} != ${want.maxEntries}`);
  return d.length ? d.join(', ') : undefined;
}

/**
 * The downgrade check: pinned maps (as the kernel reports them) written by a newer podwire
 * (the record's generation is above ours) that this build cannot use. Throws DATAPATH_NEWER
 * naming every such map, both layouts and what to do; returns the record otherwise.
 */
export function checkNotNewer(pinDir: string, record: LayoutRecord | undefined, pinned: Record<string, Pick<MapLayout, 'type' | 'keySize' | 'valueSize' | 'maxEntries'>>, want: Record<string, MapLayout>): void {
  if (!record || record.generation <= LAYOUT_GENERATION) return;
  const bad: string[] = [];
  for (const [name, have] of Object.entries(pinned)) {
    const w = want[name];
    if (!w) continue;
    const diff = layoutDifference(have, w);
    if (diff) bad.push(`map '${name}' (${diff}): pinned ${describe(record.maps[name] ?? have)}; this build ${describe(w)}`);
  }
  if (!bad.length) return;
  throw new PodwireError(
    'DATAPATH_NEWER',
    `the datapath pinned at ${pinDir} was loaded by a newer podwire (${record.writer}, layout generation ${record.generation}; this is generation ${LAYOUT_GENERATION}) ` +
      `and this podwire cannot use its maps — ${bad.join('; ')}. Nothing was changed. ` +
      `Run the newer podwire again (an upgrade migrates maps, a downgrade cannot), or, to downgrade anyway, ` +
      `\`podwire datapath unload --pin-dir ${pinDir}\` and load this one: that drops every map's contents ` +
      `(pods stay without connectivity until the agent has re-created their endpoints).`,
  );
}

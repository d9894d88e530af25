// Per-reason packet/byte counters (PERCPU_ARRAY, index = reason * DIR_MAX + direction), summed
// over CPUs. Reason and direction names come from the C enums via the generated layouts.
import { RawMap } from 'bpf';
import { enumNames, readU64, writeU32 } from './codec.js';
import { enums, maps, structs } from './generated/layouts.js';
import { openPinnedMap, possibleCpus, roundup8 } from './open.js';

export interface CounterRow {
  reason: string;
  direction: string;
  packets: bigint;
  bytes: bigint;
}

export interface CountersMap {
  /** Rows with at least one packet, summed over CPUs. */
  read(): CounterRow[];
  /** Reason names indexed by their C enum value. */
  readonly reasonNames: readonly string[];
  readonly directionNames: readonly string[];
  close(): void;
}

export const reasonNames: readonly string[] = enumNames(enums.pw_reason);
export const directionNames: readonly string[] = enumNames(enums.pw_direction);

export function openCounters(pinDir: string): CountersMap {
  const ref = openPinnedMap(pinDir, 'counters');
  const map = new RawMap(ref);
  const dirs = enums.pw_direction.values.MAX;
  const stride = roundup8(structs.pw_counter.size);
  const f = structs.pw_counter.fields;
  return {
    reasonNames,
    directionNames,
    read() {
      const rows: CounterRow[] = [];
      const key = Buffer.alloc(maps.counters.keySize);
      const ncpu = possibleCpus();
      for (let i = 0; i < maps.counters.maxEntries; i++) {
        writeU32(key, 0, i);
        const v = map.get(key);
        if (v === undefined) continue;
        let packets = 0n;
        let bytes = 0n;
        for (let c = 0; c < ncpu; c++) {
          packets += readU64(v, c * stride + f.packets.offset);
          bytes += readU64(v, c * stride + f.bytes.offset);
        }
        if (packets === 0n) continue;
        const r = Math.floor(i / dirs);
        rows.push({ reason: reasonNames[r] ?? `REASON_${r}`, direction: directionNames[i % dirs] ?? `DIR_${i % dirs}`, packets, bytes });
      }
      return rows;
    },
    close() {
      ref.close();
    },
  };
}

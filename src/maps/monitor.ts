// The monitor's control and accounting maps (bpf/lib/monitor.h): monitor_cfg (ARRAY[1]: the gate's
// lease and what to emit, written by the listener build/bin/pw-monitor) and monitor_cpu
// (PERCPU_ARRAY[1]: events emitted and lost per CPU, summed here). The ring buffer itself is read
// by pw-monitor, not through these.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RawMap } from 'bpf';
import { readU32, readU64, writeU32 } from './codec.js';
import { enums, maps, structs } from './generated/layouts.js';
import { openPinnedMap, possibleCpus, roundup8 } from './open.js';
import { pinPaths } from '../loader/pins.js';

export interface MonitorConfig {
  /** CLOCK_MONOTONIC ns until which the gate is open; 0n = closed. */
  leaseNs: bigint;
  /** Bitmask of 1 << enum pw_monitor_type. */
  types: number;
  sample: number;
  rate: number;
}

export interface MonitorStats {
  /** Events written to the ring buffer, summed over CPUs. */
  emitted: bigint;
  /** Events over the per-CPU rate limit. */
  lostRate: bigint;
  /** Events the ring buffer had no room for. */
  lostFull: bigint;
}

/** Event type names indexed by their C enum value (NONE, DROP, POLICY, TRACE). */
export const monitorTypeNames: readonly string[] = Object.entries(enums.pw_monitor_type.values)
  .filter(([n]) => n !== 'MAX')
  .sort((a, b) => a[1] - b[1])
  .map(([n]) => n.toLowerCase());

/** The bit of monitor_cfg.types for a type name ('drop', 'policy', 'trace'). */
export function monitorTypeBit(name: string): number | undefined {
  const v = (enums.pw_monitor_type.values as Record<string, number>)[name.toUpperCase()];
  return v === undefined || v === 0 || name.toUpperCase() === 'MAX' ? undefined : 1 << v;
}

/** true when the datapath at pinDir was built with the monitor (older ones have no such maps). */
export function hasMonitor(pinDir: string): boolean {
  return existsSync(join(pinPaths(pinDir).mapsDir, 'monitor_cfg'));
}

export function readMonitorConfig(pinDir: string): MonitorConfig {
  const ref = openPinnedMap(pinDir, 'monitor_cfg');
  try {
    const key = Buffer.alloc(maps.monitor_cfg.keySize);
    writeU32(key, 0, 0);
    const v = new RawMap(ref).get(key);
    const f = structs.pw_monitor_cfg.fields;
    if (v === undefined) return { leaseNs: 0n, types: 0, sample: 0, rate: 0 };
    return { leaseNs: readU64(v, f.lease_ns.offset), types: readU32(v, f.types.offset), sample: readU32(v, f.sample.offset), rate: readU32(v, f.rate.offset) };
  } finally {
    ref.close();
  }
}

export function readMonitorStats(pinDir: string): MonitorStats {
  const ref = openPinnedMap(pinDir, 'monitor_cpu');
  try {
    const key = Buffer.alloc(maps.monitor_cpu.keySize);
    writeU32(key, 0, 0);
    const v = new RawMap(ref).get(key);
    const out: MonitorStats = { emitted: 0n, lostRate: 0n, lostFull: 0n };
    if (v === undefined) return out;
    const stride = roundup8(structs.pw_monitor_cpu.size);
    const f = structs.pw_monitor_cpu.fields;
    for (let c = 0; c < possibleCpus(); c++) {
      out.emitted += readU64(v, c * stride + f.emitted.offset);
      out.lostRate += readU64(v, c * stride + f.lost_rate.offset);
      out.lostFull += readU64(v, c * stride + f.lost_full.offset);
    }
    return out;
  } finally {
    ref.close();
  }
}

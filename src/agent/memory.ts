// Where the agent's memory goes, for the scale bench and an operator chasing RSS: behind
// PODWIRE_DEBUG_MEMORY=<ms> (off by default), a line every <ms> and at named moments with the
// process RSS/peak, V8's heap spaces (used vs committed: the difference is GC slack), external and
// ArrayBuffer memory, and what is left over (code, malloc arenas, thread stacks: native).
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import type { Logger } from './log.js';

const MB = 1024 * 1024;
const mb = (n: number): number => Math.round((n / MB) * 10) / 10;

function procStatus(): { rssMB: number; hwmMB: number } {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? Number.NaN) * 1024;
    return { rssMB: mb(kb('VmRSS')), hwmMB: mb(kb('VmHWM')) };
  } catch {
    return { rssMB: Number.NaN, hwmMB: Number.NaN };
  }
}

/** One snapshot: RSS and peak, heap used/committed per space, external, arrayBuffers, native rest. */
export function memorySplit(): Record<string, unknown> {
  const u = process.memoryUsage();
  const h = getHeapStatistics();
  const spaces: Record<string, string> = {};
  for (const s of getHeapSpaceStatistics()) spaces[s.space_name.replace(/_space$/, '')] = `${mb(s.space_used_size)}/${mb(s.space_size)}`;
  const { rssMB, hwmMB } = procStatus();
  return {
    rssMB,
    hwmMB,
    heapUsedMB: mb(h.used_heap_size),
    heapCommittedMB: mb(h.total_physical_size),
    heapSlackMB: mb(h.total_physical_size - h.used_heap_size),
    externalMB: mb(u.external),
    arrayBuffersMB: mb(u.arrayBuffers),
    mallocedMB: mb(h.malloced_memory),
    peakMallocedMB: mb(h.peak_malloced_memory),
    // RSS outside the V8 heap and its external buffers: code, malloc arenas, stacks, libuv
    nativeRestMB: Math.round((rssMB - mb(h.total_physical_size) - mb(u.external)) * 10) / 10,
    spacesUsedOfCommittedMB: spaces,
  };
}

export interface MemoryProbe {
  mark(moment: string): void;
  stop(): void;
}

/** The probe PODWIRE_DEBUG_MEMORY asks for (interval in ms), or a no-op. */
export function memoryProbe(log: Logger, env: NodeJS.ProcessEnv = process.env): MemoryProbe {
  const ms = Number(env['PODWIRE_DEBUG_MEMORY'] ?? '');
  if (!Number.isFinite(ms) || ms <= 0) return { mark: () => undefined, stop: () => undefined };
  const t = setInterval(() => log.info('memory', memorySplit()), ms);
  t.unref();
  return {
    mark: (moment) => log.info('memory', { moment, ...memorySplit() }),
    stop: () => clearInterval(t),
  };
}

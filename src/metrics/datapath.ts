// Metrics read from the datapath's pinned maps at scrape time only (prom-client collect()
// callbacks): per-reason packet/byte counters, endpoints, the fill level of every pinned map
// and the conntrack table size. Nothing polls in between; a scrape opens the pins, reads, and
// closes them, so a datapath reload (new map objects behind the same pins) is always seen.
import { Counter, Gauge } from 'prom-client';
import { enums } from '../maps/generated/layouts.js';
import { directionNames, openCounters, reasonNames } from '../maps/counters.js';
import { openRawPinned, pinnedMapNames } from '../maps/pinned.js';
import { hasMonitor, readMonitorConfig, readMonitorStats, type MonitorStats } from '../maps/monitor.js';
import { monotonicNs } from '../maps/conntrack.js';
import { countEntries, hasFillLevel } from './map-count.js';
import { PREFIX, registry } from './registry.js';

/** forward / pass (to the host stack) / drop, from the reason's name. */
export function verdictOf(reason: string): string {
  if (reason.startsWith('FWD_')) return 'forward';
  if (reason.startsWith('DROP_')) return 'drop';
  if (reason.startsWith('PASS_')) return 'pass';
  return 'other';
}

// Reasons and directions with a name in the C enums (MAX is a bound, not a reason).
const REASONS = reasonNames.filter((_, i) => i < enums.pw_reason.values.MAX);
const DIRECTIONS = directionNames.filter((_, i) => i < enums.pw_direction.values.MAX);

let source: { pinDir: string } | undefined;

const scrapeErrors = new Counter({
  name: `${PREFIX}metrics_scrape_errors_total`,
  help: 'Map reads that failed during a scrape (the families read from that map are empty in that scrape), by source',
  labelNames: ['source'] as const,
  registers: [registry],
});
for (const s of ['counters', 'maps', 'monitor']) scrapeErrors.inc({ source: s }, 0);

function guarded(what: 'counters' | 'maps' | 'monitor', fn: (pinDir: string) => void): void {
  if (!source) return;
  try {
    fn(source.pinDir);
  } catch {
    // A scrape must not fail as a whole because the datapath is being reloaded or not yet
    // loaded: the families of this source are simply absent from this scrape.
    scrapeErrors.inc({ source: what });
  }
}

// One read of each map per scrape feeds several families: snapshots are keyed by the scrape
// generation that scrape() (src/metrics/server.ts) bumps before asking prom-client for text.
let generation = 0;

export function nextScrape(): void {
  generation++;
}

let counterSnapshot: { gen: number; rows: Map<string, { packets: bigint; bytes: bigint }> } | undefined;

function readCounters(pinDir: string): Map<string, { packets: bigint; bytes: bigint }> {
  if (counterSnapshot?.gen === generation) return counterSnapshot.rows;
  const m = openCounters(pinDir);
  try {
    const rows = new Map<string, { packets: bigint; bytes: bigint }>();
    for (const r of m.read()) rows.set(`${r.reason}\0${r.direction}`, { packets: r.packets, bytes: r.bytes });
    counterSnapshot = { gen: generation, rows };
    return rows;
  } finally {
    m.close();
  }
}

/** Every named (reason, direction) pair, plus any unnamed one the map holds (a newer datapath). */
function counterSeries(rows: Map<string, { packets: bigint; bytes: bigint }>): Array<{ reason: string; direction: string; packets: bigint; bytes: bigint }> {
  const out = new Map<string, { reason: string; direction: string; packets: bigint; bytes: bigint }>();
  for (const reason of REASONS) for (const direction of DIRECTIONS) out.set(`${reason}\0${direction}`, { reason, direction, packets: 0n, bytes: 0n });
  for (const [k, v] of rows) {
    const [reason, direction] = k.split('\0') as [string, string];
    out.set(k, { reason, direction, ...v });
  }
  return [...out.values()];
}

// The per-CPU counters only ever grow (the map survives agent restarts and datapath reloads),
// so they are exposed as counters: collect() replaces the values with the map's sums (one read
// of the map per scrape feeds both families).
function datapathCounter(name: string, help: string, field: 'packets' | 'bytes'): void {
  new Counter({
    name: `${PREFIX}${name}`,
    help,
    labelNames: ['reason', 'direction', 'verdict'] as const,
    registers: [registry],
    collect() {
      this.reset();
      guarded('counters', (pinDir) => {
        for (const s of counterSeries(readCounters(pinDir))) this.inc({ reason: s.reason, direction: s.direction, verdict: verdictOf(s.reason) }, Number(s[field]));
      });
    },
  });
}
datapathCounter(
  'datapath_packets_total',
  'Packets seen by the datapath programs, by reason (the C enum pw_reason), direction and verdict (forward, pass to the host stack, drop); summed over CPUs',
  'packets',
);
datapathCounter('datapath_bytes_total', 'Bytes (skb->len, L2 included) seen by the datapath programs, by reason, direction and verdict; summed over CPUs', 'bytes');

interface MapStat {
  name: string;
  entries: number | undefined;
  maxEntries: number;
}

let mapSnapshot: { gen: number; stats: MapStat[] } | undefined;

/** Entries and capacity of every map pinned under PINDIR/maps (read once per scrape). */
export function readMapStats(pinDir: string): MapStat[] {
  if (mapSnapshot?.gen === generation) return mapSnapshot.stats;
  const stats: MapStat[] = [];
  for (const name of pinnedMapNames(pinDir)) {
    const m = openRawPinned(pinDir, name);
    try {
      stats.push({ name, entries: hasFillLevel(m.ref.type) ? countEntries(m.map, m.ref) : undefined, maxEntries: m.ref.maxEntries });
    } finally {
      m.close();
    }
  }
  mapSnapshot = { gen: generation, stats };
  return stats;
}

new Gauge({
  name: `${PREFIX}bpf_map_capacity`,
  help: 'max_entries of every pinned datapath map',
  labelNames: ['map'] as const,
  registers: [registry],
  collect() {
    this.reset();
    guarded('maps', (pinDir) => {
      for (const s of readMapStats(pinDir)) this.set({ map: s.name }, s.maxEntries);
    });
  },
});

new Gauge({
  name: `${PREFIX}bpf_map_entries`,
  help: 'Entries in every pinned datapath map that can fill up (hash and LPM maps; arrays are always full)',
  labelNames: ['map'] as const,
  registers: [registry],
  collect() {
    this.reset();
    guarded('maps', (pinDir) => {
      for (const s of readMapStats(pinDir)) if (s.entries !== undefined) this.set({ map: s.name }, s.entries);
    });
  },
});

new Gauge({
  name: `${PREFIX}bpf_map_pressure`,
  help: 'Fill level of every pinned datapath map that can fill up: entries / max_entries (1 = full; inserts fail, LRU maps evict)',
  labelNames: ['map'] as const,
  registers: [registry],
  collect() {
    this.reset();
    guarded('maps', (pinDir) => {
      for (const s of readMapStats(pinDir)) if (s.entries !== undefined && s.maxEntries > 0) this.set({ map: s.name }, s.entries / s.maxEntries);
    });
  },
});

new Gauge({
  name: `${PREFIX}endpoints`,
  help: 'Local pod endpoints in the datapath (entries of the endpoints map)',
  registers: [registry],
  collect() {
    this.reset();
    guarded('maps', (pinDir) => {
      const e = readMapStats(pinDir).find((s) => s.name === 'endpoints');
      this.set(e?.entries ?? 0);
    });
  },
});

new Gauge({
  name: `${PREFIX}conntrack_entries`,
  help: 'Flows tracked in the datapath\'s conntrack map (ct); 0 while the datapath has none',
  registers: [registry],
  collect() {
    this.reset();
    guarded('maps', (pinDir) => {
      const ct = readMapStats(pinDir).find((s) => s.name === 'ct');
      this.set(ct?.entries ?? 0);
    });
  },
});

// `podwire monitor` (bpf/lib/monitor.h): events the datapath wrote to the ring buffer and events it
// could not (per-CPU rate limit, ring buffer full), from the per-CPU monitor_cpu map; and whether
// a listener holds the gate open. Absent while the datapath predates the monitor.
let monitorSnapshot: { gen: number; stats: MonitorStats | undefined } | undefined;

function readMonitor(pinDir: string): MonitorStats | undefined {
  if (monitorSnapshot?.gen === generation) return monitorSnapshot.stats;
  const stats = hasMonitor(pinDir) ? readMonitorStats(pinDir) : undefined;
  monitorSnapshot = { gen: generation, stats };
  return stats;
}

new Counter({
  name: `${PREFIX}monitor_events_total`,
  help: 'Events the datapath wrote to the monitor ring buffer (only while a `podwire monitor` listener is attached); summed over CPUs',
  registers: [registry],
  collect() {
    this.reset();
    guarded('monitor', (pinDir) => {
      const s = readMonitor(pinDir);
      if (s) this.inc(Number(s.emitted));
    });
  },
});

new Counter({
  name: `${PREFIX}monitor_events_lost_total`,
  help: 'Monitor events the datapath did not emit, by cause: rate_limit (over the per-CPU events/s limit) or ring_full (the listener fell behind); summed over CPUs',
  labelNames: ['cause'] as const,
  registers: [registry],
  collect() {
    this.reset();
    guarded('monitor', (pinDir) => {
      const s = readMonitor(pinDir);
      if (!s) return;
      this.inc({ cause: 'rate_limit' }, Number(s.lostRate));
      this.inc({ cause: 'ring_full' }, Number(s.lostFull));
    });
  },
});

new Gauge({
  name: `${PREFIX}monitor_listening`,
  help: '1 while a `podwire monitor` listener holds the datapath\'s event gate open (its lease has not run out), else 0',
  registers: [registry],
  collect() {
    this.reset();
    guarded('monitor', (pinDir) => {
      if (!hasMonitor(pinDir)) return;
      this.set(readMonitorConfig(pinDir).leaseNs > monotonicNs() ? 1 : 0);
    });
  },
});

/** From now on, scrapes read the maps pinned under pinDir. */
export function watchDatapath(pinDir: string): void {
  source = { pinDir };
  counterSnapshot = undefined;
  mapSnapshot = undefined;
  monitorSnapshot = undefined;
}

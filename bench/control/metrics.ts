// Scrape cost at 100k endpoints (issue 12): one full /metrics rendering — what a Prometheus
// scrape of the agent costs — while the endpoints map holds 100k entries. Every map family is
// read at scrape time (counters summed over CPUs, every pinned map's entries counted with
// BPF_MAP_LOOKUP_BATCH), so this is the number that grows with the node's size. The datapath is
// loaded with capacities raised to 131072 (-D defines) in its own pins; the registry is the
// agent's own (src/metrics), exercised in this process without HTTP (a socket adds ~0.1 ms).
import { Bench } from 'tinybench';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { openEndpoints, type Endpoint } from '../../src/maps/index.js';
import { scrape, watchDatapath } from '../../src/metrics/index.js';
import { uniqueName } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';

const CAPACITY = 131072;

function ip(n: number): string {
  const v = ((10 << 24) >>> 0) + n;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export async function benchMetricsScrape(o: { endpoints: number; iterations: number }, col: Collector, progress: Progress): Promise<void> {
  const pinDir = `/sys/fs/bpf/${uniqueName('pwbx-')}`;
  const cleanup = () => unloadDatapath({ pinDir });
  const unregister = registerCleanup(cleanup);
  try {
    progress.total += 1;
    await loadDatapath({ pinDir, defines: { PW_ENDPOINTS_MAX: CAPACITY, PW_ROUTES_MAX: CAPACITY } });
    const eps = openEndpoints(pinDir);
    try {
      const list: Endpoint[] = Array.from({ length: o.endpoints }, (_, i) => ({
        ip: ip(i),
        ifindex: 1000 + (i % 60000),
        podMac: '02:00:00:00:00:01',
        hostMac: '02:00:00:00:00:02',
        flags: 0,
        endpointId: i + 1,
      }));
      eps.setBatch(list);
      watchDatapath(pinDir);
      let bytes = 0;
      const body = (await scrape()).body;
      // the scrape must have seen the entries, or the number below measures nothing
      if (!body.includes(`podwire_endpoints ${o.endpoints}`)) throw new Error(`the scrape does not report ${o.endpoints} endpoints`);
      const bench = new Bench({ iterations: o.iterations, time: 0, warmup: true, warmupIterations: 1, retainSamples: true, throws: true });
      // CPU time of this process per scrape (user + system, the kernel's map walk included): on a
      // shared, loaded machine the wall clock mostly measures the run queue
      const cpuMs: number[] = [];
      bench.add(`scrape ${o.endpoints}`, async () => {
        const c0 = process.cpuUsage();
        bytes = (await scrape()).body.length;
        const c = process.cpuUsage(c0);
        cpuMs.push((c.user + c.system) / 1000);
      });
      await bench.run();
      const r = bench.tasks[0]!.result;
      if (r.state !== 'completed') throw new Error(`tinybench scrape: ${r.state === 'errored' ? r.error.message : r.state}`);
      const label = o.endpoints >= 1000 ? `${o.endpoints / 1000}k` : String(o.endpoints);
      col.metricInfo.set('scrape_ms', { unit: 'ms', better: 'lower', describe: `one /metrics rendering with ${label} endpoints (every map read at scrape time), wall clock` });
      col.metricInfo.set('scrape_cpu_ms', { unit: 'ms', better: 'lower', secondary: true, describe: `CPU time (user + system) of one /metrics rendering with ${label} endpoints` });
      for (const [rep, ms] of (r.latency.samples ?? [r.latency.p50]).entries()) {
        col.add({ section: 'control-plane', topology: 'metrics', metric: 'scrape_ms', unit: 'ms', value: ms, rep, extra: { endpoints: o.endpoints, bytes } });
      }
      // tinybench's warmup run is the first entry: the measured iterations are the last ones
      for (const [rep, ms] of cpuMs.slice(-o.iterations).entries()) {
        col.add({ section: 'control-plane', topology: 'metrics', metric: 'scrape_cpu_ms', unit: 'ms', value: ms, rep, extra: { endpoints: o.endpoints } });
      }
      const cpu = [...cpuMs.slice(-o.iterations)].sort((a, b) => a - b)[Math.floor(Math.min(cpuMs.length, o.iterations) / 2)] ?? NaN;
      progress.step(`metrics scrape with ${o.endpoints.toLocaleString('en')} endpoints: p50 ${r.latency.p50.toFixed(1)} ms wall, ${cpu.toFixed(1)} ms CPU (${bytes.toLocaleString('en')} bytes)`);
    } finally {
      eps.close();
    }
  } finally {
    unregister();
    await cleanup();
  }
}

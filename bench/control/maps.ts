// Map sync rate: how fast the agent's full-state writes land — endpoints (HASH) and routes
// (LPM_TRIE) through src/maps setBatch (one BPF_MAP_UPDATE_BATCH syscall, encoding included),
// for 10k and 100k entries. Each tinybench iteration writes into an EMPTY map (a beforeEach
// hook deletes the previous iteration's entries, untimed): the cold-start case, the slowest.
// The datapath is loaded with capacities raised to 131072 for this (-D defines), in its own pins.
import { RawMap } from 'bpf';
import { Bench } from 'tinybench';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { encodeEndpointKey, openEndpoints, openPinnedMap, openRoutes, type Endpoint, type Route } from '../../src/maps/index.js';
import { uniqueName } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';

const CAPACITY = 131072;

function ip(n: number, base: number): string {
  const v = (base + n) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export async function benchMapSync(o: { sizes: number[]; iterations: number }, col: Collector, progress: Progress): Promise<void> {
  const pinDir = `/sys/fs/bpf/${uniqueName('pwbm-')}`;
  const cleanup = () => unloadDatapath({ pinDir });
  const unregister = registerCleanup(cleanup);
  try {
    progress.total += o.sizes.length * 2;
    await loadDatapath({ pinDir, defines: { PW_ENDPOINTS_MAX: CAPACITY, PW_ROUTES_MAX: CAPACITY } });
    const eps = openEndpoints(pinDir);
    const routes = openRoutes(pinDir);
    const ref = openPinnedMap(pinDir, 'endpoints');
    const rawEps = new RawMap(ref);
    try {
      for (const n of o.sizes) {
        const epList: Endpoint[] = Array.from({ length: n }, (_, i) => ({
          ip: ip(i, (10 << 24) >>> 0),
          ifindex: 1000 + (i % 60000),
          podMac: '02:00:00:00:00:01',
          hostMac: '02:00:00:00:00:02',
          flags: 0,
          endpointId: i + 1,
        }));
        const rtList: Route[] = Array.from({ length: n }, (_, i) => ({ cidr: `${ip(i * 256, (10 << 24) >>> 0)}/24`, nodeIp: ip(i, (172 << 24) >>> 0), kind: 'remote' }));
        const epKeys = epList.map((e) => encodeEndpointKey(e.ip));
        const cidrs = rtList.map((r) => r.cidr);
        const bench = new Bench({ iterations: o.iterations, time: 0, warmup: false, retainSamples: true, throws: true });
        bench.add(`endpoints ${n}`, () => eps.setBatch(epList), { beforeEach: () => void (rawEps.get(epKeys[0]!) !== undefined && rawEps.deleteBatch(epKeys)) });
        bench.add(`routes ${n}`, () => routes.setBatch(rtList), { beforeEach: () => void routes.deleteBatch(cidrs) });
        await bench.run();
        for (const [i, topology] of (['endpoints-map', 'routes-map'] as const).entries()) {
          const r = bench.tasks[i]!.result;
          if (r.state !== 'completed') throw new Error(`tinybench ${topology} ${n}: ${r.state === 'errored' ? r.error.message : r.state}`);
          const label = n >= 1000 ? `${n / 1000}k` : String(n);
          for (const [rep, ms] of (r.latency.samples ?? [r.latency.p50]).entries()) {
            col.add({ section: 'control-plane', topology, metric: `sync_${label}_ms`, unit: 'ms', value: ms, rep });
            col.add({ section: 'control-plane', topology, metric: `sync_${label}_entries_per_s`, unit: 'entries/s', value: (n * 1000) / ms, rep });
          }
          progress.step(`${topology} setBatch ${n.toLocaleString('en')} entries: p50 ${r.latency.p50.toFixed(1)} ms (${Math.round((n * 1000) / r.latency.p50).toLocaleString('en')} entries/s)`);
        }
        rawEps.deleteBatch(epKeys);
        routes.deleteBatch(cidrs);
      }
    } finally {
      eps.close();
      routes.close();
      ref.close();
    }
  } finally {
    unregister();
    await cleanup();
  }
}

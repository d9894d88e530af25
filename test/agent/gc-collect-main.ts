// Entry of a one-shot GC pass inside a node namespace (Node cannot setns; the veth deletion and
// the chained plugins' DEL must run in the node's namespace): plans with the API saying no pod
// runs here and a zero grace period, then carries out every action exactly as the agent does.
// Prints the outcomes as one JSON line. Used by gc.test.ts.
import { kernelDataplane } from '../../src/agent/dataplane.js';
import { planEndpointGc } from '../../src/agent/gc.js';
import { collectEndpoint } from '../../src/agent/gc-collect.js';
import { cidrContains, parseIpv4, parseIpv4Cidr, type Ipv4Cidr } from '../../src/ipam/cidr.js';

const [pinDir, stateDir, podCIDR, cacheDir, pluginDir] = process.argv.slice(2);
if (!pinDir || !stateDir || !podCIDR || !cacheDir || !pluginDir) throw new Error('usage: gc-collect-main.ts PINDIR STATEDIR PODCIDR CACHEDIR PLUGINDIR');
const own = parseIpv4Cidr(podCIDR) as Ipv4Cidr;
const dp = kernelDataplane({ pinDir, stateDir, mode: 'native', uplink: 'unused', cniBinDirs: [pluginDir], cniCacheDir: cacheDir });
try {
  const endpoints = dp.listEndpoints();
  const plan = planEndpointGc({
    endpoints,
    links: await dp.links(),
    api: { ips: new Set(), pods: new Set() },
    records: dp.ipamRecords(),
    owned: (ip) => cidrContains(own, parseIpv4(ip) ?? 0),
    staleSince: new Map(),
    now: Date.now(),
    graceMs: 0,
  });
  const outcomes = [];
  for (const a of plan.actions) outcomes.push({ ip: a.ip, ...(await collectEndpoint(dp, a)) });
  process.stdout.write(`${JSON.stringify(outcomes)}\n`);
} finally {
  dp.close();
}

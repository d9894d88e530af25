// The scale simulation's API server: the lab's server (src/apiserver) started in THIS process
// inside the underlay namespace, preloaded through its in-process store API (no HTTP, no JSON
// parsing per object — 1,000,000 POSTs would take longer than the measurement), then serving
// the agent over the real REST protocol. Run as `node build/bench/index.js __scale-apiserver …`
// under nsenter; prints one JSON line when the preload is done and serves until SIGTERM.
import { startApiServer } from '../../src/apiserver/index.js';
import { CLUSTER_CIDR, nodeCidr, nodeName, nodeIp, nodeObject, podObject } from './cluster.js';

export async function scaleApiServer(argv: string[]): Promise<void> {
  const arg = (k: string) => {
    const i = argv.indexOf(`--${k}`);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (v === undefined) throw new Error(`__scale-apiserver needs --${k}`);
    return v;
  };
  const [host, port] = arg('listen').split(':');
  const nodes = Number(arg('nodes'));
  const pods = Number(arg('pods'));
  const server = await startApiServer({ host, port: Number(port), clusterCIDR: CLUSTER_CIDR, nodeCIDRMaskSize: 24, socketPath: arg('socket') });
  const t0 = performance.now();
  for (let i = 0; i < nodes; i++) server.objects.create('nodes', nodeObject(nodeName(i), nodeCidr(i), nodeIp(i)), { keepStatus: true });
  // the real node (where the agent runs) takes the next /24
  server.objects.create('nodes', nodeObject(arg('real-node'), nodeCidr(nodes), arg('real-ip')), { keepStatus: true });
  const tNodes = performance.now();
  for (let k = 0; k < pods; k++) server.objects.create('pods', podObject(k, nodes), { keepStatus: true });
  const tPods = performance.now();
  process.stdout.write(
    `${JSON.stringify({ url: server.url, nodes: server.objects.count('nodes'), pods: server.objects.count('pods'), nodesMs: tNodes - t0, podsMs: tPods - tNodes, rssMB: process.memoryUsage().rss / 2 ** 20 })}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.stop();
}

// The lab kube-proxy process: watch Services and EndpointSlices, and after every change
// (debounced, at most once per --min-sync-period) rebuild the model and program kube-proxy's
// rule layout atomically. Like kube-proxy it does not program anything before both caches have
// listed once (a partial view would delete live services' rules), resyncs periodically (drift,
// a flushed table), retries failed syncs with backoff, and on SIGTERM exits leaving the rules in
// place so traffic keeps flowing across a restart.
import { createLogger, type Logger } from '../agent/log.js';
import { Backoff, connectKube, nodeFacts } from '../kube/index.js';
import { applyRules, flushConntrack, staleUdpFlows } from './apply.js';
import type { KubeProxyConfig } from './config.js';
import { buildServicePorts, type ServicePort } from './model.js';
import { watchEndpointSlices, watchOwnNode, watchServices } from './watches.js';

export interface KubeProxyOptions extends KubeProxyConfig {
  log?: Logger;
  /** Where the one `{"synced":true,…}` line goes (default stdout). */
  announce?: (line: string) => void;
  /** Periodic full resync (kube-proxy's --sync-period; default 30 s). */
  syncPeriodMs?: number;
  /** Resolves when the proxy should stop (default: SIGTERM or SIGINT). */
  until?: Promise<void>;
}

const DEBOUNCE_MS = 50;

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.on('SIGTERM', done);
    process.on('SIGINT', done);
  });
}

export async function runKubeProxy(opts: KubeProxyOptions): Promise<void> {
  const log = opts.log ?? createLogger({ fields: { component: 'kube-proxy', node: opts.nodeName, mode: opts.mode } });
  const announce = opts.announce ?? ((line: string) => process.stdout.write(line));
  const until = opts.until ?? signalled();
  const client = connectKube({ kubeconfig: opts.kubeconfig });
  log.info('starting', { server: client.server, clusterCIDR: opts.clusterCIDR, minSyncPeriodMs: opts.minSyncPeriodMs, ...(opts.nodeIP ? { nodeIP: opts.nodeIP } : {}) });

  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let stopped = false;
  let lastSyncAt = 0;
  let synced = false;
  let prev: ServicePort[] = [];
  let nodeIP = opts.nodeIP;
  const retry = new Backoff({ initialMs: 500, maxMs: 30_000 });
  // one warning per distinct malformed object and reason, not one per sync
  const warned = new Set<string>();

  const kick = (delayMs = DEBOUNCE_MS) => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (timer !== undefined) return;
    const wait = Math.max(delayMs, lastSyncAt + opts.minSyncPeriodMs - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      void sync();
    }, wait);
  };

  const watchOpts = (name: string) => ({ onChange: () => kick(), log: log.with({ informer: name }) });
  const services = watchServices(client, watchOpts('services'));
  const slices = watchEndpointSlices(client, watchOpts('endpointslices'));
  const node =
    nodeIP === undefined
      ? watchOwnNode(client, opts.nodeName, {
          log: log.with({ informer: 'node' }),
          onChange: () => {
            try {
              const ip = node?.list().map(nodeFacts).find((n) => n.name === opts.nodeName)?.internalIp;
              if (ip !== undefined && ip !== nodeIP) {
                nodeIP = ip;
                log.info('node IP from the Node object', { nodeIP: ip });
              }
            } catch (e) {
              // a malformed Node must not take the proxy down (this runs in the watch's handler)
              log.warn('cannot read the node IP from the Node object', { error: e });
            }
            kick();
          },
        })
      : undefined;

  const sync = async (): Promise<void> => {
    if (stopped) return;
    // kube-proxy waits for both initial lists: rules from half a view would drop live services
    if (!services.synced || !slices.synced) return;
    // like kube-proxy, learn the node IP before the first sync (the rules do not depend on it:
    // NodePorts answer on every local address; it is reported and logged)
    if (node !== undefined && !node.synced) return;
    if (node !== undefined && nodeIP === undefined && !synced) log.warn('Node object has no InternalIP (or does not exist); continuing without a node IP', { node: opts.nodeName });
    running = true;
    again = false;
    lastSyncAt = Date.now();
    const started = Date.now();
    try {
      const sps = buildServicePorts(services.list(), slices.list(), (what, reason) => {
        const k = `${what}: ${reason}`;
        if (warned.has(k)) return;
        warned.add(k);
        log.warn('skipping malformed object', { object: what, reason });
      }, opts.nodeName);
      const res = await applyRules(sps, { mode: opts.mode, clusterCIDR: opts.clusterCIDR });
      const flushed = await flushConntrack(staleUdpFlows(prev, sps));
      prev = sps;
      retry.reset();
      const endpoints = sps.reduce((n, s) => n + s.endpoints.length, 0);
      const fields = { servicePorts: sps.length, endpoints, chains: res.chains, deletedChains: res.deleted, jumpsAdded: res.jumpsAdded, conntrackFlushed: flushed, ms: Date.now() - started };
      if (!synced) {
        synced = true;
        log.info('first sync done', fields);
        announce(`${JSON.stringify({ synced: true, mode: opts.mode, node: opts.nodeName, ...(nodeIP ? { nodeIP } : {}), servicePorts: sps.length, endpoints })}\n`);
      } else log.debug('synced', fields);
    } catch (e) {
      const delayMs = retry.next();
      log.error('sync failed; retrying', { error: e, delayMs });
      again = false;
      running = false;
      kick(delayMs);
      return;
    }
    running = false;
    if (again) kick();
  };

  const periodic = setInterval(() => kick(), opts.syncPeriodMs ?? 30_000);
  services.start();
  slices.start();
  node?.start();

  await until;
  stopped = true;
  clearInterval(periodic);
  if (timer !== undefined) clearTimeout(timer);
  await Promise.all([services.stop(), slices.stop(), node?.stop()]);
  // rules stay: like kube-proxy, a restart must not interrupt service traffic
  log.info('stopped; rules left in place');
}

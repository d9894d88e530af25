// `podwire lab kube-proxy` settings: read and validated here, once, with messages that name the
// flag, the bad value and what would be accepted.
import { PodwireError } from '../errors/index.js';
import { isIPv4 } from './model.js';
import type { ProxyMode } from './apply.js';

export interface KubeProxyFlags {
  nodeName?: string;
  kubeconfig?: string;
  proxyMode?: string;
  clusterCidr?: string;
  nodeIp?: string;
  minSyncPeriod?: string;
}

export interface KubeProxyConfig {
  nodeName: string;
  kubeconfig: string;
  mode: ProxyMode;
  clusterCIDR: string;
  nodeIP?: string;
  minSyncPeriodMs: number;
}

export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';
/** kube-proxy's default --min-sync-period. */
export const DEFAULT_MIN_SYNC_MS = 1000;

function invalid(flag: string, v: string, why: string): PodwireError {
  return new PodwireError('USAGE', `${flag} ${JSON.stringify(v)} ${why}`);
}

/** "250ms", "1s", "2m", Go-style "1m30s", or a bare number of seconds. */
export function parseDurationMs(flag: string, v: string): number {
  if (/^[0-9]+(\.[0-9]+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(v)) !== null) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    pos = re.lastIndex;
  }
  if (v === '' || pos !== v.length) throw invalid(flag, v, 'is not a duration; use e.g. 250ms, 1s or 1m30s');
  return Math.round(total);
}

export function parseCidr(flag: string, v: string): string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(v);
  if (!m || !isIPv4(m[1]) || Number(m[2]) > 32) throw invalid(flag, v, 'is not an IPv4 CIDR such as 10.244.0.0/16');
  return v;
}

export function readKubeProxyConfig(f: KubeProxyFlags): KubeProxyConfig {
  if (!f.nodeName) throw new PodwireError('USAGE', '--node-name is required: the name of the Node this proxy runs on');
  if (!f.kubeconfig) throw new PodwireError('USAGE', '--kubeconfig is required: a kubeconfig file for the lab API server');
  const mode = f.proxyMode ?? 'iptables';
  if (mode !== 'iptables' && mode !== 'nftables') throw invalid('--proxy-mode', mode, 'must be iptables or nftables');
  if (f.nodeIp !== undefined && !isIPv4(f.nodeIp)) throw invalid('--node-ip', f.nodeIp, 'is not an IPv4 address');
  return {
    nodeName: f.nodeName,
    kubeconfig: f.kubeconfig,
    mode,
    clusterCIDR: parseCidr('--cluster-cidr', f.clusterCidr ?? DEFAULT_CLUSTER_CIDR),
    ...(f.nodeIp === undefined ? {} : { nodeIP: f.nodeIp }),
    minSyncPeriodMs: f.minSyncPeriod === undefined ? DEFAULT_MIN_SYNC_MS : parseDurationMs('--min-sync-period', f.minSyncPeriod),
  };
}

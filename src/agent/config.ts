// The one place that reads and validates the agent's configuration: command-line flags first,
// then environment variables (a DaemonSet sets them from the downward API and a ConfigMap),
// then defaults. Every message names the key, the bad value and the fix. Nothing here imports
// the Kubernetes client: the config only records HOW to reach the API, the agent connects.
import { accessSync, constants, existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { runJson } from '../exec/run.js';
import { DEFAULT_PIN_DIR } from '../loader/pins.js';
import type { Failsafe } from '../maps/prefilter.js';
import { FAILSAFE_SYNTAX, parseFailsafe } from '../prefilter/failsafe.js';

export type Mode = 'native' | 'vxlan';
/** vxlan mode: who encapsulates — the programs themselves (bpf) or the collect-metadata device. */
export type VxlanDatapath = 'bpf' | 'device';
/** The default VXLAN datapath (chosen by the paired bench runs: bench/report/findings.md). */
export const DEFAULT_VXLAN_DATAPATH: VxlanDatapath = 'bpf';
/** The XDP prefilter on the uplink: off (default), or on in a given XDP mode. */
export type PrefilterMode = 'off' | 'auto' | 'native' | 'generic';

/** Encapsulation overhead of VXLAN over IPv4: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD = 50;
export const DEFAULT_STATE_DIR = '/var/lib/podwire';
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';
/** libcni's result cache (libcni.CacheDir): GC runs the chain's DEL from it. */
export const DEFAULT_CNI_CACHE_DIR = '/var/lib/cni';
export const DEFAULT_HEALTH_LISTEN = '127.0.0.1:9879';
/** Where the agent serves CNI requests for the native shim (bpf/tools/podwire-cni.c has the same default). */
export const DEFAULT_CNI_SOCKET = '/run/podwire/cni.sock';
/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** A pod just ADDed by the CNI may not be published in the API yet: leave its endpoint alone this long. */
export const DEFAULT_GC_GRACE_MS = 60_000;
export const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const MIN_MTU = 1280;
/** Default and ceiling of --veth-pool-size (each pair is two idle devices and two tcx links). */
export const DEFAULT_VETH_POOL_SIZE = 4;
const MAX_VETH_POOL_SIZE = 256;
const MAX_MTU = 65535;

export type ApiAccess = { kind: 'kubeconfig'; path: string } | { kind: 'in-cluster' };

export interface AgentConfig {
  nodeName: string;
  api: ApiAccess;
  mode: Mode;
  uplink: string;
  /** MTU of the underlay (the uplink's unless --mtu says otherwise). */
  mtu: number;
  /** MTU of pod veths: the underlay MTU minus the encapsulation overhead. */
  podMtu: number;
  /** VXLAN network identifier; undefined = the datapath's default. */
  vni?: number;
  /** vxlan mode only (undefined in native mode): encapsulation in the programs (bpf) or through
   * the VXLAN device (device). */
  vxlanDatapath?: VxlanDatapath;
  pinDir: string;
  stateDir: string;
  cniConfDir: string;
  /** Where the runtime finds CNI plugins (to negotiate the chain's version). */
  cniBinDirs: string[];
  /** libcni's cache dir, where runtimes keep each attachment's config and result. */
  cniCacheDir: string;
  health: { host: string; port: number };
  /** Where /metrics is served: its own listener, or undefined = on the health listener. */
  metrics?: { host: string; port: number };
  gcGraceMs: number;
  /** Unix socket the CNI shim hands requests to. */
  cniSocket: string;
  /** Warm veth pool size (src/cni/pool.ts): pairs with tcx links attached ahead of ADD; 0 = off. */
  vethPoolSize: number;
  /** XDP prefilter on the uplink (off by default: native XDP on a veth costs its peer TSO). */
  prefilter: PrefilterMode;
  /** Failsafe traffic beyond the built-in API server and health port. */
  prefilterFailsafe: Failsafe[];
}

/** Raw option values as commander hands them over (all strings, all optional). */
export interface AgentFlags {
  nodeName?: string;
  kubeconfig?: string;
  mode?: string;
  uplink?: string;
  mtu?: string;
  vni?: string;
  vxlanDatapath?: string;
  pinDir?: string;
  stateDir?: string;
  cniConfDir?: string;
  cniBinDir?: string;
  cniCacheDir?: string;
  healthListen?: string;
  metricsListen?: string;
  gcGrace?: string;
  cniSocket?: string;
  vethPoolSize?: string;
  prefilter?: string;
  prefilterFailsafe?: string;
}

/** Flag name → environment variable that stands in for it. */
export const ENV_FALLBACK: Record<keyof AgentFlags, string> = {
  nodeName: 'NODE_NAME',
  kubeconfig: 'KUBECONFIG',
  mode: 'PODWIRE_MODE',
  uplink: 'PODWIRE_UPLINK',
  mtu: 'PODWIRE_MTU',
  vni: 'PODWIRE_VNI',
  vxlanDatapath: 'PODWIRE_VXLAN_DATAPATH',
  pinDir: 'PODWIRE_PIN_DIR',
  stateDir: 'PODWIRE_STATE_DIR',
  cniConfDir: 'PODWIRE_CNI_CONF_DIR',
  cniBinDir: 'PODWIRE_CNI_BIN_DIR',
  cniCacheDir: 'PODWIRE_CNI_CACHE_DIR',
  healthListen: 'PODWIRE_HEALTH_LISTEN',
  metricsListen: 'PODWIRE_METRICS_LISTEN',
  gcGrace: 'PODWIRE_GC_GRACE',
  cniSocket: 'PODWIRE_CNI_SOCKET',
  vethPoolSize: 'PODWIRE_VETH_POOL_SIZE',
  prefilter: 'PODWIRE_PREFILTER',
  prefilterFailsafe: 'PODWIRE_PREFILTER_FAILSAFE',
};

const FLAG_NAME: Record<keyof AgentFlags, string> = {
  nodeName: '--node-name',
  kubeconfig: '--kubeconfig',
  mode: '--mode',
  uplink: '--uplink',
  mtu: '--mtu',
  vni: '--vni',
  vxlanDatapath: '--vxlan-datapath',
  pinDir: '--pin-dir',
  stateDir: '--state-dir',
  cniConfDir: '--cni-conf-dir',
  cniBinDir: '--cni-bin-dir',
  cniCacheDir: '--cni-cache-dir',
  healthListen: '--health-listen',
  metricsListen: '--metrics-listen',
  gcGrace: '--gc-grace',
  cniSocket: '--cni-socket',
  vethPoolSize: '--veth-pool-size',
  prefilter: '--prefilter',
  prefilterFailsafe: '--prefilter-failsafe',
};

function invalid(key: keyof AgentFlags, value: string, fix: string): PodwireError {
  return new PodwireError('CONFIG_INVALID', `${FLAG_NAME[key]} (${ENV_FALLBACK[key]}) ${JSON.stringify(value)} ${fix}`);
}

/** The value of a key: flag, else environment, else undefined. Empty strings count as unset. */
function pick(flags: AgentFlags, env: NodeJS.ProcessEnv, key: keyof AgentFlags): string | undefined {
  const f = flags[key];
  if (f !== undefined && f !== '') return f;
  const e = env[ENV_FALLBACK[key]];
  return e !== undefined && e !== '' ? e : undefined;
}

function absDir(flags: AgentFlags, env: NodeJS.ProcessEnv, key: keyof AgentFlags, dflt: string): string {
  const v = pick(flags, env, key) ?? dflt;
  if (!isAbsolute(v) || v.includes('\0')) throw invalid(key, v, `must be an absolute path, e.g. ${dflt}`);
  return v.length > 1 ? v.replace(/\/+$/, '') : v;
}

function intIn(key: keyof AgentFlags, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw invalid(key, v, `must be an integer from ${min} to ${max}`);
  return Number(v);
}

/** "90s", "2m", "500ms" or a bare number of seconds. */
export function parseDuration(key: keyof AgentFlags, v: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw invalid(key, v, 'must be a duration such as 500ms, 30s or 2m');
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

export function parseHostPort(key: keyof AgentFlags, v: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):([0-9]{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw invalid(key, v, 'must be HOST:PORT, e.g. 127.0.0.1:9879 (port 0 picks a free one)');
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Validation of everything that needs no look-up on the host (unit-testable). */
export function parseAgentFlags(
  flags: AgentFlags,
  env: NodeJS.ProcessEnv,
): Omit<AgentConfig, 'uplink' | 'mtu' | 'podMtu'> & { uplink?: string; mtu?: number } {
  const nodeName = pick(flags, env, 'nodeName');
  if (nodeName === undefined) {
    throw new PodwireError('CONFIG_INVALID', '--node-name (NODE_NAME) is required: pass the name of this Node object, e.g. from the downward API spec.nodeName');
  }
  // RFC 1123 subdomain, what the API server accepts for a Node name
  if (nodeName.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(nodeName)) {
    throw invalid('nodeName', nodeName, 'is not a valid Node name: use lower-case letters, digits, "-" and "."');
  }

  let api: ApiAccess;
  const kubeconfig = pick(flags, env, 'kubeconfig');
  if (kubeconfig !== undefined) {
    // KUBECONFIG may be a colon-separated list; the agent wants exactly one file
    if (kubeconfig.includes(':')) throw invalid('kubeconfig', kubeconfig, 'must be one file, not a list');
    try {
      accessSync(kubeconfig, constants.R_OK);
    } catch {
      throw invalid('kubeconfig', kubeconfig, 'is not a readable file: pass the path of a kubeconfig, or leave it unset inside a pod');
    }
    api = { kind: 'kubeconfig', path: kubeconfig };
  } else {
    if (!env['KUBERNETES_SERVICE_HOST'] || !existsSync(IN_CLUSTER_TOKEN)) {
      throw new PodwireError(
        'CONFIG_INVALID',
        `--kubeconfig (KUBECONFIG) is unset and this is not a pod (KUBERNETES_SERVICE_HOST or ${IN_CLUSTER_TOKEN} missing): pass --kubeconfig FILE`,
      );
    }
    api = { kind: 'in-cluster' };
  }

  const modeRaw = pick(flags, env, 'mode') ?? 'native';
  if (modeRaw !== 'native' && modeRaw !== 'vxlan') throw invalid('mode', modeRaw, 'must be native or vxlan');
  const mode: Mode = modeRaw;

  const uplink = pick(flags, env, 'uplink');
  if (uplink !== undefined && !/^[^\s/:]{1,15}$/.test(uplink)) throw invalid('uplink', uplink, 'is not an interface name (1-15 characters, no "/", ":" or spaces)');
  const mtuRaw = pick(flags, env, 'mtu');
  const mtu = mtuRaw === undefined ? undefined : intIn('mtu', mtuRaw, MIN_MTU, MAX_MTU);
  const vniRaw = pick(flags, env, 'vni');
  const vni = vniRaw === undefined ? undefined : intIn('vni', vniRaw, 1, 0xffffff);
  if (vni !== undefined && mode !== 'vxlan') throw invalid('vni', vniRaw!, 'only applies to --mode vxlan; drop it or set --mode vxlan');
  const vxdpRaw = pick(flags, env, 'vxlanDatapath');
  if (vxdpRaw !== undefined && vxdpRaw !== 'bpf' && vxdpRaw !== 'device') {
    throw invalid('vxlanDatapath', vxdpRaw, 'must be bpf (encapsulation in the programs) or device (the collect-metadata VXLAN device)');
  }
  if (vxdpRaw !== undefined && mode !== 'vxlan') throw invalid('vxlanDatapath', vxdpRaw, 'only applies to --mode vxlan; drop it or set --mode vxlan');
  // the default applies to vxlan mode only: a native node has no tunnel, and setupNode refuses the key there
  const vxlanDatapath: VxlanDatapath | undefined = mode === 'vxlan' ? (vxdpRaw ?? DEFAULT_VXLAN_DATAPATH) : undefined;

  const gcRaw = pick(flags, env, 'gcGrace');
  const gcGraceMs = gcRaw === undefined ? DEFAULT_GC_GRACE_MS : parseDuration('gcGrace', gcRaw);

  const cniSocket = absDir(flags, env, 'cniSocket', DEFAULT_CNI_SOCKET);
  const poolRaw = pick(flags, env, 'vethPoolSize');
  const vethPoolSize = poolRaw === undefined ? DEFAULT_VETH_POOL_SIZE : intIn('vethPoolSize', poolRaw, 0, MAX_VETH_POOL_SIZE);
  if (Buffer.byteLength(cniSocket) > MAX_SOCKET_PATH) {
    throw invalid('cniSocket', cniSocket, `is longer than ${MAX_SOCKET_PATH} bytes, the limit of a Unix socket path: choose a shorter path`);
  }

  const health = parseHostPort('healthListen', pick(flags, env, 'healthListen') ?? DEFAULT_HEALTH_LISTEN);
  const metricsRaw = pick(flags, env, 'metricsListen');
  const metrics = metricsRaw === undefined ? undefined : parseHostPort('metricsListen', metricsRaw);
  // the same address twice would fail at listen time with a less helpful EADDRINUSE
  if (metrics && metrics.port !== 0 && metrics.port === health.port && (metrics.host === health.host || metrics.host === '0.0.0.0' || health.host === '0.0.0.0')) {
    throw invalid('metricsListen', metricsRaw!, `is the health listener's address (--health-listen ${health.host}:${health.port}): leave it unset to serve /metrics there, or pick another port`);
  }

  const prefilterRaw = pick(flags, env, 'prefilter') ?? 'off';
  if (!['off', 'auto', 'native', 'generic'].includes(prefilterRaw)) {
    throw invalid('prefilter', prefilterRaw, 'must be off, auto (native XDP where the driver supports it, else generic), native or generic');
  }
  const prefilter = prefilterRaw as PrefilterMode;
  const failsafeRaw = pick(flags, env, 'prefilterFailsafe');
  const prefilterFailsafe: Failsafe[] = [];
  for (const item of (failsafeRaw ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const f = parseFailsafe(item);
    if ('error' in f) throw invalid('prefilterFailsafe', failsafeRaw!, `entry ${JSON.stringify(item)} ${f.error}: list entries as ${FAILSAFE_SYNTAX}, comma-separated`);
    prefilterFailsafe.push(f);
  }
  if (failsafeRaw !== undefined && prefilter === 'off') {
    throw invalid('prefilterFailsafe', failsafeRaw, 'only applies with the prefilter on: set --prefilter auto (or native/generic), or drop it');
  }

  return {
    nodeName,
    api,
    mode,
    ...(uplink === undefined ? {} : { uplink }),
    ...(mtu === undefined ? {} : { mtu }),
    ...(vni === undefined ? {} : { vni }),
    ...(vxlanDatapath === undefined ? {} : { vxlanDatapath }),
    pinDir: absDir(flags, env, 'pinDir', DEFAULT_PIN_DIR),
    stateDir: absDir(flags, env, 'stateDir', DEFAULT_STATE_DIR),
    cniConfDir: absDir(flags, env, 'cniConfDir', DEFAULT_CNI_CONF_DIR),
    cniBinDirs: cniBinDirs(flags, env),
    cniCacheDir: absDir(flags, env, 'cniCacheDir', DEFAULT_CNI_CACHE_DIR),
    health,
    ...(metrics === undefined ? {} : { metrics }),
    gcGraceMs,
    cniSocket,
    vethPoolSize,
    prefilter,
    prefilterFailsafe,
  };
}

/** --cni-bin-dir: one or more absolute directories, ':'- or ','-separated (like CNI_PATH). */
function cniBinDirs(flags: AgentFlags, env: NodeJS.ProcessEnv): string[] {
  const raw = pick(flags, env, 'cniBinDir') ?? DEFAULT_CNI_BIN_DIR;
  const dirs = raw.split(/[:,]/).filter(Boolean);
  for (const d of dirs) if (!isAbsolute(d)) throw invalid('cniBinDir', raw, `must list absolute directories (e.g. ${DEFAULT_CNI_BIN_DIR})`);
  if (!dirs.length) throw invalid('cniBinDir', raw, `must name at least one directory (e.g. ${DEFAULT_CNI_BIN_DIR})`);
  return dirs;
}

interface IpLink {
  ifname: string;
  mtu: number;
  flags?: string[];
}
interface IpRoute {
  dev?: string;
}
interface IpAddr {
  ifname: string;
  addr_info?: { family: string; scope?: string }[];
}

/**
 * The default uplink: the device of the default route, else the only non-loopback device with
 * a global IPv4 address (lab nodes have no default route). Read with iproute2 in our own netns:
 * /sys/class/net would show the namespace sysfs was mounted in, not ours.
 */
async function defaultUplink(): Promise<string> {
  const routes = await runJson<IpRoute[]>('ip', ['-j', '-4', 'route', 'show', 'default'], { errorCode: 'IO_FAILED' });
  const viaDefault = routes.find((r) => r.dev)?.dev;
  if (viaDefault) return viaDefault;
  const addrs = await runJson<IpAddr[]>('ip', ['-j', '-4', 'addr', 'show'], { errorCode: 'IO_FAILED' });
  const candidates = addrs.filter((a) => a.ifname !== 'lo' && (a.addr_info ?? []).some((i) => i.family === 'inet' && i.scope === 'global'));
  if (candidates.length === 1) return candidates[0]!.ifname;
  throw new PodwireError(
    'CONFIG_INVALID',
    `--uplink (PODWIRE_UPLINK) is unset and no default route names a device (${candidates.length} candidates: ${candidates.map((c) => c.ifname).join(', ') || 'none'}): pass --uplink DEV`,
  );
}

/** Read flags + environment, fill the host-derived defaults (uplink, MTU) and validate everything. */
export async function readAgentConfig(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): Promise<AgentConfig> {
  const base = parseAgentFlags(flags, env);
  const uplink = base.uplink ?? (await defaultUplink());
  const links = await runJson<IpLink[]>('ip', ['-j', 'link', 'show', 'dev', uplink], { reject: false });
  const link = links[0];
  if (!link) throw invalid('uplink', uplink, 'does not exist in this network namespace: pass the device that carries node-to-node traffic');
  const mtu = base.mtu ?? link.mtu;
  const podMtu = base.mode === 'vxlan' ? mtu - VXLAN_OVERHEAD : mtu;
  if (podMtu < 576) {
    throw invalid('mtu', String(mtu), `leaves pods an MTU of ${podMtu}: raise it`);
  }
  return { ...base, uplink, mtu, podMtu };
}

// The one place that reads and validates podwire's network configuration (stdin JSON).
// Every message names the key, the bad value and the fix. CNI's standard keys are accepted
// and left to the runtime; unknown keys are ignored so newer runtimes keep working, except
// near-misses of our own keys, which are almost always typos that would silently fall back
// to a default.
import { statfs } from 'node:fs/promises';
import { dirname, isAbsolute, posix } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { cidrContains, parseIpv4Cidr, type Ipv4Cidr } from '../ipam/cidr.js';
import type { AttachmentKey } from '../ipam/store.js';
import { DEFAULT_PIN_DIR } from '../loader/pins.js';
import type { BandwidthConfig } from '../maps/bandwidth.js';

export const DEFAULT_STATE_DIR = '/var/lib/podwire';
export const DEFAULT_MTU = 1500;
export const MIN_MTU = 576;
export const MAX_MTU = 65535;
/** Smallest and largest pools we accept: /30 gives 2 pods; /8 is already absurd for a node. */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

export interface NetConf {
  cniVersion: string;
  name: string;
  podCIDR: Ipv4Cidr;
  pinDir: string;
  stateDir: string;
  mtu: number;
  /** The previous plugin's result (raw; see result.ts), when the runtime sent one. */
  prevResult?: unknown;
  /** GC only: attachments that must survive. */
  validAttachments?: AttachmentKey[];
  /** runtimeConfig.bandwidth (capability "bandwidth"), when a limit is set either way. */
  bandwidth?: BandwidthConfig;
}

/** Largest rate we take: kubelet's annotation limit is 1P bit/s (the bucket math is u64 ns). */
export const MAX_RATE = 1e15;

/** runtimeConfig.bandwidth: {ingressRate, ingressBurst, egressRate, egressBurst}, rates in bit/s and
 * bursts in bits (CNI conventions), every key optional (absent = 0). undefined when no rate is set. */
function parseBandwidth(v: unknown): BandwidthConfig | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw invalid(`runtimeConfig.bandwidth ${JSON.stringify(v)} must be an object such as {"egressRate": 10000000, "egressBurst": 4294967295}`);
  }
  const o = v as Record<string, unknown>;
  const num = (k: keyof BandwidthConfig, max: number): number => {
    const x = o[k];
    if (x === undefined || x === null) return 0;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max) {
      throw invalid(`runtimeConfig.bandwidth.${k} ${JSON.stringify(x)} must be an integer from 0 to ${max} (${k.endsWith('Rate') ? 'bit/s, 0 = no limit' : 'bits, 4294967295 or 0 = podwire picks rate x 10 ms'})`);
    }
    return x;
  };
  const c: BandwidthConfig = {
    ingressRate: num('ingressRate', MAX_RATE),
    ingressBurst: num('ingressBurst', Number.MAX_SAFE_INTEGER),
    egressRate: num('egressRate', MAX_RATE),
    egressBurst: num('egressBurst', Number.MAX_SAFE_INTEGER),
  };
  for (const d of ['ingress', 'egress'] as const) {
    const rate = c[`${d}Rate`];
    if (rate > 0 && rate < 1000) throw invalid(`runtimeConfig.bandwidth.${d}Rate ${rate} is below 1000 bit/s (kubelet's minimum, 1k); use 1000 or more, or 0 for no limit`);
  }
  return c.ingressRate > 0 || c.egressRate > 0 ? c : undefined;
}

const OWN_KEYS = ['podCIDR', 'pinDir', 'stateDir', 'mtu'] as const;

function invalid(msg: string): PodwireError {
  return new PodwireError('CONFIG_INVALID', msg);
}

/** stdin → JSON object, or DECODE_FAILED (code 6). */
export function decodeConfig(text: string): Record<string, unknown> {
  if (text.trim() === '') {
    throw new PodwireError('DECODE_FAILED', 'stdin is empty; the runtime must send the network configuration JSON');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PodwireError('DECODE_FAILED', `network configuration on stdin is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new PodwireError('DECODE_FAILED', 'network configuration on stdin must be a JSON object');
  }
  return v as Record<string, unknown>;
}

/**
 * Path rules for stateDir and pinDir: a string, absolute, without NUL, normalised (no "." or
 * ".." segments, no "//": what we check is what we use), and not inside /proc or /sys. Those
 * are kernel interfaces, not storage: directories cannot be made there (Node's recursive mkdir
 * even loops forever on the ENOENT /proc gives), and a write there changes kernel settings.
 * pinDir's one exception is the bpffs mount point's inside, /sys/fs/bpf/<something>: pins live
 * on a bpffs, which is mounted there by convention (it may also be mounted elsewhere, which
 * checkPinDirFs verifies); /sys/fs/bpf itself is refused because the pin dir is podwire's own
 * and is removed as a whole on unload.
 */
const KERNEL_TREES = ['/proc', '/sys'];
export const BPFFS_ROOT = '/sys/fs/bpf';
const under = (p: string, root: string): boolean => p === root || p.startsWith(`${root}/`);

function absPath(raw: Record<string, unknown>, key: 'stateDir' | 'pinDir', dflt: string): string {
  const v = raw[key];
  if (v === undefined) return dflt;
  const fix = `use an absolute path such as "${dflt}"`;
  if (typeof v !== 'string' || !isAbsolute(v) || v.includes('\0')) {
    throw invalid(`${key} ${JSON.stringify(v)} must be an absolute path; ${fix}`);
  }
  const p = v.length > 1 ? v.replace(/\/+$/, '') : v;
  if (posix.normalize(p) !== p) throw invalid(`${key} ${JSON.stringify(v)} is not a normalised path (it has ".", ".." or "//" in it); ${fix}`);
  if (key === 'pinDir' && under(p, BPFFS_ROOT)) {
    if (p === BPFFS_ROOT) throw invalid(`pinDir "${p}" is the bpffs mount point itself; use a directory inside it, e.g. "${DEFAULT_PIN_DIR}"`);
    return p;
  }
  const tree = KERNEL_TREES.find((t) => under(p, t));
  if (tree) {
    const allowed = key === 'pinDir' ? ` (only ${BPFFS_ROOT}/… is allowed there, for pins)` : '';
    throw invalid(`${key} ${JSON.stringify(v)} is inside ${tree}, a kernel interface and not storage${allowed}; ${fix}`);
  }
  return p;
}

/** BPF_FS_MAGIC (include/uapi/linux/magic.h). */
const BPF_FS_MAGIC = 0xcafe4a11;

/**
 * pinDir must be on a bpffs: pins cannot be made anywhere else, and a pinDir on another file
 * system would only fail later with a less clear error. The pin dir itself may not exist yet
 * (the datapath is not loaded), so the nearest existing ancestor is examined. Asynchronous:
 * the path is the runtime's and the agent serves every pod from one event loop.
 */
export async function checkPinDirFs(pinDir: string): Promise<void> {
  let p = pinDir;
  for (let depth = 0; depth < 256; depth++) {
    try {
      const { type } = await statfs(p);
      if (Number(type) === BPF_FS_MAGIC) return;
      throw invalid(`pinDir "${pinDir}" is not on a bpffs (${p} has file system type 0x${Number(type).toString(16)}); use a directory under ${BPFFS_ROOT} or another bpffs mount, e.g. "${DEFAULT_PIN_DIR}"`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
    if (p === '/') break;
    p = dirname(p);
  }
  throw invalid(`pinDir "${pinDir}": no part of it exists; use a directory under ${BPFFS_ROOT}, e.g. "${DEFAULT_PIN_DIR}"`);
}

/**
 * Ranges a pod address must never come from (RFC 6890): the host's own, the gateway's and the
 * ones no unicast host may use. A pool overlapping one would hand pods e.g. 169.254.1.1 (the
 * pods' gateway) or 127.0.0.1 (and route it to a veth).
 */
export const RESERVED_RANGES: ReadonlyArray<{ cidr: string; name: string }> = [
  { cidr: '0.0.0.0/8', name: '"this network" 0.0.0.0/8' },
  { cidr: '127.0.0.0/8', name: 'loopback 127.0.0.0/8' },
  { cidr: '169.254.0.0/16', name: 'link-local 169.254.0.0/16 (the pods\' gateway is 169.254.1.1)' },
  { cidr: '224.0.0.0/4', name: 'multicast 224.0.0.0/4' },
  { cidr: '240.0.0.0/4', name: 'reserved 240.0.0.0/4 (with the limited broadcast 255.255.255.255)' },
];

function reservedOverlap(c: Ipv4Cidr): string | undefined {
  for (const r of RESERVED_RANGES) {
    const rc = parseIpv4Cidr(r.cidr) as Ipv4Cidr;
    if (cidrContains(rc, c.network) || cidrContains(c, rc.network)) return r.name;
  }
  return undefined;
}

function parseValidAttachments(v: unknown): AttachmentKey[] {
  const key = 'cni.dev/valid-attachments';
  if (!Array.isArray(v)) {
    throw invalid(`${key} must be an array of {"containerID","ifname"} objects (got ${JSON.stringify(v)}); GC refuses to guess which attachments are still in use`);
  }
  return v.map((a, i) => {
    const o = a as Record<string, unknown> | null;
    if (!o || typeof o['containerID'] !== 'string' || typeof o['ifname'] !== 'string') {
      throw invalid(`${key}[${i}] is ${JSON.stringify(a)}; each entry needs string "containerID" and "ifname"`);
    }
    return { containerID: o['containerID'], ifname: o['ifname'] };
  });
}

/** Validate the plugin's keys. Call after the version check (code 1 comes before code 7). */
export function parseNetConf(raw: Record<string, unknown>, command: string): NetConf {
  for (const k of Object.keys(raw)) {
    const own = OWN_KEYS.find((o) => o.toLowerCase() === k.toLowerCase() && o !== k);
    if (own) throw invalid(`unknown key "${k}"; did you mean "${own}"?`);
  }
  if (raw['ipam'] !== undefined) {
    throw new PodwireError(
      'CONFIG_UNSUPPORTED',
      `ipam ${JSON.stringify(raw['ipam'])}: podwire allocates addresses itself from podCIDR and does not delegate to an IPAM plugin; remove the "ipam" section`,
    );
  }

  const cidrRaw = raw['podCIDR'];
  if (cidrRaw === undefined) throw invalid('podCIDR is missing; set it to the node\'s pod range, e.g. "podCIDR": "10.244.1.0/24"');
  if (typeof cidrRaw !== 'string') throw invalid(`podCIDR ${JSON.stringify(cidrRaw)} must be a string such as "10.244.1.0/24"`);
  const cidr = parseIpv4Cidr(cidrRaw);
  if ('error' in cidr) throw invalid(`podCIDR "${cidrRaw}" ${cidr.error}; use an IPv4 network such as "10.244.1.0/24"`);
  if (cidr.prefix < MIN_PREFIX || cidr.prefix > MAX_PREFIX) {
    throw invalid(`podCIDR "${cidrRaw}" has prefix /${cidr.prefix}; use a prefix between /${MIN_PREFIX} and /${MAX_PREFIX} (a /24 gives 254 pods)`);
  }
  const reserved = reservedOverlap(cidr);
  if (reserved) throw invalid(`podCIDR "${cidrRaw}" overlaps the ${reserved}; pod addresses must be unicast and routable, e.g. "10.244.1.0/24"`);

  const mtuRaw = raw['mtu'];
  let mtu = DEFAULT_MTU;
  if (mtuRaw !== undefined) {
    if (typeof mtuRaw !== 'number' || !Number.isInteger(mtuRaw) || mtuRaw < MIN_MTU || mtuRaw > MAX_MTU) {
      throw invalid(`mtu ${JSON.stringify(mtuRaw)} must be an integer from ${MIN_MTU} to ${MAX_MTU} (1500 for Ethernet, 1450 under VXLAN)`);
    }
    mtu = mtuRaw;
  }

  const name = raw['name'];
  if (name !== undefined && typeof name !== 'string') throw invalid(`name ${JSON.stringify(name)} must be a string`);

  const conf: NetConf = {
    cniVersion: String(raw['cniVersion']),
    name: name ?? '',
    podCIDR: cidr,
    pinDir: absPath(raw, 'pinDir', DEFAULT_PIN_DIR),
    stateDir: absPath(raw, 'stateDir', DEFAULT_STATE_DIR),
    mtu,
  };
  if (raw['prevResult'] !== undefined && raw['prevResult'] !== null) conf.prevResult = raw['prevResult'];
  const rc = raw['runtimeConfig'];
  if (command === 'ADD' && rc && typeof rc === 'object') {
    const bw = parseBandwidth((rc as Record<string, unknown>)['bandwidth']);
    if (bw) conf.bandwidth = bw;
  }
  if (command === 'GC') conf.validAttachments = parseValidAttachments(raw['cni.dev/valid-attachments']);
  return conf;
}

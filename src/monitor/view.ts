// What `podwire monitor` prints: the event as a JSON object (-o json, one per line) or as one
// readable line, and the filters (--type, --pod, --reason) applied to it.
import type { RawEvent } from './event.js';

export interface MonitorEvent {
  /** ISO 8601 wall-clock time of the verdict. */
  time: string;
  node: string;
  type: string;
  reason: string;
  direction: string;
  /** "namespace/name", or null when no local pod owns the device or address. */
  pod: string | null;
  ifindex: number;
  ifname: string | null;
  src: string | null;
  dst: string | null;
  proto: string | null;
  sport: number;
  dport: number;
  len: number;
  action: string;
  cpu: number;
  /** Only for type policy. */
  policy?: { ruleset: number; slot: number | 'deny' | 'host'; direction: string; rules?: readonly { policy: string; rule: number }[] };
}

/** Wall-clock ns minus CLOCK_MONOTONIC ns, measured now (Node's hrtime is CLOCK_MONOTONIC). */
export function monotonicToWallOffsetNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}

export function toMonitorEvent(e: RawEvent, o: { node: string; pod: string | null; ifname?: string; wallOffsetNs: bigint }): MonitorEvent {
  const wallNs = e.timeNs + o.wallOffsetNs;
  const ms = Number(wallNs / 1_000_000n);
  const frac = String(wallNs % 1_000_000_000n).padStart(9, '0');
  const time = new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
  const ip = !(e.src === '0.0.0.0' && e.dst === '0.0.0.0' && e.proto === '0');
  return {
    time,
    node: o.node,
    type: e.type,
    reason: e.reason,
    direction: e.direction,
    pod: o.pod,
    ifindex: e.ifindex,
    ifname: o.ifname ?? null,
    src: ip ? e.src : null,
    dst: ip ? e.dst : null,
    proto: ip ? e.proto : null,
    sport: e.sport,
    dport: e.dport,
    len: e.len,
    action: e.action,
    cpu: e.cpu,
    ...(e.type === 'policy'
      ? { policy: { ruleset: e.policyId, slot: e.policyRule === 0xfe ? ('deny' as const) : e.policyRule === 0xfd ? ('host' as const) : e.policyRule, direction: e.policyDir } }
      : {}),
  };
}

export interface MonitorFilter {
  types: Set<string>;
  pod?: string;
  reason?: string;
}

export function matches(ev: MonitorEvent, f: MonitorFilter): boolean {
  if (!f.types.has(ev.type)) return false;
  if (f.pod !== undefined && ev.pod !== f.pod) return false;
  if (f.reason !== undefined && ev.reason !== f.reason) return false;
  return true;
}

const endpoint = (addr: string | null, port: number, proto: string | null): string =>
  addr === null ? '-' : (proto === 'tcp' || proto === 'udp') && port ? `${addr}:${port}` : addr;

/** e.g. `21:40:01.123456789 node-1 drop DROP_SPOOFED_SRC_IP EGRESS default/web (pw1a2b) 10.9.9.9:1234 -> 10.244.0.3:80 udp len 60` */
export function formatLine(ev: MonitorEvent): string {
  const clock = ev.time.slice(11, -1);
  const where = `${ev.pod ?? '-'}${ev.ifname ? ` (${ev.ifname})` : ` (if ${ev.ifindex})`}`;
  const flow = `${endpoint(ev.src, ev.sport, ev.proto)} -> ${endpoint(ev.dst, ev.dport, ev.proto)} ${ev.proto ?? 'non-ip'}`;
  const icmp = ev.proto === 'icmp' && ev.sport ? ` id ${ev.sport}` : '';
  const policy = ev.policy
    ? ` ${ev.policy.direction} ${ev.policy.rules?.length ? `by ${ev.policy.rules.map((r) => `${r.policy} rule #${r.rule}`).join(' or ')}` : `ruleset ${ev.policy.ruleset} slot ${ev.policy.slot}`}`
    : '';
  return `${clock} ${ev.node} ${ev.type} ${ev.reason} ${ev.direction} ${where} ${flow}${icmp} len ${ev.len}${policy}`;
}

// One datapath event as pw-monitor prints it (`e` lines, bpf/tools/pw-monitor.c), decoded into
// names: reason and direction from the C enums (the counters' names), type from pw_monitor_type.
import { enumNames } from '../maps/codec.js';
import { protoName } from '../maps/conntrack.js';
import { enums } from '../maps/generated/layouts.js';
import { monitorTypeNames } from '../maps/monitor.js';

export interface RawEvent {
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC. */
  timeNs: bigint;
  ifindex: number;
  len: number;
  reason: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: string;
  type: string;
  direction: string;
  action: string;
  policyId: number;
  policyRule: number;
  policyDir: string;
  cpu: number;
}

const REASONS = enumNames(enums.pw_reason);
const DIRECTIONS = enumNames(enums.pw_direction);
const ACTIONS = enumNames(enums.pw_action);
const FIELDS = 16;

const ipv4 = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const named = (names: readonly string[], i: number, what: string): string => names[i] ?? `${what}_${i}`;

/** An `e …` line of pw-monitor, or undefined for any other line. */
export function parseEventLine(line: string): RawEvent | undefined {
  if (!line.startsWith('e ')) return undefined;
  const p = line.slice(2).split(' ');
  if (p.length !== FIELDS) return undefined;
  const n = p.map(Number);
  return {
    timeNs: BigInt(p[0]!),
    ifindex: n[1]!,
    len: n[2]!,
    reason: named(REASONS, n[3]!, 'REASON'),
    src: ipv4(n[4]!),
    dst: ipv4(n[5]!),
    sport: n[6]!,
    dport: n[7]!,
    proto: protoName(n[8]!),
    type: monitorTypeNames[n[9]!] ?? `type_${n[9]}`,
    direction: named(DIRECTIONS, n[10]!, 'DIR'),
    action: named(ACTIONS, n[11]!, 'ACTION').toLowerCase(),
    policyId: n[12]!,
    policyRule: n[13]!,
    policyDir: named(DIRECTIONS, n[14]!, 'DIR'),
    cpu: n[15]!,
  };
}

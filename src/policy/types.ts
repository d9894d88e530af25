// The contract between the agent's policy inputs (informers -> compact records), the compiler
// (records -> map contents) and the map writer. bpf/lib/policy.h defines what the maps mean.
// Records are compact on purpose: at 100k pods the agent keeps these, never client-node objects.

/** A container port a Pod names (NetworkPolicy named ports resolve through these). */
export interface NamedPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** A Pod as policy needs it. Pods without an IP (pending) or hostNetwork pods are kept (hostNetwork
 * pods share their node's IP: no pod selector ever matches them). */
export interface PodRecord {
  namespace: string;
  name: string;
  /** IPv4 pod IP, or undefined while pending. */
  ip?: string;
  node?: string;
  hostNetwork: boolean;
  labels: Readonly<Record<string, string>>;
  ports: readonly NamedPort[];
}

export interface NamespaceRecord {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** metav1.LabelSelector, validated. */
export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: readonly string[] }[];
}

export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: readonly string[] };
}

export interface PolicyPort {
  /** Default TCP (the API's default). */
  protocol: Protocol;
  /** undefined = every port of the protocol; a string = a named port. */
  port?: number | string;
  endPort?: number;
}

export interface PolicyRule {
  /** undefined or [] = every peer (as the API defines a missing/empty from/to). */
  peers?: readonly PolicyPeer[];
  /** undefined or [] = every port and protocol. */
  ports?: readonly PolicyPort[];
}

/** A NetworkPolicy after validation, with policyTypes defaulted as the API server does. */
export interface PolicyRecord {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  ingress?: readonly PolicyRule[];
  egress?: readonly PolicyRule[];
  /** Ingress is always included when omitted; Egress when egress rules exist. */
  policyTypes: readonly ('Ingress' | 'Egress')[];
}

/** Everything the compiler reads. */
export interface PolicyInput {
  /** key: namespace/name (a Map, or the columnar PodStore: see pod-store.ts's PodSource). */
  pods: ReadonlyMap<string, PodRecord> & {
    localPods?(ips: ReadonlySet<string>): PodRecord[];
    /** Every pod with an IP that is not hostNetwork, as (namespace, IPv4 as u32, labels, ports),
     * without a record per pod (pod-store.ts): what the compiler's pod index is built from. */
    forEachMember?(cb: (namespace: string, addr: number, labels: Readonly<Record<string, string>>, ports: readonly NamedPort[]) => void): void;
  };
  namespaces: ReadonlyMap<string, NamespaceRecord>;
  policies: ReadonlyMap<string, PolicyRecord>; // key: namespace/name
  /** IPs of this node's endpoints (the pods whose isolation this node enforces). */
  localIps: ReadonlySet<string>;
  /** This node's own addresses (pol_sets set 1: ingress from them is always admitted). */
  hostIps: readonly string[];
}

/** A problem the agent reports (log, event, `podwire policy`, metric) instead of ignoring it. */
export interface PolicyWarning {
  policy?: string; // namespace/name
  pod?: string; // namespace/name
  code: 'SLOTS_EXCEEDED' | 'IPV6_CIDR' | 'INVALID_SELECTOR' | 'INVALID_POLICY' | 'NAMED_PORT_UNRESOLVED' | string;
  message: string;
}

/** One rule slot of a ruleset (pol_slots value + where it came from, for trace and the CLI). */
export interface CompiledSlot {
  slot: number;
  /** pol_sets id, 0 with anyPeer. */
  set: number;
  anyPeer: boolean;
  /** Every (policy, direction-list index) this slot carries; the first goes into the map. */
  rules: readonly { policyId: number; policy: string; rule: number }[];
  /** Human text of the ports ("TCP/80", "TCP/8000-8080", "any"). */
  ports: string;
  /** Human text of the peers ("ns x pods {app: a}", "10.0.0.0/8 except 10.1.0.0/16", "any"). */
  peers: string;
}

export interface CompiledRuleset {
  id: number;
  direction: 'ingress' | 'egress';
  slots: readonly CompiledSlot[];
  /** pol_ports entries: prefixlen is of the map key (32 + 8 + 8 + port bits), slots a bitmask. */
  ports: readonly { prefixlen: number; proto: number; port: number; slots: bigint }[];
}

export interface CompiledEndpoint {
  ip: string;
  pod: string; // namespace/name
  ingress: number; // ruleset id, 0 = not isolated
  egress: number;
  /** enum pw_endpoint_flags */
  flags: number;
  /** namespace/name of every policy selecting the pod, per direction. */
  policies: { ingress: readonly string[]; egress: readonly string[] };
}

export interface CompiledSet {
  id: number;
  /** pol_sets entries: prefixlen of the map key = 32 + CIDR bits; include 0 = an except. */
  entries: readonly { cidr: string; include: boolean }[];
  description: string;
}

/** The compiler's output: exactly what the maps must hold, plus the model the CLI explains. */
export interface CompiledPolicy {
  endpoints: readonly CompiledEndpoint[];
  rulesets: readonly CompiledRuleset[];
  sets: readonly CompiledSet[];
  /** policy id -> namespace/name (ids are stable for the agent's lifetime). */
  policyIds: ReadonlyMap<number, string>;
  warnings: readonly PolicyWarning[];
}

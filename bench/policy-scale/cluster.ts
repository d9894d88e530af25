// A synthetic cluster for the NetworkPolicy scale row, as API objects (so the parsers run too):
// N namespaces of P pods each, 10 policies per namespace mixing what real clusters use —
// default deny both ways, same-namespace allow, DNS egress to kube-system, monitoring by a
// namespace label and a named port, cross-namespace tier rules, named-port egress to databases,
// an internet egress ipBlock with private excepts, and a per-team rule.

const TIERS = ['web', 'app', 'db', 'cache'] as const;

export interface SimCluster {
  namespaces: unknown[];
  pods: unknown[];
  policies: unknown[];
  /** IPs of the pods placed on the measured node. */
  localIps: string[];
}

const nsName = (i: number): string => (i === 0 ? 'kube-system' : i === 1 ? 'monitoring' : `ns-${i}`);

export function podIp(i: number): string {
  // 10.64.0.0/10: 4M addresses, one per pod index
  return `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
}

export function simCluster(o: { namespaces: number; pods: number; policies: number; localPods: number }): SimCluster {
  const perNs = Math.max(1, Math.floor(o.pods / o.namespaces));
  const namespaces: unknown[] = [];
  for (let n = 0; n < o.namespaces; n++) {
    namespaces.push({
      metadata: {
        name: nsName(n),
        labels: { 'kubernetes.io/metadata.name': nsName(n), team: n === 1 ? 'monitoring' : `team-${n % 50}`, env: n % 3 === 0 ? 'prod' : 'dev' },
      },
    });
  }
  const pods: unknown[] = [];
  const localIps: string[] = [];
  const localEvery = Math.max(1, Math.floor(o.pods / o.localPods));
  for (let i = 0; i < o.pods; i++) {
    const n = Math.min(o.namespaces - 1, Math.floor(i / perNs));
    const k = i % perNs;
    const tier = TIERS[k % 4]!;
    const ports =
      n === 0 && k < 2
        ? [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }]
        : tier === 'web'
          ? [{ name: 'http', containerPort: 8080 }]
          : tier === 'app'
            ? [{ name: 'metrics', containerPort: 9090 }, { name: 'http', containerPort: 8000 }]
            : tier === 'db'
              ? [{ name: 'sql', containerPort: k % 8 === 2 ? 5432 : 3306 }]
              : [{ name: 'redis', containerPort: 6379 }];
    const local = i % localEvery === 0 && localIps.length < o.localPods;
    const ip = podIp(i);
    if (local) localIps.push(ip);
    pods.push({
      metadata: {
        namespace: nsName(n),
        name: `pod-${i}`,
        labels: { app: `app-${k % 20}`, tier, ...(n === 0 && k < 2 ? { 'k8s-app': 'kube-dns' } : {}), 'pod-template-hash': `h${k % 7}` },
      },
      spec: { nodeName: local ? 'measured' : `node-${i % 1000}`, containers: [{ name: 'c', ports }] },
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
    });
  }
  const perNsPolicies = Math.max(1, Math.floor(o.policies / o.namespaces));
  const policies: unknown[] = [];
  const make = (n: number, j: number): unknown => {
    const ns = nsName(n);
    const meta = { namespace: ns, name: `pol-${j}` };
    switch (j % 10) {
      case 0:
        return { metadata: meta, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
      case 1:
        return { metadata: meta, spec: { podSelector: {}, policyTypes: ['Egress'] } };
      case 2:
        return { metadata: meta, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] } };
      case 3:
        return {
          metadata: meta,
          spec: {
            podSelector: {},
            policyTypes: ['Egress'],
            egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }],
          },
        };
      case 4:
        return { metadata: meta, spec: { podSelector: { matchLabels: { tier: 'app' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'monitoring' } } }], ports: [{ port: 'metrics' }] }] } };
      case 5:
        return {
          metadata: meta,
          spec: {
            podSelector: { matchLabels: { tier: 'web' } },
            ingress: [{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: { matchLabels: { tier: 'web' } } }], ports: [{ port: 80 }, { port: 443 }, { port: 8000, endPort: 8080 }] }],
          },
        };
      case 6:
        return { metadata: meta, spec: { podSelector: { matchLabels: { tier: 'db' } }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['app'] }] } }], ports: [{ port: 'sql' }] }] } };
      case 7:
        return { metadata: meta, spec: { podSelector: { matchLabels: { tier: 'app' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { tier: 'db' } } }], ports: [{ port: 'sql' }] }] } };
      case 8:
        return {
          metadata: meta,
          spec: {
            podSelector: { matchLabels: { tier: 'web' } },
            policyTypes: ['Egress'],
            egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }], ports: [{ port: 443 }] }],
          },
        };
      default:
        return { metadata: meta, spec: { podSelector: { matchLabels: { app: `app-${n % 20}` } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: `team-${n % 50}` } } }] }] } };
    }
  };
  for (let n = 0; n < o.namespaces && policies.length < o.policies; n++) {
    for (let j = 0; j < perNsPolicies && policies.length < o.policies; j++) policies.push(make(n, j));
  }
  return { namespaces, pods, policies, localIps };
}

// NetworkPolicy in the agent: cluster-wide compact caches of Pods, Namespaces, NetworkPolicies and
// Services; on every change (debounced, bursts coalesced) compile the node's policy and write it
// into the pol_* maps (src/policy), Service addresses into svc_addrs, and the model
// ${stateDir}/policy.json for `podwire policy`. Nothing is applied before every cache has listed
// once: an empty cache would look like "no policies" and open every isolated pod (and a restarted
// agent would wipe maps that are right). A CNI ADD applies the new pod's policy before the runtime
// gets its answer (admit()), so a pod selected by a deny policy is never open at birth.
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { compactInformer, recordsOf, type CompactInformer } from '../kube/compact.js';
import type { KubeClient } from '../kube/client.js';
import type { ResilientOptions } from '../kube/informer.js';
import { openEndpoints } from '../maps/endpoints.js';
import * as metrics from '../metrics/index.js';
import {
  compilePolicy,
  EP_F_EGRESS_ISOLATED,
  namespaceRecord,
  parsePolicy,
  podRecord,
  PodOverlay,
  PodStore,
  PolicyWriter,
  POLICY_MODEL_FILE,
  writePolicyModel,
  type CompiledPolicy,
  type NamespaceRecord,
  type PodRecord,
  type PodSource,
  type PolicyRecord,
  type PolicyWarning,
} from '../policy/index.js';
import type { Logger } from './log.js';
import type { MemoryProbe } from './memory.js';
import { serviceAddrs, SvcAddrsWriter } from './services.js';

export const DEFAULT_POLICY_DEBOUNCE_MS = 20;
/** Pods per list page. At the scale bench's ~350 B of JSON per Pod a page's text then stays under
 * V8's large-object size (~128 KB) and dies young, instead of piling up in the large-object space
 * until a full GC (1M Pods: peak 476 -> 375 MB, bench/report/findings.md, issue 13 item 5). Real
 * Pods (managedFields) are several KB: their pages are large objects at any usable size. */
export const POD_LIST_PAGE = 200;
/** How long an ADD's pod IP stands in for the one the API has not reported yet. */
const OVERRIDE_TTL_MS = 120_000;

type ParsedPolicy = ReturnType<typeof parsePolicy>;

export interface PolicyControllerOptions {
  client: KubeClient;
  nodeName: string;
  pinDir: string;
  stateDir: string;
  log: Logger;
  debounceMs?: number;
  /** Informer options (log, hooks) per informer name; onChange is the controller's. */
  watchOpts: (name: string) => Omit<ResilientOptions, 'onChange'>;
  /**
   * Whether this node posts the Events of warnings about policies that select none of its pods
   * (every agent sees every policy: without this each node would post the same Event). The agent
   * answers "I am the first Node by name". Policies selecting a local pod are reported by the
   * nodes enforcing them. Default: always.
   */
  reportsClusterWide?: () => boolean;
  /**
   * Attach (true) / detach (false) to_uplink (src/hostnet/egress-policy.ts). Called with true
   * BEFORE an apply that isolates any local pod for egress, with false AFTER an apply that leaves
   * none isolated. A failing attach fails the run before anything is written (retried).
   */
  egressPolicy?: (want: boolean) => Promise<unknown>;
  /** PODWIRE_DEBUG_MEMORY's probe: marks the first apply. */
  memory?: MemoryProbe;
}

export interface PolicyRunResult {
  trigger: string;
  revision: number;
  changed: boolean;
  compileMs: number;
  applyMs: number;
  totalMs: number;
}

export class PolicyController {
  private readonly log: Logger;
  private readonly pods: CompactInformer<PodRecord>;
  private readonly namespaces: CompactInformer<NamespaceRecord>;
  private readonly policies: CompactInformer<ParsedPolicy>;
  private readonly services: CompactInformer<string[]>;
  private readonly writer: PolicyWriter;
  private readonly svcWriter: SvcAddrsWriter;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** The run that has not started yet, and what asked for it. */
  private queued: Promise<void> | undefined;
  private readonly queuedTriggers: string[] = [];
  private stopped = false;
  /** Pods an ADD just wired: namespace/name -> the IP the API does not report yet. */
  private readonly overrides = new Map<string, { ip: string; at: number }>();
  /** Warnings already logged (and posted as Events): key -> warning. */
  private seenWarnings = new Map<string, PolicyWarning>();
  private readonly postedEvents = new Set<string>();
  private eventsUnsupported = false;
  /** Malformed objects already reported (kind/key/resourceVersion). */
  private readonly malformedSeen = new Set<string>();
  private malformedWarnings = new Map<string, PolicyWarning>();
  runs = 0;
  lastRun: PolicyRunResult | undefined;
  revision = 0;

  constructor(private readonly o: PolicyControllerOptions) {
    this.log = o.log;
    const kc = o.client.config;
    const opts = (name: string): ResilientOptions => ({ ...o.watchOpts(name), onChange: () => this.kick(name) });
    const malformed = (kind: 'Pod' | 'Namespace' | 'NetworkPolicy' | 'Service') => (key: string, error: string) => {
      if (this.malformedSeen.has(`${kind}/${key}/${error}`)) return;
      this.malformedSeen.add(`${kind}/${key}/${error}`);
      metrics.recordMalformedObject(kind);
      this.log.warn('malformed API object ignored by NetworkPolicy', { kind, object: key, error });
      if (kind === 'NetworkPolicy') this.malformedWarnings.set(key, { policy: key, code: 'INVALID_POLICY', message: `not usable: ${error}` });
    };
    // every Pod of the cluster: stored by column (~100 B per Pod instead of ~230 as records)
    this.pods = compactInformer(
      kc,
      { name: 'policy-pods', path: '/api/v1/pods', convert: podRecord, onMalformed: malformed('Pod'), store: () => new PodStore(), pageSize: POD_LIST_PAGE },
      opts('policy-pods'),
    );
    this.namespaces = compactInformer(kc, { name: 'namespaces', path: '/api/v1/namespaces', convert: namespaceRecord, onMalformed: malformed('Namespace') }, opts('namespaces'));
    this.policies = compactInformer(
      kc,
      {
        name: 'networkpolicies',
        path: '/apis/networking.k8s.io/v1/networkpolicies',
        // the record carries the parse warnings; a policy without a usable spec still counts
        convert: (raw) => {
          const p = parsePolicy(raw);
          return p.policy || p.warnings.length > 0 ? p : undefined;
        },
        onMalformed: malformed('NetworkPolicy'),
        keepVersions: true, // the Events about a policy name its version
      },
      opts('networkpolicies'),
    );
    this.services = compactInformer(kc, { name: 'services', path: '/api/v1/services', convert: serviceAddrs, onMalformed: malformed('Service') }, opts('services'));
    this.writer = new PolicyWriter(o.pinDir);
    this.svcWriter = new SvcAddrsWriter(o.pinDir);
  }

  get synced(): boolean {
    return this.pods.synced && this.namespaces.synced && this.policies.synced && this.services.synced;
  }

  start(): void {
    for (const i of [this.pods, this.namespaces, this.policies, this.services]) i.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([this.pods, this.namespaces, this.policies, this.services].map((i) => i.stop()));
    await this.running.catch(() => undefined);
    this.writer.close();
  }

  /** A cache changed: recompute after the debounce (a burst of events is one recompute). */
  kick(trigger = 'change'): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // logged and counted in runOnce; the next change retries
      this.enqueue(trigger).catch(() => undefined);
    }, this.o.debounceMs ?? DEFAULT_POLICY_DEBOUNCE_MS);
  }

  /**
   * Runs are serialised: one compile + apply at a time. Requests while one runs join the single
   * queued run (it starts after every input they changed), so a burst of ADDs costs two runs, not
   * one per pod, and no ADD waits behind a queue of them.
   */
  private enqueue(trigger: string): Promise<void> {
    this.queuedTriggers.push(trigger);
    if (this.queued) return this.queued;
    const next = this.running.then(() => {
      this.queued = undefined;
      const triggers = this.queuedTriggers.splice(0);
      const text = triggers.length > 4 ? `${triggers.slice(0, 4).join(', ')} (+${triggers.length - 4})` : triggers.join(', ');
      return this.runOnce(text);
    });
    this.queued = next;
    this.running = next.catch(() => undefined);
    return next;
  }

  /**
   * CNI ADD of namespace/name got ip: apply its policy now (the runtime is waiting). The Pod is in
   * the cache with its labels (it exists before ADD) but without its IP yet: the IP stands in
   * until the API reports it. Never throws: a failure is logged and the next recompute retries.
   */
  async admit(namespace: string, name: string, ip: string): Promise<void> {
    const key = `${namespace}/${name}`;
    if (!this.synced) {
      this.log.warn('pod wired before the NetworkPolicy caches synced: its policy applies once they have', { pod: key, ip });
      this.overrides.set(key, { ip, at: Date.now() });
      return;
    }
    if (!this.pods.records().has(key)) {
      this.log.warn('pod of a CNI ADD not in the cache: its policy applies on the next recompute', { pod: key, ip });
    }
    this.overrides.set(key, { ip, at: Date.now() });
    try {
      await this.enqueue(`add ${key}`);
    } catch (e) {
      this.log.warn('applying NetworkPolicy at CNI ADD failed; retried on the next change', { pod: key, error: e });
    }
  }

  private hostIps(): string[] {
    const out = new Set<string>();
    for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (a.family === 'IPv4') out.add(a.address);
    return [...out].sort();
  }

  private localIps(): Set<string> {
    const eps = openEndpoints(this.o.pinDir);
    try {
      return new Set(eps.list().map((e) => e.ip));
    } finally {
      eps.close();
    }
  }

  /** The cache itself (no copy of a million records), seen through the ADD overrides if any. */
  private podRecords(): PodSource {
    const cached = recordsOf(this.pods) as PodSource;
    const now = Date.now();
    let over: Map<string, PodRecord> | undefined;
    for (const [key, o] of this.overrides) {
      const p = cached.get(key);
      if (now - o.at > OVERRIDE_TTL_MS || (p && p.ip === o.ip)) {
        this.overrides.delete(key);
        continue;
      }
      if (p) (over ??= new Map()).set(key, { ...p, ip: o.ip, node: this.o.nodeName });
    }
    return over ? new PodOverlay(cached, over) : cached;
  }

  private async runOnce(trigger: string): Promise<void> {
    if (this.stopped) return;
    if (!this.synced) {
      this.log.debug('NetworkPolicy caches not synced yet: nothing applied', { trigger });
      return;
    }
    const t0 = performance.now();
    try {
      const policies = new Map<string, PolicyRecord>();
      const parseWarnings: PolicyWarning[] = [...this.malformedWarnings.values()];
      for (const [key, p] of recordsOf(this.policies)) {
        if (p.policy) policies.set(key, p.policy);
        parseWarnings.push(...p.warnings);
      }
      // a malformed policy that was later fixed or deleted no longer warns
      const present = new Set(this.policies.list().map((c) => `${c.metadata.namespace}/${c.metadata.name}`));
      for (const [key, c] of this.policies.list().map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c] as const)) {
        if (c.record) this.malformedWarnings.delete(key);
      }
      for (const key of this.malformedWarnings.keys()) if (!present.has(key)) this.malformedWarnings.delete(key);
      const pods = this.podRecords();
      const localIps = this.localIps();
      for (const o of this.overrides.values()) localIps.add(o.ip);
      const compiled = compilePolicy({ pods, namespaces: recordsOf(this.namespaces), policies, localIps, hostIps: this.hostIps() });
      const t1 = performance.now();
      // to_uplink judges an egress-isolated pod's packets the stack routes to other nodes: in
      // place before the first endpoint is marked, gone only after the last mark is cleared
      const wantEgress = compiled.endpoints.some((e) => (e.flags & EP_F_EGRESS_ISOLATED) !== 0);
      if (wantEgress) await this.o.egressPolicy?.(true);
      const stats = this.writer.apply(compiled);
      if (!wantEgress) await this.o.egressPolicy?.(false);
      const svc = this.svcWriter.sync(new Set([...recordsOf(this.services).values()].flat()));
      const t2 = performance.now();
      this.revision = stats.revision;
      const warnings = [...compiled.warnings, ...parseWarnings];
      writePolicyModel(join(this.o.stateDir, POLICY_MODEL_FILE), compiled, { revision: stats.revision, warnings: parseWarnings, node: this.o.nodeName });
      this.runs++;
      const result: PolicyRunResult = {
        trigger,
        revision: stats.revision,
        changed: stats.changed,
        compileMs: round(t1 - t0),
        applyMs: round(t2 - t1),
        totalMs: round(performance.now() - t0),
      };
      if (this.runs === 1) {
        // a restarted agent with unchanged inputs writes nothing (changed: false, same revision)
        this.o.memory?.mark('policy first apply');
        this.log.info('policy caches synced; first apply', { ...result, pods: pods.size, policies: policies.size, namespaces: this.namespaces.size, services: this.services.size });
      }
      this.lastRun = result;
      metrics.observePolicyRun({ ok: true, compileSeconds: (t1 - t0) / 1000, applySeconds: (t2 - t1) / 1000, ...summary(compiled, stats.revision, warnings) });
      const fields = {
        ...result,
        writes: stats.writes,
        deletes: stats.deletes,
        svcAdded: svc.added,
        svcRemoved: svc.removed,
        pods: pods.size,
        policies: policies.size,
        localEndpoints: localIps.size,
        isolated: compiled.endpoints.filter((e) => e.flags !== 0).length,
        egressIsolated: stats.egressIsolated,
        warnings: warnings.length,
      };
      (stats.changed || svc.added + svc.removed > 0 ? this.log.info : this.log.debug)('policy applied', fields);
      const selectingLocal = new Set(compiled.endpoints.flatMap((e) => [...e.policies.ingress, ...e.policies.egress]));
      this.report(warnings, selectingLocal);
    } catch (e) {
      metrics.observePolicyRun({ ok: false });
      this.log.error('policy recompute failed; retried on the next change', { trigger, error: e, durationMs: round(performance.now() - t0) });
      throw e;
    }
  }

  /** Log new warnings once, post an Event on the NetworkPolicy for each (when the API has Events). */
  private report(warnings: readonly PolicyWarning[], selectingLocal: ReadonlySet<string>): void {
    const now = new Map(warnings.map((w) => [`${w.policy ?? ''}|${w.pod ?? ''}|${w.code}|${w.message}`, w]));
    for (const [key, w] of now) {
      if (this.seenWarnings.has(key)) continue;
      this.log.warn('NetworkPolicy not enforceable as written', { ...w });
      if (w.policy && !this.postedEvents.has(key) && (selectingLocal.has(w.policy) || (this.o.reportsClusterWide?.() ?? true))) {
        this.postedEvents.add(key);
        void this.postEvent(w);
      }
    }
    this.seenWarnings = now;
  }

  private async postEvent(w: PolicyWarning): Promise<void> {
    if (this.eventsUnsupported || !w.policy) return;
    const [namespace, name] = w.policy.split('/') as [string, string];
    const rv = this.policies.versionOf(w.policy);
    const at = new Date();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace, name, ...(rv ? { resourceVersion: rv } : {}) },
      reason: w.code,
      message: w.message,
      type: 'Warning',
      source: { component: 'podwire-agent', host: this.o.nodeName },
      reportingComponent: 'podwire-agent',
      reportingInstance: this.o.nodeName,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    try {
      await this.o.client.core.createNamespacedEvent({ namespace, body });
    } catch (e) {
      const code = (e as { code?: number; statusCode?: number }).code ?? (e as { statusCode?: number }).statusCode;
      if (code === 404 || code === 405) {
        this.eventsUnsupported = true;
        this.log.info('the API server has no Events: NetworkPolicy warnings are logged and counted only', { status: code });
      } else this.log.warn('posting a NetworkPolicy warning Event failed', { policy: w.policy, error: e });
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function summary(c: CompiledPolicy, revision: number, warnings: readonly PolicyWarning[]): Omit<metrics.PolicyRunStats, 'ok'> {
  const byCode: Record<string, number> = {};
  for (const w of warnings) byCode[w.code] = (byCode[w.code] ?? 0) + 1;
  return {
    revision,
    rulesets: c.rulesets.length,
    sets: c.sets.length,
    mapEntries: {
      pol_endpoints: c.endpoints.filter((e) => e.ingress !== 0 || e.egress !== 0).length,
      pol_ports: c.rulesets.reduce((n, r) => n + r.ports.length, 0),
      pol_slots: c.rulesets.reduce((n, r) => n + r.slots.length, 0),
      pol_sets: c.sets.reduce((n, s) => n + s.entries.length, 0),
    },
    isolated: {
      ingress: c.endpoints.filter((e) => e.ingress !== 0).length,
      egress: c.endpoints.filter((e) => e.egress !== 0).length,
    },
    warningsByCode: byCode,
  };
}

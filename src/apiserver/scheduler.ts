// The lab's tiny scheduler, run inside the API server process like node-IPAM: a Pod created
// without spec.nodeName is bound to the schedulable Ready Node with the fewest pods (ties by
// name), through the same bind as the pods/binding subresource. Pods that find no node wait and
// are retried whenever a Node changes. NoSchedule/NoExecute taints are honoured against the
// pod's tolerations; nothing else (resources, affinity) is considered.
import type { StoreEvent } from './history.js';
import { bind } from './binding.js';
import { RESOURCES } from './resources.js';
import type { Store } from './store.js';
import { isRecord, type KubeObject } from './types.js';

function nodeReady(node: KubeObject): boolean {
  if (node.spec?.unschedulable === true) return false;
  const conds = node.status?.conditions;
  return Array.isArray(conds) && conds.some((c) => isRecord(c) && c.type === 'Ready' && c.status === 'True');
}

function tolerates(pod: KubeObject, taint: Record<string, unknown>): boolean {
  const tols = Array.isArray(pod.spec?.tolerations) ? pod.spec.tolerations.filter(isRecord) : [];
  return tols.some((t) => {
    if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

function fits(pod: KubeObject, node: KubeObject): boolean {
  const taints = Array.isArray(node.spec?.taints) ? node.spec.taints.filter(isRecord) : [];
  return taints.every((t) => (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') || tolerates(pod, t));
}

const unbound = (obj: KubeObject): boolean => {
  const n = obj.spec?.nodeName;
  return (typeof n !== 'string' || n === '') && !obj.metadata.deletionTimestamp;
};

export function startScheduler(store: Store): { stop(): void } {
  const pending = new Set<string>(); // "namespace/name"
  let scheduled = false;
  let stopped = false;

  const pick = (pod: KubeObject): string | undefined => {
    let best: string | undefined;
    let bestCount = Infinity;
    for (const e of store.tables.nodes.byKey.values()) {
      if (!nodeReady(e.obj) || !fits(pod, e.obj)) continue;
      const name = e.obj.metadata.name ?? '';
      const count = store.tables.pods.byNode.get(name)?.size ?? 0;
      if (count < bestCount || (count === bestCount && best !== undefined && name < best)) {
        best = name;
        bestCount = count;
      }
    }
    return best;
  };

  const run = (): void => {
    scheduled = false;
    if (stopped) return;
    for (const key of [...pending]) {
      const slash = key.indexOf('/');
      const e = store.get(RESOURCES.pods, key.slice(0, slash), key.slice(slash + 1));
      if (!e || !unbound(e.obj)) {
        pending.delete(key);
        continue;
      }
      const node = pick(e.obj);
      if (node === undefined) continue; // retried on the next Node change
      pending.delete(key);
      try {
        bind(store, key.slice(0, slash), key.slice(slash + 1), node);
      } catch {
        // Bound or deleted meanwhile by someone else: nothing to do.
      }
    }
  };
  const schedule = (): void => {
    if (scheduled || stopped) return;
    scheduled = true;
    setImmediate(run);
  };

  store.onEvent((ev: StoreEvent) => {
    if (ev.def.name === 'pods') {
      const key = `${ev.namespace}/${ev.obj.metadata.name ?? ''}`;
      if (ev.type !== 'DELETED' && unbound(ev.obj)) {
        pending.add(key);
        schedule();
      } else {
        pending.delete(key);
      }
    } else if (ev.def.name === 'nodes' && ev.type !== 'DELETED' && pending.size > 0) {
      schedule();
    }
  });
  return {
    stop: () => {
      stopped = true;
    },
  };
}

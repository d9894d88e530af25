// The reachability truth table of the NetworkPolicy e2e suite (upstream's "Reachability"):
// probe from every source pod to every target pod on one port/protocol IN PARALLEL (one prober
// process per source, all sources at once), compare with the expectation, and retry the whole
// matrix until it matches or a deadline passes (policy propagation takes time). On a mismatch the
// error prints expected vs observed like upstream ("." reachable, "X" blocked, "*" marks wrong cells).
import { setTimeout as sleep } from 'node:timers/promises';
import { PodwireError } from '../../errors/index.js';
import { probeMany } from '../probe-many.js';
import type { NetpolPod } from './fixture.js';

/** Whether `from` may reach `to`. A pod reaching itself never leaves its namespace: always allowed. */
export type Expectation = (from: NetpolPod, to: Target) => boolean;

/** A probe target: a pod, or an address served by a pod (a Service: id "svc x/a", ip its
 * ClusterIP, backend "x/a", the pod that must answer). */
export type Target = NetpolPod & { backend?: string };

export interface MatrixSpec {
  proto: 'tcp' | 'udp';
  port: number;
  sources: readonly NetpolPod[];
  targets: readonly Target[];
}

export interface Observed {
  /** key `${from.id}>${to.id}` */
  ok: Map<string, boolean>;
  detail: Map<string, string>;
}

const key = (from: NetpolPod, to: Target) => `${from.id}>${to.id}`;

/** One round: every cell once. A cell is reachable only when the right pod answered and saw the
 * source's own IP (an answer from anyone else is a failure, not a pass). */
export async function probeMatrix(spec: MatrixSpec, timeoutMs = 1000): Promise<Observed> {
  const ok = new Map<string, boolean>();
  const detail = new Map<string, string>();
  await Promise.all(
    spec.sources.map(async (from) => {
      const answers = await probeMany(from.netnsPath, spec.targets.map((to) => ({ proto: spec.proto, host: to.ip, port: spec.port })), timeoutMs);
      spec.targets.forEach((to, i) => {
        const a = answers[i]!;
        const right = a.backend === (to.backend ?? to.id) && a.clientIp === from.ip;
        ok.set(key(from, to), right);
        detail.set(key(from, to), right ? 'ok' : a.line ? `wrong answer "${a.line}"` : (a.error ?? 'no answer'));
      });
    }),
  );
  return { ok, detail };
}

export function expected(spec: MatrixSpec, expect: Expectation): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const from of spec.sources) for (const to of spec.targets) m.set(key(from, to), from.id === to.id || expect(from, to));
  return m;
}

export function formatTable(spec: MatrixSpec, cells: Map<string, boolean>, wrong?: Set<string>): string {
  const w = Math.max(5, ...spec.targets.map((t) => t.id.length + 2));
  const lines = [`${'-'.padEnd(w)}${spec.targets.map((t) => t.id.padEnd(w)).join('')}`];
  for (const from of spec.sources) {
    lines.push(from.id.padEnd(w) + spec.targets.map((to) => `${cells.get(key(from, to)) ? '.' : 'X'}${wrong?.has(key(from, to)) ? '*' : ''}`.padEnd(w)).join(''));
  }
  return lines.join('\n');
}

export interface ExpectResult {
  rounds: number;
  ms: number;
}

/**
 * Probe the matrix until it equals the expectation; throws after `deadlineMs` with both tables
 * and the failure of every wrong cell.
 */
export async function expectReachability(spec: MatrixSpec, expect: Expectation, opts: { deadlineMs?: number; timeoutMs?: number; what?: string } = {}): Promise<ExpectResult> {
  const want = expected(spec, expect);
  const t0 = Date.now();
  const deadline = t0 + (opts.deadlineMs ?? 20_000);
  for (let rounds = 1; ; rounds++) {
    const got = await probeMatrix(spec, opts.timeoutMs ?? 1000);
    const wrong = new Set([...want].filter(([k, v]) => got.ok.get(k) !== v).map(([k]) => k));
    if (!wrong.size) return { rounds, ms: Date.now() - t0 };
    if (Date.now() > deadline) {
      const title = `${opts.what ? `${opts.what}: ` : ''}${spec.proto.toUpperCase()}/${spec.port} reachability still wrong after ${rounds} rounds (${Date.now() - t0} ms)`;
      throw new PodwireError(
        'IO_FAILED',
        [
          title,
          'expected ("." reachable, "X" blocked; rows: from, columns: to):',
          formatTable(spec, want),
          'observed ("*": differs from expected):',
          formatTable(spec, got.ok, wrong),
          'wrong cells:',
          ...[...wrong].map((k) => `  ${k.replace('>', ' -> ')}: expected ${want.get(k) ? 'reachable' : 'blocked'}, got ${got.detail.get(k)}`),
        ].join('\n'),
      );
    }
    await sleep(200);
  }
}

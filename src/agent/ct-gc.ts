// Expiring the datapath's conntrack entries (ct map). The datapath refreshes an entry while its
// flow passes through the node's stack; an entry idle longer than its protocol's timeout is
// removed here. TCP follows netfilter's own established timeout when this node has one (a flow
// the stack still NATs keeps its entry as long as netfilter keeps its state); the LRU map evicts
// under pressure anyway, so a missed GC pass only costs memory, never correctness.
import { readFileSync } from 'node:fs';
import { DEFAULT_CT_TIMEOUTS, openConntrack, type CtTimeouts } from '../maps/conntrack.js';
import type { Logger } from './log.js';

export interface CtGcRun {
  scanned: number;
  expired: number;
  durationMs: number;
}

export interface CtGcOptions {
  pinDir: string;
  log: Logger;
  /** Between passes; default 30 s. */
  intervalMs?: number;
  timeouts?: CtTimeouts;
  /** Called after every pass (metrics). */
  onRun?: (run: CtGcRun) => void;
}

/** netfilter's TCP established timeout in this network namespace, if conntrack is there. */
export function netfilterTcpTimeout(): number | undefined {
  try {
    const v = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established', 'utf8').trim());
    return Number.isInteger(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

export function ctTimeouts(): CtTimeouts {
  return { ...DEFAULT_CT_TIMEOUTS, tcpSeconds: netfilterTcpTimeout() ?? DEFAULT_CT_TIMEOUTS.tcpSeconds };
}

/** One pass: expire idle entries. */
export function runCtGc(pinDir: string, timeouts: CtTimeouts = ctTimeouts()): CtGcRun {
  const t0 = performance.now();
  const m = openConntrack(pinDir);
  try {
    const { scanned, expired } = m.expire(undefined, timeouts);
    return { scanned, expired, durationMs: performance.now() - t0 };
  } finally {
    m.close();
  }
}

export function startCtGc(o: CtGcOptions): { stop(): void } {
  const timeouts = o.timeouts ?? ctTimeouts();
  o.log.info('conntrack GC', { intervalMs: o.intervalMs ?? 30_000, tcpTimeoutSeconds: timeouts.tcpSeconds, otherTimeoutSeconds: timeouts.otherSeconds });
  const timer = setInterval(() => {
    try {
      const r = runCtGc(o.pinDir, timeouts);
      if (r.expired > 0) o.log.info('conntrack GC pass', { scanned: r.scanned, expired: r.expired, durationMs: Math.round(r.durationMs) });
      o.onRun?.(r);
    } catch (e) {
      o.log.warn('conntrack GC pass failed', { error: e });
    }
  }, o.intervalMs ?? 30_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

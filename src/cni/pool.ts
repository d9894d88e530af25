// The warm veth pool (agent only, `--veth-pool-size`): veth pairs made ahead of time in the node
// netns, both ends down, with from_pod (tcx ingress) and to_pod (tcx egress) already attached to
// the host end and their links pinned under the pool name. Each tcx attach costs an RCU grace
// period under the RTNL (tcx_entry_sync), and deleting a device with tcx links costs two more
// plus the netdev rcu_barrier: the pool pays them in the background, while no CNI request is in
// flight, instead of in ADD (take: move the peer into the pod netns, rename both ends) and DEL
// (recycle: move the pod end back, rename both ends to pool names; no tcx uninstall, no
// unregister). DEL may fill the pool up to twice its size; the surplus is deleted while idle.
// A netns move is not free either: dev_change_net_namespace() waits for an rcu_barrier(), so
// take and recycle each cost one grace period instead of two (ADD) or three (DEL).
//
// Names: host end pwph<8 hex>, peer pwpp<8 hex> (never a CNI host veth name, pw<11 hex>, so the
// CNI GC leaves them alone); link pins links/pwph… and links-egress/pwph… (a datapath reload
// re-points them like any other link pin). At agent start, pairs left by a previous agent are
// adopted when complete (both ends in this netns, both pins there) and deleted otherwise; pins of
// pool names without their device are removed.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { linkPin, pinPaths, type LinkDir } from '../loader/pins.js';
import type { WireHelper } from '../wire/client.js';
import { WireOp } from '../wire/protocol.js';
import { linkNames } from './procfs.js';

export const POOL_HOST_PREFIX = 'pwph';
export const POOL_PEER_PREFIX = 'pwpp';
const POOL_HOST_RE = /^pwph[0-9a-f]{8}$/;
/** The pool refills only after this long without a CNI request (a refill step holds the RTNL for a grace period). */
export const POOL_IDLE_MS = 100;

export interface PoolPair {
  host: string;
  peer: string;
}

export function isPoolHostName(n: string): boolean {
  return POOL_HOST_RE.test(n);
}

export function poolPeerOf(host: string): string {
  return POOL_PEER_PREFIX + host.slice(POOL_HOST_PREFIX.length);
}

function newPair(): PoolPair {
  const id = randomBytes(4).toString('hex');
  return { host: POOL_HOST_PREFIX + id, peer: POOL_PEER_PREFIX + id };
}

/** Rename both link pins of host veth `from` to `to` (bpffs supports rename(2)). */
export function renameLinkPins(pinDir: string, from: string, to: string): void {
  for (const dir of ['ingress', 'egress'] as LinkDir[]) renameSync(linkPin(pinDir, from, dir), linkPin(pinDir, to, dir));
}

export function removePoolPins(pinDir: string, host: string): void {
  for (const dir of ['ingress', 'egress'] as LinkDir[]) rmSync(linkPin(pinDir, host, dir), { force: true });
}

export interface PoolLog {
  info(msg: string, f?: Record<string, unknown>): void;
  warn(msg: string, f?: Record<string, unknown>): void;
}

export interface VethPoolOptions {
  wire: WireHelper;
  pinDir: string;
  size: number;
  mtu: number;
  idleMs?: number;
  log?: PoolLog;
  /** Every take, put-back, pair made or deleted, with the pairs ready after it (the agent's metrics). */
  onEvent?: (event: 'hit' | 'miss' | 'recycled' | 'made' | 'deleted', ready: number) => void;
}

export class VethPool {
  private readonly ready: PoolPair[] = [];
  /** Pairs being made or being put back by a DEL (they count against the size). */
  private pending = 0;
  private inFlight = 0;
  /** No request yet: idle from the start (the first fill and the leftovers' cleanup run at once). */
  private lastActivity = -Infinity;
  private refilling = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private doomed: string[] = [];
  private readonly madeDirs = new Set<string>();
  /** ADDs served from the pool / not (pool empty), DELs that put their pair back. */
  hits = 0;
  misses = 0;
  recycled = 0;
  made = 0;

  constructor(private readonly o: VethPoolOptions) {}

  get pinDir(): string {
    return this.o.pinDir;
  }
  get size(): number {
    return this.o.size;
  }
  get available(): number {
    return this.ready.length;
  }
  /** Full and no background work running or due: what the bench waits for. */
  get quiet(): boolean {
    return !this.refilling && this.pending === 0 && this.doomed.length === 0 && this.ready.length === this.o.size;
  }

  /** At agent start: adopt or delete what a previous agent left, then fill in the background. */
  start(): void {
    const links = linkNames();
    const { linksDir, egressLinksDir } = pinPaths(this.o.pinDir);
    for (const l of [...links].filter(isPoolHostName).sort()) {
      const complete = links.has(poolPeerOf(l)) && existsSync(linkPin(this.o.pinDir, l, 'ingress')) && existsSync(linkPin(this.o.pinDir, l, 'egress'));
      if (complete && this.ready.length < this.o.size) this.ready.push({ host: l, peer: poolPeerOf(l) });
      else this.doomed.push(l);
    }
    // pins of pool names whose device is gone (a pair deleted by hand, a crash mid-DEL)
    for (const d of [linksDir, egressLinksDir]) {
      let names: string[] = [];
      try {
        names = readdirSync(d);
      } catch {
        // no links dir yet
      }
      for (const n of names) if (isPoolHostName(n) && !links.has(n)) rmSync(join(d, n), { force: true });
    }
    if (this.ready.length > 0 || this.doomed.length > 0) this.o.log?.info('veth pool: pairs of a previous agent', { adopted: this.ready.length, deleting: this.doomed.length });
    this.schedule();
  }

  /** A CNI request starts / ends: the pool never refills while one is in flight. */
  begin(): void {
    this.inFlight++;
    this.lastActivity = performance.now();
  }
  end(): void {
    this.inFlight--;
    this.lastActivity = performance.now();
    this.schedule();
  }

  /** A ready pair for ADD (pinDir must be the pool's), or undefined: ADD creates one. */
  take(pinDir: string): PoolPair | undefined {
    if (pinDir !== this.o.pinDir || this.o.size === 0) return undefined;
    const p = this.ready.shift();
    if (p) this.hits++;
    else this.misses++;
    this.o.onEvent?.(p ? 'hit' : 'miss', this.ready.length);
    return p;
  }

  /** Pool names for a pair DEL recycles, or undefined when the pool has no room (DEL deletes).
   * DEL may fill it up to twice its size: the surplus is deleted in the background while idle,
   * so a DEL after a full refill does not pay the device's grace periods either. */
  reserve(pinDir: string): PoolPair | undefined {
    if (pinDir !== this.o.pinDir || this.closed || this.ready.length + this.pending >= 2 * this.o.size) return undefined;
    this.pending++;
    return newPair();
  }
  /** The reserved pair is back in the pool (done = true) or was deleted instead. */
  settle(p: PoolPair, done: boolean): void {
    this.pending--;
    if (done) {
      this.ready.push(p);
      this.recycled++;
      this.o.onEvent?.('recycled', this.ready.length);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private idle(): boolean {
    return !this.closed && this.inFlight === 0 && performance.now() - this.lastActivity >= (this.o.idleMs ?? POOL_IDLE_MS);
  }

  private schedule(): void {
    if (this.closed || this.refilling) return;
    if (this.doomed.length === 0 && this.ready.length + this.pending >= this.o.size && this.ready.length <= this.o.size) return;
    clearTimeout(this.timer);
    const wait = Math.max(0, (this.o.idleMs ?? POOL_IDLE_MS) - (performance.now() - this.lastActivity));
    this.timer = setTimeout(() => void this.refill(), wait);
    this.timer.unref();
  }

  /** Resolves once idle again (or false when closed). */
  private async waitIdle(): Promise<boolean> {
    while (!this.idle()) {
      if (this.closed) return false;
      await new Promise((r) => setTimeout(r, this.o.idleMs ?? POOL_IDLE_MS).unref());
    }
    return true;
  }

  private async refill(): Promise<void> {
    if (this.refilling || this.closed) return;
    this.refilling = true;
    try {
      while (await this.waitIdle()) {
        // a surplus DEL put back: the newest pairs go (the oldest are taken first)
        if (this.ready.length > this.o.size && this.pending === 0) this.doomed.push(this.ready.pop()!.host);
        const gone = this.doomed.shift();
        if (gone !== undefined) {
          await this.deletePair(gone);
          continue;
        }
        if (this.ready.length + this.pending >= this.o.size) break;
        await this.makeOne();
      }
    } finally {
      this.refilling = false;
    }
  }

  private async deletePair(host: string): Promise<void> {
    const r = await this.o.wire.request(WireOp.linkDel, [host], `deleting pool veth ${host}`).catch((e: Error) => ({ err: -1, message: e.message }));
    if (r.err && r.err !== 19) this.o.log?.warn('veth pool: deleting a pair failed', { host, error: r.message });
    removePoolPins(this.o.pinDir, host);
    this.o.onEvent?.('deleted', this.ready.length);
  }

  private async makeOne(): Promise<void> {
    const p = newPair();
    this.pending++;
    let ok = false;
    try {
      const r = await this.o.wire.request(WireOp.poolMake, [p.host, p.peer, this.o.mtu], `making pool veth ${p.host}`);
      if (r.err) throw new Error(r.message);
      const progs = pinPaths(this.o.pinDir).progsDir;
      for (const [prog, dir] of [['from_pod', 'ingress'], ['to_pod', 'egress']] as const) {
        // one grace period each: let a CNI request that arrived meanwhile go first
        if (!(await this.waitIdle())) throw new Error('agent stopping');
        const pin = linkPin(this.o.pinDir, p.host, dir);
        const d = join(pin, '..');
        if (!this.madeDirs.has(d)) {
          mkdirSync(d, { recursive: true });
          this.madeDirs.add(d);
        }
        const a = await this.o.wire.request(WireOp.tcxAttach, [join(progs, prog), p.host, dir === 'ingress' ? 0 : 1, pin], `attaching ${prog} to ${p.host}`);
        if (a.err) throw new Error(a.message);
      }
      ok = true;
      this.made++;
    } catch (e) {
      this.o.log?.warn('veth pool: making a pair failed; it is deleted', { host: p.host, error: (e as Error).message });
      if (!this.closed) await this.deletePair(p.host);
    } finally {
      this.pending--;
      if (ok) {
        this.ready.push(p);
        this.o.onEvent?.('made', this.ready.length);
      }
    }
    if (!ok) {
      // do not spin on a persistent failure (datapath not loaded, …): try again later
      await new Promise((r) => setTimeout(r, 1000).unref());
    }
  }
}

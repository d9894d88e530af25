// A set of string keys (namespace/name, or a Node's name) that hands each key a small integer
// slot, with no JS string or Map entry per key: at 1,000,000 Pods a Map<string, number> costs
// ~80 B per key (the key string ~48 B, its entry ~30 B); here a key is its bytes in one arena
// (~18 B for "default/pod-123456"), three u32 per slot (arena offset, byte length, hash) and
// 4-8 B of open-addressing table (linear probing, load ≤ 0.7, backward-shift deletion: no
// tombstones). A lookup compares the stored bytes with the key, so two keys with the same hash
// never merge. Deleted slots are reused (free list); the arena is compacted when more than half
// of it is garbage. Columns of per-key data live in the owner's typed arrays, indexed by slot
// (capacity() tells how far they must reach).
import { Buffer } from 'node:buffer';

const MIN_TABLE = 1024;
const MIN_SLOTS = 1024;
const MIN_ARENA = 16 * 1024;
/** Table size over live keys never below this (load ≤ 1/GROW_AT = 0.7). */
const GROW_AT = 10 / 7;
/** Slot columns and the arena grow by this factor: little headroom at a million keys. */
const GROWTH = 1.25;

function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  // never 0: a hash column of 0 means nothing, and it spreads the low bits the table uses
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0 || 1;
}

function grown<A extends Uint32Array | Uint8Array>(a: A, n: number, make: (n: number) => A): A {
  const b = make(n);
  b.set(a.subarray(0, Math.min(a.length, n)));
  return b;
}

export class KeySlots {
  /** slot + 1, 0 = empty */
  private table = new Uint32Array(MIN_TABLE);
  private mask = MIN_TABLE - 1;
  private off = new Uint32Array(MIN_SLOTS);
  private len = new Uint32Array(MIN_SLOTS);
  /** 0 = free slot */
  private hash = new Uint32Array(MIN_SLOTS);
  private arena = Buffer.allocUnsafe(MIN_ARENA);
  private arenaUsed = 0;
  private garbage = 0;
  private used = 0;
  private count = 0;
  private free: number[] = [];
  /** Keys a reserve() announced (0: none). */
  private expected = 0;

  get size(): number {
    return this.count;
  }

  /** Slots are below this; owners size their columns to it. */
  capacity(): number {
    return this.off.length;
  }

  /** Room for n keys in all without growing: slot columns and table now, and the arena at its
   * next growth, from the average key length seen by then. */
  reserve(n: number): void {
    this.expected = Math.max(this.expected, n);
    if (n > this.off.length) {
      this.off = grown(this.off, n, (k) => new Uint32Array(k));
      this.len = grown(this.len, n, (k) => new Uint32Array(k));
      this.hash = grown(this.hash, n, (k) => new Uint32Array(k));
    }
    let size = this.table.length;
    while (n * GROW_AT > size) size *= 2;
    if (size > this.table.length) this.rehash(size);
  }

  /** One past the highest slot ever handed out. */
  get end(): number {
    return this.used;
  }

  isLive(slot: number): boolean {
    return slot < this.used && this.hash[slot] !== 0;
  }

  /** The slot of key, or -1. */
  get(key: string): number {
    const h = this.hashOf(key);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const t = this.table[i]!;
      if (t === 0) return -1;
      const s = t - 1;
      if (this.hash[s] === h && this.equals(s, key)) return s;
    }
  }

  has(key: string): boolean {
    return this.get(key) >= 0;
  }

  /** The slot of key, adding it when absent; `added` says which. */
  add(key: string): { slot: number; added: boolean } {
    const h = this.hashOf(key);
    let i = h & this.mask;
    for (; ; i = (i + 1) & this.mask) {
      const t = this.table[i]!;
      if (t === 0) break;
      const s = t - 1;
      if (this.hash[s] === h && this.equals(s, key)) return { slot: s, added: false };
    }
    const s = this.free.pop() ?? this.newSlot();
    this.store(s, key, h);
    this.table[i] = s + 1;
    this.count++;
    if (this.count * GROW_AT > this.table.length) this.rehash(this.table.length * 2);
    return { slot: s, added: true };
  }

  /** Remove key; its slot (free for reuse from now on), or -1. */
  delete(key: string): number {
    const h = this.hashOf(key);
    let i = h & this.mask;
    let s = -1;
    for (; ; i = (i + 1) & this.mask) {
      const t = this.table[i]!;
      if (t === 0) return -1;
      if (this.hash[t - 1] === h && this.equals(t - 1, key)) {
        s = t - 1;
        break;
      }
    }
    // backward-shift: move later entries of the probe run into the hole so lookups never stop early
    let hole = i;
    for (let j = (i + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const t = this.table[j]!;
      if (t === 0) break;
      const home = this.hash[t - 1]! & this.mask;
      // the entry at j may move to hole when its home is not in (hole, j] (cyclically)
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        this.table[hole] = t;
        hole = j;
      }
    }
    this.table[hole] = 0;
    this.hash[s] = 0;
    this.garbage += this.len[s]!;
    this.len[s] = 0;
    this.free.push(s);
    this.count--;
    if (this.garbage > MIN_ARENA && this.garbage * 2 > this.arenaUsed) this.compact();
    return s;
  }

  clear(): void {
    this.table = new Uint32Array(MIN_TABLE);
    this.mask = MIN_TABLE - 1;
    this.off = new Uint32Array(MIN_SLOTS);
    this.len = new Uint32Array(MIN_SLOTS);
    this.hash = new Uint32Array(MIN_SLOTS);
    this.arena = Buffer.allocUnsafe(MIN_ARENA);
    this.arenaUsed = 0;
    this.garbage = 0;
    this.used = 0;
    this.count = 0;
    this.free = [];
    this.expected = 0;
  }

  /** The key of a live slot (a fresh string). */
  keyOf(slot: number): string {
    const o = this.off[slot]!;
    return this.arena.toString('utf8', o, o + this.len[slot]!);
  }

  /** Live slots in slot order. */
  *slots(): Generator<number, undefined, undefined> {
    for (let s = 0; s < this.used; s++) if (this.hash[s] !== 0) yield s;
  }

  /** A method (not the function itself) so a test can force collisions. */
  private hashOf(key: string): number {
    return hashOf(key);
  }

  private equals(s: number, key: string): boolean {
    const o = this.off[s]!;
    const n = this.len[s]!;
    if (key.length > n) return false;
    const a = this.arena;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) return this.keyOf(s) === key; // not ASCII: compare decoded
      if (a[o + i] !== c) return false;
    }
    return key.length === n;
  }

  private store(s: number, key: string, h: number): void {
    const need = key.length * 3; // UTF-8 upper bound per UTF-16 unit
    if (this.arenaUsed + need > this.arena.length) {
      // announced keys: room for all of them at the average length so far (+5%), else GROWTH
      const keys = this.count;
      const forecast = this.expected > keys && keys > 0 ? Math.ceil(((this.arenaUsed - this.garbage) / keys) * this.expected * 1.05) : 0;
      const b = Buffer.allocUnsafe(Math.max(Math.ceil(this.arena.length * GROWTH), this.arenaUsed + need, forecast));
      this.arena.copy(b, 0, 0, this.arenaUsed);
      this.arena = b;
    }
    const n = this.arena.write(key, this.arenaUsed, 'utf8');
    this.off[s] = this.arenaUsed;
    this.len[s] = n;
    this.hash[s] = h;
    this.arenaUsed += n;
  }

  private newSlot(): number {
    if (this.used === this.off.length) {
      const cap = Math.ceil(this.off.length * GROWTH);
      this.off = grown(this.off, cap, (n) => new Uint32Array(n));
      this.len = grown(this.len, cap, (n) => new Uint32Array(n));
      this.hash = grown(this.hash, cap, (n) => new Uint32Array(n));
    }
    return this.used++;
  }

  private rehash(size: number): void {
    const t = new Uint32Array(size);
    const mask = size - 1;
    for (let s = 0; s < this.used; s++) {
      const h = this.hash[s]!;
      if (h === 0) continue;
      let i = h & mask;
      while (t[i] !== 0) i = (i + 1) & mask;
      t[i] = s + 1;
    }
    this.table = t;
    this.mask = mask;
  }

  /** Rewrite the arena with live keys only. */
  private compact(): void {
    const b = Buffer.allocUnsafe(Math.max(MIN_ARENA, (this.arenaUsed - this.garbage) * 2));
    let at = 0;
    for (let s = 0; s < this.used; s++) {
      if (this.hash[s] === 0) continue;
      const o = this.off[s]!;
      const n = this.len[s]!;
      this.arena.copy(b, at, o, o + n);
      this.off[s] = at;
      at += n;
    }
    this.arena = b;
    this.arenaUsed = at;
    this.garbage = 0;
  }
}

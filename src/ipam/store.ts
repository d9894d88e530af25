// The node's pod-address store: plain files under <stateDir>/ipam, no lock and no daemon.
//
//   ips/<a.b.c.d>          one file per allocated address; its existence IS the allocation
//   attachments/<sha>      a hard link to the same inode, named by sha256(containerID, ifname),
//                          so ADD/DEL find an attachment's address without scanning
//   tmp/<pid>-<rand>       records being written; never counted as allocated
//   last-reserved          hint: the last address handed out (next ADD starts after it, so a
//                          just-released address is not reused at once)
//
// Every claim is a link(2), which fails with EEXIST when the name exists: two concurrent ADDs
// can never hold the same address, and a record is complete before any name points at it.
// Order of names: the attachment link is claimed first, then the address link is made from it.
// A crash between the two leaves an attachment link whose address name is missing or points
// at another inode; `find` treats that as absent, so nothing is leaked and nothing doubled.
// Release removes the address name first and the attachment link last, for the same reason.
import { closeSync, constants, fstatSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { isAbsolute, join, sep } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { formatIpv4, hostRange, parseIpv4, cidrContains, type Ipv4Cidr } from './cidr.js';

/** An attachment as CNI names it: unique per (CNI_CONTAINERID, CNI_IFNAME). */
export interface AttachmentKey {
  containerID: string;
  ifname: string;
}

/** What the runtime told us about the pod; kept for operators reading the store. */
export interface AllocationMeta {
  netns?: string;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
}

export interface AllocationRecord extends AttachmentKey, AllocationMeta {
  ip: string;
  /** The address's offset inside the pool's network: small, unique on the node, stable. */
  endpointId: number;
  createdAt: string;
}

export interface StoredAddress {
  ip: string;
  /** Undefined when the file is unreadable (e.g. truncated by a power loss). */
  record?: AllocationRecord;
}

export function attachmentId(key: AttachmentKey): string {
  // NUL cannot occur in either field, so the pair maps to exactly one digest.
  return createHash('sha256').update(`${key.containerID}\0${key.ifname}`).digest('hex').slice(0, 40);
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
}

/**
 * mkdir -p, one component at a time. Not mkdirSync's `recursive`: on a path where mkdir fails
 * with ENOENT although the parent exists (inside /proc, say), Node's recursive mkdir retries
 * forever and freezes the event loop. Here every component is tried once: bounded by the depth.
 */
export function mkdirs(dir: string, mode = 0o755): void {
  if (!isAbsolute(dir)) throw new Error(`${dir} is not absolute`);
  let p = '';
  for (const part of dir.split(sep)) {
    if (part === '') continue;
    p = `${p}/${part}`;
    try {
      mkdirSync(p, { mode });
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    }
  }
  if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
}

/**
 * Open a store file for reading without ever blocking: O_NONBLOCK so that a FIFO planted in the
 * store cannot hang the open or the read (the agent serves every pod from one event loop), and
 * only regular files are read.
 */
function openRegular(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EINVAL' });
  }
  return fd;
}

function readRegular(path: string): string {
  const fd = openRegular(path);
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function parseRecord(text: string): AllocationRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<AllocationRecord> | null;
    if (r && typeof r.ip === 'string' && typeof r.containerID === 'string' && typeof r.ifname === 'string') {
      return r as AllocationRecord;
    }
  } catch {
    // fall through: a record that is not JSON is reported as unreadable
  }
  return undefined;
}

export class IpamStore {
  readonly dir: string;
  private readonly ipsDir: string;
  private readonly attDir: string;
  private readonly tmpDir: string;
  private readonly hintPath: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'ipam');
    this.ipsDir = join(this.dir, 'ips');
    this.attDir = join(this.dir, 'attachments');
    this.tmpDir = join(this.dir, 'tmp');
    this.hintPath = join(this.dir, 'last-reserved');
  }

  private ensureDirs(): void {
    try {
      for (const d of [this.ipsDir, this.attDir, this.tmpDir]) mkdirs(d);
    } catch (cause) {
      throw new PodwireError('IO_FAILED', `cannot create the IPAM store under ${this.dir}: ${(cause as Error).message}; make stateDir writable by root`, { cause });
    }
  }

  private ipPath(ip: string): string {
    return join(this.ipsDir, ip);
  }

  private attPath(key: AttachmentKey): string {
    return join(this.attDir, attachmentId(key));
  }

  private newTmp(): string {
    return join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** The live allocation of this attachment, or undefined (also when only crash debris is left). */
  find(key: AttachmentKey): AllocationRecord | undefined {
    let fd: number;
    try {
      fd = openRegular(this.attPath(key));
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const st = fstatSync(fd);
      const rec = parseRecord(readFileSync(fd, 'utf8'));
      if (!rec || rec.containerID !== key.containerID || rec.ifname !== key.ifname) return undefined;
      let ipSt;
      try {
        ipSt = statSync(this.ipPath(rec.ip));
      } catch (e) {
        if (errno(e) === 'ENOENT') return undefined;
        throw e;
      }
      // Same inode ⇒ the address name was made from this attachment link, so it is ours.
      return ipSt.ino === st.ino && ipSt.dev === st.dev ? rec : undefined;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Allocate an address from `pool` for `key`, or return the one it already holds (fresh=false),
   * so a repeated ADD never takes a second address. Throws TRY_AGAIN when the pool is full.
   */
  allocate(key: AttachmentKey, meta: AllocationMeta, pool: Ipv4Cidr): { record: AllocationRecord; fresh: boolean } {
    this.ensureDirs();
    const existing = this.find(key);
    if (existing) return { record: existing, fresh: false };

    const { first, size } = hostRange(pool);
    const used = new Set(readdirSync(this.ipsDir));
    const hint = this.readHint(pool);
    const startOffset = hint === undefined ? 0 : hint - first + 1;
    const kp = this.attPath(key);
    let claimed = false;
    try {
      for (let i = 0; i < size; i++) {
        const n = first + ((startOffset + i) % size);
        const ip = formatIpv4(n);
        if (used.has(ip)) continue;
        const record: AllocationRecord = {
          ip,
          endpointId: n - pool.network,
          containerID: key.containerID,
          ifname: key.ifname,
          ...meta,
          createdAt: new Date().toISOString(),
        };
        const tmp = this.newTmp();
        writeFileSync(tmp, `${JSON.stringify(record)}\n`, { flag: 'wx', mode: 0o644 });
        if (!claimed) {
          const other = this.claimAttachment(tmp, kp, key);
          if (other) return { record: other, fresh: false };
          claimed = true;
        } else {
          // We own the attachment name already: point it at the new candidate atomically.
          renameSync(tmp, kp);
        }
        try {
          linkSync(kp, this.ipPath(ip));
        } catch (e) {
          if (errno(e) === 'EEXIST') continue; // a concurrent ADD took it first: try the next
          throw e;
        }
        this.writeHint(ip);
        return { record, fresh: true };
      }
    } catch (e) {
      if (claimed) unlinkQuiet(kp);
      if (e instanceof PodwireError) throw e;
      throw new PodwireError('IO_FAILED', `IPAM store ${this.dir}: ${(e as Error).message}`, { cause: e });
    }
    if (claimed) unlinkQuiet(kp);
    throw new PodwireError(
      'TRY_AGAIN',
      `podCIDR ${pool.text} has no free address (all ${size} in use); delete pods or give the node a larger podCIDR`,
    );
  }

  /**
   * Claim the attachment name exclusively. Returns the record of a live allocation that a
   * concurrent ADD for the same attachment made first; clears debris from a crashed ADD.
   */
  private claimAttachment(tmp: string, kp: string, key: AttachmentKey): AllocationRecord | undefined {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, kp);
        unlinkQuiet(tmp);
        return undefined;
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw e;
      }
      const live = this.find(key);
      if (live) {
        unlinkQuiet(tmp);
        return live;
      }
      unlinkQuiet(kp);
    }
    throw new PodwireError('TRY_AGAIN', `attachment ${key.containerID}/${key.ifname} is being changed by another ADD; retry`);
  }

  /** Release the attachment's address; idempotent. Returns what was released. */
  release(key: AttachmentKey): AllocationRecord | undefined {
    const rec = this.find(key);
    try {
      // Address name first: a crash after it leaves only a stale attachment link, never a leak.
      if (rec) unlinkQuiet(this.ipPath(rec.ip));
      unlinkQuiet(this.attPath(key));
    } catch (e) {
      throw new PodwireError('IO_FAILED', `IPAM store ${this.dir}: cannot release ${key.containerID}/${key.ifname}: ${(e as Error).message}`, { cause: e });
    }
    return rec;
  }

  /** Drop an address whose record cannot be read (GC of power-loss debris). */
  releaseIp(ip: string): void {
    unlinkQuiet(this.ipPath(ip));
  }

  /** Every allocated address, in no particular order. */
  list(): StoredAddress[] {
    let names: string[];
    try {
      names = readdirSync(this.ipsDir);
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw e;
    }
    const out: StoredAddress[] = [];
    for (const ip of names) {
      if (parseIpv4(ip) === undefined) continue;
      let record: AllocationRecord | undefined;
      try {
        record = parseRecord(readRegular(this.ipPath(ip)));
      } catch (e) {
        if (errno(e) === 'ENOENT') continue; // released while we listed
        // not a regular file (a FIFO, a symlink): reported as unreadable, so GC releases it
        if (errno(e) !== 'EINVAL' && errno(e) !== 'ELOOP') throw e;
      }
      out.push(record ? { ip, record } : { ip });
    }
    return out;
  }

  /** How many addresses of `pool` are allocated (no file contents read). */
  countIn(pool: Ipv4Cidr): number {
    try {
      return readdirSync(this.ipsDir).filter((ip) => {
        const n = parseIpv4(ip);
        return n !== undefined && cidrContains(pool, n);
      }).length;
    } catch (e) {
      if (errno(e) === 'ENOENT') return 0;
      throw e;
    }
  }

  /**
   * Remove crash debris: attachment links that no longer match their address, and temp files
   * older than `tmpAgeMs` (a live ADD holds one for microseconds). Links younger than
   * `linkAgeMs` are left alone so a concurrent ADD is never disturbed.
   */
  sweep(tmpAgeMs = 10 * 60_000, linkAgeMs = 60_000): { staleLinks: number; tmpFiles: number } {
    let staleLinks = 0;
    let tmpFiles = 0;
    let names: string[] = [];
    try {
      names = readdirSync(this.attDir);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    for (const name of names) {
      const p = join(this.attDir, name);
      let rec: AllocationRecord | undefined;
      try {
        // A young link may belong to an ADD that has not made its address name yet.
        if (Date.now() - statSync(p).mtimeMs < linkAgeMs) continue;
        rec = parseRecord(readRegular(p));
      } catch (e) {
        if (errno(e) === 'ENOENT') continue;
        throw e;
      }
      if (rec && attachmentId(rec) === name && this.find(rec)) continue;
      unlinkQuiet(p);
      staleLinks++;
    }
    let tmps: string[] = [];
    try {
      tmps = readdirSync(this.tmpDir);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    const now = Date.now();
    for (const name of tmps) {
      const p = join(this.tmpDir, name);
      try {
        if (now - statSync(p).mtimeMs > tmpAgeMs) {
          unlinkQuiet(p);
          tmpFiles++;
        }
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e;
      }
    }
    return { staleLinks, tmpFiles };
  }

  private readHint(pool: Ipv4Cidr): number | undefined {
    try {
      const n = parseIpv4(readRegular(this.hintPath).trim());
      return n !== undefined && cidrContains(pool, n) && n >= hostRange(pool).first && n <= hostRange(pool).last ? n : undefined;
    } catch {
      return undefined; // the hint is only an optimisation
    }
  }

  private writeHint(ip: string): void {
    try {
      const tmp = this.newTmp();
      writeFileSync(tmp, `${ip}\n`);
      renameSync(tmp, this.hintPath);
    } catch {
      // only an optimisation: a lost hint means the next ADD starts from the pool's start
    }
  }
}

// The file store on a real filesystem: allocation order, idempotent re-allocation, release,
// exhaustion, and the crash cases (temp files, half-made claims, unreadable records).
import { linkSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseIpv4Cidr, type Ipv4Cidr } from '../../src/ipam/cidr.js';
import { attachmentId, IpamStore } from '../../src/ipam/store.js';
import { isPodwireError } from '../../src/errors/index.js';

const pool = (text: string): Ipv4Cidr => parseIpv4Cidr(text) as Ipv4Cidr;
const key = (containerID: string, ifname = 'eth0') => ({ containerID, ifname });

let dir: string;
let store: IpamStore;
const ipsDir = () => join(dir, 'ipam', 'ips');
const attDir = () => join(dir, 'ipam', 'attachments');
const tmpDir = () => join(dir, 'ipam', 'tmp');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pwipam-'));
  store = new IpamStore(dir);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('IpamStore', () => {
  it('hands out consecutive addresses with their offset as endpoint id, and records the pod', () => {
    const p = pool('10.1.0.0/24');
    const a = store.allocate(key('a'), { podNamespace: 'ns', podName: 'web', netns: '/run/netns/x' }, p);
    const b = store.allocate(key('b'), {}, p);
    expect(a.fresh).toBe(true);
    expect([a.record.ip, a.record.endpointId, b.record.ip, b.record.endpointId]).toEqual(['10.1.0.1', 1, '10.1.0.2', 2]);
    expect(store.find(key('a'))).toMatchObject({ ip: '10.1.0.1', containerID: 'a', ifname: 'eth0', podNamespace: 'ns', podName: 'web' });
    // one file per address, hard-linked from the attachment name (same inode)
    expect(readdirSync(ipsDir()).sort()).toEqual(['10.1.0.1', '10.1.0.2']);
    expect(statSync(join(ipsDir(), '10.1.0.1')).ino).toBe(statSync(join(attDir(), attachmentId(key('a')))).ino);
    expect(readdirSync(tmpDir())).toEqual([]);
  });

  it('a repeated allocation for the same attachment returns the same address', () => {
    const p = pool('10.1.0.0/24');
    const first = store.allocate(key('a'), {}, p);
    const again = store.allocate(key('a'), {}, p);
    expect(again).toEqual({ record: first.record, fresh: false });
    // another ifname of the same container is another attachment
    expect(store.allocate(key('a', 'net1'), {}, p).record.ip).toBe('10.1.0.2');
    expect(readdirSync(ipsDir())).toHaveLength(2);
  });

  it('release is idempotent and does not reuse a just-released address at once', () => {
    const p = pool('10.1.0.0/24');
    store.allocate(key('a'), {}, p);
    store.allocate(key('b'), {}, p);
    expect(store.release(key('a'))?.ip).toBe('10.1.0.1');
    expect(store.release(key('a'))).toBeUndefined();
    expect(store.find(key('a'))).toBeUndefined();
    expect(store.allocate(key('c'), {}, p).record.ip).toBe('10.1.0.3');
    expect(readdirSync(attDir())).toHaveLength(2);
  });

  it('wraps around and reports exhaustion as TRY_AGAIN without leaving a claim', () => {
    const p = pool('10.1.0.0/30');
    store.allocate(key('a'), {}, p);
    store.allocate(key('b'), {}, p);
    let err: unknown;
    try {
      store.allocate(key('c'), {}, p);
    } catch (e) {
      err = e;
    }
    expect(isPodwireError(err, 'TRY_AGAIN')).toBe(true);
    expect((err as Error).message).toContain('10.1.0.0/30 has no free address');
    expect(readdirSync(attDir())).toHaveLength(2);
    expect(readdirSync(tmpDir())).toEqual([]);
    store.release(key('a'));
    expect(store.allocate(key('c'), {}, p).record.ip).toBe('10.1.0.1');
    expect(store.countIn(p)).toBe(2);
  });

  it('skips an address another process claimed between listing and linking', () => {
    const p = pool('10.1.0.0/24');
    store.allocate(key('a'), {}, p); // creates the directories
    // someone else's record appears for .2 (as if linked concurrently)
    writeFileSync(join(ipsDir(), '10.1.0.2'), JSON.stringify({ ip: '10.1.0.2', containerID: 'x', ifname: 'eth0', endpointId: 2 }));
    expect(store.allocate(key('b'), {}, p).record.ip).toBe('10.1.0.3');
  });

  it('a temp file left by a crash is not an allocation and is swept when old', () => {
    const p = pool('10.1.0.0/30');
    store.allocate(key('a'), {}, p);
    const stray = join(tmpDir(), '999-deadbeef');
    writeFileSync(stray, JSON.stringify({ ip: '10.1.0.2', containerID: 'z', ifname: 'eth0', endpointId: 2 }));
    expect(store.list().map((s) => s.ip)).toEqual(['10.1.0.1']);
    expect(store.allocate(key('b'), {}, p).record.ip).toBe('10.1.0.2');
    expect(store.sweep().tmpFiles).toBe(0); // young: left alone
    const old = (Date.now() - 3_600_000) / 1000;
    utimesSync(stray, old, old);
    expect(store.sweep().tmpFiles).toBe(1);
    expect(readdirSync(tmpDir())).toEqual([]);
  });

  it('a crash after claiming the attachment but before the address leaks nothing and doubles nothing', () => {
    const p = pool('10.1.0.0/30');
    store.allocate(key('a'), {}, p); // 10.1.0.1
    // simulate: attachment link for b written (pointing at .2), address link never made
    const half = join(attDir(), attachmentId(key('b')));
    writeFileSync(half, JSON.stringify({ ip: '10.1.0.2', containerID: 'b', ifname: 'eth0', endpointId: 2 }));
    expect(store.find(key('b'))).toBeUndefined();
    expect(store.countIn(p)).toBe(1);
    // the retried ADD takes over the stale claim and gets exactly one address
    const b = store.allocate(key('b'), {}, p);
    expect(b.fresh).toBe(true);
    expect(b.record.ip).toBe('10.1.0.2');
    expect(readdirSync(ipsDir()).sort()).toEqual(['10.1.0.1', '10.1.0.2']);
  });

  it('a crash in the middle of release leaves a stale link that counts for nothing', () => {
    const p = pool('10.1.0.0/24');
    store.allocate(key('a'), {}, p);
    unlinkSync(join(ipsDir(), '10.1.0.1')); // release step 1 done, step 2 not
    expect(store.find(key('a'))).toBeUndefined();
    // the address may go to another pod; the stale link must not claim it back
    const other = join(ipsDir(), '10.1.0.1');
    writeFileSync(join(tmpDir(), 't'), JSON.stringify({ ip: '10.1.0.1', containerID: 'q', ifname: 'eth0', endpointId: 1 }));
    linkSync(join(tmpDir(), 't'), other);
    unlinkSync(join(tmpDir(), 't'));
    expect(store.find(key('a'))).toBeUndefined();
    expect(store.release(key('a'))).toBeUndefined();
    expect(readdirSync(ipsDir())).toEqual(['10.1.0.1']); // q keeps it
    expect(readdirSync(attDir())).toEqual([]);
  });

  it('lists unreadable records (power loss) so GC can drop them, and sweeps stale links', () => {
    const p = pool('10.1.0.0/24');
    store.allocate(key('a'), {}, p);
    writeFileSync(join(ipsDir(), '10.1.0.9'), '');
    const listed = store.list().sort((x, y) => x.ip.localeCompare(y.ip));
    expect(listed.map((s) => [s.ip, s.record?.containerID])).toEqual([['10.1.0.1', 'a'], ['10.1.0.9', undefined]]);
    store.releaseIp('10.1.0.9');
    unlinkSync(join(ipsDir(), '10.1.0.1'));
    expect(store.sweep(0, 0).staleLinks).toBe(1);
    expect(readdirSync(attDir())).toEqual([]);
  });

  it('reports an unusable state dir as IO_FAILED naming it', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    const s = new IpamStore(file);
    let err: unknown;
    try {
      s.allocate(key('a'), {}, pool('10.1.0.0/24'));
    } catch (e) {
      err = e;
    }
    expect(isPodwireError(err, 'IO_FAILED')).toBe(true);
    expect((err as Error).message).toContain(`${file}/ipam`);
  });
});

// Nothing the store does may block without bound: the agent runs it on the event loop that
// serves every pod. (Before the fix both cases below never returned: Node's recursive mkdir
// loops on /proc's ENOENT, and reading a FIFO waits for a writer.)
describe('IpamStore never blocks', () => {
  it('a state dir where mkdir fails with ENOENT (under /proc) is an IO error, not an endless loop', () => {
    const s = new IpamStore('/proc/self/pw-no-such-dir');
    let err: unknown;
    try {
      s.allocate(key('a'), {}, pool('10.1.0.0/24'));
    } catch (e) {
      err = e;
    }
    expect(isPodwireError(err, 'IO_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/cannot create the IPAM store under \/proc\/self\/pw-no-such-dir\/ipam/);
  });

  it('FIFOs planted in the store are neither opened for a blocking read nor taken for records', () => {
    const p = pool('10.1.0.0/24');
    store.allocate(key('a'), {}, p);
    const hint = join(dir, 'ipam', 'last-reserved');
    unlinkSync(hint);
    execFileSync('mkfifo', [hint]);
    execFileSync('mkfifo', [join(ipsDir(), '10.1.0.9')]);
    // the hint is unreadable, so the allocator starts from the pool's start: .2 is the first free
    expect(store.allocate(key('b'), {}, p).record.ip).toBe('10.1.0.2');
    const listed = store.list().sort((x, y) => x.ip.localeCompare(y.ip));
    expect(listed.map((a) => [a.ip, a.record?.containerID])).toEqual([['10.1.0.1', 'a'], ['10.1.0.2', 'b'], ['10.1.0.9', undefined]]);
  });
});

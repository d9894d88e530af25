// routes (LPM_TRIE) and node_cfg (ARRAY[1]) through the typed API on real pinned maps: codecs
// generated from BTF, batch writes, CIDR validation, and that the kernel's longest-prefix
// lookup sees what we wrote (checked with bpftool on the raw key bytes).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPodwireError } from '../../src/errors/index.js';
import { runJson } from '../../src/exec/run.js';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { encodeRouteKey, openNodeConfig, openRoutes, type Route } from '../../src/maps/index.js';

const pinDir = `/sys/fs/bpf/pwtest-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  await loadDatapath({ pinDir });
});

afterAll(async () => {
  await unloadDatapath({ pinDir });
});

const route = (i: number): Route => ({ cidr: `10.${100 + (i >> 8)}.${i & 0xff}.0/24`, nodeIp: `172.30.${i >> 8}.${i & 0xff}`, kind: 'remote' });

describe('routes map', () => {
  it('set/get/delete round-trip, exact-prefix get', () => {
    const m = openRoutes(pinDir);
    try {
      const r: Route = { cidr: '10.244.2.0/24', nodeIp: '172.30.0.12', kind: 'remote' };
      expect(m.get(r.cidr)).toBeUndefined();
      m.set(r);
      expect(m.get(r.cidr)).toEqual(r);
      expect(m.get('10.244.0.0/16')).toBeUndefined(); // get is exact, not longest-prefix
      m.set({ ...r, nodeIp: '172.30.0.99' });
      expect(m.get(r.cidr)?.nodeIp).toBe('172.30.0.99');
      expect(m.delete(r.cidr)).toBe(true);
      expect(m.delete(r.cidr)).toBe(false);
    } finally {
      m.close();
    }
  });

  it('setBatch/list/deleteBatch with many entries; deleteBatch tolerates missing CIDRs', () => {
    const m = openRoutes(pinDir);
    try {
      const rs = Array.from({ length: 300 }, (_, i) => route(i));
      rs.push({ cidr: '10.244.1.0/24', nodeIp: '172.30.0.11', kind: 'local' });
      m.setBatch(rs);
      const listed = m.list();
      expect(listed).toHaveLength(rs.length);
      expect(new Set(listed.map((r) => JSON.stringify(r)))).toEqual(new Set(rs.map((r) => JSON.stringify(r))));
      expect(m.deleteBatch([...rs.map((r) => r.cidr), '10.1.2.0/24'])).toBe(rs.length);
      expect(m.list()).toEqual([]);
    } finally {
      m.close();
    }
  });

  it('the kernel does longest-prefix match on the keys we encode', async () => {
    const m = openRoutes(pinDir);
    try {
      m.setBatch([
        { cidr: '10.244.0.0/16', nodeIp: '172.30.0.1', kind: 'remote' },
        { cidr: '10.244.3.0/24', nodeIp: '172.30.0.3', kind: 'remote' },
      ]);
      const lookup = async (ip: string) => {
        const key = encodeRouteKey(`${ip}/32`);
        const r = await runJson<{ value: string[] } | { formatted?: unknown; value?: string[] }>('bpftool', [
          '-j', 'map', 'lookup', 'pinned', pinPaths(pinDir).maps.routes, 'key', 'hex', ...[...key].map((b) => b.toString(16).padStart(2, '0')),
        ]);
        const bytes = (r.value ?? []).slice(0, 4).map((h) => Number(h));
        return bytes.join('.');
      };
      expect(await lookup('10.244.3.77')).toBe('172.30.0.3');
      expect(await lookup('10.244.9.1')).toBe('172.30.0.1');
      m.deleteBatch(['10.244.0.0/16', '10.244.3.0/24']);
    } finally {
      m.close();
    }
  });

  it('rejects CIDRs with host bits or bad syntax, naming the value and the fix', () => {
    const m = openRoutes(pinDir);
    try {
      for (const bad of ['10.244.1.5/24', '10.244.1.0', '10.244.1.0/33', 'x/24']) {
        let err: unknown;
        try {
          m.set({ cidr: bad, nodeIp: '172.30.0.1', kind: 'remote' });
        } catch (e) {
          err = e;
        }
        expect(isPodwireError(err, 'CONFIG_INVALID')).toBe(true);
        expect((err as Error).message).toContain(JSON.stringify(bad));
      }
    } finally {
      m.close();
    }
  });
});

describe('node_cfg map', () => {
  it('reads mode none before setup, then round-trips both modes', () => {
    const m = openNodeConfig(pinDir);
    try {
      expect(m.get()).toEqual({ mode: 'none', nodeIp: '0.0.0.0', uplinkIfindex: 0, vxlanIfindex: 0, vni: 0 });
      const native = { mode: 'native' as const, nodeIp: '172.30.0.11', uplinkIfindex: 7, vxlanIfindex: 0, vni: 0 };
      m.set(native);
      expect(m.get()).toEqual(native);
      // vxlan reads back which datapath the flag selects: the device when none is given
      const vx = { mode: 'vxlan' as const, nodeIp: '172.30.0.11', uplinkIfindex: 7, vxlanIfindex: 9, vni: 0xabcdef };
      m.set(vx);
      expect(m.get()).toEqual({ ...vx, vxlanDatapath: 'device' });
      m.set({ ...vx, vxlanDatapath: 'bpf' });
      expect(m.get()).toEqual({ ...vx, vxlanDatapath: 'bpf' });
      expect(() => m.set({ ...native, vxlanDatapath: 'bpf' })).toThrow(/needs vxlan mode/);
    } finally {
      m.close();
    }
  });

  it('rejects a VNI beyond 24 bits and vxlan without a device', () => {
    const m = openNodeConfig(pinDir);
    try {
      expect(() => m.set({ mode: 'vxlan', nodeIp: '172.30.0.11', uplinkIfindex: 7, vxlanIfindex: 9, vni: 1 << 24 })).toThrow(/24-bit/);
      expect(() => m.set({ mode: 'vxlan', nodeIp: '172.30.0.11', uplinkIfindex: 7, vxlanIfindex: 0, vni: 1 })).toThrow(/vxlanIfindex/);
    } finally {
      m.close();
    }
  });
});

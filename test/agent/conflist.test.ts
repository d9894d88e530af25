import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFLIST_NAME, renderConflist, writeConflist } from '../../src/agent/conflist.js';
import { datapathHash } from '../../src/agent/datapath.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const input = { podCIDR: '10.244.1.0/24', pinDir: '/sys/fs/bpf/p', stateDir: '/var/lib/p', mtu: 1450 };

describe('conflist', () => {

  it('renders podwire first, declaring the bandwidth capability itself (no bandwidth plugin chained), and portmap chained, with cniVersion 1.1.0', () => {
    expect(JSON.parse(renderConflist(input))).toEqual({
      cniVersion: '1.1.0',
      name: 'podwire',
      plugins: [
        { type: 'podwire', capabilities: { bandwidth: true }, podCIDR: '10.244.1.0/24', pinDir: '/sys/fs/bpf/p', stateDir: '/var/lib/p', mtu: 1450 },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
  });

  it('names the agent\'s CNI socket for the native shim when given', () => {
    expect(JSON.parse(renderConflist({ ...input, agentSocket: '/run/podwire/cni.sock' })).plugins[0]).toMatchObject({ type: 'podwire', agentSocket: '/run/podwire/cni.sock' });
  });

  it('writes atomically, only when the content changes, and leaves no temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pwconf-'));
    dirs.push(dir);
    const confDir = join(dir, 'net.d');
    expect(await writeConflist(confDir, input)).toBe(true);
    const ino = statSync(join(confDir, CONFLIST_NAME)).ino;
    expect(await writeConflist(confDir, input)).toBe(false);
    expect(statSync(join(confDir, CONFLIST_NAME)).ino).toBe(ino);
    expect(await writeConflist(confDir, { ...input, mtu: 1500 })).toBe(true);
    expect(statSync(join(confDir, CONFLIST_NAME)).ino).not.toBe(ino); // renamed over, never rewritten in place
    expect(JSON.parse(readFileSync(join(confDir, CONFLIST_NAME), 'utf8')).plugins[0].mtu).toBe(1500);
    expect(readdirSync(confDir)).toEqual([CONFLIST_NAME]);
  });
});

describe('datapathHash', () => {
  it('depends on the defines (order-insensitive) and is stable', () => {
    const a = datapathHash({ A: 1, B: 2 }).hash;
    expect(datapathHash({ B: 2, A: 1 }).hash).toBe(a);
    expect(datapathHash({ A: 1, B: 3 }).hash).not.toBe(a);
    expect(datapathHash({}).hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('negotiateChain', () => {
  it("picks the newest version Debian's portmap shares with podwire, and drops portmap when absent", async () => {
    const { negotiateChain } = await import('../../src/agent/conflist.js');
    const withPortmap = await negotiateChain(['/nonexistent', '/usr/lib/cni']);
    // containernetworking-plugins 1.1.1 speaks up to 1.0.0; podwire up to 1.1.0.
    expect(withPortmap).toMatchObject({ cniVersion: '1.0.0', portmap: true });
    const dir = mkdtempSync(join(tmpdir(), 'pwbin-'));
    dirs.push(dir);
    expect(await negotiateChain([dir])).toMatchObject({ cniVersion: '1.1.0', portmap: false });
    expect(JSON.parse(renderConflist({ ...input, cniVersion: '1.1.0', portmap: false })).plugins).toHaveLength(1);
  });
});

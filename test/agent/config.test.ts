// The agent's configuration: flags beat environment, defaults fill the rest, and every error
// names the key, the bad value and the fix. (The host-derived defaults, uplink and MTU, are
// exercised by the agent tests in a node namespace.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_VXLAN_DATAPATH, parseAgentFlags, parseDuration, parseHostPort } from '../../src/agent/config.js';
import { isPodwireError } from '../../src/errors/index.js';

let dir: string;
let kubeconfig: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pwcfg-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fails(fn: () => unknown, ...parts: string[]): void {
  try {
    fn();
  } catch (e) {
    expect(isPodwireError(e, 'CONFIG_INVALID')).toBe(true);
    for (const p of parts) expect((e as Error).message).toContain(p);
    return;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

describe('parseAgentFlags', () => {
  it('applies defaults', () => {
    const c = parseAgentFlags({ nodeName: 'node-1', kubeconfig }, {});
    expect(c).toEqual({
      nodeName: 'node-1',
      api: { kind: 'kubeconfig', path: kubeconfig },
      mode: 'native',
      pinDir: '/sys/fs/bpf/podwire',
      stateDir: '/var/lib/podwire',
      cniConfDir: '/etc/cni/net.d',
      cniBinDirs: ['/opt/cni/bin'],
      cniCacheDir: '/var/lib/cni',
      health: { host: '127.0.0.1', port: 9879 },
      gcGraceMs: 60_000,
      cniSocket: '/run/podwire/cni.sock',
      vethPoolSize: 4,
      prefilter: 'off',
      prefilterFailsafe: [],
    });
  });

  it('--veth-pool-size (PODWIRE_VETH_POOL_SIZE): default 4, 0 turns the pool off, bad values name key, value and range', () => {
    const base = { nodeName: 'n', kubeconfig };
    expect(parseAgentFlags(base, { PODWIRE_VETH_POOL_SIZE: '0' }).vethPoolSize).toBe(0);
    expect(parseAgentFlags({ ...base, vethPoolSize: '16' }, { PODWIRE_VETH_POOL_SIZE: '2' }).vethPoolSize).toBe(16);
    fails(() => parseAgentFlags({ ...base, vethPoolSize: '-1' }, {}), '--veth-pool-size (PODWIRE_VETH_POOL_SIZE) "-1"', 'must be an integer from 0 to 256');
    fails(() => parseAgentFlags(base, { PODWIRE_VETH_POOL_SIZE: 'lots' }), '--veth-pool-size (PODWIRE_VETH_POOL_SIZE) "lots"', 'must be an integer from 0 to 256');
    fails(() => parseAgentFlags(base, { PODWIRE_VETH_POOL_SIZE: '1000' }), '"1000"', 'from 0 to 256');
  });

  it('--prefilter (PODWIRE_PREFILTER) and --prefilter-failsafe: off by default, modes and failsafe entries validated', () => {
    const base = { nodeName: 'n', kubeconfig };
    expect(parseAgentFlags(base, { PODWIRE_PREFILTER: 'auto' }).prefilter).toBe('auto');
    expect(parseAgentFlags({ ...base, prefilter: 'generic' }, { PODWIRE_PREFILTER: 'native' }).prefilter).toBe('generic');
    fails(() => parseAgentFlags({ ...base, prefilter: 'on' }, {}), '--prefilter (PODWIRE_PREFILTER) "on"', 'must be off, auto');
    const c = parseAgentFlags({ ...base, prefilter: 'auto', prefilterFailsafe: '10.0.0.5, 10.0.0.6:53/udp,:22' }, {});
    expect(c.prefilterFailsafe).toEqual([
      { kind: 'src-addr', addr: '10.0.0.5' },
      { kind: 'src-port', addr: '10.0.0.6', port: 53, proto: 'udp' },
      { kind: 'dst-port', port: 22, proto: 'tcp' },
    ]);
    fails(() => parseAgentFlags({ ...base, prefilter: 'auto', prefilterFailsafe: '10.0.0.300' }, {}), '--prefilter-failsafe', '"10.0.0.300"', 'invalid IPv4 address');
    fails(() => parseAgentFlags({ ...base, prefilter: 'auto', prefilterFailsafe: ':70000/tcp' }, {}), 'outside 1-65535');
    fails(() => parseAgentFlags({ ...base, prefilter: 'auto', prefilterFailsafe: '10.0.0.1:80/sctp' }, {}), 'ADDR, ADDR:PORT');
    fails(() => parseAgentFlags(base, { PODWIRE_PREFILTER_FAILSAFE: '10.0.0.5' }), 'only applies with the prefilter on');
  });

  it('--cni-socket (PODWIRE_CNI_SOCKET): an absolute path that fits a Unix socket address', () => {
    expect(parseAgentFlags({ nodeName: 'n', kubeconfig }, { PODWIRE_CNI_SOCKET: '/run/x/cni.sock' }).cniSocket).toBe('/run/x/cni.sock');
    fails(() => parseAgentFlags({ nodeName: 'n', kubeconfig, cniSocket: 'cni.sock' }, {}), '--cni-socket (PODWIRE_CNI_SOCKET)', '"cni.sock"', 'absolute');
    fails(() => parseAgentFlags({ nodeName: 'n', kubeconfig, cniSocket: `/${'a'.repeat(110)}` }, {}), '--cni-socket', 'longer than 107 bytes');
  });

  it('--metrics-listen (PODWIRE_METRICS_LISTEN): unset = /metrics on the health listener; else HOST:PORT, not the health address', () => {
    const base = { nodeName: 'n', kubeconfig };
    expect(parseAgentFlags(base, {}).metrics).toBeUndefined();
    expect(parseAgentFlags(base, { PODWIRE_METRICS_LISTEN: '0.0.0.0:9962' }).metrics).toEqual({ host: '0.0.0.0', port: 9962 });
    expect(parseAgentFlags({ ...base, metricsListen: '10.0.0.1:9100' }, { PODWIRE_METRICS_LISTEN: '0.0.0.0:9962' }).metrics).toEqual({ host: '10.0.0.1', port: 9100 });
    fails(() => parseAgentFlags({ ...base, metricsListen: '9962' }, {}), '--metrics-listen (PODWIRE_METRICS_LISTEN) "9962"', 'HOST:PORT');
    fails(() => parseAgentFlags({ ...base, metricsListen: '127.0.0.1:9879' }, {}), '--metrics-listen', "health listener's address", 'leave it unset');
    fails(() => parseAgentFlags({ ...base, metricsListen: '0.0.0.0:9879' }, {}), '--metrics-listen', "health listener's address");
  });

  it('takes environment fallbacks, and flags win over them', () => {
    const env = { NODE_NAME: 'from-env', KUBECONFIG: kubeconfig, PODWIRE_MODE: 'vxlan', PODWIRE_MTU: '9000', PODWIRE_PIN_DIR: '/sys/fs/bpf/x/' };
    const c = parseAgentFlags({ mode: 'native' }, env);
    expect(c.nodeName).toBe('from-env');
    expect(c.mode).toBe('native');
    expect(c.mtu).toBe(9000);
    expect(c.pinDir).toBe('/sys/fs/bpf/x');
  });

  it('--vxlan-datapath (PODWIRE_VXLAN_DATAPATH): bpf or device, vxlan mode only, default DEFAULT_VXLAN_DATAPATH', () => {
    const base = { nodeName: 'n', kubeconfig };
    expect(parseAgentFlags({ ...base, mode: 'vxlan' }, {}).vxlanDatapath).toBe(DEFAULT_VXLAN_DATAPATH);
    // native mode has no tunnel: no datapath kind, so the agent passes none to setupNode (which refuses one)
    expect(parseAgentFlags({ ...base, mode: 'native' }, {}).vxlanDatapath).toBeUndefined();
    expect(parseAgentFlags({ ...base, mode: 'vxlan' }, { PODWIRE_VXLAN_DATAPATH: 'bpf' }).vxlanDatapath).toBe('bpf');
    expect(parseAgentFlags({ ...base, mode: 'vxlan', vxlanDatapath: 'device' }, { PODWIRE_VXLAN_DATAPATH: 'bpf' }).vxlanDatapath).toBe('device');
    fails(() => parseAgentFlags({ ...base, mode: 'vxlan', vxlanDatapath: 'xdp' }, {}), '--vxlan-datapath (PODWIRE_VXLAN_DATAPATH) "xdp"', 'must be bpf', 'or device');
    fails(() => parseAgentFlags(base, { PODWIRE_VXLAN_DATAPATH: 'bpf' }), '--vxlan-datapath (PODWIRE_VXLAN_DATAPATH) "bpf"', 'only applies to --mode vxlan');
  });

  it('requires a node name and names the fix', () => {
    fails(() => parseAgentFlags({ kubeconfig }, {}), '--node-name (NODE_NAME) is required');
    fails(() => parseAgentFlags({ nodeName: 'Node_1', kubeconfig }, {}), '--node-name', '"Node_1"', 'lower-case');
  });

  it('rejects bad values naming key, value and fix', () => {
    const base = { nodeName: 'n', kubeconfig };
    fails(() => parseAgentFlags({ ...base, mode: 'geneve' }, {}), '--mode (PODWIRE_MODE) "geneve"', 'native or vxlan');
    fails(() => parseAgentFlags({ ...base, mtu: '100' }, {}), '--mtu', '"100"', 'from 1280 to 65535');
    fails(() => parseAgentFlags({ ...base, pinDir: 'relative' }, {}), '--pin-dir', '"relative"', 'absolute path');
    fails(() => parseAgentFlags({ ...base, healthListen: 'localhost' }, {}), '--health-listen', 'HOST:PORT');
    fails(() => parseAgentFlags({ ...base, uplink: 'a/b' }, {}), '--uplink', 'interface name');
    fails(() => parseAgentFlags({ ...base, vni: '5' }, {}), '--vni', 'only applies to --mode vxlan');
    fails(() => parseAgentFlags({ ...base, gcGrace: 'soon' }, {}), '--gc-grace', 'duration');
    fails(() => parseAgentFlags({ nodeName: 'n', kubeconfig: join(dir, 'missing') }, {}), '--kubeconfig', 'not a readable file');
  });

  it('without a kubeconfig it needs to run in a pod', () => {
    fails(() => parseAgentFlags({ nodeName: 'n' }, {}), 'KUBERNETES_SERVICE_HOST', '--kubeconfig FILE');
  });

  it('parses durations and listen addresses', () => {
    expect(parseDuration('gcGrace', '500ms')).toBe(500);
    expect(parseDuration('gcGrace', '2s')).toBe(2000);
    expect(parseDuration('gcGrace', '1.5m')).toBe(90_000);
    expect(parseDuration('gcGrace', '3')).toBe(3000);
    expect(parseHostPort('healthListen', '[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseHostPort('healthListen', '0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
  });
});

// Flows NATed by the node's own stack, on one node with real pods (CNI binary), real iptables DNAT
// and MASQUERADE rules of kube-proxy's and portmap's shapes, and real traffic: pod → Service IP
// (TCP and a DNS-like UDP exchange), pod → its own node's hostPort, and a pod reaching itself
// through its Service (hairpin with masquerade). Each reply must come back through the stack's
// conntrack (PASS_STACK_NAT_REPLY), while plain pod → pod traffic keeps the redirect_peer fast path.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { LabNode, type LabPod } from '../../src/lab/node.js';
import { startTcpEcho, tcpProbe, type TcpEchoServer } from '../../src/lab/traffic.js';
import { openConntrack, openCounters } from '../../src/maps/index.js';

const NODE_IP = '10.250.0.1'; // LabNode's node address
const SVC_IP = '10.96.0.10';
const HAIRPIN_SVC_IP = '10.96.0.11';
const HOST_PORT = 8080;

// A UDP server that answers every datagram with the address it saw as the peer (like DNS would
// answer the client's own address), and a client that sends one datagram on a CONNECTED socket:
// the kernel delivers only replies from the address it sent to, so an un-NATed reply is lost.
const UDP_SERVER = `
const d = require('node:dgram').createSocket('udp4');
const [ip, port] = process.argv.slice(1);
d.on('message', (m, r) => d.send(r.address + '\\n', r.port, r.address));
d.bind(Number(port), ip, () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), 120000).unref();
`;
const UDP_CLIENT = `
const d = require('node:dgram').createSocket('udp4');
const [ip, port] = process.argv.slice(1);
const t = setTimeout(() => { process.stderr.write('timeout'); process.exit(2); }, 3000);
d.on('message', (m) => { clearTimeout(t); process.stdout.write(String(m)); process.exit(0); });
d.connect(Number(port), ip, () => d.send('query'));
`;

async function udpQuery(netns: string, ip: string, port: number): Promise<{ ok: boolean; peerSeen?: string; error?: string }> {
  const r = await run('nsenter', [`--net=${netns}`, '--', process.execPath, '-e', UDP_CLIENT, ip, String(port)], { reject: false, timeoutMs: 10_000 });
  return r.exitCode === 0 ? { ok: true, peerSeen: r.stdout.trim() } : { ok: false, error: r.stderr || `exit ${r.exitCode}` };
}

function counter(pinDir: string, reason: string): bigint {
  const c = openCounters(pinDir);
  try {
    return c.read().filter((r) => r.reason === reason).reduce((n, r) => n + r.packets, 0n);
  } finally {
    c.close();
  }
}

async function iptables(netns: string, ...rules: string[][]): Promise<void> {
  for (const rule of rules) {
    const r = await run('iptables', ['-w', '5', ...rule], { netns, reject: false });
    if (r.exitCode !== 0) throw new Error(`iptables ${rule.join(' ')} failed: ${r.stderr}`);
  }
}

describe('same node: flows NATed by the node stack come back through it', () => {
  let node: LabNode;
  let client: LabPod;
  let backend: LabPod;
  const servers: TcpEchoServer[] = [];
  let udpServer: ReturnType<typeof execa> | undefined;

  beforeAll(async () => {
    if (!existsSync(podwireBin())) throw new Error(`${podwireBin()} is missing: run \`npm run build\` (npm test does)`);
    node = await LabNode.create({ podCIDR: '10.244.9.0/24', prefix: 'pwnat', nodeIp: NODE_IP });
    client = await node.addPod('client');
    backend = await node.addPod('backend');
    servers.push(await startTcpEcho(backend.netns.path, backend.ip, 7000));
    servers.push(await startTcpEcho(client.netns.path, client.ip, 7000));
    udpServer = execa('nsenter', [`--net=${backend.netns.path}`, '--', process.execPath, '-e', UDP_SERVER, backend.ip, '5353'], { reject: false, env: { NODE_EXTRA_CA_CERTS: undefined } });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('UDP server did not start')), 10_000);
      udpServer!.stdout!.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const n = node.netns.path;
    // kube-proxy's shape (ClusterIP: DNAT in PREROUTING for pods and OUTPUT for the node, no SNAT
    // for pod clients), portmap's hostPort DNAT, and the hairpin masquerade of a pod reaching
    // itself through its Service
    await iptables(
      n,
      ['-t', 'nat', '-N', 'TEST-SERVICES'],
      ['-t', 'nat', '-A', 'PREROUTING', '-j', 'TEST-SERVICES'],
      ['-t', 'nat', '-A', 'OUTPUT', '-j', 'TEST-SERVICES'],
      ['-t', 'nat', '-A', 'TEST-SERVICES', '-d', `${SVC_IP}/32`, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${backend.ip}:7000`],
      ['-t', 'nat', '-A', 'TEST-SERVICES', '-d', `${SVC_IP}/32`, '-p', 'udp', '--dport', '53', '-j', 'DNAT', '--to-destination', `${backend.ip}:5353`],
      ['-t', 'nat', '-A', 'TEST-SERVICES', '-d', `${HAIRPIN_SVC_IP}/32`, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${client.ip}:7000`],
      ['-t', 'nat', '-A', 'TEST-SERVICES', '-d', `${NODE_IP}/32`, '-p', 'tcp', '--dport', String(HOST_PORT), '-j', 'DNAT', '--to-destination', `${backend.ip}:7000`],
      ['-t', 'nat', '-A', 'POSTROUTING', '-s', `${client.ip}/32`, '-d', `${client.ip}/32`, '-j', 'MASQUERADE'],
    );
    // the node needs a route for Service IPs (a real node has a default route)
    await run('ip', ['route', 'add', '10.96.0.0/12', 'dev', 'lo'], { netns: n });
  }, 120_000);

  afterAll(async () => {
    udpServer?.kill('SIGKILL');
    await Promise.allSettled(servers.map((s) => s.stop()));
    await node?.destroy();
  });

  it('pod → Service IP over TCP: answered, and the backend sees the client pod\'s own IP', async () => {
    const before = counter(node.pinDir, 'PASS_STACK_NAT_REPLY');
    for (let i = 0; i < 5; i++) {
      const t = await tcpProbe(client.netns.path, SVC_IP, 80);
      expect(t.ok, `connection ${i}: ${t.error}`).toBe(true);
      expect(t.peerSeen).toBe(client.ip);
    }
    expect(counter(node.pinDir, 'PASS_STACK_NAT_REPLY') - before).toBeGreaterThanOrEqual(5n);
    const ct = openConntrack(node.pinDir);
    try {
      expect(ct.list().some((e) => e.addr === client.ip && e.proto === 6 && e.origin === 'from_pod')).toBe(true);
    } finally {
      ct.close();
    }
  });

  it('pod → Service IP over UDP: a DNS-like request is answered from the Service address', async () => {
    for (let i = 0; i < 5; i++) {
      const u = await udpQuery(client.netns.path, SVC_IP, 53);
      expect(u.ok, `query ${i}: ${u.error}`).toBe(true);
      expect(u.peerSeen).toBe(client.ip);
    }
  });

  it('pod → its own node\'s hostPort: answered (the backend\'s reply un-DNATed by the stack)', async () => {
    const t = await tcpProbe(client.netns.path, NODE_IP, HOST_PORT);
    expect(t.ok, t.error).toBe(true);
    expect(t.peerSeen).toBe(client.ip);
  });

  it('node → Service IP and node → hostPort', async () => {
    expect((await tcpProbe(node.netns.path, SVC_IP, 80)).ok).toBe(true);
    expect((await tcpProbe(node.netns.path, NODE_IP, HOST_PORT)).ok).toBe(true);
  });

  it('a pod reaches itself through its Service (hairpin, masqueraded to the node)', async () => {
    const t = await tcpProbe(client.netns.path, HAIRPIN_SVC_IP, 80);
    expect(t.ok, t.error).toBe(true);
    expect(t.peerSeen).toBe(NODE_IP);
  });

  it('plain pod → pod keeps the fast path: redirect_peer, no stack forwarding, no conntrack entry', async () => {
    const fwdBefore = counter(node.pinDir, 'FWD_LOCAL_PEER');
    const stackBefore = await node.forwardedDatagrams();
    for (let i = 0; i < 3; i++) {
      const t = await tcpProbe(client.netns.path, backend.ip, 7000);
      expect(t.ok, t.error).toBe(true);
      expect(t.peerSeen).toBe(client.ip);
    }
    expect(counter(node.pinDir, 'FWD_LOCAL_PEER') - fwdBefore).toBeGreaterThanOrEqual(3n * 4n);
    expect(await node.forwardedDatagrams()).toBe(stackBefore);
    const ct = openConntrack(node.pinDir);
    try {
      // the backend's server port never becomes a stack initiator, however many Service clients it had
      expect(ct.list().filter((e) => e.addr === backend.ip)).toEqual([]);
    } finally {
      ct.close();
    }
  });
});

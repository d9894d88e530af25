// The agent's CNI socket answers exactly what the exec'd plugin prints: VERSION, ADD and DEL in
// a node namespace with a loaded datapath (the server runs in its own process inside it, as the
// agent does), bad requests get the spec's error JSON, and concurrent ADDs get distinct
// addresses. The binary runs the same commands next to it as the reference.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES, parseCniRequest } from '../../src/agent/cni-server.js';
import { containerId, createHarness, type Harness } from '../cni/harness.js';
import { rawRequest, request, startServerProc, type ServerProc } from './cni-server-proc.js';

let h: Harness;
let dir: string;
let server: ServerProc;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pwcs-'));
  h = await createHarness({ podCIDR: '10.201.0.0/24' });
  server = await startServerProc(h.node.path, join(dir, 'cni.sock'));
});

afterAll(async () => {
  await server?.stop();
  await h?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const ARGS = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=test;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u';

function env(command: string, id?: string, netns?: string): Record<string, string | undefined> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_ARGS: ARGS, CNI_PATH: '/usr/lib/cni' };
}

/** A result with the per-pod values (addresses, MACs, names, sandbox) replaced by placeholders. */
function shape(stdout: string): unknown {
  return JSON.parse(stdout.replace(/10\.201\.0\.\d+/g, 'IP').replace(/"[0-9a-f]{2}(:[0-9a-f]{2}){5}"/g, '"MAC"').replace(/pw[0-9a-f]{11}/g, 'VETH').replace(/\/run\/netns\/[^"]+/g, 'NETNS'));
}

describe('CNI server', () => {
  it('VERSION: byte-identical to the binary, asked version echoed', async () => {
    for (const stdin of ['{"cniVersion":"0.4.0"}', '']) {
      const bin = await h.cni('VERSION', { config: stdin });
      const r = await request(server.socket, { CNI_COMMAND: 'VERSION' }, stdin);
      expect(r).toEqual({ exitCode: bin.exitCode, stdout: bin.stdout + '\n', stderr: '' });
    }
  });

  it('ADD then DEL: the same result as the binary, the pod wired and then gone', async () => {
    const [podA, podB] = [await h.pod(), await h.pod()];
    const [idA, idB] = [containerId(), containerId()];
    const conf = JSON.stringify(h.conf());
    const viaSocket = await request(server.socket, env('ADD', idA, podA.path), conf);
    expect(viaSocket.stderr).toBe('');
    expect(viaSocket.exitCode).toBe(0);
    const viaBin = await h.cni('ADD', { containerId: idB, netns: podB.path });
    expect(viaBin.exitCode).toBe(0);
    expect(shape(viaSocket.stdout)).toEqual(shape(viaBin.stdout));
    const ip = (JSON.parse(viaSocket.stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    expect(h.endpoints().map((e) => e.ip)).toContain(ip);
    expect(h.records()).toHaveLength(2);
    expect(await h.hostVeths()).toHaveLength(2);

    const del = await request(server.socket, env('DEL', idA, podA.path), conf);
    expect(del).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    const delBin = await h.cni('DEL', { containerId: idB, netns: podB.path });
    expect(delBin.exitCode).toBe(0);
    expect(h.records()).toEqual([]);
    expect(await h.hostVeths()).toEqual([]);
    expect(h.endpoints()).toEqual([]);
  });

  it('errors: the same error JSON as the binary (bad env, bad config)', async () => {
    const cases: Array<{ env: Record<string, string | undefined>; stdin: string }> = [
      { env: { CNI_COMMAND: 'BOGUS' }, stdin: '{}' },
      { env: env('ADD', containerId(), '/run/netns/none'), stdin: 'not json' },
      { env: env('ADD', containerId(), '/run/netns/none'), stdin: JSON.stringify(h.conf({ mtu: 1 })) },
    ];
    for (const c of cases) {
      const r = await request(server.socket, c.env, c.stdin);
      const bin = await h.cni(c.env['CNI_COMMAND'] as 'ADD', {
        containerId: c.env['CNI_CONTAINERID'],
        netns: c.env['CNI_NETNS'],
        config: c.stdin,
      });
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual(bin.json);
      expect(r.stderr).toMatch(/^podwire: CNI error \d+: /);
    }
  });

  it('bad requests get a CNI error JSON (code 6), never a hang', async () => {
    for (const body of ['', 'not json', '[]', '{"env":{}}', '{"env":[],"stdin":""}']) {
      const r = JSON.parse(await rawRequest(server.socket, body)) as { exitCode: number; stdout: string };
      expect(r.exitCode, body).toBe(1);
      expect(JSON.parse(r.stdout), body).toMatchObject({ code: 6 });
    }
    const huge = JSON.parse(await rawRequest(server.socket, Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20))) as { stdout: string };
    expect(JSON.parse(huge.stdout)).toMatchObject({ code: 6, msg: expect.stringMatching(/exceeds/) });
  });

  it('only CNI_* keys of the request env reach the plugin', () => {
    expect(parseCniRequest(JSON.stringify({ env: { CNI_COMMAND: 'DEL', PATH: '/evil', NODE_OPTIONS: '--x', CNI_N: 1 }, stdin: '' })).env).toEqual({ CNI_COMMAND: 'DEL' });
  });

  it('concurrent ADDs get distinct addresses; concurrent DELs free them all', async () => {
    const n = 8;
    const pods = await Promise.all(Array.from({ length: n }, () => h.pod()));
    const ids = pods.map(() => containerId());
    const conf = JSON.stringify(h.conf());
    const adds = await Promise.all(pods.map((p, i) => request(server.socket, env('ADD', ids[i], p.path), conf)));
    for (const a of adds) expect(a.exitCode, a.stdout).toBe(0);
    const ips = adds.map((a) => (JSON.parse(a.stdout) as { ips: { address: string }[] }).ips[0]!.address);
    expect(new Set(ips).size).toBe(n);
    expect(h.endpoints()).toHaveLength(n);
    const dels = await Promise.all(pods.map((p, i) => request(server.socket, env('DEL', ids[i], p.path), conf)));
    for (const d of dels) expect(d.exitCode, d.stdout).toBe(0);
    expect(h.records()).toEqual([]);
    expect(h.endpoints()).toEqual([]);
  });
});

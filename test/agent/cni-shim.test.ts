// The native CNI shim (build/bin/podwire-cni) exec'd as a runtime execs a plugin: with the
// agent's socket up it answers through it (its fallback points nowhere, so a fallback would
// fail), byte for byte what bin/podwire prints; with no socket or a dead one it execs
// `<its path>-full` (bin/podwire) with the same stdin, also for configs larger than a pipe buffer.
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cniShim, podwireBin } from '../../src/assets/index.js';
import { execCni, type CniCommand } from '../../src/lab/cni-exec.js';
import { containerId, createHarness, type Harness } from '../cni/harness.js';
import { startServerProc, type ServerProc } from './cni-server-proc.js';

let h: Harness;
let dir: string;
let server: ServerProc;
let plugin: string;

beforeAll(async () => {
  if (!existsSync(cniShim())) throw new Error(`${cniShim()} is missing: run \`npm run build\` first`);
  dir = await mkdtemp(join(tmpdir(), 'pwshim-'));
  // laid out as an operator installs it: the shim as `podwire`, the full plugin as `podwire-full`
  plugin = join(dir, 'podwire');
  await symlink(cniShim(), plugin);
  await symlink(podwireBin(), join(dir, 'podwire-full'));
  h = await createHarness({ podCIDR: '10.202.0.0/24' });
  server = await startServerProc(h.node.path, join(dir, 'cni.sock'));
});

afterAll(async () => {
  await server?.stop();
  await h?.destroy();
  await rm(dir, { recursive: true, force: true });
});

function shim(command: CniCommand, config: Record<string, unknown> | string, call: { id?: string; netns?: string; env?: Record<string, string | undefined> } = {}) {
  return execCni({
    plugin,
    command,
    containerId: call.id,
    netns: call.netns,
    ifname: call.netns ? 'eth0' : undefined,
    args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=test;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u',
    path: ['/usr/lib/cni'],
    config,
    nodeNetns: h.node.path,
    env: { NODE_EXTRA_CA_CERTS: undefined, ...call.env },
  });
}

function shape(stdout: string): unknown {
  return JSON.parse(stdout.replace(/10\.202\.0\.\d+/g, 'IP').replace(/"[0-9a-f]{2}(:[0-9a-f]{2}){5}"/g, '"MAC"').replace(/pw[0-9a-f]{11}/g, 'VETH').replace(/\/run\/netns\/[^"]+/g, 'NETNS'));
}

/** ADD, CHECK and DEL of one pod through the shim next to the same through bin/podwire. */
async function lifecycle(extra: Record<string, unknown>): Promise<void> {
  const [podA, podB] = [await h.pod(), await h.pod()];
  const [idA, idB] = [containerId(), containerId()];
  const add = await shim('ADD', h.conf(extra), { id: idA, netns: podA.path });
  expect(add.exitCode, add.stdout + add.stderr).toBe(0);
  const ref = await h.cni('ADD', { containerId: idB, netns: podB.path });
  expect(ref.exitCode).toBe(0);
  expect(shape(add.stdout)).toEqual(shape(ref.stdout));
  const check = await shim('CHECK', { ...h.conf(extra), prevResult: add.json }, { id: idA, netns: podA.path });
  expect(check.exitCode, check.stdout).toBe(0);
  expect(h.endpoints()).toHaveLength(2);
  const del = await shim('DEL', h.conf(extra), { id: idA, netns: podA.path });
  expect(del).toMatchObject({ exitCode: 0, stdout: '' });
  await h.cni('DEL', { containerId: idB, netns: podB.path });
  expect(h.records()).toEqual([]);
  expect(await h.hostVeths()).toEqual([]);
}

describe('podwire-cni shim', () => {
  describe('agent socket up (a fallback would fail: it points nowhere)', () => {
    const viaAgent = () => ({ agentSocket: server.socket, fallback: '/nonexistent/podwire' });

    it('ADD, CHECK, DEL: the same results as bin/podwire', async () => {
      await lifecycle(viaAgent());
    });

    it('VERSION and errors: byte-identical to bin/podwire, exit status passed on', async () => {
      const configs: Array<[CniCommand, Record<string, unknown> | string]> = [
        // STATUS at 0.4.0 is refused by the plugin (code 1): proof the request made the round trip
        ['STATUS', { cniVersion: '0.4.0', ...viaAgent() }],
        // non-ASCII, quotes and control characters survive both JSON hops
        ['ADD', { ...h.conf(viaAgent()), podCIDR: 'ü"\u0001😀' }],
        ['ADD', `{"agentSocket":"${server.socket}","fallback":"/nonexistent/x"} trailing`],
      ];
      for (const [cmd, config] of configs) {
        const netns = cmd === 'ADD' ? '/run/netns/none' : undefined;
        const id = containerId();
        const a = await shim(cmd, config, { id, netns });
        const b = await h.cni(cmd, { containerId: id, netns, config });
        expect(a.stdout).toBe(b.stdout);
        expect(a.exitCode).toBe(b.exitCode);
        expect(a.stderr).toBe(b.stderr);
      }
    });

    it('the socket path also comes from PODWIRE_CNI_SOCKET when the config names none', async () => {
      const r = await shim('STATUS', { ...h.conf({}), cniVersion: '1.1.0', fallback: '/nonexistent/podwire' }, { env: { PODWIRE_CNI_SOCKET: server.socket } });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0); // the datapath is loaded: STATUS succeeds, silently
      expect(r.stdout).toBe('');
    });

    it('a config larger than a pipe buffer reaches the agent whole', async () => {
      const config = `{"pad":"${'x'.repeat(300_000)}","agentSocket":"${server.socket}","fallback":"/nonexistent/x","cniVersion":"0.3.1"}`;
      const r = await shim('STATUS', config);
      // the plugin parsed the whole config: it names the version at its end
      expect(r.json).toMatchObject({ code: 1, msg: expect.stringContaining('0.3.1') });
    });
  });

  it('VERSION is answered by the shim itself, byte-identical to bin/podwire, with no agent and no fallback', async () => {
    for (const config of [{ cniVersion: '0.4.0' }, {}]) {
      const nowhere = { ...config, agentSocket: join(dir, 'absent.sock'), fallback: join(dir, 'nope') };
      const a = await shim('VERSION', nowhere);
      const b = await h.cni('VERSION', { containerId: containerId(), config: nowhere });
      expect(a.exitCode, a.stderr).toBe(0);
      expect(a.stdout).toBe(b.stdout);
    }
  });

  describe('no agent: falls back to <argv0>-full (bin/podwire)', () => {
    const noSocket = () => ({ agentSocket: join(dir, 'absent.sock') });

    it('ADD, CHECK, DEL work with no socket file', async () => {
      await lifecycle(noSocket());
    });

    it('a stale socket path (nothing listening) falls back too', async () => {
      const stale = join(dir, 'stale.sock');
      await writeFile(stale, '');
      const r = await shim('STATUS', { ...h.conf({}), cniVersion: '1.1.0', agentSocket: stale });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toBe('');
    });

    it('the full plugin sees exactly our stdin, also beyond a pipe buffer (300 kB)', async () => {
      const config = `{"pad":"${'x'.repeat(300_000)}","agentSocket":"${join(dir, 'absent.sock')}","cniVersion":"0.3.1"}`;
      const r = await shim('STATUS', config);
      expect(r.exitCode).toBe(1);
      // the plugin parsed the whole config: it names the version at its end
      expect(r.json).toMatchObject({ code: 1, msg: expect.stringContaining('0.3.1') });
    });

    it('a missing fallback is a CNI error JSON naming the path and the fix', async () => {
      const r = await shim('STATUS', { cniVersion: '1.0.0', agentSocket: join(dir, 'absent.sock'), fallback: join(dir, 'nope') });
      expect(r.exitCode).toBe(1);
      expect(r.json).toMatchObject({ cniVersion: '1.0.0', code: 5, msg: expect.stringContaining(`${join(dir, 'nope')}: No such file or directory`) });
      expect(r.json?.['msg']).toMatch(/"fallback"/);
    });
  });
});

describe('the agent dies while an ADD is inside it (issue 14 #9)', () => {
  it('the runtime gets a CNI error, never a success for a half-wired pod, and its DEL through the fallback leaves nothing behind', async () => {
    const sock = join(dir, 'victim.sock');
    const pause = join(dir, 'victim.pause');
    // this agent holds every ADD right after the endpoint entry was written (veth, tcx links and
    // endpoint exist), so the kill lands in the middle of the request
    const victim = await startServerProc(h.node.path, sock, { PODWIRE_CNI_FAULT: 'endpoint', PODWIRE_CNI_FAULT_PAUSE: pause });
    const pins = () => ['links', 'links-egress'].flatMap((d) => (existsSync(join(h.pinDir, d)) ? readdirSync(join(h.pinDir, d)) : []));
    const before = { records: h.records().length, veths: (await h.hostVeths()).length, endpoints: h.endpoints().length, pins: pins().length };
    try {
      const pod = await h.pod();
      const id = containerId();
      const conf = h.conf({ agentSocket: sock });
      const add = shim('ADD', conf, { id, netns: pod.path });
      for (let i = 0; i < 1500 && !existsSync(pause); i++) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(pause), 'the ADD reached the agent and was held there').toBe(true);
      expect((await h.hostVeths()).length).toBe(before.veths + 1); // half-wired right now
      process.kill(victim.child.pid!, 'SIGKILL');
      const r = await add;
      expect(r.exitCode).not.toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ code: 5 });
      // the runtime DELs a failed ADD; the agent is gone, so the shim runs podwire-full
      const del = await shim('DEL', conf, { id, netns: pod.path });
      expect(del.exitCode, del.stdout + del.stderr).toBe(0);
      expect({ records: h.records().length, veths: (await h.hostVeths()).length, endpoints: h.endpoints().length, pins: pins().length }).toEqual(before);
    } finally {
      await victim.stop();
    }
  });
});

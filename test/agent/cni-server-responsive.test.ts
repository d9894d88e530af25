// The agent serves every pod of the node from one event loop (the CNI core runs in-process for
// the shim's requests), so one request must never stall the others. Requests that used to
// hang — a stateDir under /proc (Node's recursive mkdir loops there for ever, synchronously)
// and a CNI_NETNS that is a FIFO (iproute2 blocked opening it) — are sent first and stay in
// flight while VERSION and a full ADD/DEL for a real pod are served. Every wait is bounded.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/exec/run.js';
import { containerId, createHarness, type Harness } from '../cni/harness.js';
import { request, startServerProc, type Reply, type ServerProc } from './cni-server-proc.js';

let h: Harness;
let dir: string;
let server: ServerProc;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pwcr-'));
  h = await createHarness({ podCIDR: '10.202.0.0/24' });
  server = await startServerProc(h.node.path, join(dir, 'cni.sock'));
});

afterAll(async () => {
  await server?.stop();
  await h?.destroy();
  await rm(dir, { recursive: true, force: true });
});

function env(command: string, id?: string, netns?: string): Record<string, string | undefined> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=r', CNI_PATH: '/usr/lib/cni' };
}

/** The reply, or a failure naming what did not answer within `ms` (generous: loaded machine). */
async function within(p: Promise<Reply>, what: string, ms = 30_000): Promise<Reply> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer from the agent within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

const code = (r: Reply): number => (JSON.parse(r.stdout) as { code: number }).code;

describe('CNI server stays responsive whatever one request does', () => {
  it('requests that used to hang get their error while VERSION and a real ADD/DEL are served', async () => {
    const fifo = join(dir, 'netns-fifo');
    await run('mkfifo', [fifo]);
    const pod = await h.pod();
    const procState = request(server.socket, env('ADD', containerId(), pod.path), JSON.stringify(h.conf({ stateDir: '/proc/podwire' })));
    const fifoNetns = request(server.socket, env('ADD', containerId(), fifo), JSON.stringify(h.conf()));
    // awaited below; if an earlier check fails first, their rejection is not an unhandled one
    for (const p of [procState, fifoNetns]) p.catch(() => {});
    // Not a timing assertion: only makes it likely the bad requests are being served first.
    await new Promise((r) => setTimeout(r, 500));

    const version = await within(request(server.socket, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}'), 'VERSION');
    expect(version.exitCode).toBe(0);
    const id = containerId();
    const add = await within(request(server.socket, env('ADD', id, pod.path), JSON.stringify(h.conf())), 'ADD');
    expect(add.exitCode, add.stdout).toBe(0);
    expect(h.endpoints()).toHaveLength(1);
    const del = await within(request(server.socket, env('DEL', id, pod.path), JSON.stringify(h.conf())), 'DEL');
    expect(del.exitCode, del.stdout).toBe(0);

    const [p, f] = [await within(procState, 'stateDir under /proc'), await within(fifoNetns, 'CNI_NETNS FIFO')];
    expect(code(p), p.stdout).toBe(7);
    expect(p.stdout).toMatch(/stateDir .*\/proc/);
    expect(code(f), f.stdout).toBe(4);
    expect(f.stdout).toMatch(/CNI_NETNS .* FIFO/);
    expect(h.records()).toEqual([]);
    expect(await h.hostVeths()).toEqual([]);
    expect(h.linkPins()).toEqual([]);
  });
});

// The reference the CNI rows are judged against (issue 13 item 4): Debian's Go `bridge` plugin
// with `host-local` IPAM (containernetworking-plugins, /usr/lib/cni), exec'd exactly like the
// cni-shim rows (src/lab/cni-exec.ts: the CNI_* environment, the config on stdin, nsenter into
// a node namespace, NODE_EXTRA_CA_CERTS unset), same pod count. Its node namespace is its own
// (a bridge and host-local files must not touch the lab node the agent serves). cni-shim.ts
// interleaves its calls with the shim's, pod by pod, so both see the same machine load.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execCni } from '../../src/lab/cni-exec.js';
import { createNetns, type Netns } from '../../src/netns/index.js';

export const REFERENCE_PLUGIN_DIR = '/usr/lib/cni';

interface Slot {
  containerId: string;
  netns: Netns;
  result?: Record<string, unknown>;
}

export interface ReferencePlugin {
  /** ADD / DEL of pod `i`; the duration as the runtime sees it (exec to exit), in ms. */
  call(cmd: 'ADD' | 'DEL', i: number): Promise<number>;
  cleanup(): Promise<void>;
}

export async function referencePlugin(o: { pods: number; subnet: string }): Promise<ReferencePlugin> {
  const plugin = join(REFERENCE_PLUGIN_DIR, 'bridge');
  if (!existsSync(plugin) || !existsSync(join(REFERENCE_PLUGIN_DIR, 'host-local'))) {
    throw new Error(`the reference plugins ${plugin} and host-local are missing: apt-get install containernetworking-plugins (deploy/host-prereqs.sh)`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'pwref-'));
  const slots: Slot[] = [];
  let node: Netns | undefined;
  const conf = {
    cniVersion: '1.0.0',
    name: 'podwire-bench-reference',
    type: 'bridge',
    bridge: 'pwref0',
    isGateway: true,
    ipMasq: false,
    ipam: { type: 'host-local', subnet: o.subnet, dataDir },
  };
  const cleanup = async () => {
    for (const s of slots.splice(0)) {
      if (s.result && node) {
        await execCni({ plugin, command: 'DEL', containerId: s.containerId, netns: s.netns.path, ifname: 'eth0', path: [REFERENCE_PLUGIN_DIR], config: { ...conf, prevResult: s.result }, nodeNetns: node.path }).catch(() => {});
      }
      await s.netns.remove().catch(() => {});
    }
    await node?.remove().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    node = await createNetns('pwbref');
    for (let i = 0; i < o.pods; i++) slots.push({ containerId: randomBytes(16).toString('hex'), netns: await createNetns('pwbrp') });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const nodePath = node.path;
  return {
    cleanup,
    async call(cmd, i) {
      const s = slots[i]!;
      const out = await execCni({
        plugin,
        command: cmd,
        containerId: s.containerId,
        netns: s.netns.path,
        ifname: 'eth0',
        args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=ref-${i};K8S_POD_INFRA_CONTAINER_ID=${s.containerId}`,
        path: [REFERENCE_PLUGIN_DIR],
        config: cmd === 'DEL' ? { ...conf, prevResult: s.result } : conf,
        nodeNetns: nodePath,
        env: { NODE_EXTRA_CA_CERTS: undefined },
      });
      if (out.exitCode !== 0) throw new Error(`reference CNI ${cmd} ref-${i} failed (exit ${out.exitCode}): ${out.stdout}${out.stderr}`.slice(0, 500));
      s.result = cmd === 'ADD' ? out.json : undefined;
      return out.durationMs;
    },
  };
}

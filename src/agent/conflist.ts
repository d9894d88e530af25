// The node's CNI network configuration. Written only when the node can serve ADD (datapath
// loaded, own podCIDR known, first sync done): kubelet reports the node NotReady until a
// conflist exists, so writing it early would let pods be scheduled onto a node that cannot
// wire them. Written atomically (temp file + rename in the same directory) because the runtime
// may read the directory at any moment; rewritten only when its content changes; left in place
// on shutdown so pods keep being wired while the agent restarts.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SUPPORTED_VERSIONS } from '../cni/version.js';

export const CONFLIST_NAME = '05-podwire.conflist';

export interface ConflistInput {
  podCIDR: string;
  pinDir: string;
  stateDir: string;
  mtu: number;
  /** The list's cniVersion: one every plugin of the chain supports (see negotiateChain). */
  cniVersion?: string;
  /** The agent's CNI socket: the native shim sends requests there (the full plugin ignores it). */
  agentSocket?: string;
  /** Chain portmap after podwire (hostPort); false when no portmap binary was found. */
  portmap?: boolean;
}

export function renderConflist(c: ConflistInput): string {
  const conf = {
    cniVersion: c.cniVersion ?? '1.1.0',
    name: 'podwire',
    plugins: [
      {
        type: 'podwire',
        // runtimeConfig.bandwidth: limits enforced in the datapath (bpf/lib/bandwidth.h), so the
        // reference `bandwidth` plugin is not chained
        capabilities: { bandwidth: true },
        podCIDR: c.podCIDR,
        pinDir: c.pinDir,
        stateDir: c.stateDir,
        mtu: c.mtu,
        ...(c.agentSocket === undefined ? {} : { agentSocket: c.agentSocket }),
      },
      ...(c.portmap === false ? [] : [{ type: 'portmap', capabilities: { portMappings: true } }]),
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export interface ChainChoice {
  cniVersion: string;
  portmap: boolean;
  /** Why the choice was made, for the agent's log. */
  note: string;
}

const semver = (v: string): number[] => v.split('.').map(Number);
const newer = (a: string, b: string): number => {
  const [x, y] = [semver(a), semver(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

/** Ask a plugin which spec versions it speaks (CNI VERSION), as a runtime would. */
function pluginVersions(path: string): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    const child = execFile(path, [], { env: { ...process.env, CNI_COMMAND: 'VERSION' }, timeout: 5000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        const v = (JSON.parse(stdout) as { supportedVersions?: unknown }).supportedVersions;
        resolve(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
      } catch {
        resolve(undefined);
      }
    });
    // A plugin may answer VERSION without reading stdin and exit: the write then fails (EPIPE).
    child.stdin?.on('error', () => {});
    child.stdin?.end('{"cniVersion":"0.4.0"}');
  });
}

/**
 * The newest spec version that podwire and every chained plugin support, so the runtime can
 * run the whole list (Debian's portmap 1.1.1 stops at 1.0.0; podwire speaks 1.1.0). Without a
 * portmap binary in the plugin directories the list has podwire alone rather than failing
 * every ADD.
 */
export async function negotiateChain(binDirs: readonly string[]): Promise<ChainChoice> {
  const ours = [...SUPPORTED_VERSIONS];
  const newest = (vs: string[]) => vs.sort(newer).at(-1)!;
  let found: string | undefined;
  for (const d of binDirs) {
    const p = join(d, 'portmap');
    if (await access(p, constants.X_OK).then(() => true, () => false)) {
      found = p;
      break;
    }
  }
  if (!found) return { cniVersion: newest(ours), portmap: false, note: `no portmap in ${binDirs.join(':')}: hostPort disabled` };
  const theirs = await pluginVersions(found);
  const common = ours.filter((v) => theirs?.includes(v));
  if (!common.length) return { cniVersion: newest(ours), portmap: false, note: `${found} shares no CNI version with podwire: hostPort disabled` };
  return { cniVersion: newest(common), portmap: true, note: `${found} speaks up to ${newest([...(theirs ?? [])])}` };
}

/** Write the conflist if its content differs; returns true when the file changed. */
export async function writeConflist(dir: string, c: ConflistInput): Promise<boolean> {
  const path = join(dir, CONFLIST_NAME);
  const text = renderConflist(c);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await mkdir(dir, { recursive: true });
  // The temp name must not end in .conf/.conflist/.json: runtimes would pick it up half-written.
  const tmp = join(dir, `.${CONFLIST_NAME}.tmp-${process.pid}`);
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  return true;
}

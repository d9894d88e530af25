// The node's CNI network configuration. Written only when the node can serve ADD (datapath
// loaded, own podCIDR known, first sync done): kubelet reports the node NotReady until a
// conflist exists, so writing it early would let pods be scheduled onto a node that cannot
// wire them. Written atomically (temp file + rename in the same directory) because the runtime
// may read the directory at any moment; rewritten only when its content changes; left in place
// on shutdown so pods keep being wired while the agent restarts.
import { mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const CONFLIST_NAME = '05-podwire.conflist';

export interface ConflistInput {
  podCIDR: string;
  pinDir: string;
  stateDir: string;
  mtu: number;
}

export function renderConflist(c: ConflistInput): string {
  const conf = {
    cniVersion: '1.1.0',
    name: 'podwire',
    plugins: [
      { type: 'podwire', podCIDR: c.podCIDR, pinDir: c.pinDir, stateDir: c.stateDir, mtu: c.mtu },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
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

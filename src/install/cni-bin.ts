// `podwire install-cni`: put the plugin into the host's CNI bin directory. Two files: `podwire` is
// the native shim (bpf/tools/podwire-cni.c) that hands each request to the node's agent over its
// Unix socket — no Node.js start per pod — and `podwire-full` is this self-contained binary, which
// the shim execs when no agent answers (its fallback rule: its own path + "-full"). The runtime may
// exec them at any moment (every pod start), so each file is written next to its final name and
// renamed over it: an exec sees the old or the new binary, never a partial one, and never ETXTBSY
// (the running old binary is not written to, only unlinked by the rename). The full binary lands
// first, so a new shim never falls back to a missing or older full plugin.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { cniShim, isSea } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';

export const CNI_BIN_NAME = 'podwire';
/** The full plugin the shim falls back to. */
export const CNI_FULL_BIN_NAME = 'podwire-full';

export interface InstallCniOptions {
  /** The CNI bin directory, e.g. /opt/cni/bin (the host's, mounted into the init container). */
  dest: string;
  /** The binary to install; default: this executable when it is the self-contained dist/podwire. */
  source?: string;
  /** The native shim; default: the one built with (or carried inside) this program. */
  shim?: string;
}

export interface InstalledFile {
  path: string;
  source: string;
  bytes: number;
  /** false when the destination already held the same bytes (nothing written). */
  changed: boolean;
}

/** `path`/`source`/`bytes`/`changed` describe the shim installed as `podwire`; `full` the fallback. */
export interface InstallCniResult extends InstalledFile {
  full: InstalledFile;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The temp name: dot-prefixed so no runtime mistakes it for a plugin, unique per attempt. */
export function tempName(name: string = CNI_BIN_NAME): string {
  return `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export async function installCni(o: InstallCniOptions): Promise<InstallCniResult> {
  if (!isAbsolute(o.dest)) throw new PodwireError('USAGE', `--dest ${JSON.stringify(o.dest)} must be an absolute directory, e.g. /opt/cni/bin`);
  const source = o.source ?? (isSea() ? process.execPath : undefined);
  if (source === undefined) {
    throw new PodwireError(
      'USAGE',
      'install-cni installs the self-contained binary: run it as dist/podwire (npm run build:bin), or pass --source FILE',
    );
  }
  const shim = o.shim ?? cniShim();
  await mkdir(o.dest, { recursive: true, mode: 0o755 });
  const full = await installFile(source, o.dest, CNI_FULL_BIN_NAME, '--source');
  const fast = await installFile(shim, o.dest, CNI_BIN_NAME, '--shim');
  return { ...fast, full };
}

async function installFile(source: string, dest: string, name: string, flag: string): Promise<InstalledFile> {
  const src = await stat(source).catch(() => undefined);
  if (!src?.isFile()) throw new PodwireError('USAGE', `${flag} ${JSON.stringify(source)} is not a file`);
  const path = join(dest, name);

  const cur = await stat(path).catch(() => undefined);
  if (cur?.isFile() && cur.size === src.size && (cur.mode & 0o111) !== 0 && (await sha256(path)) === (await sha256(source))) {
    return { path, source, bytes: src.size, changed: false };
  }
  const tmp = join(dest, tempName(name));
  try {
    await copyFile(source, tmp);
    await chmod(tmp, 0o755);
    // durable before it becomes visible under the real name
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (cause) {
    if (existsSync(tmp)) await unlink(tmp).catch(() => undefined);
    throw new PodwireError('IO_FAILED', `installing ${source} as ${path} failed: ${(cause as Error).message}`, { cause });
  }
  return { path, source, bytes: src.size, changed: true };
}

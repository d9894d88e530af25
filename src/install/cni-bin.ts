// `podwire install-cni`: put the plugin binary into the host's CNI bin directory. The runtime may
// exec /opt/cni/bin/podwire at any moment (every pod start), so the file is written next to its
// final name and renamed over it: an exec sees the old or the new binary, never a partial one,
// and never ETXTBSY (the running old binary is not written to, only unlinked by the rename).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { isSea } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';

export const CNI_BIN_NAME = 'podwire';

export interface InstallCniOptions {
  /** The CNI bin directory, e.g. /opt/cni/bin (the host's, mounted into the init container). */
  dest: string;
  /** The binary to install; default: this executable when it is the self-contained dist/podwire. */
  source?: string;
}

export interface InstallCniResult {
  path: string;
  source: string;
  bytes: number;
  /** false when the destination already held the same bytes (nothing written). */
  changed: boolean;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The temp name: dot-prefixed so no runtime mistakes it for a plugin, unique per attempt. */
export function tempName(): string {
  return `.${CNI_BIN_NAME}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
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
  const src = await stat(source).catch(() => undefined);
  if (!src?.isFile()) throw new PodwireError('USAGE', `--source ${JSON.stringify(source)} is not a file`);
  await mkdir(o.dest, { recursive: true, mode: 0o755 });
  const path = join(o.dest, CNI_BIN_NAME);

  const cur = await stat(path).catch(() => undefined);
  if (cur?.isFile() && cur.size === src.size && (cur.mode & 0o111) !== 0 && (await sha256(path)) === (await sha256(source))) {
    return { path, source, bytes: src.size, changed: false };
  }
  const tmp = join(o.dest, tempName());
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

// The tcx link pins of one host veth: PINDIR/links/<host> (from_pod, ingress) and any
// PINDIR/links/<host>@<hook> the datapath adds for other hooks (to_pod on egress). DEL and a
// failed ADD remove them all, so nothing of the attachment outlives it.
import { readdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { linkPin, pinPaths } from '../loader/pins.js';

/** Pin paths under PINDIR/links that belong to host veth `host` (which exist now). */
export async function hostLinkPins(host: string, pinDir: string): Promise<string[]> {
  const dir = pinPaths(pinDir).linksDir;
  const own = basename(linkPin(pinDir, host));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => n === own || n.startsWith(`${own}@`)).map((n) => `${dir}/${n}`);
}

export async function removeHostLinkPins(host: string, pinDir: string): Promise<void> {
  await Promise.all((await hostLinkPins(host, pinDir)).map((p) => rm(p, { force: true })));
}

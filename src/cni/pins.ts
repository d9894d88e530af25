// The tcx link pins of one host veth: PINDIR/links/<host> (from_pod, ingress) and
// PINDIR/links-egress/<host> (to_pod, egress), plus any PINDIR/links/<host>@<hook> a datapath may
// name for further hooks. DEL and a failed ADD remove them all, so nothing of the attachment
// outlives it.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { linkPin, pinPaths } from '../loader/pins.js';

/** Pin paths that belong to host veth `host` (which exist now). */
export async function hostLinkPins(host: string, pinDir: string): Promise<string[]> {
  const dir = pinPaths(pinDir).linksDir;
  const own = basename(linkPin(pinDir, host));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    names = [];
  }
  const pins = names.filter((n) => n === own || n.startsWith(`${own}@`)).map((n) => `${dir}/${n}`);
  const egress = linkPin(pinDir, host, 'egress');
  if (existsSync(egress)) pins.push(egress);
  return pins;
}

export async function removeHostLinkPins(host: string, pinDir: string): Promise<void> {
  await Promise.all((await hostLinkPins(host, pinDir)).map((p) => rm(p, { force: true })));
}

/** Same, synchronously: on the agent's CNI path a pool round trip per call costs more than these
 * few bpffs operations (bpffs is kernel memory: nothing here can block on a device). */
export function removeHostLinkPinsSync(host: string, pinDir: string): void {
  const dir = pinPaths(pinDir).linksDir;
  const own = basename(linkPin(pinDir, host));
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const n of names) if (n === own || n.startsWith(`${own}@`)) rmSync(`${dir}/${n}`, { force: true });
  rmSync(linkPin(pinDir, host, 'egress'), { force: true });
}

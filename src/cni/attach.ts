// Attach the pinned from_pod program to a host veth with a tcx link pinned at
// PINDIR/links/<veth> — the same helper, pin and semantics as src/loader/attach.ts, which the
// loader uses to re-point links on a datapath reload and CHECK uses to read the attached id.
// This copy exists only because loader/attach.ts runs its commands through execa, whose import
// costs more than the whole ADD budget; the CHECK tests (attached id == pinned id) fail if the
// two ever disagree. One exec: pw-tcx creates the link and pins it.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tcxHelper } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';
import { linkPin, linkPinIfname, pinPaths } from '../loader/pins.js';
import { notLoadedMessage } from './datapath.js';
import { exec } from './exec.js';

export async function attachFromPod(ifname: string, pinDir: string): Promise<void> {
  const paths = pinPaths(pinDir);
  const prog = paths.progs.fromPod;
  if (!existsSync(prog)) throw new PodwireError('DATAPATH_NOT_LOADED', notLoadedMessage(pinDir));
  // a datapath loaded by a pre-tcx podwire has no links/ yet
  mkdirSync(paths.linksDir, { recursive: true });
  const r = await exec(tcxHelper(), ['attach', '--prog', prog, '--dev', ifname, '--dir', 'ingress', '--pin', linkPin(pinDir, ifname)]);
  if (r.code !== 0) {
    throw new PodwireError('IO_FAILED', `attaching ${prog} to ${ifname} failed: ${r.stderr.trim() || `pw-tcx exit ${r.code}`}`);
  }
}

/** The link pin outlives the veth (deleting a device only detaches its links): remove it. */
export async function removeLinkPins(ifnames: readonly string[], pinDir: string): Promise<void> {
  await Promise.all(ifnames.map((i) => rm(linkPin(pinDir, i), { force: true })));
}

/** Interface names with a link pin (synchronous readdir: GC only). */
export function linkPinIfnames(pinDir: string): string[] {
  const dir = pinPaths(pinDir).linksDir;
  return existsSync(dir) ? readdirSync(dir).map(linkPinIfname) : [];
}

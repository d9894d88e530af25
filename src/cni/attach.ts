// Attach the pinned from_pod program to a host veth: the same clsact qdisc and the same filter
// slot (pref 1 handle 1) as src/loader/attach.ts, which the loader uses to re-attach veths on a
// datapath reload and CHECK uses to read the attached id. This copy exists only because
// loader/attach.ts runs tc through execa, whose import costs more than the whole ADD budget;
// the CHECK tests (attached id == pinned id) fail if the two ever disagree.
import { existsSync } from 'node:fs';
import { PodwireError } from '../errors/index.js';
import { pinPaths } from '../loader/pins.js';
import { notLoadedMessage } from './datapath.js';
import { exec } from './exec.js';

export async function attachFromPod(ifname: string, pinDir: string): Promise<void> {
  const prog = pinPaths(pinDir).progs.fromPod;
  if (!existsSync(prog)) throw new PodwireError('DATAPATH_NOT_LOADED', notLoadedMessage(pinDir));
  const script = `qdisc replace dev ${ifname} clsact\nfilter replace dev ${ifname} ingress pref 1 handle 1 bpf da pinned ${prog}\n`;
  const r = await exec('tc', ['-batch', '-'], { input: script });
  if (r.code !== 0) {
    throw new PodwireError('IO_FAILED', `attaching ${prog} to ${ifname} failed: ${r.stderr.trim() || `tc exit ${r.code}`}`);
  }
}

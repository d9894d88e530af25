// Kernel IP counters of a namespace (/proc/net/snmp is per network namespace). Ip
// ForwDatagrams counts packets the host stack forwarded: podwire's fast paths never move it.
import { run } from '../exec/run.js';

export async function forwardedDatagrams(netnsPath: string): Promise<number> {
  const r = await run('cat', ['/proc/net/snmp'], { netns: netnsPath });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Ip:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf('ForwDatagrams');
  if (i < 0) throw new Error('no ForwDatagrams in /proc/net/snmp');
  return Number(values[i]);
}

// The fast, synchronous "is the datapath there?" check used by CNI STATUS/ADD: only stats
// the pins, never loads the bpf addon or execs anything.
import { existsSync } from 'node:fs';
import { pinPaths } from './pins.js';

export function isDatapathLoaded(pinDir: string): boolean {
  const p = pinPaths(pinDir);
  return existsSync(p.progs.fromPod) && existsSync(p.maps.endpoints) && existsSync(p.maps.counters);
}

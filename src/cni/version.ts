// Which CNI spec versions podwire speaks, and which commands each version allows.
import { PodwireError } from '../errors/index.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';

function triple(v: string): [number, number, number] {
  const [a = 0, b = 0, c = 0] = v.split('.').map(Number);
  return [a, b, c];
}

export function versionAtLeast(v: string, min: string): boolean {
  const x = triple(v);
  const y = triple(min);
  for (let i = 0; i < 3; i++) {
    if (x[i]! !== y[i]!) return x[i]! > y[i]!;
  }
  return true;
}

/** The request's cniVersion, checked against what we support and what the command needs. */
export function requestVersion(raw: Record<string, unknown>, command: CniCommand): string {
  const v = raw['cniVersion'];
  const list = SUPPORTED_VERSIONS.join(', ');
  if (v === undefined) {
    throw new PodwireError('VERSION_INCOMPATIBLE', `network config has no cniVersion; set "cniVersion" to one of ${list}`);
  }
  if (typeof v !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new PodwireError('VERSION_INCOMPATIBLE', `cniVersion ${JSON.stringify(v)} is not supported by podwire; use one of ${list}`);
  }
  // CHECK arrived in 0.4.0, STATUS and GC in 1.1.0: older configs must not use them (as libcni's skel).
  const since: Partial<Record<CniCommand, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };
  const min = since[command];
  if (min && !versionAtLeast(v, min)) {
    throw new PodwireError('VERSION_INCOMPATIBLE', `cniVersion ${v} does not allow ${command} (needs ${min} or later); raise the conflist's cniVersion`);
  }
  return v;
}

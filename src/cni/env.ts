// The CNI_* environment a runtime sets, validated as the spec requires (code 4 names every bad
// variable). CNI_ARGS keeps the Kubernetes pod identity for the IPAM record.
import { PodwireError } from '../errors/index.js';
import type { CniCommand } from './version.js';

export interface PodIdentity {
  podNamespace?: string;
  podName?: string;
  podUid?: string;
  infraContainerId?: string;
}

export interface CniEnv {
  command: CniCommand;
  containerID: string;
  netns: string;
  ifname: string;
  pod: PodIdentity;
}

const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

// Which variables each command needs (spec section 2).
const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  VERSION: [],
  STATUS: [],
  GC: [],
};

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The kernel's IFNAMSIZ (16) minus the terminating NUL. */
export const MAX_IFNAME_BYTES = 15;

/**
 * The kernel's rules for a new interface name (dev_valid_name in net/core/dev.c): 1–15 BYTES
 * (a 16-byte UTF-8 name is 8 characters), not "." or "..", and no '/', ':' or whitespace
 * (the kernel's isspace, applied to each BYTE: space, \t, \n, \v, \f, \r and 0xA0 — so a UTF-8
 * character with an 0xA0 byte, such as "à" (c3 a0), is refused by the kernel too).
 * Anything else ('#', quotes, non-ASCII) is a legal name, which is why no interface name may
 * ever go through a line parser such as `ip -batch` (see veth.ts).
 */
export function ifnameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) return 'is empty';
  if (bytes > MAX_IFNAME_BYTES) return `is ${bytes} bytes long; the kernel allows at most ${MAX_IFNAME_BYTES} bytes`;
  if (name === '.' || name === '..') return 'is not a valid interface name';
  if (/[/:\x20\t\n\v\f\r\0]/.test(name) || Buffer.from(name, 'utf8').includes(0xa0)) return "contains '/', ':' or whitespace";
  return undefined;
}

/** Parse CNI_ARGS ("K=V;K2=V2"). Unknown keys are accepted: runtimes add their own. */
export function parseCniArgs(text: string): PodIdentity {
  const pod: PodIdentity = {};
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new PodwireError('ENV_INVALID', `CNI_ARGS: "${pair}" is not a KEY=VALUE pair; use "K1=V1;K2=V2"`);
    }
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key === 'K8S_POD_NAMESPACE') pod.podNamespace = value;
    else if (key === 'K8S_POD_NAME') pod.podName = value;
    else if (key === 'K8S_POD_UID') pod.podUid = value;
    else if (key === 'K8S_POD_INFRA_CONTAINER_ID') pod.infraContainerId = value;
  }
  return pod;
}

/** The env object is always passed in: the agent serves requests whose env is not its own. */
export function readEnv(env: Readonly<Record<string, string | undefined>>): CniEnv {
  const command = env['CNI_COMMAND'] ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new PodwireError('ENV_INVALID', `CNI_COMMAND ${JSON.stringify(command)} is not one of ${COMMANDS.join(', ')}`);
  }
  const cmd = command as CniCommand;
  const missing = REQUIRED[cmd].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new PodwireError('ENV_INVALID', `required environment variables [${missing.join(',')}] missing for ${cmd}; the runtime must set them`);
  }
  const containerID = env['CNI_CONTAINERID'] ?? '';
  const ifname = env['CNI_IFNAME'] ?? '';
  const bad: string[] = [];
  if (containerID && !CONTAINER_ID.test(containerID)) {
    bad.push(`CNI_CONTAINERID ${JSON.stringify(containerID)} must start with a letter or digit and contain only letters, digits, '_', '.', '-'`);
  }
  // VERSION probes send placeholder names (podman uses "dummy"); only real commands are checked.
  const ifProblem = cmd === 'VERSION' || !ifname ? undefined : ifnameProblem(ifname);
  if (ifProblem) bad.push(`CNI_IFNAME ${JSON.stringify(ifname)} ${ifProblem}`);
  if (bad.length > 0) throw new PodwireError('ENV_INVALID', bad.join('; '));
  return {
    command: cmd,
    containerID,
    netns: env['CNI_NETNS'] ?? '',
    ifname,
    pod: cmd === 'VERSION' ? {} : parseCniArgs(env['CNI_ARGS'] ?? ''),
  };
}

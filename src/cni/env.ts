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

function ifnameProblem(name: string): string | undefined {
  if (name.length > 15) return 'is longer than 15 bytes';
  if (name === '.' || name === '..') return 'is not a valid interface name';
  if (/[/:\s]/.test(name)) return "contains '/', ':' or whitespace";
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

// CNI_NETNS checks shared by ADD and CHECK. Asynchronous on purpose: the path is the runtime's,
// and a stat of a path on a hung mount would otherwise freeze the agent's event loop, which
// serves every pod of the node (src/agent/cni-server.ts runs this core in-process).
import { stat, statfs } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { PodwireError } from '../errors/index.js';

/** NSFS_MAGIC (include/uapi/linux/magic.h): the file system of every namespace file. */
const NSFS_MAGIC = 0x6e736673;

function kindOf(mode: number): string {
  const t = mode & 0o170000;
  if (t === 0o100000) return 'a regular file';
  if (t === 0o040000) return 'a directory';
  if (t === 0o010000) return 'a FIFO';
  if (t === 0o140000) return 'a socket';
  if (t === 0o020000 || t === 0o060000) return 'a device node';
  return 'not a namespace';
}

/**
 * CNI_NETNS must be an absolute path to a network namespace other than the plugin's own.
 * Missing → code 3 (container unknown: the spec says the runtime then needs no cleanup).
 * Present but not a namespace (a regular file, a directory, a FIFO, …) → code 4: the runtime
 * passed an invalid CNI_NETNS, which the spec's code 4 ("invalid necessary environment
 * variables … the message must contain the names of invalid variables") describes exactly.
 */
export async function checkNetns(netns: string): Promise<void> {
  if (!isAbsolute(netns)) {
    // a relative value would also be read by iproute2 as a PID or a /run/netns name
    throw new PodwireError('ENV_INVALID', `CNI_NETNS ${JSON.stringify(netns)} must be an absolute path to a network namespace, e.g. /var/run/netns/cni-…`);
  }
  let st;
  let fsType: number;
  // our own namespace, looked at side by side with the runtime's path (one round of the pool)
  const self = stat('/proc/self/ns/net');
  self.catch(() => {});
  try {
    [st, { type: fsType }] = await Promise.all([stat(netns), statfs(netns)]);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PodwireError('CONTAINER_UNKNOWN', `CNI_NETNS ${netns} does not exist; the container's network namespace is gone`);
    }
    throw new PodwireError('ENV_INVALID', `CNI_NETNS ${netns} cannot be examined (${(e as Error).message}); pass the container's network namespace path`, { cause: e });
  }
  if (Number(fsType) !== NSFS_MAGIC) {
    throw new PodwireError('ENV_INVALID', `CNI_NETNS ${netns} is ${kindOf(st.mode)}, not a network namespace; pass the path of the container's network namespace (nsfs)`);
  }
  const own = await self;
  if (st.ino === own.ino && st.dev === own.dev) {
    throw new PodwireError('ENV_INVALID', `CNI_NETNS ${netns} is the plugin's own network namespace; pass the container's`);
  }
}

// Named network namespaces (/run/netns/NAME) for the lab and the tests. Names carry a random
// suffix so parallel tests never collide; `remove` is idempotent so cleanup paths can call it
// unconditionally.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { run } from '../exec/run.js';

export interface Netns {
  name: string;
  /** /run/netns/NAME — what CNI_NETNS and nsenter --net take. */
  path: string;
  /** Run a command inside this namespace. */
  exec(cmd: string, args: readonly string[], opts?: { input?: string; reject?: boolean; timeoutMs?: number }): ReturnType<typeof run>;
  remove(): Promise<void>;
}

export function uniqueName(prefix: string): string {
  // Interface names are limited to 15 bytes; keep names short enough to reuse as device names.
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

export async function createNetns(prefix = 'pw'): Promise<Netns> {
  const name = uniqueName(prefix);
  await run('ip', ['netns', 'add', name]);
  const path = `/run/netns/${name}`;
  await run('ip', ['link', 'set', 'lo', 'up'], { netns: path });
  return {
    name,
    path,
    exec: (cmd, args, opts = {}) => run(cmd, args, { ...opts, netns: path }),
    remove: async () => {
      if (existsSync(path)) await run('ip', ['netns', 'del', name], { reject: false });
    },
  };
}

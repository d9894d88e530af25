// DEL: best effort and idempotent. Works without prevResult and without the netns (the runtime
// may call it twice, or after the pod's namespace is gone). Order: stop forwarding to the pod
// (endpoint entry), remove the veth (its peer, the host route and the tc filter go with it),
// and release the address last, so the address is never handed out while still in use.
import { IpamStore } from '../ipam/store.js';
import type { NetConf } from './config.js';
import { removeEndpoint } from './endpoint.js';
import type { CniEnv } from './env.js';
import { hostVethName } from './names.js';
import { linkNames } from './procfs.js';
import { deleteLinks } from './veth.js';

export async function cmdDel(env: CniEnv, conf: NetConf): Promise<void> {
  const key = { containerID: env.containerID, ifname: env.ifname };
  const store = new IpamStore(conf.stateDir);
  // Only the store tells us the address: a prevResult's address may already belong to another
  // pod if this is a repeated DEL, and deleting by it would cut that pod off.
  const record = store.find(key);
  if (record) await removeEndpoint(conf.pinDir, record.ip);
  const host = hostVethName(env.containerID, env.ifname);
  if (linkNames().has(host)) await deleteLinks([host]);
  store.release(key);
}

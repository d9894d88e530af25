// DEL: best effort and idempotent. Works without prevResult and without the netns (the runtime
// may call it twice, or after the pod's namespace is gone). Removes the endpoint entry and the
// veth (its peer, the host route and the tcx link go with it) and then the link's pin, and
// releases the address last, so the address is never handed out while anything still points
// at it.
import { IpamStore } from '../ipam/store.js';
import type { NetConf } from './config.js';
import type { CniEnv } from './env.js';
import { hostVethName } from './names.js';
import { removeHostLinkPinsSync } from './pins.js';
import { removePoolPins, renameLinkPins } from './pool.js';
import { linkNames } from './procfs.js';
import { execWiring, type Wiring } from './wiring.js';

/** `w` as in cmdAdd. */
export async function cmdDel(env: CniEnv, conf: NetConf, w: Wiring = execWiring): Promise<void> {
  const key = { containerID: env.containerID, ifname: env.ifname };
  const store = new IpamStore(conf.stateDir);
  // Only the store tells us the address: a prevResult's address may already belong to another
  // pod if this is a repeated DEL, and deleting by it would cut that pod off.
  const record = store.find(key);
  const host = hostVethName(env.containerID, env.ifname);
  const exists = linkNames().has(host);
  // The warm pool (agent only) takes the pair back when it has room and the pod netns is still
  // there: no tcx uninstall and no unregister (two grace periods and a barrier); the move back out
  // of the pod netns still waits for one rcu_barrier().
  const pair = exists && env.netns && w.putInPool ? w.pool?.reserve(conf.pinDir) : undefined;
  if (pair) {
    let done = false;
    try {
      // endpoint entry first: traffic to the pod stops before its device changes hands
      if (record) {
        await w.removeEndpoint(conf.pinDir, record.ip);
        await w.removeBandwidth(conf.pinDir, record.ip);
      }
      try {
        renameLinkPins(conf.pinDir, host, pair.host);
        await w.putInPool!(pair, env.netns, env.ifname, host);
        done = true;
      } catch (e) {
        // the old way: delete whatever the pair is called now (the peer goes with it)
        process.stderr.write(`podwire: recycling ${host} into the veth pool failed, deleting it: ${(e as Error).message}\n`);
        await w.deleteLinks([host, pair.host]);
        removePoolPins(conf.pinDir, pair.host);
      }
    } finally {
      w.pool!.settle(pair, done);
    }
    removeHostLinkPinsSync(host, conf.pinDir);
    store.release(key);
    return;
  }
  // The two removals run side by side (veth deletion waits for an RCU grace period in the
  // kernel); whichever lands first, packets for the pod are dropped, never misdelivered,
  // because the address is still reserved until the release below.
  const settled = await Promise.allSettled([
    record ? w.removeEndpoint(conf.pinDir, record.ip).then(() => w.removeBandwidth(conf.pinDir, record.ip)) : undefined,
    exists ? w.deleteLinks([host]) : undefined,
  ]);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  // after the veth: unpinning a live link would detach from_pod while the pod still sends
  removeHostLinkPinsSync(host, conf.pinDir);
  store.release(key);
}

// ADD: address from the pool, veth pair into the pod, from-pod program on the host end,
// endpoint entry, result. Every step registers its undo first-in-last-out, so a failure at
// any point leaves nothing behind that this invocation created.
import { PodwireError } from '../errors/index.js';
import { IpamStore, type AttachmentKey } from '../ipam/store.js';
import type { NetConf } from './config.js';
import { isDatapathLoaded, notLoadedMessage } from './datapath.js';
import { endpointFlags, limitsFromPlan, planFromConfig } from '../maps/bandwidth.js';
import { installShapers } from './shaper.js';
import type { CniEnv } from './env.js';
import { faultPoint } from './fault.js';
import { hostVethName, randomMac } from './names.js';
import { checkNetns } from './netns.js';
import { removeHostLinkPinsSync } from './pins.js';
import { removePoolPins, renameLinkPins } from './pool.js';
import { enableForwarding, linkNames } from './procfs.js';
import { mergeResults, readResult, type CniResult } from './result.js';
import { POD_GATEWAY, type VethSpec } from './veth.js';
import { execWiring, type Wiring } from './wiring.js';

type Undo = () => unknown;

/** `w`: the agent passes its pw-wire helper; the exec'd plugin uses iproute2/pw-tcx/bpftool. */
export async function cmdAdd(env: CniEnv, conf: NetConf, w: Wiring = execWiring): Promise<CniResult> {
  if (!isDatapathLoaded(conf.pinDir)) throw new PodwireError('DATAPATH_NOT_LOADED', notLoadedMessage(conf.pinDir));
  await checkNetns(env.netns);
  const prev = conf.prevResult === undefined ? undefined : readResult(conf.prevResult);

  const key: AttachmentKey = { containerID: env.containerID, ifname: env.ifname };
  const host = hostVethName(env.containerID, env.ifname);
  if (linkNames().has(host)) {
    throw new PodwireError(
      'ENV_INVALID',
      `attachment ${env.containerID}/${env.ifname} already exists (host veth ${host}); the runtime must DEL it before adding it again`,
    );
  }

  const undo: Undo[] = [];
  try {
    // The pair does not need the pod's address: its creation (in the pw-wire helper, or an exec)
    // runs while the address is allocated here, and the /32 route follows with the pod side.
    const spec: VethSpec = {
      host,
      ifname: env.ifname,
      netns: env.netns,
      mtu: conf.mtu,
      hostMac: randomMac(),
      podMac: randomMac(),
      podIp: '',
    };
    // A warm pool pair (agent only): its tcx links are attached already; the pins follow the
    // attachment's name first, then the helper moves the peer in and renames the host end.
    const pair = w.takeFromPool ? w.pool?.take(conf.pinDir) : undefined;
    if (pair) {
      undo.push(async () => {
        await w.deleteLinks([host, pair.host]);
        removePoolPins(conf.pinDir, pair.host);
        removeHostLinkPinsSync(host, conf.pinDir);
      });
    }
    const vethDone = (
      pair
        ? Promise.resolve()
            .then(() => renameLinkPins(conf.pinDir, pair.host, host))
            .then(() => faultPoint('pool-pins'))
            .then(() => w.takeFromPool!(pair, spec))
        : w.createVeth(spec)
    ).then(
      (r) => ({ r }),
      (e: unknown) => ({ e }),
    );
    const store = new IpamStore(conf.stateDir);
    let allocated: ReturnType<IpamStore['allocate']> | undefined;
    let allocError: unknown;
    try {
      allocated = store.allocate(
        key,
        {
          netns: env.netns,
          ...(env.pod.podNamespace === undefined ? {} : { podNamespace: env.pod.podNamespace }),
          ...(env.pod.podName === undefined ? {} : { podName: env.pod.podName }),
          ...(env.pod.podUid === undefined ? {} : { podUid: env.pod.podUid }),
        },
        conf.podCIDR,
      );
    } catch (e) {
      allocError = e;
    }
    // A record left by an earlier, interrupted ADD for this attachment is the runtime's to DEL.
    if (allocated?.fresh) undo.push(() => store.release(key));
    const v = await vethDone;
    if ('e' in v) {
      // No answer (the pw-wire helper died or hung mid-request): the pair may exist. The host
      // name was free before this ADD, so whatever holds it now is ours.
      undo.push(() => w.deleteLinks([host]));
      throw v.e;
    }
    const created = v.r;
    if (!created.ok) {
      const { podNameTaken, pairExists, message } = created.failure;
      if (podNameTaken) {
        // Our host name was free a moment ago, so the clash is the pod-side name.
        throw new PodwireError('ENV_INVALID', `CNI_IFNAME ${env.ifname} already exists in CNI_NETNS ${env.netns}; choose another interface name`);
      }
      if (pairExists) undo.push(() => w.deleteLinks([host]));
      throw new PodwireError('IO_FAILED', `creating veth ${host} <-> ${env.ifname} failed: ${message}`);
    }
    undo.push(() => w.deleteLinks([host]));
    if (!allocated) throw allocError;
    const { record } = allocated;
    spec.podIp = record.ip;
    enableForwarding(host);
    if (pair) await faultPoint('pool-take');
    await faultPoint('veth');

    // Pod addressing, the tc attach and the endpoint entry are independent: run them side by
    // side, but wait for all before rolling back so nothing is still running while we undo.
    // Publishing the endpoint before the pod side is up is harmless: packets redirected to a
    // pod without its address yet are dropped by the pod's stack, as before ADD.
    // runtimeConfig.bandwidth: the limits go into the bw map before the endpoint's flags point there
    const plan = conf.bandwidth ? planFromConfig(conf.bandwidth, conf.mtu) : undefined;
    const limits = plan ? limitsFromPlan(record.ip, plan) : undefined;
    const flags = endpointFlags(limits);
    const endpoint = { ip: record.ip, ifindex: created.hostIfindex, podMac: spec.podMac, hostMac: spec.hostMac, flags, endpointId: record.endpointId };
    // Undo order (reversed below): endpoint, then the link pins (a pin keeps its tcx link alive
    // after the veth is gone, so deleting the veth alone would leak it), then the veth.
    undo.push(() => removeHostLinkPinsSync(host, conf.pinDir));
    undo.push(() => w.removeBandwidth(conf.pinDir, record.ip));
    undo.push(() => w.removeEndpoint(conf.pinDir, record.ip));
    const settled = await Promise.allSettled([
      w.routeToPod(host, record.ip),
      w.configurePod(spec)
        .then(() => (plan ? installShapers(env.netns, env.ifname, plan) : undefined))
        .then(() => faultPoint('pod')),
      (pair ? Promise.resolve() : w.attachHost(host, conf.pinDir)).then(() => faultPoint('attach')),
      (limits ? w.writeBandwidth(conf.pinDir, limits) : Promise.resolve())
        .then(() => w.writeEndpoint(conf.pinDir, endpoint))
        .then(() => faultPoint('endpoint')),
    ]);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    await faultPoint('wired');

    const ours: CniResult = {
      interfaces: [
        { name: host, mac: spec.hostMac, mtu: conf.mtu },
        { name: env.ifname, mac: spec.podMac, mtu: conf.mtu, sandbox: env.netns },
      ],
      ips: [{ address: `${record.ip}/32`, gateway: POD_GATEWAY, interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: POD_GATEWAY }],
      dns: {},
    };
    return prev ? mergeResults(prev, ours) : ours;
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (ue) {
        process.stderr.write(`podwire: rollback step failed: ${(ue as Error).message}\n`);
      }
    }
    throw e;
  }
}

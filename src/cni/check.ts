// CHECK: is the attachment still what ADD made? Expected interface and addresses come from
// prevResult (the spec requires consulting it); everything podwire owns outside the result —
// address reservation, host veth, tc program, endpoint entry — is checked too. Every
// difference is reported at once, so one CHECK tells the operator all that is wrong.
import { PodwireError } from '../errors/index.js';
import { IpamStore } from '../ipam/store.js';
import type { NetConf } from './config.js';
import { early, importAttachInfo, importMaps, isDatapathLoaded, notLoadedMessage } from './datapath.js';
import type { CniEnv } from './env.js';
import { hostVethName } from './names.js';
import { checkNetns } from './netns.js';
import { readResult } from './result.js';
import { inspectHostLink, inspectPod, POD_GATEWAY } from './veth.js';

export async function cmdCheck(env: CniEnv, conf: NetConf): Promise<void> {
  const maps = early(importMaps());
  const loader = early(importAttachInfo());
  if (!isDatapathLoaded(conf.pinDir)) throw new PodwireError('DATAPATH_NOT_LOADED', notLoadedMessage(conf.pinDir));
  await checkNetns(env.netns);

  const where = `${env.containerID}/${env.ifname}`;
  const record = new IpamStore(conf.stateDir).find({ containerID: env.containerID, ifname: env.ifname });
  if (!record) throw new PodwireError('CHECK_FAILED', `${where}: no address reservation in ${conf.stateDir}; DEL and ADD the pod again`);

  // Expected addresses of our interface: from prevResult when given, else from the store.
  let expected = [`${record.ip}/32`];
  if (conf.prevResult !== undefined) {
    const prev = readResult(conf.prevResult);
    const idx = prev.interfaces.findIndex((i) => i.name === env.ifname && i.sandbox === env.netns);
    if (idx < 0) throw new PodwireError('CHECK_FAILED', `${where}: prevResult lists no interface ${env.ifname} in sandbox ${env.netns}`);
    expected = prev.ips.filter((ip) => ip.interface === idx).map((ip) => ip.address);
    if (!expected.includes(`${record.ip}/32`)) {
      throw new PodwireError('CHECK_FAILED', `${where}: prevResult addresses [${expected.join(', ')}] do not include the reserved ${record.ip}/32`);
    }
  }

  const host = hostVethName(env.containerID, env.ifname);
  const { attachedProgramId, pinnedProgramId } = await loader();
  const [pod, hostLink, attached, pinned, mapsMod] = await Promise.all([
    inspectPod(env.netns, env.ifname),
    inspectHostLink(host),
    attachedProgramId(host).catch(() => undefined),
    pinnedProgramId(conf.pinDir),
    maps(),
  ]);
  const eps = mapsMod.openEndpoints(conf.pinDir);
  let ep;
  try {
    ep = eps.get(record.ip);
  } finally {
    eps.close();
  }

  const problems: string[] = [];
  if (!pod) {
    problems.push(`interface ${env.ifname} is missing in ${env.netns}`);
  } else {
    for (const a of expected) if (!pod.addresses.includes(a)) problems.push(`address ${a} is missing on ${env.ifname} (has [${pod.addresses.join(', ')}])`);
    if (!pod.up) problems.push(`${env.ifname} is down`);
    if (!pod.defaultViaGateway) problems.push(`default route via ${POD_GATEWAY} dev ${env.ifname} is missing`);
    if (!pod.gatewayNeighPermanent || pod.gatewayNeighMac !== hostLink?.mac) {
      problems.push(`permanent neighbour ${POD_GATEWAY} -> ${hostLink?.mac ?? 'host veth MAC'} is missing on ${env.ifname}`);
    }
  }
  if (!hostLink) {
    problems.push(`host veth ${host} is missing`);
  } else if (attached !== pinned) {
    problems.push(`host veth ${host} runs ${attached === undefined ? 'no program' : `program id ${attached}`} instead of the pinned from_pod (id ${pinned})`);
  }
  if (!ep) {
    problems.push(`endpoint map has no entry for ${record.ip}`);
  } else {
    if (hostLink && ep.ifindex !== hostLink.ifindex) problems.push(`endpoint ${record.ip} points at ifindex ${ep.ifindex}, host veth is ${hostLink.ifindex}`);
    if (hostLink && ep.hostMac !== hostLink.mac) problems.push(`endpoint ${record.ip} has host MAC ${ep.hostMac}, host veth has ${hostLink.mac}`);
    if (pod && ep.podMac !== pod.mac) problems.push(`endpoint ${record.ip} has pod MAC ${ep.podMac}, ${env.ifname} has ${pod.mac}`);
  }
  if (problems.length > 0) throw new PodwireError('CHECK_FAILED', `${where}: ${problems.join('; ')}`);
}

// GC (1.1.0): release every attachment the runtime no longer lists in
// cni.dev/valid-attachments — address, host veth, its tcx link pin, endpoint entry — plus debris no record
// explains (a podwire-named veth or an endpoint of podCIDR without an address record).
// Snapshot order matters: links and endpoints are read BEFORE the records, because a
// concurrent ADD makes its record first; anything in the earlier snapshots that belongs to a
// live ADD therefore has its record in the later one and is not mistaken for debris.
// Like DEL, GC keeps going after a failure and reports all failures at the end.
import { removeBandwidth } from './endpoint.js';
import { PodwireError, isPodwireError } from '../errors/index.js';
import { cidrContains, parseIpv4 } from '../ipam/cidr.js';
import { attachmentId, IpamStore, type AttachmentKey } from '../ipam/store.js';
import type { NetConf } from './config.js';
import { linkPinIfnames, removeLinkPins } from '../loader/attach.js';
import { importMaps } from './datapath.js';
import { hostVethName, isHostVethName } from './names.js';
import { linkNames } from './procfs.js';
import { deleteLinks } from './veth.js';

export async function cmdGc(conf: NetConf): Promise<void> {
  const valid = conf.validAttachments ?? [];
  const validIds = new Set(valid.map(attachmentId));
  const validHosts = new Set(valid.map((a) => hostVethName(a.containerID, a.ifname)));
  const failures: string[] = [];

  const links = [...linkNames()].filter(isHostVethName);
  const { openEndpoints } = await importMaps();
  let eps: ReturnType<typeof openEndpoints> | undefined;
  try {
    eps = openEndpoints(conf.pinDir);
  } catch (e) {
    if (!isPodwireError(e, 'DATAPATH_NOT_LOADED')) throw e;
  }
  try {
    const endpointIps = eps ? eps.list().map((e) => e.ip) : [];
    const store = new IpamStore(conf.stateDir);
    const records = store.list();

    const keep = new Set<string>(); // IPs that stay allocated
    const keepHosts = new Set(validHosts);
    const stale: { ip: string; key?: AttachmentKey }[] = [];
    for (const { ip, record } of records) {
      if (record && validIds.has(attachmentId(record))) {
        keep.add(ip);
        keepHosts.add(hostVethName(record.containerID, record.ifname));
      } else {
        stale.push(record ? { ip, key: { containerID: record.containerID, ifname: record.ifname } } : { ip });
      }
    }

    // 1. stop forwarding to what goes away
    const dropIps = new Set(stale.map((s) => s.ip));
    for (const ip of endpointIps) {
      const n = parseIpv4(ip);
      if (!keep.has(ip) && n !== undefined && cidrContains(conf.podCIDR, n)) dropIps.add(ip);
    }
    for (const ip of dropIps) {
      try {
        eps?.delete(ip);
        if (eps) await removeBandwidth(conf.pinDir, ip); // its limits (bw map) go with it
      } catch (e) {
        failures.push(`endpoint ${ip}: ${(e as Error).message}`);
      }
    }
    // 2. veths of stale records and podwire veths nobody owns
    const doomed = links.filter((l) => !keepHosts.has(l));
    try {
      await deleteLinks(doomed);
      // their tcx link pins, and pins left by podwire veths that vanished without a DEL
      // (a veth's pins are <veth> and <veth>@<hook>, one per attached hook)
      const ownerOf = (pin: string) => pin.split('@')[0] ?? pin;
      await removeLinkPins((await linkPinIfnames(conf.pinDir)).filter((l) => isHostVethName(ownerOf(l)) && !keepHosts.has(ownerOf(l))), conf.pinDir);
    } catch (e) {
      failures.push((e as Error).message);
    }
    // 3. addresses last
    for (const s of stale) {
      try {
        // By address first: one attachment may own several (see IpamStore), all of them stale.
        store.releaseIp(s.ip);
        if (s.key) store.release(s.key);
      } catch (e) {
        failures.push(`address ${s.ip}: ${(e as Error).message}`);
      }
    }
    try {
      store.sweep();
    } catch (e) {
      failures.push(`sweeping ${store.dir}: ${(e as Error).message}`);
    }
  } finally {
    eps?.close();
  }
  if (failures.length > 0) throw new PodwireError('IO_FAILED', `GC left some resources behind: ${failures.join('; ')}`);
}

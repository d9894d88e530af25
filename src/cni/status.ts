// STATUS (1.1.0): can we serve ADD right now? No datapath or no free address → code 50.
import { PodwireError } from '../errors/index.js';
import { hostRange } from '../ipam/cidr.js';
import { IpamStore } from '../ipam/store.js';
import type { NetConf } from './config.js';
import { isDatapathLoaded, notLoadedMessage } from './datapath.js';

export async function cmdStatus(conf: NetConf): Promise<void> {
  if (!isDatapathLoaded(conf.pinDir)) throw new PodwireError('DATAPATH_NOT_LOADED', notLoadedMessage(conf.pinDir));
  const { size } = hostRange(conf.podCIDR);
  const used = new IpamStore(conf.stateDir).countIn(conf.podCIDR);
  if (used >= size) {
    throw new PodwireError('PLUGIN_UNAVAILABLE', `podCIDR ${conf.podCIDR.text} is exhausted (${used} of ${size} addresses in use); delete pods or give the node a larger podCIDR`);
  }
}

// The agent's side of the XDP prefilter: with --prefilter on, write the failsafe list (the API
// server endpoint, the health port, the configured extras) and then attach xdp_prefilter to the
// uplink in the requested XDP mode; with it off, detach a prefilter an earlier run attached.
// The deny list itself (`podwire prefilter add|del`) lives in the pinned map and is never touched
// here, so it survives agent restarts and on/off switches.
import { lookup } from 'node:dns/promises';
import { xdpAttach, xdpDetach, type XdpStatus } from '../loader/xdp.js';
import { openFailsafe, formatFailsafe, type Failsafe } from '../maps/prefilter.js';
import { builtinFailsafe } from '../prefilter/failsafe.js';
import type { PrefilterMode } from './config.js';
import type { Logger } from './log.js';

/** The API server's IPv4 address and port from its URL (a host name is resolved once). */
export async function apiServerEndpoint(server: string): Promise<{ addr: string; port: number } | undefined> {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    return undefined;
  }
  const port = u.port ? Number(u.port) : u.protocol === 'http:' ? 80 : 443;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  try {
    const { address } = await lookup(host, { family: 4 });
    return { addr: address, port };
  } catch {
    return undefined;
  }
}

export async function applyPrefilter(o: {
  pinDir: string;
  uplink: string;
  mode: PrefilterMode;
  extraFailsafe: readonly Failsafe[];
  apiServer: string;
  healthPort: number;
  log: Logger;
  /** The uplink's namespace (default: the agent's own). */
  netns?: string;
}): Promise<XdpStatus | undefined> {
  const ns = o.netns === undefined ? {} : { netns: o.netns };
  if (o.mode === 'off') {
    if (await xdpDetach(o.uplink, ns)) o.log.info('XDP prefilter detached (--prefilter off)', { uplink: o.uplink });
    return undefined;
  }
  const api = await apiServerEndpoint(o.apiServer);
  if (!api) o.log.warn('prefilter: the API server address did not resolve to IPv4; list it with --prefilter-failsafe', { server: o.apiServer });
  const failsafe = [...builtinFailsafe({ apiServer: api, healthPort: o.healthPort }), ...o.extraFailsafe];
  const m = openFailsafe(o.pinDir);
  try {
    m.replace(failsafe); // before the attach: the program never runs without its failsafe list
  } finally {
    m.close();
  }
  const status = await xdpAttach(o.uplink, o.pinDir, o.mode, ns);
  o.log.info('XDP prefilter attached', { uplink: o.uplink, requested: o.mode, mode: status.mode, progId: status.progId, failsafe: failsafe.map(formatFailsafe) });
  return status;
}

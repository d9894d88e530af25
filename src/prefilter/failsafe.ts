// The prefilter's failsafe list: traffic that passes the XDP prefilter even when its source is
// listed, so a node can never cut itself off from the control plane. The agent always adds the
// API server (its address and port, as replies arrive from it) and its own health port; operators
// add more with --prefilter-failsafe. One text form for the flag, the CLI and the docs:
//   ADDR            every packet from ADDR
//   ADDR:PORT[/P]   packets from the remote endpoint ADDR:PORT (P = tcp, the default, or udp)
//   :PORT[/P]       packets to this node's PORT, from anyone
import { parseIpv4 } from '../ipam/cidr.js';
import type { Failsafe } from '../maps/prefilter.js';

export const FAILSAFE_SYNTAX = 'ADDR, ADDR:PORT[/tcp|udp] or :PORT[/tcp|udp]';

/** One entry, or why it is not one. */
export function parseFailsafe(text: string): Failsafe | { error: string } {
  const m = /^([0-9.]*)(?::([0-9]{1,5})(?:\/(tcp|udp))?)?$/.exec(text.trim());
  if (!m) return { error: `is not ${FAILSAFE_SYNTAX}` };
  const [, addr = '', portText, protoText] = m;
  if (addr !== '' && parseIpv4(addr) === undefined) return { error: `has an invalid IPv4 address "${addr}"` };
  if (portText === undefined) {
    if (addr === '') return { error: `is empty: use ${FAILSAFE_SYNTAX}` };
    return { kind: 'src-addr', addr };
  }
  const port = Number(portText);
  if (port < 1 || port > 65535) return { error: `has port ${portText}, outside 1-65535` };
  const proto = protoText === 'udp' ? 'udp' : 'tcp';
  return addr === '' ? { kind: 'dst-port', port, proto } : { kind: 'src-port', addr, port, proto };
}

/**
 * What the agent always lets through: the API server endpoint (when the kubeconfig names it by
 * an IPv4 address; a host name is resolved by the caller) and its health port.
 */
export function builtinFailsafe(o: { apiServer?: { addr: string; port: number } | undefined; healthPort: number }): Failsafe[] {
  const out: Failsafe[] = [];
  if (o.apiServer) out.push({ kind: 'src-port', addr: o.apiServer.addr, port: o.apiServer.port, proto: 'tcp' });
  if (o.healthPort > 0) out.push({ kind: 'dst-port', port: o.healthPort, proto: 'tcp' });
  return out;
}

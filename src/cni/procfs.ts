// Host-side facts read straight from /proc, without an exec. /proc/net and /proc/sys/net follow
// the network namespace of the reading process (unlike /sys/class/net, which shows the
// namespace sysfs was mounted in), so these are right when the runtime runs us in a node netns.
import { readFileSync, writeFileSync } from 'node:fs';
import { PodwireError } from '../errors/index.js';

/** Names of the links in this process's network namespace. */
export function linkNames(): Set<string> {
  const text = readFileSync('/proc/self/net/dev', 'utf8');
  const names = new Set<string>();
  // Two header lines, then "  name: counters…".
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon > 0) names.add(line.slice(0, colon).trim());
  }
  return names;
}

/**
 * net.ipv4.conf.<dev>.forwarding=1: bpf_fib_lookup() returns FWD_DISABLED for packets that
 * arrive on a device without it, and the datapath routes off-node traffic with it.
 */
export function enableForwarding(dev: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv4/conf/${dev}/forwarding`, '1');
  } catch (cause) {
    throw new PodwireError('IO_FAILED', `cannot enable IPv4 forwarding on ${dev}: ${(cause as Error).message}`, { cause });
  }
}

// Endpoint map writes on the ADD/DEL hot path, through bpftool instead of the bpf addon.
// Loading the addon (bpf package + libbpf .node through Node's CJS/ESM interop) costs ~30 ms
// of main-thread CPU per invocation here, an exec of bpftool ~3 ms that runs in parallel with
// the pod-side setup. The bytes come from src/maps/codec.ts (layouts generated from the
// datapath's BTF), so nothing about the layout is restated here. CHECK and GC, which are not
// per-pod hot paths, read the map through src/maps like every other tool.
import { encodeEndpoint, encodeEndpointKey, type Endpoint } from '../maps/codec.js';
import { encodeBandwidth, type BandwidthLimits } from '../maps/bandwidth.js';
import { pinPaths } from '../loader/pins.js';
import { join } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { BPFTOOL } from '../build/toolchain.mjs';
import { run } from '../exec/run.js';

function hex(b: Buffer): string[] {
  return [...b].map((x) => x.toString(16).padStart(2, '0'));
}

export async function writeEndpoint(pinDir: string, ep: Endpoint): Promise<void> {
  const map = pinPaths(pinDir).maps.endpoints;
  const args = ['map', 'update', 'pinned', map, 'key', 'hex', ...hex(encodeEndpointKey(ep.ip)), 'value', 'hex', ...hex(encodeEndpoint(ep)), 'any'];
  const r = await run(BPFTOOL, args, { reject: false });
  if (r.exitCode !== 0) {
    throw new PodwireError('IO_FAILED', `writing endpoint ${ep.ip} to ${map} failed: ${r.stderr.trim() || `bpftool exit ${r.exitCode}`}`);
  }
}

/** Remove an endpoint entry; absent entries and an absent map are success (DEL is idempotent). */
export async function removeEndpoint(pinDir: string, ip: string): Promise<void> {
  const map = pinPaths(pinDir).maps.endpoints;
  const r = await run(BPFTOOL, ['map', 'delete', 'pinned', map, 'key', 'hex', ...hex(encodeEndpointKey(ip))], { reject: false });
  if (r.exitCode === 0) return;
  if (/No such file or directory|not found/i.test(r.stderr)) return;
  throw new PodwireError('IO_FAILED', `removing endpoint ${ip} from ${map} failed: ${r.stderr.trim() || `bpftool exit ${r.exitCode}`}`);
}

/** The pod's bandwidth limits (bw map); written before the endpoint whose flags point at them. */
export async function writeBandwidth(pinDir: string, l: BandwidthLimits): Promise<void> {
  const map = join(pinPaths(pinDir).mapsDir, 'bw');
  const args = ['map', 'update', 'pinned', map, 'key', 'hex', ...hex(encodeEndpointKey(l.ip)), 'value', 'hex', ...hex(encodeBandwidth(l)), 'any'];
  const r = await run(BPFTOOL, args, { reject: false });
  if (r.exitCode !== 0) {
    throw new PodwireError('IO_FAILED', `writing bandwidth limits of ${l.ip} to ${map} failed: ${r.stderr.trim() || `bpftool exit ${r.exitCode}`}`);
  }
}

/** Remove a pod's limits; absent entries and an absent map are success. */
export async function removeBandwidth(pinDir: string, ip: string): Promise<void> {
  const map = join(pinPaths(pinDir).mapsDir, 'bw');
  const r = await run(BPFTOOL, ['map', 'delete', 'pinned', map, 'key', 'hex', ...hex(encodeEndpointKey(ip))], { reject: false });
  if (r.exitCode === 0) return;
  if (/No such file or directory|not found/i.test(r.stderr)) return;
  throw new PodwireError('IO_FAILED', `removing bandwidth limits of ${ip} from ${map} failed: ${r.stderr.trim() || `bpftool exit ${r.exitCode}`}`);
}

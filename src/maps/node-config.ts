// Typed access to the pinned node_cfg map (ARRAY[1]): the node facts the datapath needs at run
// time (mode, node IP, uplink/VXLAN ifindexes, VNI). Written by src/hostnet's setupNode, so a
// changed uplink or mode takes effect without recompiling the programs.
import { RawMap } from 'bpf';
import { PodwireError } from '../errors/index.js';
import { ipv4Bytes, readU32, writeU32 } from './codec.js';
import { enums, maps, structs } from './generated/layouts.js';
import { openPinnedMap } from './open.js';

export type DatapathMode = 'native' | 'vxlan';
/** vxlan mode: encapsulation in the programs (node_cfg flag VXLAN_BPF) or through the device. */
export type VxlanDatapathKind = 'bpf' | 'device';

export interface NodeConfig {
  /** 'none' only when read back from a node nobody configured yet (remote traffic goes to the stack). */
  mode: DatapathMode | 'none';
  /** This node's underlay IP. */
  nodeIp: string;
  uplinkIfindex: number;
  /** 0 in native mode. */
  vxlanIfindex: number;
  /** VXLAN network id (24 bits); 0 in native mode. */
  vni: number;
  /** vxlan mode: who encapsulates (absent = device, the only datapath before the flag existed). */
  vxlanDatapath?: VxlanDatapathKind;
}

export interface NodeConfigMap {
  get(): NodeConfig;
  set(c: NodeConfig): void;
  close(): void;
}

const V = structs.pw_node_cfg;
const MODE = enums.pw_mode.values;
// PW_NODE_F_VXLAN_BPF (the generator strips the prefix the values share)
const NODE_F = enums.pw_node_flags.values;

export function encodeNodeConfig(c: NodeConfig): Buffer {
  const mode = c.mode === 'native' ? MODE.NATIVE : c.mode === 'vxlan' ? MODE.VXLAN : c.mode === 'none' ? MODE.NONE : undefined;
  if (mode === undefined) throw new PodwireError('CONFIG_INVALID', `node mode ${JSON.stringify(c.mode)}: use 'native' or 'vxlan'`);
  if (!Number.isInteger(c.vni) || c.vni < 0 || c.vni > 0xffffff) {
    throw new PodwireError('CONFIG_INVALID', `VXLAN id (vni) ${c.vni} is not a 24-bit number: use 1..16777215`);
  }
  if (c.mode === 'vxlan' && c.vxlanIfindex <= 0) throw new PodwireError('CONFIG_INVALID', 'vxlan mode needs the VXLAN device ifindex (vxlanIfindex)');
  if (c.vxlanDatapath === 'bpf' && c.mode !== 'vxlan') throw new PodwireError('CONFIG_INVALID', `the BPF VXLAN datapath needs vxlan mode (mode is ${c.mode}): drop vxlanDatapath or set mode vxlan`);
  const v = Buffer.alloc(V.size);
  writeU32(v, V.fields.mode.offset, mode);
  ipv4Bytes(c.nodeIp).copy(v, V.fields.node_ip.offset);
  writeU32(v, V.fields.uplink_ifindex.offset, c.uplinkIfindex);
  writeU32(v, V.fields.vxlan_ifindex.offset, c.vxlanIfindex);
  writeU32(v, V.fields.vni.offset, c.vni);
  writeU32(v, V.fields.flags.offset, c.vxlanDatapath === 'bpf' ? NODE_F.BPF : 0);
  return v;
}

export function decodeNodeConfig(v: Buffer): NodeConfig {
  const m = readU32(v, V.fields.mode.offset);
  const mode = m === MODE.NATIVE ? 'native' : m === MODE.VXLAN ? 'vxlan' : m === MODE.NONE ? 'none' : undefined;
  if (!mode) throw new PodwireError('MAP_LAYOUT_MISMATCH', `node_cfg has unknown mode ${m}`);
  const o = V.fields.node_ip.offset;
  return {
    mode,
    nodeIp: [...v.subarray(o, o + 4)].join('.'),
    uplinkIfindex: readU32(v, V.fields.uplink_ifindex.offset),
    vxlanIfindex: readU32(v, V.fields.vxlan_ifindex.offset),
    vni: readU32(v, V.fields.vni.offset),
    ...(mode === 'vxlan' ? { vxlanDatapath: readU32(v, V.fields.flags.offset) & NODE_F.BPF ? 'bpf' : 'device' } : {}),
  };
}

export function openNodeConfig(pinDir: string): NodeConfigMap {
  const ref = openPinnedMap(pinDir, 'node_cfg');
  const map = new RawMap(ref);
  const key = Buffer.alloc(maps.node_cfg.keySize); // index 0, the only entry
  return {
    get() {
      const v = map.get(key);
      if (v === undefined) throw new PodwireError('IO_FAILED', `node_cfg under ${pinDir} has no entry 0`);
      return decodeNodeConfig(v);
    },
    set(c) {
      map.set(key, encodeNodeConfig(c));
    },
    close() {
      ref.close();
    },
  };
}

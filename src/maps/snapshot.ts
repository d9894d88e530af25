// `podwire maps dump --format msgpack`: every pinned map of a node, raw, plus what an offline
// `podwire trace --snapshot` needs to interpret it (map definitions, the layouts hash of the
// build that took it, CPU count for per-CPU values, link and pod names). msgpackr is imported
// only when encoding/decoding so the CNI path, which imports src/maps, never loads it.
import { createHash } from 'node:crypto';
import { PodwireError } from '../errors/index.js';
import { enums, maps as mapLayouts, structs } from './generated/layouts.js';
import { possibleCpus } from './open.js';
import { isIterableType, mapTypeName, openRawPinned, pinnedMapNames } from './pinned.js';

export const SNAPSHOT_FORMAT = 'podwire-maps-snapshot';
export const SNAPSHOT_VERSION = 1;

export interface SnapshotMap {
  type: string;
  keySize: number;
  /** One element's value size (one CPU's share for per-CPU maps). */
  valueSize: number;
  maxEntries: number;
  /** Per-CPU maps store every CPU's value back to back, each padded to 8 bytes. */
  percpu: boolean;
  entries: Array<[Uint8Array, Uint8Array]>;
}

export interface SnapshotLink {
  ifindex: number;
  name: string;
  mac?: string;
  /** rtnetlink kind (veth, vxlan, …) when the link has one. */
  kind?: string;
}

export interface SnapshotPod {
  ip: string;
  namespace?: string;
  name?: string;
  containerId?: string;
}

export interface MapSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  createdAt: string;
  pinDir: string;
  node?: string;
  /** sha256 of the generated layouts of the build that took the snapshot. */
  layoutsHash: string;
  possibleCpus: number;
  maps: Record<string, SnapshotMap>;
  links: SnapshotLink[];
  pods: SnapshotPod[];
}

let hash: string | undefined;

/** Identifies this build's binary layouts (structs, map definitions, enums). */
export function layoutsHash(): string {
  hash ??= createHash('sha256').update(JSON.stringify({ structs, maps: mapLayouts, enums })).digest('hex').slice(0, 16);
  return hash;
}

/** Reads every pinned map under pinDir (maps that cannot be walked are kept with no entries). */
export function snapshotMaps(pinDir: string, extra: { node?: string; links?: SnapshotLink[]; pods?: SnapshotPod[] } = {}): MapSnapshot {
  const maps: Record<string, SnapshotMap> = {};
  for (const name of pinnedMapNames(pinDir)) {
    const m = openRawPinned(pinDir, name);
    try {
      const entries: Array<[Uint8Array, Uint8Array]> = [];
      if (isIterableType(m.ref.type)) for (const [k, v] of m.map.entries()) entries.push([Buffer.from(k), Buffer.from(v)]);
      maps[name] = {
        type: mapTypeName(m.ref.type),
        keySize: m.ref.keySize,
        valueSize: m.elemSize,
        maxEntries: m.ref.maxEntries,
        percpu: m.percpu,
        entries,
      };
    } finally {
      m.close();
    }
  }
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    createdAt: new Date().toISOString(),
    pinDir,
    ...(extra.node === undefined ? {} : { node: extra.node }),
    layoutsHash: layoutsHash(),
    possibleCpus: possibleCpus(),
    maps,
    links: extra.links ?? [],
    pods: extra.pods ?? [],
  };
}

export async function encodeSnapshot(snap: MapSnapshot): Promise<Buffer> {
  const { Packr } = await import('msgpackr');
  // plain msgpack (no msgpackr records) so any msgpack reader can open a snapshot
  return new Packr({ useRecords: false }).pack(snap);
}

/**
 * Decodes and checks a snapshot: the format and version, and that it was taken by a build with
 * these exact layouts (otherwise offsets would be read wrong, silently).
 */
export async function decodeSnapshot(bytes: Uint8Array, source = 'snapshot'): Promise<MapSnapshot> {
  const { Unpackr } = await import('msgpackr');
  let snap: Partial<MapSnapshot>;
  try {
    snap = new Unpackr({ useRecords: false }).unpack(bytes) as Partial<MapSnapshot>;
  } catch (cause) {
    throw new PodwireError('DECODE_FAILED', `${source} is not msgpack: write one with \`podwire maps dump --format msgpack > FILE\``, { cause });
  }
  if (snap?.format !== SNAPSHOT_FORMAT || typeof snap.maps !== 'object') {
    throw new PodwireError('DECODE_FAILED', `${source} is not a podwire map snapshot: write one with \`podwire maps dump --format msgpack > FILE\``);
  }
  if (snap.version !== SNAPSHOT_VERSION) {
    throw new PodwireError('DECODE_FAILED', `${source} has snapshot version ${String(snap.version)}, this podwire reads version ${SNAPSHOT_VERSION}: take it again with this podwire`);
  }
  if (snap.layoutsHash !== layoutsHash()) {
    throw new PodwireError(
      'MAP_LAYOUT_MISMATCH',
      `${source} was taken by a podwire build with other map layouts (hash ${String(snap.layoutsHash)}, this build ${layoutsHash()}): ` +
        'trace it with the podwire version that took it, or take a new snapshot with this one',
    );
  }
  return snap as MapSnapshot;
}

// `podwire maps list`: every map pinned under a node's pin directory with its kernel-reported
// definition, how many entries it holds, and whether it matches this build's generated layout.
import { maps as mapLayouts } from './generated/layouts.js';
import { isIterableType, mapTypeName, openRawPinned, pinnedMapNames } from './pinned.js';

export interface PinnedMapInfo {
  name: string;
  path: string;
  /** Kernel map id. */
  id: number | undefined;
  type: string;
  keySize: number;
  /** Bytes per element (per CPU for per-CPU maps), as the map was created. */
  valueSize: number;
  /** Elements present (for arrays every index exists, so this equals maxEntries); null when the type cannot be walked. */
  entries: number | null;
  maxEntries: number;
  /** "ok": matches this build; "mismatch": same name, other definition; "unknown": not in this build. */
  layout: 'ok' | 'mismatch' | 'unknown';
}

function layoutStatus(name: string, type: string, keySize: number, valueSize: number): PinnedMapInfo['layout'] {
  const want = (mapLayouts as Record<string, { type: string; keySize: number; valueSize: number }>)[name];
  if (!want) return 'unknown';
  return want.type === type && want.keySize === keySize && want.valueSize === valueSize ? 'ok' : 'mismatch';
}

export function listPinnedMaps(pinDir: string): PinnedMapInfo[] {
  const out: PinnedMapInfo[] = [];
  for (const name of pinnedMapNames(pinDir)) {
    const m = openRawPinned(pinDir, name);
    try {
      const type = mapTypeName(m.ref.type);
      let entries: number | null = null;
      if (isIterableType(m.ref.type)) {
        entries = 0;
        for (const _ of m.map.keys()) entries++;
      }
      out.push({
        name,
        path: m.path,
        id: m.ref.id,
        type,
        keySize: m.ref.keySize,
        valueSize: m.elemSize,
        entries,
        maxEntries: m.ref.maxEntries,
        layout: layoutStatus(name, type, m.ref.keySize, m.elemSize),
      });
    } finally {
      m.close();
    }
  }
  return out;
}

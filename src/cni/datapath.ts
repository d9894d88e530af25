// The datapath modules, imported by file rather than through the loader/maps index modules:
// those re-export the compiler and load steps, which pull in execa and the build machinery.
// The hot paths (ADD, DEL, STATUS) need only the pin check and the attach; CHECK and GC load
// the endpoints map (native bpf addon) lazily.
export { isDatapathLoaded } from '../loader/status.js';

export type MapsModule = typeof import('../maps/endpoints.js');
export type AttachInfoModule = typeof import('../loader/attach.js');

export function importMaps(): Promise<MapsModule> {
  return import('../maps/endpoints.js');
}

/** attachedProgramId/pinnedProgramId: CHECK only. */
export function importAttachInfo(): Promise<AttachInfoModule> {
  return import('../loader/attach.js');
}

/** Start an import now, await it later, without an unhandled rejection in between. */
export function early<T>(p: Promise<T>): () => Promise<T> {
  p.catch(() => {});
  return () => p;
}

export function notLoadedMessage(pinDir: string): string {
  return `podwire datapath is not loaded (no pinned programs/maps under ${pinDir}); start the podwire agent on this node or run \`podwire datapath load --pin-dir ${pinDir}\``;
}

// The datapath loader: compile, link, load, pin, attach. Small files per concern.
export { DEFAULT_PIN_DIR, pinPaths, linkPin, type PinPaths, type ProgName } from './pins.js';
export { isDatapathLoaded } from './status.js';
export { loadDatapath, unloadDatapath, type LoadOptions, type LoadResult } from './datapath.js';
export {
  attachProgram,
  detachProgram,
  attachFromPod,
  attachFromPodMany,
  detachFromPod,
  detachAllLinks,
  updateLinks,
  linkPinIfnames,
  attachedProgramId,
  pinnedProgramId,
  linkNames,
  type NetnsOption,
} from './attach.js';
export { tcxAttach, tcxDetach, tcxInfo, tcxQuery, tcxUpdateFromDir, type TcxAttachResult, type TcxLinkInfo, type TcxQueryResult } from './tcx.js';
export { compileSources, type Defines } from './compile.js';
export { prebuiltObject, type Prebuilt } from './prebuilt.js';
export { linkObjects } from './link.js';
export { loadAndPin, loadError } from './load.js';
export { datapathSourceDir, packageRoot } from './source.js';
export { LAYOUT_GENERATION, layoutRecordPin, readLayoutRecord, writeLayoutRecord, recordFor, type LayoutRecord } from './layout-record.js';
export { migrateMap, type MigrationResult } from './migrate.js';
export { xdpAttach, xdpDetach, xdpStatus, PREFILTER_PROG, type XdpMode, type XdpModeRequest, type XdpStatus } from './xdp.js';

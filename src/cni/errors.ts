// PodwireError codes → CNI error codes, in one place, and the error JSON the runtime reads
// from stdout.
import { isPodwireError, type ErrorCode } from '../errors/index.js';

const CNI_CODES: Record<ErrorCode, number> = {
  VERSION_INCOMPATIBLE: 1,
  CONFIG_UNSUPPORTED: 2,
  CONTAINER_UNKNOWN: 3,
  ENV_INVALID: 4,
  IO_FAILED: 5,
  EXEC_FAILED: 5,
  CHECK_FAILED: 5,
  DECODE_FAILED: 6,
  CONFIG_INVALID: 7,
  TRY_AGAIN: 11,
  DATAPATH_NOT_LOADED: 50,
  PLUGIN_UNAVAILABLE: 50,
  // The pins exist but were made by another build: ADD cannot work until they are reloaded.
  MAP_LAYOUT_MISMATCH: 50,
  DATAPATH_NEWER: 50,
  VERIFIER_REJECTED: 5,
  COMPILE_FAILED: 5,
  USAGE: 4,
  // the agent's caches only; never an answer to the runtime
  RECORD_INVALID: 999,
};

/** What libcni's skel uses for failures that are not one of the spec's errors. */
export const CNI_INTERNAL = 999;

export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export function toCniError(e: unknown, cniVersion: string): CniErrorJson {
  if (isPodwireError(e)) {
    const out: CniErrorJson = { cniVersion, code: CNI_CODES[e.code], msg: e.message };
    if (e.details) out.details = e.details;
    return out;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return { cniVersion, code: CNI_INTERNAL, msg: `podwire internal error: ${err.message}`, ...(err.stack ? { details: err.stack } : {}) };
}

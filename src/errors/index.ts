// One base error for the whole project: a stable string `code` that callers switch on
// (the CNI layer maps it to the spec's numeric codes), a human `message` that says what to
// fix, an optional `cause`, and optional `details` (e.g. the verifier log).

export type ErrorCode =
  | 'CONFIG_INVALID'        // a config key has a bad value (CNI code 7)
  | 'CONFIG_UNSUPPORTED'    // a field we do not support (CNI code 2)
  | 'DECODE_FAILED'         // stdin is not valid JSON (CNI code 6)
  | 'VERSION_INCOMPATIBLE'  // cniVersion we cannot serve (CNI code 1)
  | 'ENV_INVALID'           // a CNI_* environment variable is missing or wrong (CNI code 4)
  | 'CONTAINER_UNKNOWN'     // the netns / container does not exist (CNI code 3)
  | 'IO_FAILED'             // a kernel or file operation failed (CNI code 5)
  | 'TRY_AGAIN'             // transient: pool exhausted, lock busy (CNI code 11)
  | 'DATAPATH_NOT_LOADED'   // pinned programs/maps missing (CNI code 50)
  | 'PLUGIN_UNAVAILABLE'    // cannot serve ADD for another reason, e.g. pool exhausted (CNI code 50)
  | 'VERIFIER_REJECTED'     // the kernel verifier refused a program; details = log
  | 'COMPILE_FAILED'        // clang / linker failed; details = compiler output
  | 'EXEC_FAILED'           // an external command failed
  | 'MAP_LAYOUT_MISMATCH'   // a pinned map's key/value size differs from this build
  | 'DATAPATH_NEWER'        // the pinned maps were written by a newer podwire (layout record) and do not fit this build
  | 'CHECK_FAILED'          // CNI CHECK found a difference (CNI code 5 unless stated)
  | 'RECORD_INVALID'       // a cache was handed a record that breaks its contract (a programming error)
  | 'USAGE';                // bad CLI usage

export class PodwireError extends Error {
  readonly code: ErrorCode;
  readonly details?: string;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PodwireError';
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
  }
}

export function isPodwireError(e: unknown, code?: ErrorCode): e is PodwireError {
  return e instanceof PodwireError && (code === undefined || e.code === code);
}

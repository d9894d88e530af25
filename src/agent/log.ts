// JSON-lines logging to stderr: one object per line with ts, level, msg and flat fields, so a
// DaemonSet's logs can be filtered with jq and a test can read what the agent did.
export type Level = 'debug' | 'info' | 'warn' | 'error';

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds these fields to every line. */
  with(fields: Fields): Logger;
}

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Errors do not survive JSON.stringify; keep what an operator needs. */
function plain(v: unknown): unknown {
  if (v instanceof Error) {
    const e = v as Error & { code?: unknown; statusCode?: unknown };
    return { name: e.name, message: e.message, ...(e.code === undefined ? {} : { code: e.code }), ...(e.statusCode === undefined ? {} : { statusCode: e.statusCode }) };
  }
  return v;
}

export function createLogger(opts: { level?: Level; write?: (line: string) => void; fields?: Fields } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const base = opts.fields ?? {};
  const emit = (level: Level, msg: string, fields: Fields = {}) => {
    if (ORDER[level] < min) return;
    const out: Fields = { ts: new Date().toISOString(), level, msg, ...base };
    for (const [k, v] of Object.entries(fields)) out[k] = plain(v);
    write(`${JSON.stringify(out)}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (fields) => createLogger({ ...opts, fields: { ...base, ...fields } }),
  };
}

// The one way podwire runs external tools (ip, tc, bpftool, clang, nsenter). Every failure
// becomes a PodwireError carrying the command line and its stderr, so callers never parse
// execa's error shapes themselves.
import { execa } from 'execa';
import { PodwireError, type ErrorCode } from '../errors/index.js';

export interface RunOptions {
  /** Run inside this network namespace (a path such as /run/netns/x or /proc/PID/ns/net). */
  netns?: string;
  input?: string;
  /** Error code to raise on failure (default EXEC_FAILED). */
  errorCode?: ErrorCode;
  /** Do not throw on a non-zero exit; return the result instead. */
  reject?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  // nsenter --net keeps /sys and bpffs as they are (ip netns exec would remount /sys and hide pins).
  const [file, argv] = opts.netns ? ['nsenter', [`--net=${opts.netns}`, '--', cmd, ...args]] : [cmd, [...args]];
  const r = await execa(file, argv, {
    reject: false,
    input: opts.input,
    timeout: opts.timeoutMs ?? 60_000,
    stripFinalNewline: true,
  });
  const res: RunResult = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1 };
  if (res.exitCode !== 0 && opts.reject !== false) {
    const where = opts.netns ? ` (in netns ${opts.netns})` : '';
    const why = res.stderr.trim() || res.stdout.trim() || (r.timedOut ? 'timed out' : `exit ${res.exitCode}`);
    throw new PodwireError(opts.errorCode ?? 'EXEC_FAILED', `${cmd} ${args.join(' ')}${where} failed: ${why}`, {
      details: res.stderr,
    });
  }
  return res;
}

/** Run a JSON-printing command (ip -j, tc -j, bpftool -j) and parse its output. */
export async function runJson<T = unknown>(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<T> {
  const r = await run(cmd, args, opts);
  const text = r.stdout.trim();
  if (text === '') return [] as unknown as T;
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new PodwireError('EXEC_FAILED', `${cmd} ${args.join(' ')} printed output that is not JSON`, { cause, details: text });
  }
}

// The one way podwire runs external tools (ip, tc, bpftool, pw-tcx, clang, nsenter). Every
// failure becomes a PodwireError carrying the command line and its stderr. Built on
// node:child_process rather than execa: this runs on the CNI ADD path, where execa's import
// alone (tens of milliseconds) would cost more than the commands; a fixed argv, optional stdin,
// collected output and a timeout are all we need. (The lab's long-lived processes use execa.)
import { spawn } from 'node:child_process';
import { PodwireError, type ErrorCode } from '../errors/index.js';

export interface RunOptions {
  /** Run inside this network namespace (a path such as /run/netns/x or /proc/PID/ns/net). */
  netns?: string | undefined;
  /** stdin: a string, or chunks written as the child reads them (a large batch is never one string). */
  input?: string | Iterable<string> | undefined;
  /** Error code to raise on failure (default EXEC_FAILED). */
  errorCode?: ErrorCode;
  /** Do not throw on a non-zero exit; return the result instead. */
  reject?: boolean | undefined;
  timeoutMs?: number | undefined;
  /** The child's whole environment (default: this process's). */
  env?: Record<string, string> | undefined;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const stripFinalNewline = (s: string): string => (s.endsWith('\n') ? s.slice(0, s.endsWith('\r\n') ? -2 : -1) : s);

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  // nsenter --net keeps /sys and bpffs as they are (ip netns exec would remount /sys and hide pins).
  const [file, argv] = opts.netns ? ['nsenter', [`--net=${opts.netns}`, '--', cmd, ...args]] : [cmd, [...args]];
  const where = opts.netns ? ` (in netns ${opts.netns})` : '';
  const res = await new Promise<RunResult & { timedOut: boolean }>((resolve, reject) => {
    const child = spawn(file, argv, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, ...(opts.env ? { env: opts.env } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'ENOENT' ? ` (${file} is not installed or not in PATH)` : '';
      const message = `cannot run ${cmd}${where}${hint}: ${e.message}`;
      // reject: false promises a result, never an exception: a command that cannot start failed
      if (opts.reject === false) resolve({ stdout: '', stderr: message, exitCode: -1, timedOut: false });
      else reject(new PodwireError(opts.errorCode ?? 'EXEC_FAILED', message, { cause: e }));
    });
    child.on('close', (code, signal) => {
      resolve({
        stdout: stripFinalNewline(Buffer.concat(out).toString('utf8')),
        stderr: stripFinalNewline(Buffer.concat(err).toString('utf8')),
        exitCode: code ?? -1,
        timedOut: signal === 'SIGTERM' && code === null,
      });
    });
    if (opts.input !== undefined) {
      // A child that exits early closes its stdin; the close event reports the real failure.
      child.stdin?.on('error', () => {});
      if (typeof opts.input === 'string') child.stdin?.end(opts.input);
      else if (child.stdin) void pump(child.stdin, opts.input);
    }
  });
  if (res.exitCode !== 0 && opts.reject !== false) {
    const why = res.stderr.trim() || res.stdout.trim() || (res.timedOut ? 'timed out' : `exit ${res.exitCode}`);
    throw new PodwireError(opts.errorCode ?? 'EXEC_FAILED', `${cmd} ${args.join(' ')}${where} failed: ${why}`, {
      details: res.stderr,
    });
  }
  return { stdout: res.stdout, stderr: res.stderr, exitCode: res.exitCode };
}

/** Write chunks to a child's stdin as it drains, then close it; stops when the pipe goes away. */
async function pump(stdin: NodeJS.WritableStream & { destroyed?: boolean; writableEnded?: boolean }, chunks: Iterable<string>): Promise<void> {
  let gone = false;
  stdin.once('close', () => (gone = true));
  stdin.once('error', () => (gone = true));
  for (const c of chunks) {
    if (gone || stdin.destroyed) return;
    if (!stdin.write(c)) {
      await new Promise<void>((res) => {
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          stdin.off('error', done);
          res();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
        stdin.on('error', done);
      });
    }
  }
  if (!gone && !stdin.destroyed) stdin.end();
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

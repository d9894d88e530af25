// A minimal process runner for the CNI path. The project's general runner (src/exec/run.ts)
// uses execa, whose import alone costs tens of milliseconds — paid on every pod ADD/DEL.
// Here node:child_process is enough: fixed argv, optional stdin, collected output.
import { spawn } from 'node:child_process';
import { PodwireError, type ErrorCode } from '../errors/index.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  input?: string;
  /** Run inside this network namespace (nsenter --net keeps /sys and bpffs untouched). */
  netns?: string;
}

export function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, argv] = opts.netns ? ['nsenter', [`--net=${opts.netns}`, '--', cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'ENOENT' ? ` (${file} is not installed or not in PATH)` : '';
      reject(new PodwireError('EXEC_FAILED', `cannot run ${file}${hint}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 });
    });
    if (opts.input !== undefined) {
      // A child that exits early closes its stdin; the close event reports the real failure.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}

/** Run and throw a PodwireError naming `what` when the command fails. */
export async function execOk(
  cmd: string,
  args: readonly string[],
  what: string,
  opts: ExecOptions & { errorCode?: ErrorCode } = {},
): Promise<ExecResult> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) {
    const why = r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`;
    throw new PodwireError(opts.errorCode ?? 'IO_FAILED', `${what}: ${why}`, { details: `${cmd} ${args.join(' ')}${opts.netns ? ` (in ${opts.netns})` : ''}` });
  }
  return r;
}

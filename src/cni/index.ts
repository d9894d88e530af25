// The CNI plugin role (spec 1.1.0): env → stdin → version → config → command. Every failure
// becomes the spec's error JSON on stdout and a non-zero exit. Only node built-ins and our own
// small modules load here; the datapath modules are imported by the commands that need them.
import { checkPinDirFs, decodeConfig, parseNetConf } from './config.js';
import { toCniError } from './errors.js';
import { readEnv } from './env.js';
import { shapeResult } from './result.js';
import { LATEST_VERSION, requestVersion, SUPPORTED_VERSIONS } from './version.js';
import { readSync } from 'node:fs';
import { PodwireError } from '../errors/index.js';
import type { Wiring } from './wiring.js';

async function readStdin(): Promise<string> {
  // Synchronous reads of fd 0 first: a stream on stdin would load net/stream machinery that
  // VERSION (sent by podman before every command) otherwise never needs.
  if (process.stdin.isTTY) return ''; // run by hand: nobody will send a config, do not wait
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(64 * 1024);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(0, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EOF') break;
        if (code !== 'EAGAIN') throw e;
        // The parent handed us a non-blocking pipe: wait for the rest without spinning.
        for await (const c of process.stdin) chunks.push(c as Buffer);
        break;
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
  } catch (cause) {
    throw new PodwireError('IO_FAILED', `cannot read the network configuration from stdin: ${(cause as Error).message}`, { cause });
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What one CNI invocation produced: the exit status, stdout (the runtime acts on it), a log line. */
export interface CniOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** One CNI request: the environment (only CNI_* keys matter) and stdin's text. */
export interface CniRequest {
  env: Readonly<Record<string, string | undefined>>;
  stdin: string;
}

const line = (obj: unknown): string => `${JSON.stringify(obj)}\n`;

/** VERSION answers with the version it was asked in, or the latest when it was not asked. */
function versionReply(text: string): Record<string, unknown> {
  let asked: unknown;
  try {
    asked = (JSON.parse(text) as Record<string, unknown> | null)?.['cniVersion'];
  } catch {
    asked = undefined;
  }
  return { cniVersion: typeof asked === 'string' ? asked : LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/**
 * The plugin itself, free of process state: it reads nothing from process.env or stdin and
 * writes nothing, so the same code serves the exec'd binary (cniMain) and the agent's socket
 * (src/agent/cni-server.ts), where many requests run at once in one process.
 */
/** How ADD and DEL do their kernel steps (default: exec'd tools; the agent passes its pw-wire helper). */
export interface RunCniOptions {
  wiring?: Wiring;
}

export async function runCni(req: CniRequest, opts: RunCniOptions = {}): Promise<CniOutcome> {
  let version = LATEST_VERSION;
  try {
    const env = readEnv(req.env);
    const text = req.stdin;
    if (env.command === 'VERSION') return { exitCode: 0, stdout: line(versionReply(text)), stderr: '' };
    const raw = decodeConfig(text);
    version = requestVersion(raw, env.command);
    const conf = parseNetConf(raw, env.command);
    // Commands that use the pins need them on a bpffs. DEL and GC only remove, and must work on
    // a node whose bpffs is gone (the runtime cannot clean up otherwise).
    if (env.command === 'ADD' || env.command === 'CHECK' || env.command === 'STATUS') await checkPinDirFs(conf.pinDir);
    let stdout = '';
    switch (env.command) {
      case 'ADD': {
        const { cmdAdd } = await import('./add.js');
        stdout = line(shapeResult(await cmdAdd(env, conf, opts.wiring), version));
        break;
      }
      case 'DEL': {
        const { cmdDel } = await import('./del.js');
        await cmdDel(env, conf, opts.wiring);
        break;
      }
      case 'CHECK': {
        const { cmdCheck } = await import('./check.js');
        await cmdCheck(env, conf);
        break;
      }
      case 'GC': {
        const { cmdGc } = await import('./gc.js');
        await cmdGc(conf);
        break;
      }
      case 'STATUS': {
        const { cmdStatus } = await import('./status.js');
        await cmdStatus(conf);
        break;
      }
    }
    return { exitCode: 0, stdout, stderr: '' };
  } catch (e) {
    const err = toCniError(e, version);
    // One line for the runtime's log; the JSON on stdout is what it acts on.
    return { exitCode: 1, stdout: line(err), stderr: `podwire: CNI error ${err.code}: ${err.msg}\n` };
  }
}

/** The exec'd plugin: process.env + stdin in, stdout/stderr out, the exit code returned. */
export async function cniMain(): Promise<number> {
  let stdin: string;
  try {
    stdin = await readStdin();
  } catch (e) {
    // A bad environment is reported ahead of an unreadable stdin, as the runtime expects.
    try {
      readEnv(process.env);
    } catch {
      return emit(await runCni({ env: process.env, stdin: '' }));
    }
    return emit({ exitCode: 1, ...errorOut(e) });
  }
  return emit(await runCni({ env: process.env, stdin }));
}

function errorOut(e: unknown): { stdout: string; stderr: string } {
  const err = toCniError(e, LATEST_VERSION);
  return { stdout: line(err), stderr: `podwire: CNI error ${err.code}: ${err.msg}\n` };
}

function emit(out: CniOutcome): number {
  if (out.stdout) process.stdout.write(out.stdout);
  if (out.stderr) process.stderr.write(out.stderr);
  return out.exitCode;
}

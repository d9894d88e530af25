// The listener process: build/bin/pw-monitor (bpf/tools/pw-monitor.c) opens the gate, reads the
// ring buffer and prints `ready`, then one `e …` line per event. Its stdin is a pipe from this
// process: when this process dies (even by SIGKILL) the pipe closes and pw-monitor closes the gate
// and exits; should pw-monitor itself be SIGKILLed, the gate's lease runs out (bpf/lib/monitor.h).
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import { monitorHelper } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';
import { parseEventLine, type RawEvent } from './event.js';

export interface ListenerOptions {
  pinDir: string;
  /** Bitmask of 1 << enum pw_monitor_type. */
  types: number;
  /** TRACE: one in N non-drop verdicts per CPU (0: none). */
  sample: number;
  /** Events per CPU per second. */
  rate: number;
  /** Gate lease; pw-monitor renews it every quarter. */
  leaseMs?: number;
}

const EXIT_BUSY = 4;

export class Listener {
  readonly child: ChildProcess;
  /** Resolves once the gate is open; rejects if pw-monitor fails first. */
  readonly ready: Promise<void>;
  /** Resolves with pw-monitor's exit code. */
  readonly exited: Promise<number>;
  private stderr = '';

  constructor(o: ListenerOptions, onEvent: (e: RawEvent) => void) {
    const args = ['--pin-dir', o.pinDir, '--types', String(o.types), '--sample', String(o.sample), '--rate', String(o.rate)];
    if (o.leaseMs !== undefined) args.push('--lease-ms', String(o.leaseMs));
    this.child = spawn(monitorHelper(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => {}); // EPIPE when pw-monitor is already gone: exited says why
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    let markReady: () => void = () => {};
    let failReady: (e: Error) => void = () => {};
    this.ready = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    this.ready.catch(() => {});
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      if (line === 'ready') return markReady();
      const e = parseEventLine(line);
      if (e) onEvent(e);
    });
    this.exited = new Promise<number>((resolve) => {
      this.child.on('error', (e) => {
        failReady(new PodwireError('EXEC_FAILED', `cannot run ${monitorHelper()}: ${e.message} (run \`npm run build\`)`, { cause: e }));
        resolve(-1);
      });
      this.child.on('close', (code, signal) => {
        const rc = code ?? (signal ? 128 + ((constants.signals as Record<string, number>)[signal] ?? 0) : -1);
        const why = this.stderr.trim() || `exit ${code ?? signal}`;
        failReady(new PodwireError(rc === EXIT_BUSY ? 'TRY_AGAIN' : 'EXEC_FAILED', `pw-monitor: ${why.replace(/^pw-monitor: /, '')}`));
        resolve(rc);
      });
    });
  }

  /** Closes the gate (pw-monitor writes lease 0 on EOF of its stdin) and waits for it to exit. */
  async stop(): Promise<number> {
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGTERM'), 3000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }
}

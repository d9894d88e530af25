// The agent's one pw-wire helper process (bpf/tools/pw-wire.c): started on the first request,
// fed framed requests on stdin, answering in order on stdout. It serves CNI ADD/DEL's kernel
// steps (veth, pod addressing in the pod netns, tcx attach, map writes, link deletion) without
// an exec per step. The helper dying mid-request fails that request (and every queued one) with
// an IO_FAILED error naming the op, never a hang: each request has a deadline after which the
// helper is killed; the next request starts a new one.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { PodwireError } from '../errors/index.js';
import { decodeReplies, encodeRequest, type Field, type WireOp, type WireReply } from './protocol.js';

/** A request not answered within this is a hung helper: it is killed and the request fails. */
export const WIRE_TIMEOUT_MS = 10_000;

interface Pending {
  proc: ChildProcessWithoutNullStreams;
  what: string;
  resolve: (r: WireReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface WireHelperOptions {
  /** Path of the pw-wire executable. */
  bin: string;
  timeoutMs?: number;
}

export class WireHelper {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private stderr = '';
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  /** Helper processes started so far (a restart after a crash counts). */
  starts = 0;

  constructor(private readonly o: WireHelperOptions) {}

  /** PID of the running helper, if one runs (tests kill it to prove the restart). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Send one request; resolves with the helper's answer (err = errno, 0 when done). */
  request(op: WireOp, fields: readonly Field[], what: string): Promise<WireReply> {
    if (this.closed) return Promise.reject(new PodwireError('IO_FAILED', `${what}: the pw-wire helper is closed (agent stopping)`));
    const proc = this.proc ?? this.start();
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff_fff0) + 1;
    const frame = encodeRequest(id, op, fields);
    return new Promise<WireReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PodwireError('IO_FAILED', `${what}: the pw-wire helper did not answer within ${this.o.timeoutMs ?? WIRE_TIMEOUT_MS} ms; it was killed and is restarted on the next request`));
        // the next request starts a new helper at once, even while this one is still dying
        // (a process stuck in the kernel exits only when its system call returns)
        if (this.proc === proc) this.proc = undefined;
        this.kill(proc);
      }, this.o.timeoutMs ?? WIRE_TIMEOUT_MS);
      this.pending.set(id, { proc, what, resolve, reject, timer });
      proc.stdin.write(frame);
    });
  }

  /** Stop the helper (it exits when its stdin closes); pending requests fail. */
  close(): void {
    this.closed = true;
    if (this.proc) {
      this.proc.stdin.end();
      const p = this.proc;
      // a helper stuck in the kernel does not read its stdin: bounded
      setTimeout(() => this.kill(p), 2000).unref();
    }
  }

  private kill(p: ChildProcessWithoutNullStreams): void {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }

  private start(): ChildProcessWithoutNullStreams {
    const p = spawn(this.o.bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = p;
    this.buf = Buffer.alloc(0);
    this.stderr = '';
    this.starts++;
    // the helper must not keep a stopping agent alive; an in-flight request has its own timer
    p.unref();
    for (const s of [p.stdin, p.stdout, p.stderr] as Array<Readable | Writable>) (s as unknown as { unref?: () => void }).unref?.();
    p.stdin.on('error', () => {}); // a dead helper: its exit event fails the requests
    p.stdout.on('data', (c: Buffer) => this.onData(p, c));
    p.stderr.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString('utf8')).slice(-2000);
    });
    p.on('error', (e) => this.onGone(p, `cannot run ${this.o.bin}: ${e.message}`));
    p.on('exit', (code, signal) => this.onGone(p, signal ? `killed by ${signal}` : `exited with status ${code}`));
    return p;
  }

  private onData(p: ChildProcessWithoutNullStreams, c: Buffer): void {
    if (this.proc !== p) return; // a helper given up on: its requests fail on its exit
    let replies: WireReply[];
    try {
      ({ replies, rest: this.buf } = decodeReplies(Buffer.concat([this.buf, c])));
    } catch (e) {
      this.kill(p);
      this.onGone(p, `garbled answer (${(e as Error).message})`);
      return;
    }
    for (const r of replies) {
      const q = this.pending.get(r.id);
      if (!q) continue; // timed out already
      this.pending.delete(r.id);
      clearTimeout(q.timer);
      q.resolve(r);
    }
  }

  private onGone(p: ChildProcessWithoutNullStreams, why: string): void {
    if (this.proc === p) this.proc = undefined;
    const tail = this.stderr.trim();
    for (const [id, q] of this.pending) {
      if (q.proc !== p) continue;
      this.pending.delete(id);
      clearTimeout(q.timer);
      q.reject(new PodwireError('IO_FAILED', `${q.what}: the pw-wire helper ${why}${tail ? ` (${tail})` : ''}; it is restarted on the next request`));
    }
  }
}

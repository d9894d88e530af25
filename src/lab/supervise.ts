// The node's agent under supervision, as a DaemonSet's pod is under kubelet: the lab kubelet
// starts `podwire agent` (inside the node namespace it runs in), and when the agent dies it starts
// it again after a capped exponential backoff (reset once a run lasted a minute), counting
// restarts in the lab state file (`lab status` shows them). An agent already running when the
// kubelet starts (a kubelet restart) is adopted, not duplicated. SIGUSR1 to the kubelet restarts
// a dead agent at once (`Lab.startAgent`).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { podwireBin } from '../assets/index.js';
import { Backoff } from '../kube/backoff.js';
import { readLabState, updateLabState } from './state.js';

export interface Supervisor {
  /** Skip the backoff wait: start a dead agent now. */
  restartNow(): void;
  stop(): void;
}

/** The process exists (signal 0). */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function superviseAgent(o: { nodeName: string; labState: string; argv: string[]; logFile: string; log: (msg: string, f?: Record<string, unknown>) => void }): Supervisor {
  const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000, jitter: 0.2 });
  let stopped = false;
  let pid: number | undefined;
  let startedAt = 0;
  let wake: (() => void) | undefined;
  let now = false;

  const start = async (restart: boolean) => {
    const fd = openSync(o.logFile, 'a');
    const env = { ...process.env };
    delete env['NODE_EXTRA_CA_CERTS'];
    try {
      const child = spawn(podwireBin(), ['agent', ...o.argv], { detached: true, stdio: ['ignore', fd, fd], env });
      child.unref();
      pid = child.pid;
    } finally {
      closeSync(fd);
    }
    startedAt = Date.now();
    await updateLabState(o.labState, (s) => {
      const n = s.nodes.find((x) => x.name === o.nodeName);
      if (!n) return;
      n.agentPid = pid;
      if (restart) n.agentRestarts = (n.agentRestarts ?? 0) + 1;
    });
    o.log(restart ? 'agent restarted' : 'agent started', { pid, restarts: backoff.attempts });
  };

  const loop = async () => {
    const me = (await readLabState(o.labState)).nodes.find((n) => n.name === o.nodeName);
    if (alive(me?.agentPid)) pid = me!.agentPid; // adopt
    else await start(Boolean(me?.agentPid));
    while (!stopped) {
      await new Promise<void>((r) => setTimeout(r, 250));
      if (stopped || alive(pid)) continue;
      if (Date.now() - startedAt > 60_000) backoff.reset();
      const delay = backoff.next();
      o.log('agent exited; restarting after backoff', { pid, delayMs: delay });
      await new Promise<void>((r) => {
        wake = r;
        if (now) r();
        setTimeout(r, delay);
      });
      wake = undefined;
      now = false;
      if (!stopped) await start(true).catch((e: unknown) => o.log('agent restart failed', { error: (e as Error).message }));
    }
  };
  void loop().catch((e: unknown) => o.log('agent supervisor failed', { error: (e as Error).message }));
  return {
    restartNow() {
      if (alive(pid)) return;
      now = true;
      wake?.();
    },
    stop() {
      stopped = true;
      wake?.();
    },
  };
}

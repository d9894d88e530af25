// A long-running ping between two pods for the soak: one echo request every intervalS, each
// reply or timeout printed with its wall-clock time (ping -D -O), so every lost sequence number
// can be placed on the timeline next to the agent restarts. Ended by its own PID; read after
// 'close' (after 'exit' the last output may still be in the pipe).
import { spawn, type ChildProcess } from 'node:child_process';

export interface PingLoss {
  seq: number;
  /** Wall-clock ms when ping gave up waiting for this sequence number. */
  at: number;
}

export interface PingStats {
  label: string;
  dst: string;
  sent: number;
  received: number;
  lost: PingLoss[];
  /** ping's own output when it printed no summary (it failed) */
  error?: string;
}

export interface Pinger {
  readonly label: string;
  /** Stop (SIGINT: ping prints its summary) and return what it saw. */
  stop(): Promise<PingStats>;
}

export function startPinger(label: string, netnsPath: string, dst: string, intervalS = 0.2): Pinger {
  const child: ChildProcess = spawn('nsenter', [`--net=${netnsPath}`, '--', 'ping', '-n', '-D', '-O', '-W', '1', '-i', String(intervalS), dst], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    label,
    async stop(): Promise<PingStats> {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGINT');
      await exited;
      const replied = new Set<number>();
      const noAnswer = new Map<number, number>();
      for (const line of out.split('\n')) {
        const m = /^\[(\d+\.\d+)\] (?:(\d+) bytes from .*icmp_seq=(\d+)|no answer yet for icmp_seq=(\d+))/.exec(line);
        if (!m) continue;
        if (m[3] !== undefined) replied.add(Number(m[3]));
        else noAnswer.set(Number(m[4]), Math.round(Number(m[1]) * 1000));
      }
      const s = /(\d+) packets transmitted, (\d+) received/.exec(out);
      const lost = [...noAnswer.entries()].filter(([seq]) => !replied.has(seq)).map(([seq, at]) => ({ seq, at }));
      return { label, dst, sent: s ? Number(s[1]) : 0, received: s ? Number(s[2]) : 0, lost, ...(s ? {} : { error: out.slice(-500) }) };
    },
  };
}

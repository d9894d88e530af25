// Many `lab serve` requests from one namespace at once: one short-lived node process opens every
// TCP connection (or sends every UDP request) in parallel, each with its own timeout, and returns
// the answers in order. The NetworkPolicy matrix runs one of these per source pod.
import { run } from '../exec/run.js';
import type { ProbeAnswer } from './probe.js';

const CLIENT = `
const net = require('node:net');
const dgram = require('node:dgram');
const [timeoutMs, targets] = [Number(process.argv[1]), JSON.parse(process.argv[2])];
function tcp(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = '';
    const t = setTimeout(() => { s.destroy(); resolve({ error: 'timeout' }); }, timeoutMs);
    s.on('data', (d) => { buf += d; });
    s.on('end', () => { clearTimeout(t); resolve({ line: buf.trim() }); });
    s.on('error', (e) => { clearTimeout(t); resolve({ error: e.code || String(e) }); });
  });
}
function udp(host, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve({ error: 'timeout' }); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve({ line: String(m).trim() }); });
    s.on('error', (e) => { clearTimeout(t); s.close(); resolve({ error: e.code || String(e) }); });
    s.send('q', port, host);
  });
}
Promise.all(targets.map(([proto, host, port]) => (proto === 'udp' ? udp : tcp)(host, port))).then((out) => process.stdout.write(JSON.stringify(out)));
`;

export interface ProbeTarget {
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
}

/** Every target probed in parallel from one namespace; an answer per target, in order. */
export async function probeMany(fromNetns: string, targets: readonly ProbeTarget[], timeoutMs = 1000): Promise<ProbeAnswer[]> {
  if (!targets.length) return [];
  const r = await run(process.execPath, ['-e', CLIENT, String(timeoutMs), JSON.stringify(targets.map((t) => [t.proto, t.host, t.port]))], {
    netns: fromNetns,
    timeoutMs: timeoutMs + 30_000,
    reject: false,
  });
  if (r.exitCode !== 0 || !r.stdout.startsWith('[')) {
    const error = `probe failed (exit ${r.exitCode}): ${r.stderr.slice(0, 300)}`;
    return targets.map(() => ({ error }));
  }
  return (JSON.parse(r.stdout) as ProbeAnswer[]).map((a) => {
    const m = a.line ? /^(\S+) (\S+):(\d+)$/.exec(a.line) : null;
    return m ? { ...a, backend: m[1], clientIp: m[2] } : a;
  });
}

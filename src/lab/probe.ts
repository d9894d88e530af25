// The client side of `lab serve`: from a namespace, open TCP connections (or send UDP
// datagrams) to an address and collect the line each one got back — `<namespace>/<name>
// <client-ip>:<client-port>` — so a test sees which backend answered and what source it saw.
// One short-lived node process per call runs all attempts (bounded count, per-attempt timeout).
import { run } from '../exec/run.js';

const CLIENT = `
const net = require('node:net');
const dgram = require('node:dgram');
const [proto, host, port, count, timeoutMs] = process.argv.slice(1);
function tcp() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) });
    let buf = '';
    const t = setTimeout(() => { s.destroy(); resolve({ error: 'timeout' }); }, Number(timeoutMs));
    s.on('data', (d) => { buf += d; });
    s.on('end', () => { clearTimeout(t); resolve({ line: buf.trim() }); });
    s.on('error', (e) => { clearTimeout(t); resolve({ error: e.code || String(e) }); });
  });
}
function udp() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve({ error: 'timeout' }); }, Number(timeoutMs));
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve({ line: String(m).trim() }); });
    s.on('error', (e) => { clearTimeout(t); s.close(); resolve({ error: e.code || String(e) }); });
    s.send('q', Number(port), host);
  });
}
(async () => {
  const out = [];
  for (let i = 0; i < Number(count); i++) out.push(await (proto === 'udp' ? udp() : tcp()));
  process.stdout.write(JSON.stringify(out));
})();
`;

export interface ProbeAnswer {
  /** The server's line: "<namespace>/<name> <client-ip>:<client-port>". */
  line?: string;
  error?: string;
  /** Parsed from line. */
  backend?: string;
  clientIp?: string;
}

export async function probe(fromNetns: string, proto: 'tcp' | 'udp', host: string, port: number, opts: { count?: number; timeoutMs?: number } = {}): Promise<ProbeAnswer[]> {
  const count = opts.count ?? 1;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const r = await run(process.execPath, ['-e', CLIENT, proto, host, String(port), String(count), String(timeoutMs)], {
    netns: fromNetns,
    timeoutMs: count * timeoutMs + 20_000,
    reject: false,
  });
  if (r.exitCode !== 0 || !r.stdout.startsWith('[')) return [{ error: `probe failed (exit ${r.exitCode}): ${r.stderr.slice(0, 300)}` }];
  return (JSON.parse(r.stdout) as ProbeAnswer[]).map((a) => {
    const m = a.line ? /^(\S+) (\S+):(\d+)$/.exec(a.line) : null;
    return m ? { ...a, backend: m[1], clientIp: m[2] } : a;
  });
}

/** One attempt; a readable failure for test messages. */
export async function ask(fromNetns: string, proto: 'tcp' | 'udp', host: string, port: number): Promise<ProbeAnswer> {
  return (await probe(fromNetns, proto, host, port))[0]!;
}

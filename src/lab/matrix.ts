// The connectivity matrix: ping and TCP from every party to every other, checking that each
// TCP server saw the client's own address (no NAT). Shared by the demo and the tests.
import { ping, startTcpEcho, tcpProbe, type TcpEchoServer } from './traffic.js';

export interface Party {
  name: string;
  netnsPath: string;
  ip: string;
}

export interface Cell {
  from: string;
  to: string;
  pingOk: boolean;
  rttMs?: number;
  tcpOk: boolean;
  peerSeen?: string;
  /** ping and TCP worked and the server saw the client's own address. */
  ok: boolean;
  detail: string;
}

export async function connectivityMatrix(parties: Party[], opts: { port?: number; pings?: number; pairs?: Array<[string, string]> } = {}): Promise<Cell[]> {
  const port = opts.port ?? 7070;
  const servers: TcpEchoServer[] = [];
  const cells: Cell[] = [];
  try {
    for (const p of parties) servers.push(await startTcpEcho(p.netnsPath, p.ip, port));
    const byName = new Map(parties.map((p) => [p.name, p]));
    const pairs = opts.pairs?.map(([a, b]) => [byName.get(a)!, byName.get(b)!] as const) ?? parties.flatMap((a) => parties.filter((b) => b !== a).map((b) => [a, b] as const));
    for (const [a, b] of pairs) {
      const pr = await ping(a.netnsPath, b.ip, { count: opts.pings ?? 2, intervalS: 0.2 });
      const tr = await tcpProbe(a.netnsPath, b.ip, port);
      const ok = pr.ok && tr.ok && tr.peerSeen === a.ip;
      cells.push({
        from: a.name,
        to: b.name,
        pingOk: pr.ok,
        rttMs: pr.rttAvgMs,
        tcpOk: tr.ok,
        peerSeen: tr.peerSeen,
        ok,
        detail: ok ? '' : `ping ${pr.ok ? 'ok' : 'FAILED'}; tcp ${tr.ok ? `saw ${tr.peerSeen}` : `FAILED ${tr.error ?? ''}`}`,
      });
    }
    return cells;
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}

export function formatMatrix(parties: Party[], cells: Cell[]): string {
  const w = Math.max(10, ...parties.map((p) => p.name.length + 2));
  const lines = [`${'from \\ to'.padEnd(w)}${parties.map((p) => p.name.padEnd(w)).join('')}`];
  for (const a of parties) {
    let line = a.name.padEnd(w);
    for (const b of parties) {
      const c = cells.find((x) => x.from === a.name && x.to === b.name);
      line += (a === b ? '-' : !c ? '' : c.ok ? `${c.rttMs?.toFixed(2) ?? '?'}ms` : 'FAIL').padEnd(w);
    }
    lines.push(line);
  }
  return lines.join('\n');
}

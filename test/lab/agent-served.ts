// Who answered a CNI request: the agent logs one "cni request served" line per answer
// (src/agent/cni-server.ts); the shim's fallback (podwire-full) answers without one. Lab and
// runtime tests read the node's agent log to prove their pods were wired by the agent.
import { existsSync, readFileSync } from 'node:fs';

export interface ServedRequest {
  command?: string;
  containerId?: string;
  ifname?: string;
  exitCode?: number;
}

export function servedRequests(agentLog: string): ServedRequest[] {
  if (!existsSync(agentLog)) throw new Error(`agent log ${agentLog} does not exist`);
  const out: ServedRequest[] = [];
  for (const line of readFileSync(agentLog, 'utf8').split('\n')) {
    if (!line.startsWith('{') || !line.includes('cni request served')) continue;
    const l = JSON.parse(line) as ServedRequest & { msg?: string };
    if (l.msg === 'cni request served') out.push({ command: l.command, containerId: l.containerId, ifname: l.ifname, exitCode: l.exitCode });
  }
  return out;
}

/** The agent's answers for one container: [command, exitCode] in order. */
export function servedFor(agentLog: string, containerId: string): Array<[string | undefined, number | undefined]> {
  return servedRequests(agentLog)
    .filter((r) => r.containerId === containerId)
    .map((r) => [r.command, r.exitCode]);
}

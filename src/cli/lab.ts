// `podwire lab …`: a local multi-node cluster on one machine (see src/lab/cluster.ts).
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';
import { registerLabAccess } from './lab-access.js';
import { registerLabKubeProxy } from './lab-kube-proxy.js';
import { registerLabKubelet } from './lab-kubelet.js';

interface CommonOpts {
  state?: string;
}

export function registerLab(program: Command): Command {
  const lab = program.command('lab').description('local multi-node lab: nodes are network namespaces on an underlay');

  lab
    .command('up')
    .description('create nodes, the API server, one agent per node, and pods')
    .option('--nodes <n>', 'number of nodes', '2')
    .option('--pods-per-node <m>', 'pods to create on every node', '2')
    .option('--mode <mode>', 'cross-node mode: native | vxlan', 'native')
    .option('--vxlan-datapath <kind>', 'vxlan mode: bpf | device (default: the agent\'s)')
    .option('--proxy-mode <mode>', 'lab kube-proxy per node: iptables | nftables | none', 'iptables')
    .option('--name <name>', 'lab name, 1..12 of [a-z0-9] (default: random)')
    .option('--state <path>', 'lab state file (default /run/podwire/lab.json or $PODWIRE_LAB_STATE)')
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (o: CommonOpts & { nodes: string; podsPerNode: string; mode: string; vxlanDatapath?: string; proxyMode: string; name?: string; output: string }) => {
      const { Lab } = await import('../lab/cluster.js');
      const mode = parseMode(o.mode);
      const proxyMode = parseProxyMode(o.proxyMode);
      const l = await Lab.up({
        proxyMode,
        nodes: parseCount('--nodes', o.nodes, 1),
        podsPerNode: parseCount('--pods-per-node', o.podsPerNode, 0),
        mode,
        ...(o.vxlanDatapath === undefined ? {} : { vxlanDatapath: parseVxlanDatapath(o.vxlanDatapath) }),
        name: o.name,
        statePath: o.state,
        log: o.output === 'json' ? undefined : (line) => process.stdout.write(`${line}\n`),
      });
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(statusView(l.state), null, 2)}\n`);
      else {
        process.stdout.write(`lab ${l.state.name} is up (${mode}, kube-proxy ${proxyMode}); \`podwire lab status\` shows it, \`podwire lab down\` removes it\n`);
        process.stdout.write(`kubectl: \`podwire lab kubectl get nodes\` or KUBECONFIG=${l.state.access?.kubeconfig} kubectl …\n`);
      }
    });

  lab
    .command('status')
    .description('API server, nodes and pods of the running lab')
    .option('--state <path>', 'lab state file')
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (o: CommonOpts & { output: string }) => {
      const { Lab, alive } = await import('../lab/cluster.js');
      const l = await Lab.attach(o.state);
      const view = statusView(l.state, alive);
      if (o.output === 'json') {
        process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
        return;
      }
      const out = [
        `lab ${view.name} (${view.mode}, kube-proxy ${view.proxyMode}), API server ${view.apiServer.url} (pid ${view.apiServer.pid ?? '-'}, ${view.apiServer.running ? 'running' : 'DOWN'})`,
        `kubeconfig ${view.kubeconfig ?? '-'}`,
        '',
        'NODE      UNDERLAY IP     PODCIDR          AGENT PID  RESTARTS  NETNS / PIN DIR',
      ];
      for (const n of view.nodes) {
        out.push(`${n.name.padEnd(10)}${n.underlayIp.padEnd(16)}${n.podCIDR.padEnd(17)}${String(n.agentPid ?? '-').padEnd(6)}${n.agentRunning ? '     ' : ' ✗   '}${String(n.agentRestarts).padEnd(10)}${n.netns}  ${n.pinDir}`);
      }
      out.push('', 'METRICS (curl from the node\'s netns or any namespace on the underlay)');
      for (const n of view.nodes) out.push(`${n.name.padEnd(10)}${n.metricsUrl ?? '-'}`);
      out.push('', 'NAMESPACE/POD                 NODE      IP              NETNS');
      for (const p of view.pods) out.push(`${`${p.namespace}/${p.name}`.padEnd(30)}${p.node.padEnd(10)}${p.ip.padEnd(16)}${p.netns}${p.hostNetwork ? ' (hostNetwork)' : ''}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });

  lab
    .command('down')
    .description('stop the lab and remove every namespace, device, pin and process it made')
    .option('--state <path>', 'lab state file')
    .action(async (o: CommonOpts) => {
      const { Lab } = await import('../lab/cluster.js');
      const l = await Lab.attach(o.state);
      await l.down();
      process.stdout.write(`lab ${l.state.name} removed\n`);
    });

  const pod = lab.command('pod').description('create and remove lab pods through the CNI path');
  pod
    .command('add <node> <name>')
    .description('create a Pod bound to NODE and wait until its lab kubelet runs it')
    .option('--host-network', 'a hostNetwork pod (runs in the node namespace)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--state <path>', 'lab state file')
    .action(async (node: string, name: string, o: CommonOpts & { hostNetwork?: boolean; namespace: string }) => {
      const { Lab } = await import('../lab/cluster.js');
      const l = await Lab.attach(o.state);
      const p = await l.addPod(node, name, { hostNetwork: Boolean(o.hostNetwork), namespace: o.namespace });
      process.stdout.write(`${JSON.stringify({ namespace: p.namespace, name: p.name, node: p.node, ip: p.ip, netns: p.netnsPath })}\n`);
    });
  pod
    .command('del <name>')
    .description('delete the Pod and wait until its kubelet tore it down (CNI DEL, namespace removed)')
    .option('-n, --namespace <ns>', 'namespace (default: the only pod of that name)')
    .option('--state <path>', 'lab state file')
    .action(async (name: string, o: CommonOpts & { namespace?: string }) => {
      const { Lab } = await import('../lab/cluster.js');
      const l = await Lab.attach(o.state);
      await l.delPod(name, o.namespace);
      process.stdout.write(`pod ${name} deleted\n`);
    });

  registerLabKubelet(lab);
  registerLabAccess(lab);
  registerLabKubeProxy(lab);
  return lab;
}

function parseMode(v: string): 'native' | 'vxlan' {
  if (v === 'native' || v === 'vxlan') return v;
  throw new PodwireError('USAGE', `--mode must be native or vxlan, got "${v}"`);
}

function parseVxlanDatapath(v: string): 'bpf' | 'device' {
  if (v === 'bpf' || v === 'device') return v;
  throw new PodwireError('USAGE', `--vxlan-datapath must be bpf or device, got "${v}"`);
}

function parseProxyMode(v: string): 'iptables' | 'nftables' | 'none' {
  if (v === 'iptables' || v === 'nftables' || v === 'none') return v;
  throw new PodwireError('USAGE', `--proxy-mode must be iptables, nftables or none, got "${v}"`);
}

function parseCount(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new PodwireError('USAGE', `${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

type State = import('../lab/state.js').LabState;

/** The shape of `lab status -o json` (an interface other scripts read: extend, don't rename). */
export function statusView(s: State, alive: (pid: number) => boolean = () => true) {
  return {
    name: s.name,
    mode: s.mode,
    proxyMode: s.proxyMode ?? 'none',
    kubeconfig: s.access?.kubeconfig,
    apiServer: { url: s.apiServer.url, socket: s.apiServer.socket, pid: s.apiServer.pid, running: s.apiServer.pid ? alive(s.apiServer.pid) : false },
    underlay: { netns: s.underlay.netnsPath, controlIp: s.underlay.controlIp, subnet: s.underlay.subnet },
    nodes: s.nodes.map((n) => ({
      name: n.name,
      netns: n.netnsPath,
      underlayIp: n.underlayIp,
      podCIDR: n.podCIDR,
      pinDir: n.pinDir,
      stateDir: n.stateDir,
      cniConfDir: n.cniConfDir,
      agentPid: n.agentPid,
      agentRunning: n.agentPid ? alive(n.agentPid) : false,
      agentRestarts: n.agentRestarts ?? 0,
      agentLog: n.agentLog,
      kubeletPid: n.kubeletPid,
      kubeletRunning: n.kubeletPid ? alive(n.kubeletPid) : false,
      kubeletLog: n.kubeletLog,
      proxyPid: n.proxyPid,
      proxyRunning: n.proxyPid ? alive(n.proxyPid) : false,
      proxyLog: n.proxyLog,
      metricsUrl: n.metricsUrl ?? null,
    })),
    pods: s.pods.map((p) => ({ name: p.name, namespace: p.namespace, node: p.node, netns: p.netnsPath, ip: p.ip, hostNetwork: p.hostNetwork })),
  };
}

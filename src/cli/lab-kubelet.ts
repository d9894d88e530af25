// `podwire lab kubelet` (one per lab node, in the node's namespace: wires Pods bound to it) and
// `podwire lab serve` (a lab pod's "containers": the kubelet runs it inside the pod namespace).
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';

export function registerLabKubelet(lab: Command): void {
  lab
    .command('kubelet')
    .description('run the lab kubelet of one node until SIGTERM (`lab up` starts one per node)')
    .requiredOption('--node-name <name>', 'the Node whose Pods (spec.nodeName) this kubelet runs')
    .requiredOption('--kubeconfig <file>', 'kubeconfig reaching the lab API server')
    .requiredOption('--lab-state <file>', 'the lab state file (pods are recorded there)')
    .requiredOption('--cni-conf-dir <dir>', 'where the node agent writes its conflist')
    .requiredOption('--cni-bin-dir <dirs>', 'CNI plugin directories, \':\'-separated')
    .requiredOption('--netns-prefix <prefix>', 'prefix of the pod namespaces\' names')
    .option('--cni-cache-dir <dir>', 'libcni result cache (the agent\'s GC runs the chain\'s DEL from it)')
    .option('--supervise-agent', 'run the node\'s agent (arguments from the lab state) and restart it with backoff when it dies')
    .action(async (o: { nodeName: string; kubeconfig: string; labState: string; cniConfDir: string; cniBinDir: string; netnsPrefix: string; cniCacheDir?: string; superviseAgent?: boolean }) => {
      if (!/^[a-z0-9-]{1,20}$/.test(o.netnsPrefix)) throw new PodwireError('USAGE', `--netns-prefix ${JSON.stringify(o.netnsPrefix)} must be 1..20 of [a-z0-9-]`);
      const { startKubelet } = await import('../lab/kubelet.js');
      const log = (msg: string, fields?: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
      const k = await startKubelet({
        nodeName: o.nodeName,
        kubeconfig: o.kubeconfig,
        labState: o.labState,
        cniConfDir: o.cniConfDir,
        cniBinDirs: o.cniBinDir.split(':').filter(Boolean),
        netnsPrefix: o.netnsPrefix,
        superviseAgent: Boolean(o.superviseAgent),
        ...(o.cniCacheDir ? { cniCacheDir: o.cniCacheDir } : {}),
        log,
      });
      process.on('SIGUSR1', () => k.restartAgentNow());
      log('kubelet started', { node: o.nodeName });
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await k.stop();
    });

  lab
    .command('serve')
    .description('answer every TCP connection / UDP datagram on the ports with "<name> <client-ip>:<client-port>"')
    .requiredOption('--name <namespace/name>', 'identity the servers answer with')
    .option('--ports <list>', 'e.g. tcp:80,udp:53', '')
    .action(async (o: { name: string; ports: string }) => {
      const { parseServePorts, serve } = await import('../lab/serve.js');
      const servers = await serve(o.name, parseServePorts(o.ports));
      process.stdout.write(`${JSON.stringify({ listening: o.ports })}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await servers.close();
    });
}

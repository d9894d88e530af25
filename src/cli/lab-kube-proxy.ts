// `podwire lab kube-proxy --node-name N --kubeconfig FILE [--proxy-mode iptables|nftables] …`:
// the lab's per-node kube-proxy, run by the lab inside a node's network namespace (nsenter).
// Prints one JSON line {"synced":true,…} on stdout after the first successful sync (the lab
// waits for exactly that line), logs JSON lines to stderr, exits on SIGTERM leaving its rules.
// Options carry no defaults here: src/proxy/config.ts owns defaults and validation.
import type { Command } from 'commander';
import type { KubeProxyFlags } from '../proxy/config.js';

export function registerLabKubeProxy(lab: Command): void {
  lab
    .command('kube-proxy')
    .description("program kube-proxy's Service rules (iptables or nftables mode) in this network namespace until SIGTERM")
    .option('--node-name <name>', "this node's Node object name (required)")
    .option('--kubeconfig <file>', 'kubeconfig for the lab API server (required)')
    .option('--proxy-mode <mode>', 'iptables | nftables (default iptables)')
    .option('--cluster-cidr <cidr>', 'pod CIDR: sources outside it are masqueraded to ClusterIPs (default 10.244.0.0/16)')
    .option('--node-ip <ip>', "this node's IP (default: the Node object's InternalIP)")
    .option('--min-sync-period <duration>', 'minimum time between two syncs, e.g. 250ms or 1s (default 1s)')
    .action(async (flags: KubeProxyFlags) => {
      const { readKubeProxyConfig, runKubeProxy } = await import('../proxy/index.js');
      await runKubeProxy(readKubeProxyConfig(flags));
    });
}

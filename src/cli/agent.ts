// `podwire agent`: the per-node agent (a DaemonSet pod, or one process per lab node). Options
// carry no defaults here: src/agent/config.ts owns defaults, environment fallbacks and
// validation, so there is exactly one place that decides what a setting means.
import type { Command } from 'commander';
import type { AgentFlags } from '../agent/config.js';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('node agent: load the datapath, keep routes/endpoints equal to the cluster, write the CNI conflist when ready')
    .option('--node-name <name>', 'this Node object\'s name (env NODE_NAME; required)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (env KUBECONFIG; default: in-cluster service account)')
    .option('--mode <mode>', 'cross-node forwarding: native or vxlan (env PODWIRE_MODE; default native)')
    .option('--uplink <dev>', 'device carrying node-to-node traffic (env PODWIRE_UPLINK; default: the default route\'s device)')
    .option('--mtu <bytes>', 'underlay MTU (env PODWIRE_MTU; default: the uplink\'s); pods get MTU-50 in vxlan mode')
    .option('--vni <id>', 'VXLAN network identifier (env PODWIRE_VNI; vxlan mode only)')
    .option('--vxlan-datapath <kind>', 'vxlan mode: bpf (the programs encapsulate and decapsulate) or device (the collect-metadata VXLAN device) (env PODWIRE_VXLAN_DATAPATH; default bpf)')
    .option('--pin-dir <dir>', 'bpffs pin directory (env PODWIRE_PIN_DIR; default /sys/fs/bpf/podwire)')
    .option('--state-dir <dir>', 'persistent state: IPAM store, datapath.json (env PODWIRE_STATE_DIR; default /var/lib/podwire)')
    .option('--cni-conf-dir <dir>', 'where 05-podwire.conflist is written (env PODWIRE_CNI_CONF_DIR; default /etc/cni/net.d)')
    .option('--cni-bin-dir <dirs>', 'CNI plugin directories, \':\'-separated, searched for chained plugins (env PODWIRE_CNI_BIN_DIR; default /opt/cni/bin)')
    .option('--cni-cache-dir <dir>', 'libcni\'s result cache, read by GC to run the chained plugins\' DEL (env PODWIRE_CNI_CACHE_DIR; default /var/lib/cni)')
    .option('--health-listen <host:port>', '/healthz, /readyz and /metrics (env PODWIRE_HEALTH_LISTEN; default 127.0.0.1:9879)')
    .option('--metrics-listen <host:port>', 'serve /metrics on its own listener instead of the health one (env PODWIRE_METRICS_LISTEN)')
    .option('--gc-grace <duration>', 'how long an endpoint unknown to the API is kept before GC (env PODWIRE_GC_GRACE; default 60s)')
    .option('--cni-socket <path>', 'Unix socket where the CNI shim hands requests to the agent (env PODWIRE_CNI_SOCKET; default /run/podwire/cni.sock)')
    .option('--veth-pool-size <n>', 'warm veth pairs with their tcx programs attached ahead of CNI ADD, refilled while no CNI request runs; 0 turns the pool off (env PODWIRE_VETH_POOL_SIZE; default 4)')
    .option('--prefilter <mode>', 'XDP prefilter on the uplink: off, auto (native XDP where the driver supports it, else generic), native or generic (env PODWIRE_PREFILTER; default off)')
    .option('--prefilter-failsafe <list>', 'traffic the prefilter never drops besides the API server and health port: ADDR, ADDR:PORT[/tcp|udp] or :PORT[/tcp|udp], comma-separated (env PODWIRE_PREFILTER_FAILSAFE)')
    .action(async (flags: AgentFlags) => {
      const [{ readAgentConfig }, { runAgent }] = await Promise.all([import('../agent/config.js'), import('../agent/index.js')]);
      const config = await readAgentConfig(flags, process.env);
      await runAgent(config);
    });
}

// Invoke a CNI plugin exactly as a container runtime does: the plugin executable, the CNI_*
// environment, the network config on stdin, and (for the lab) inside the node's namespace.
// Used by the lab, the demo and the tests, so there is one faithful runtime emulation.
import { execa } from 'execa';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';

export interface CniInvocation {
  /** Path of the plugin executable (e.g. bin/podwire or /usr/lib/cni/portmap). */
  plugin: string;
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS, e.g. "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1". */
  args?: string;
  /** Directories searched for chained plugins (CNI_PATH). */
  path?: string[];
  /** The plugin's network config, already merged with name/cniVersion (and prevResult). */
  config: Record<string, unknown> | string;
  /** Run the plugin inside this network namespace (the node's host namespace in the lab). */
  nodeNetns?: string;
  /** Extra environment, e.g. NODE_EXTRA_CA_CERTS removal for latency measurements. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

export interface CniOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Parsed stdout when it is JSON (a result, a version answer or an error). */
  json?: Record<string, unknown>;
  durationMs: number;
}

export async function execCni(inv: CniInvocation): Promise<CniOutcome> {
  const env: Record<string, string | undefined> = {
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifname,
    CNI_ARGS: inv.args,
    CNI_PATH: (inv.path ?? ['/opt/cni/bin']).join(':'),
    ...inv.env,
  };
  const [file, argv] = inv.nodeNetns ? ['nsenter', [`--net=${inv.nodeNetns}`, '--', inv.plugin]] : [inv.plugin, []];
  const input = typeof inv.config === 'string' ? inv.config : JSON.stringify(inv.config);
  const t0 = performance.now();
  // extendEnv keeps PATH etc.; the CNI_* values above override whatever the caller had.
  const r = await execa(file, argv, { env, input, reject: false, timeout: inv.timeoutMs ?? 30_000 });
  const durationMs = performance.now() - t0;
  const stdout = String(r.stdout ?? '');
  let json: Record<string, unknown> | undefined;
  if (stdout.trim().startsWith('{')) {
    try {
      json = JSON.parse(stdout) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
  }
  return { exitCode: r.exitCode ?? -1, stdout, stderr: String(r.stderr ?? ''), json, durationMs };
}

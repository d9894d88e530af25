// `podwire install-cni` (the DaemonSet's init container) and `podwire uninstall` (by hand or from
// a clean-up job): what lands on a node outside the agent's own pod, and taking it off again.
import type { Command } from 'commander';
import { DEFAULT_CNI_CONF_DIR, DEFAULT_STATE_DIR } from '../agent/config.js';
import { DEFAULT_PIN_DIR } from '../loader/pins.js';

export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';

export function registerInstall(program: Command): void {
  program
    .command('install-cni')
    .description('install the plugin atomically (temp file, then rename): the native shim as podwire, this self-contained binary as podwire-full')
    .option('--dest <dir>', 'CNI bin directory', DEFAULT_CNI_BIN_DIR)
    .option('--source <file>', 'full plugin to install as podwire-full (default: this executable, when it is dist/podwire)')
    .option('--shim <file>', 'native shim to install as podwire (default: the one this program carries)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { dest: string; source?: string; shim?: string; output: string }) => {
      const { installCni } = await import('../install/index.js');
      const r = await installCni({ dest: o.dest, ...(o.source === undefined ? {} : { source: o.source }), ...(o.shim === undefined ? {} : { shim: o.shim }) });
      const line = (f: { changed: boolean; path: string; bytes: number }) => `${f.changed ? 'installed' : 'already up to date:'} ${f.path} (${f.bytes} bytes)`;
      process.stdout.write(o.output === 'json' ? `${JSON.stringify(r)}\n` : `${line(r.full)}\n${line(r)}\n`);
    });

  program
    .command('uninstall')
    .description("remove podwire from this node: conflist, uplink program, VXLAN device, routes, pins, CNI binary, state")
    .option('--pin-dir <dir>', 'bpffs pin directory', DEFAULT_PIN_DIR)
    .option('--cni-conf-dir <dir>', 'CNI configuration directory', DEFAULT_CNI_CONF_DIR)
    .option('--cni-bin-dir <dir>', 'CNI bin directory', DEFAULT_CNI_BIN_DIR)
    .option('--state-dir <dir>', 'agent/IPAM state directory', DEFAULT_STATE_DIR)
    .option('--uplink <dev>', 'uplink to detach from (default: the one the agent recorded)')
    .option('--keep-state', 'keep the state directory (IPAM allocations)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(
      async (o: { pinDir: string; cniConfDir: string; cniBinDir: string; stateDir: string; uplink?: string; keepState?: boolean; output: string }) => {
        const { uninstall } = await import('../install/index.js');
        const r = await uninstall({
          pinDir: o.pinDir,
          cniConfDir: o.cniConfDir,
          cniBinDir: o.cniBinDir,
          stateDir: o.stateDir,
          keepState: o.keepState === true,
          ...(o.uplink === undefined ? {} : { uplink: o.uplink }),
        });
        if (o.output === 'json') {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        const lines = r.removed.map((x) => `removed ${x.what}: ${x.path}`);
        for (const k of r.kept) lines.push(`kept ${k.path} (${k.why})`);
        if (r.removed.length === 0) lines.push('nothing to remove: podwire is not installed on this node');
        process.stdout.write(`${lines.join('\n')}\n`);
      },
    );
}

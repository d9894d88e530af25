// `podwire lab kubectl ARGS…` (the bundled kubectl with the lab's kubeconfig) and `podwire lab
// forward` (the host-namespace forwarder `lab up` starts; see src/lab/access.ts).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { kubectlBin } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';

export function registerLabAccess(lab: Command): void {
  lab
    .command('kubectl')
    .description('run kubectl against the running lab (state: $PODWIRE_LAB_STATE or /run/podwire/lab.json)')
    .argument('[args...]', 'kubectl arguments')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (args: string[]) => {
      const { readLabState, labStatePath } = await import('../lab/state.js');
      const s = await readLabState(labStatePath());
      if (!s.access) throw new PodwireError('USAGE', `lab ${s.name} was started without kubectl access (no kubeconfig recorded): restart it with \`podwire lab up\``);
      const bin = kubectlBin();
      if (!existsSync(bin)) throw new PodwireError('USAGE', `kubectl is missing at ${bin}: run \`npm run prereqs\` (deploy/host-prereqs.sh unpacks it)`);
      const env = { ...process.env, KUBECONFIG: s.access.kubeconfig };
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(bin, args, { stdio: 'inherit', env });
        child.on('error', (e) => reject(new PodwireError('EXEC_FAILED', `cannot run ${bin}: ${e.message}`, { cause: e })));
        child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 + 9 : 1)));
      });
      process.exitCode = code;
      if (code !== 0) {
        // cliMain turns a thrown error into exit 1; kubectl's own code must survive instead.
        const { CommanderError } = await import('commander');
        throw new CommanderError(code, 'podwire.kubectl', '');
      }
    });

  lab
    .command('forward')
    .description('(started by `lab up`) relay 127.0.0.1:PORT to the lab API server\'s Unix socket, bearer token required')
    .requiredOption('--socket <path>', 'the API server\'s Unix socket')
    .requiredOption('--token-file <file>', 'the lab\'s bearer token')
    .requiredOption('--tls-cert <file>', 'certificate served on 127.0.0.1')
    .requiredOption('--tls-key <file>', 'its private key')
    .option('--port <n>', 'TCP port on 127.0.0.1 (0: any free one)', '0')
    .action(async (o: { socket: string; tokenFile: string; tlsCert: string; tlsKey: string; port: string }) => {
      const { startForwarder } = await import('../lab/access.js');
      const f = await startForwarder({ host: '127.0.0.1', port: Number(o.port), socket: o.socket, tokenFile: o.tokenFile, certFile: o.tlsCert, keyFile: o.tlsKey });
      process.stdout.write(`${JSON.stringify({ port: f.port })}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await f.close();
    });
}

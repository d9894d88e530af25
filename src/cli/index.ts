// The CLI role: `podwire <subcommand>`. Each subcommand lives in its own file and is imported
// only when used.
import { Command, CommanderError } from 'commander';
import { PodwireError } from '../errors/index.js';

export async function cliMain(argv: string[]): Promise<number> {
  const program = new Command('podwire')
    .description('Kubernetes CNI plugin and node agent with an eBPF dataplane')
    .exitOverride()
    .showHelpAfterError();

  // Subcommand modules are small; the heavy work each one does is imported inside its action.
  const [{ registerDatapath }, { registerDemo }] = await Promise.all([import('./datapath.js'), import('./demo.js')]);
  registerDatapath(program);
  registerDemo(program);
  (await import('./agent.js')).registerAgent(program);
  (await import('./install.js')).registerInstall(program);
  (await import('./maps.js')).registerMaps(program);
  (await import('./trace.js')).registerTrace(program);
  (await import('./monitor.js')).registerMonitor(program);
  (await import('./prefilter.js')).registerPrefilter(program);
  (await import('./policy.js')).registerPolicy(program);
  const lab = (await import('./lab.js')).registerLab(program);
  (await import('./lab-apiserver.js')).registerLabApiserver(lab);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof PodwireError) {
      process.stderr.write(`podwire: ${e.message}\n`);
      if (e.details) process.stderr.write(`${e.details}\n`);
      return 1;
    }
    process.stderr.write(`podwire: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

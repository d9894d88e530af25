// `podwire datapath load|unload`: what the agent does at start/stop, by hand.
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';
import { DEFAULT_PIN_DIR } from '../loader/pins.js';

function parseDefine(value: string, prev: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new PodwireError('USAGE', `--define wants NAME=VALUE, got ${JSON.stringify(value)}`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function print(json: boolean, data: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(data)}\n` : `${text}\n`);
}

export function registerDatapath(program: Command): void {
  const dp = program.command('datapath').description('compile, load and pin (or remove) the eBPF datapath');

  dp.command('load')
    .description('load bpf/ (the object npm run build made when it matches, else compiled now) and pin it (keeping pinned maps), point every pinned tcx link at the new programs')
    .option('--pin-dir <dir>', 'bpffs pin directory', DEFAULT_PIN_DIR)
    .option('-D, --define <NAME=VALUE>', 'compile-time constant (repeatable)', parseDefine)
    .option('--compile', 'run clang even when the prebuilt object matches')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { pinDir: string; define?: Record<string, string>; compile?: boolean; output: string }) => {
      const { loadDatapath } = await import('../loader/datapath.js');
      const r = await loadDatapath({ pinDir: o.pinDir, defines: o.define ?? {}, ...(o.compile ? { compile: 'always' as const } : {}) });
      print(
        o.output === 'json',
        { pinDir: o.pinDir, ...r },
        `loaded ${r.programs.join(', ')} at ${o.pinDir} (${r.object.source === 'prebuilt' ? 'prebuilt object' : `compiled: ${r.object.reason}`}); reused maps: ${r.reusedMaps.join(', ') || 'none'}; re-attached ${r.reattached} device(s)` +
          (r.staleLinks.length > 0 ? `; removed link pins of vanished devices: ${r.staleLinks.join(', ')}` : '') +
          r.migrated.map((m) => `; migrated map ${m.map} to this layout (${m.entries} entries${m.addedFields.length ? `, new fields ${m.addedFields.join(', ')} zero` : ''}${m.droppedFields.length ? `, dropped ${m.droppedFields.join(', ')}` : ''})`).join('') +
          (r.overNewer ? `; DOWNGRADE: the maps were pinned by ${r.overNewer.writer} (layout generation ${r.overNewer.generation}); their maps this build does not know stay pinned, unused` : ''),
      );
    });

  dp.command('unload')
    .description('detach every pinned tcx link and remove every pin under the pin directory')
    .option('--pin-dir <dir>', 'bpffs pin directory', DEFAULT_PIN_DIR)
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { pinDir: string; output: string }) => {
      const { unloadDatapath } = await import('../loader/datapath.js');
      await unloadDatapath({ pinDir: o.pinDir });
      print(o.output === 'json', { pinDir: o.pinDir, unloaded: true }, `unloaded the datapath at ${o.pinDir}`);
    });
}

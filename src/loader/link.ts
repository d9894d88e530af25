// Link the per-source objects into one with the BPF static linker (libbpf's, via bpftool), so
// maps defined in several sources become one map and programs can share subprograms.
import { BPFTOOL } from '../build/bpf.mjs';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';

export async function linkObjects(out: string, objects: readonly string[]): Promise<string> {
  const r = await run(BPFTOOL, ['gen', 'object', out, ...objects], { reject: false });
  if (r.exitCode !== 0) {
    throw new PodwireError('COMPILE_FAILED', `linking ${objects.join(' ')} failed`, { details: r.stderr || r.stdout });
  }
  return out;
}

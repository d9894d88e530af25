// A real kubectl (v1.34) reads deploy/. Offline, `annotate --local` decodes every document the
// way `kubectl apply -f deploy/` would (all files, all documents, kinds and names). Against the
// lab's API server — which serves core/v1 only (Nodes, Pods, Namespaces) and refuses dryRun —
// `create --dry-run=client` is meaningful for the Namespace alone: kubectl maps it through the
// server's discovery and prints the object it would send. apps/v1 and rbac are not served
// there and `--dry-run=server` is refused by design, so those need a real cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlBin, podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { deployDir, loadManifests } from './manifests.js';

/** kubectl -o json prints one JSON document per object, back to back. */
function jsonStream(text: string): { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } }[] {
  const out = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

describe('kubectl v1.34 on deploy/', () => {
  let ns: Netns;
  let server: ChildProcess | undefined;
  let url: string;

  beforeAll(async () => {
    if (!existsSync(kubectlBin())) throw new Error(`${kubectlBin()} is missing: run deploy/host-prereqs.sh`);
    if (!existsSync(podwireBin())) throw new Error(`${podwireBin()} is missing: run \`npm run build\``);
    ns = await createNetns('pwkc');
    // the lab API server alone, inside a namespace of our own; it prints {"url":…} when ready
    const child = spawn('nsenter', [`--net=${ns.path}`, '--', podwireBin(), 'lab', 'apiserver', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    server = child;
    url = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.once('line', (l) => resolve((JSON.parse(l) as { url: string }).url));
      child.once('exit', (code) => reject(new Error(`lab apiserver exited with ${code}`)));
      setTimeout(() => reject(new Error('lab apiserver did not print its URL in 20 s')), 20_000).unref();
    });
  }, 60_000);

  afterAll(async () => {
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      process.kill(server.pid, 'SIGTERM');
      await exited;
    }
    await ns?.remove();
  });

  it('decodes every document offline (annotate --local), same objects as the schema tests', async () => {
    const r = await run(kubectlBin(), ['annotate', '--local', '-f', deployDir(), '-o', 'json', 'podwire.io/checked=true']);
    const objs = jsonStream(r.stdout);
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(loadManifests().map((m) => `${m.object.kind}/${m.object.metadata.name}`).sort());
    for (const o of objs) expect(o.metadata.annotations?.['podwire.io/checked']).toBe('true');
  });

  it('create --dry-run=client maps and renders the Namespace through the lab API server', async () => {
    const r = await run('nsenter', [`--net=${ns.path}`, '--', kubectlBin(), '--server', url, 'create', '--dry-run=client', '-o', 'json', '-f', `${deployDir()}/00-namespace.yaml`]);
    const [o] = jsonStream(r.stdout);
    expect(o).toMatchObject({ kind: 'Namespace', metadata: { name: 'podwire-system', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
    // nothing was created: dry-run=client never sends the object
    const get = await run('nsenter', [`--net=${ns.path}`, '--', kubectlBin(), '--server', url, 'get', 'namespace', 'podwire-system'], { reject: false });
    expect(get.exitCode).not.toBe(0);
    expect(get.stderr).toMatch(/NotFound|not found/);
  });
});

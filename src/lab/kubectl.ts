// The bundled kubectl against a running lab (its kubeconfig through the host forwarder), for
// tests and benches that drive the lab the way a user does. Fails with kubectl's stderr.
import { existsSync } from 'node:fs';
import { kubectlBin } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';
import type { LabState } from './state.js';

export type Kubectl = (args: readonly string[], opts?: { input?: string; timeoutMs?: number }) => Promise<string>;

export function labKubectl(state: LabState): Kubectl {
  const kubeconfig = state.access?.kubeconfig;
  if (!kubeconfig) throw new PodwireError('USAGE', `lab ${state.name} has no kubeconfig recorded (started without kubectl access)`);
  const bin = kubectlBin();
  if (!existsSync(bin)) throw new PodwireError('USAGE', `kubectl is missing at ${bin}: run \`npm run prereqs\` (deploy/host-prereqs.sh unpacks it)`);
  const env = { ...process.env, KUBECONFIG: kubeconfig } as Record<string, string>;
  return async (args, opts = {}) => {
    const r = await run(bin, args, { env, input: opts.input, timeoutMs: opts.timeoutMs ?? 120_000 });
    return r.stdout;
  };
}

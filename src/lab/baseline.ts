// Kernel baselines measured next to podwire in the same run. `direct` is two namespaces
// joined by one veth pair: the physical limit for a one-hop path on this machine.
import { createNetns, uniqueName, type Netns } from '../netns/index.js';
import { run } from '../exec/run.js';

export interface DirectPair {
  a: Netns;
  b: Netns;
  ipA: string;
  ipB: string;
  remove(): Promise<void>;
}

export async function createDirectPair(prefix = 'pwd'): Promise<DirectPair> {
  const a = await createNetns(prefix);
  const b = await createNetns(prefix);
  const remove = async () => {
    await a.remove();
    await b.remove();
  };
  try {
    const va = uniqueName('pwva');
    await run('ip', ['link', 'add', va, 'netns', a.path, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.path]);
    await a.exec('ip', ['-batch', '-'], { input: `link set ${va} name eth0\naddr add 10.99.0.1/24 dev eth0\nlink set eth0 up\n` });
    await b.exec('ip', ['-batch', '-'], { input: 'addr add 10.99.0.2/24 dev eth0\nlink set eth0 up\n' });
    return { a, b, ipA: '10.99.0.1', ipB: '10.99.0.2', remove };
  } catch (e) {
    await remove();
    throw e;
  }
}

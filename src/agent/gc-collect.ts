// Carrying out one planned GC action (gc.ts plans, this does), in the order that never leaves
// anything pointing at an address that is free again: the chained plugins' DEL first (portmap's
// DNAT rules; see gc-chain.ts), then the endpoint entry, the host veth, and the address last.
// A chained DEL that fails leaves everything in place: the address stays reserved and the
// action is planned again on a later pass.
import type { Dataplane } from './dataplane.js';
import type { GcAction } from './gc.js';

export type CollectOutcome =
  | { collected: false; why: 'entry-changed' }
  | { collected: false; why: 'chain-del-failed'; error: string }
  | { collected: true; chain: 'deleted' | 'no-cache' | 'not-released'; plugins?: string[] };

export async function collectEndpoint(dp: Pick<Dataplane, 'deleteEndpointIf' | 'deleteVeth' | 'release' | 'chainDel'>, a: GcAction): Promise<CollectOutcome> {
  let chain: { kind: 'deleted'; plugins: string[] } | { kind: 'no-cache' } | undefined;
  if (a.release && dp.chainDel) {
    try {
      chain = await dp.chainDel(a.release);
    } catch (e) {
      return { collected: false, why: 'chain-del-failed', error: (e as Error).message };
    }
  }
  if (!dp.deleteEndpointIf(a.ip, a.ifindex)) return { collected: false, why: 'entry-changed' };
  if (a.deleteVeth) await dp.deleteVeth(a.deleteVeth);
  if (a.release) dp.release(a.ip, a.release);
  if (!a.release) return { collected: true, chain: 'not-released' };
  return chain?.kind === 'deleted' ? { collected: true, chain: 'deleted', plugins: chain.plugins } : { collected: true, chain: 'no-cache' };
}

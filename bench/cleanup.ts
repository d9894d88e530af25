// Cleanup on Ctrl-C: a bench run holds namespaces, labs, pins and server processes for
// minutes; an interrupted run must still remove them. Sections register their teardown while
// they hold something; SIGINT/SIGTERM run every registered teardown, then exit.
type Fn = () => Promise<void>;

const pending = new Set<Fn>();
let installed = false;

export function registerCleanup(fn: Fn): () => void {
  if (!installed) {
    installed = true;
    const onSignal = (sig: NodeJS.Signals) => {
      process.stderr.write(`\n${sig}: removing what the bench made …\n`);
      void (async () => {
        for (const f of [...pending].reverse()) await f().catch(() => {});
        process.exit(130);
      })();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  pending.add(fn);
  return () => pending.delete(fn);
}

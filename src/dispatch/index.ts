// The one rule that decides which role a podwire process plays: the runtime execs us as a CNI
// plugin with CNI_COMMAND in the environment; anything else is the CLI. Shared by the ESM entry
// (src/main.ts, bin/podwire) and the single-executable entry (src/build/sea-entry.ts) so both
// binaries dispatch identically. Roles are imported lazily so the CNI path loads only what
// ADD/DEL need (start-up time is paid for every pod).
export async function dispatch(env: NodeJS.ProcessEnv, argv: string[]): Promise<number> {
  if (env['CNI_COMMAND'] !== undefined) {
    const { cniMain } = await import('../cni/index.js');
    return cniMain();
  }
  const { cliMain } = await import('../cli/index.js');
  return cliMain(argv);
}

// podwire: one program for every role. The runtime execs us as a CNI plugin with CNI_COMMAND
// in the environment; anything else is the CLI. Roles are imported lazily so the CNI path
// loads only what ADD/DEL need (start-up time is paid for every pod).
if (process.env['CNI_COMMAND'] !== undefined) {
  const { cniMain } = await import('./cni/index.js');
  process.exitCode = await cniMain();
} else {
  const { cliMain } = await import('./cli/index.js');
  process.exitCode = await cliMain(process.argv.slice(2));
}

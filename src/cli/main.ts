/**
 * The `manyfold` command: dispatches to the subcommands.
 *
 *   manyfold start                      the main job (operator, or the local control plane)
 *   manyfold operator [flags]           the operator (manager) process
 *   manyfold dev up|down|status         the embedded local control plane
 *   manyfold crds [--write|--check]     the generated CustomResourceDefinitions
 */
// Each subcommand's module is imported when it runs, so a process loads only its own
// command's code: the operator never loads the agent, the local control plane or the CRD
// generator (~3 MiB of resident memory; bench/README.md, issue 15).

const usage = `Usage: manyfold <command> [options]

Commands:
  start                 run the main job: against the current kubeconfig when it answers,
                        else on the embedded local control plane, with a live status view
  dev up [--nodes N]    start the local control plane (etcd, kube-apiserver, controller
                        manager, scheduler, kwok with N fake nodes; default 3)
  dev down              stop everything 'dev up' started
  dev status            show what runs and whether it is healthy
  operator [flags]      run the operator (controller-runtime flag names; --help lists them)
  agent [flags]         run the SensorFleet edge-sensor node agent (--help lists the flags)
  crds [--write|--check]
                        print the generated CRDs, write them to deploy/crds, or check
                        that deploy/crds is up to date

Run 'manyfold <command> --help' for a command's options.`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'dev':
      return (await import('./dev.ts')).runDev(rest);
    case 'start':
      return (await import('./start.ts')).runStart(rest);
    case 'crds':
      return (await import('./crds.ts')).runCrds(rest);
    case 'operator':
      return (await import('./operator.ts')).runOperator(rest);
    case 'agent':
      return (await import('./agent.ts')).runAgent(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${usage}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`manyfold: unknown command '${command}'\n\n${usage}\n`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`manyfold: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
});

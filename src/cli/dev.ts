/**
 * `manyfold dev up|down|status`: the embedded local control plane.
 */
import { parseArgs } from 'node:util';
import { defaultDir, down, formatStatus, readState, status, up } from '../devcluster/cluster.ts';
import { buildImage, LocalBase } from '../devcluster/image/build.ts';
import { importImage } from '../devcluster/realnode/node.ts';
import { StartError } from '../devcluster/processes.ts';

const usage = `Usage: manyfold dev <up|down|status> [options]

  up       start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
           on 127.0.0.1 (binaries from KUBEBUILDER_ASSETS or ~/.cache/manyfold, else
           built once from the Go module proxy); harmless when already up
  down     stop exactly the processes 'up' started
  status   show the processes, the server version and node readiness
  image    build the operator/agent image from ./Dockerfile without a registry (base:
           ${LocalBase}, made from Debian packages and the project's Node 24) and
           import it into the real node's containerd when one runs

Options:
  --nodes N       fake kwok nodes to create (up; default 3)
  --real-nodes N  real nodes (kubelet + containerd, pods really run) beside them (up;
                  default 1, at most 1 per machine; where a real node cannot run, for
                  instance without root, the reason is printed and the cluster is kwok-only)
  --dir PATH    state directory (default .manyfold/dev, or $MANYFOLD_DEV_DIR)`;

export async function runDev(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      'real-nodes': { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [action] = positionals;
  if (values.help || action === undefined) {
    process.stdout.write(`${usage}\n`);
    return values.help ? 0 : 2;
  }
  const dir = values.dir ?? defaultDir();
  switch (action) {
    case 'up': {
      const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
      if (nodes !== undefined && (!Number.isInteger(nodes) || nodes < 0 || nodes > 5000)) {
        process.stderr.write(`--nodes must be an integer from 0 to 5000, got '${values.nodes}'\n`);
        return 2;
      }
      const realNodes = values['real-nodes'] === undefined ? 1 : Number(values['real-nodes']);
      if (!Number.isInteger(realNodes) || realNodes < 0 || realNodes > 1) {
        process.stderr.write(`--real-nodes must be 0 or 1 (one real node per machine), got '${values['real-nodes'] ?? ''}'\n`);
        return 2;
      }
      try {
        await up({ dir, nodes, realNodes });
      } catch (error) {
        if (error instanceof StartError) {
          process.stderr.write(`\n${error.message}\n--- last lines of ${error.logFile} ---\n${error.logTail}\n`);
          return 1;
        }
        throw error;
      }
      process.stdout.write(`${formatStatus(await status({ dir }))}\n`);
      return 0;
    }
    case 'down':
      await down({ dir });
      return 0;
    case 'image': {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const image = await buildImage({ log });
      log(`Image ${image.name} (${image.digest}): ${(image.bytes / 1048576).toFixed(1)} MiB uncompressed, built in ${image.seconds.toFixed(1)} s, archive ${image.archive}`);
      const state = await readState(dir);
      if (state?.realNode) {
        const started = Date.now();
        await importImage(state.realNode, image.archive);
        log(`Imported into ${state.realNode.name}'s containerd in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
      return 0;
    }
    case 'status': {
      const s = await status({ dir });
      process.stdout.write(`${formatStatus(s)}\n`);
      const healthy = s.state !== undefined && s.components.every((c) => c.running) && s.error === undefined;
      return healthy ? 0 : 1;
    }
    default:
      process.stderr.write(`manyfold dev: unknown action '${action}' (allowed: up, down, status, image)\n`);
      return 2;
  }
}

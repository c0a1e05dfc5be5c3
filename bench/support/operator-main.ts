/**
 * A what-if operator for benchmarks: the manager of `manyfold operator` with only the
 * Cell controller, whose concurrency (fixed at 8 in the product, no flag) is set by
 * `--cell-concurrency N`. Every other flag is `manyfold operator`'s, parsed by its own
 * parser; logs, probes, metrics, leader election and fencing are the product's.
 *
 *   node bench/support/operator-main.ts --cell-concurrency 32 --kubeconfig ... [operator flags]
 *
 * It exists so `bench/cells.ts --concurrency N` can show what a larger worker pool
 * would buy without changing product code. SIGTERM/SIGINT drain and release the Lease.
 *
 * Limitations: runs no other controller; the product's process wiring (user agent,
 * fault injection, signal escalation) is not reproduced.
 */
import { managerOptions, parseOperatorFlags } from '../../src/cli/operator.ts';
import { cellController } from '../../src/controllers/cell.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { Manager } from '../../src/runtime/manager.ts';

const argv = process.argv.slice(2);
const at = argv.indexOf('--cell-concurrency');
const concurrency = at >= 0 ? Number(argv[at + 1]) : 8;
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new Error('--cell-concurrency must be an integer from 1 to 256');
const flags = parseOperatorFlags(at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 2)] : argv);
if (flags === 'help') throw new Error('see manyfold operator --help');

const log = createLogger({ level: flags.logLevel, name: 'operator' });
const client = await KubeClient.create({ kubeconfig: flags.kubeconfig });
const manager = new Manager(managerOptions(flags, { client, log }));
manager.addController(cellController({ operatorNamespace: flags.operatorNamespace, concurrency }));
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort(new Error(`received ${signal}`)));
log.info({ event: 'operator_starting', identity: manager.identity, cellConcurrency: concurrency }, 'starting (bench what-if entry point)');
try {
  await manager.start(stop.signal);
} finally {
  await client.close();
}
log.info({ event: 'operator_stopped' }, 'stopped');

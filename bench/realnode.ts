/**
 * Real-node figures (issue 16): how long `dev up` takes with the real node (binaries
 * cached), the same without it, building the image from ./Dockerfile (base cached) and
 * importing it into the node's containerd, and `dev down` with its host cleanup. Prints
 * the median and the spread of `--trials` runs; no targets are asserted.
 *
 * Needs root and the real node's binaries (scripts/build-node.sh); prints why and exits
 * 0 otherwise. Uses its own state directory and the machine's one real node, so run it
 * while no other local control plane holds that node.
 *
 * Usage (from the repository root):
 *   npx node bench/realnode.ts [--trials 3]
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { down, up } from '../src/devcluster/cluster.ts';
import { buildImage } from '../src/devcluster/image/build.ts';
import { realNodeBlocker } from '../src/devcluster/realnode/assets.ts';
import { importImage } from '../src/devcluster/realnode/node.ts';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '3' } } });
const trials = Number(values.trials);
const blocker = realNodeBlocker();
if (blocker) {
  process.stdout.write(`no real node here: ${blocker}\n`);
  process.exit(0);
}

const dir = resolve(`.manyfold/bench/realnode-${process.pid}`);
const quiet = () => undefined;
const figures: Record<string, number[]> = { 'dev up (1 kwok + real node)': [], 'dev up (1 kwok node only)': [], 'image build (./Dockerfile)': [], 'image import': [], 'dev down (real node)': [] };
const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  const out = await work();
  figures[name]?.push((performance.now() - started) / 1000);
  return out;
};

try {
  for (let i = 0; i < trials; i++) {
    await timed('dev up (1 kwok node only)', () => up({ dir, nodes: 1, realNodes: 0, log: quiet }));
    await down({ dir, log: quiet });
    const state = await timed('dev up (1 kwok + real node)', () => up({ dir, nodes: 1, realNodes: 1, log: quiet }));
    if (!state.realNode) throw new Error(`no real node: ${state.realNodeNote ?? 'unknown'}`);
    const image = await timed('image build (./Dockerfile)', () => buildImage({ log: quiet }));
    const node = state.realNode;
    await timed('image import', () => importImage(node, image.archive));
    await timed('dev down (real node)', () => down({ dir, log: quiet }));
  }
} finally {
  await down({ dir, log: quiet });
  await rm(dir, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
for (const [name, xs] of Object.entries(figures)) {
  process.stdout.write(`${name.padEnd(30)} median ${median(xs).toFixed(1)} s  (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})\n`);
}

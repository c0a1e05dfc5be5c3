// Test tiers: `unit` (colocated *.test.ts, pure logic, no cluster), `conformance`
// (test/conformance: flagd's own evaluators against ours, no cluster), `slow` (colocated
// *.slow.test.ts: minutes-long process tests such as kill -9 loops, run by
// `npm run test:integration`), `etcd`
// (test/integration/etcd: real etcd processes the tests start themselves, no API
// server) and `cluster` (the rest of test/integration and test/e2e, against one real
// control plane per run, started by test/setup/global.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'bench/**/*.test.ts', 'deploy/**/*.test.ts'],
          exclude: ['**/*.slow.test.ts', '**/node_modules/**'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
      {
        test: {
          // flagd conformance: our bucketing against flagd's TypeScript and Python evaluators
          // (the Python one is installed into ~/.cache/manyfold on first run).
          name: 'conformance',
          include: ['test/conformance/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 400_000,
        },
      },
      {
        test: {
          name: 'slow',
          include: ['src/**/*.slow.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'etcd',
          include: ['test/integration/etcd/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          exclude: ['test/integration/etcd/**'],
          environment: 'node',
          globalSetup: ['test/setup/global.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { concurrent: false },
        },
      },
      {
        // test/incluster: the operator and agents as pods on a real node (kubelet +
        // containerd), the image built from ./Dockerfile here (test/setup/incluster.ts).
        // Skips with the printed reason where a real node cannot run. Last step of `npm test`.
        test: {
          name: 'incluster',
          include: ['test/incluster/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/setup/incluster.ts'],
          testTimeout: 240_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          sequence: { concurrent: false },
        },
      },
    ],
  },
});

/**
 * The README's first Quick-start command, end to end, kwok-only (`--real-nodes 0`; the
 * real node's path is in test/incluster): `manyfold start --local --once`
 * brings up its own embedded control plane (in a directory of its own, beside the test
 * cluster), installs Manyfold, applies every example, runs the operator as a process,
 * waits until every example object reports Ready=True at its generation (the SensorFleet:
 * until its agent pods are Ready on the fake node it labelled, since kwok runs no agent),
 * prints the status view, and stops everything it started.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { isUp, readState } from '../../src/devcluster/cluster.ts';

const bin = fileURLToPath(new URL('../../bin/manyfold.js', import.meta.url));

function run(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // SIGINT lets `start` stop its operator and control plane, as Ctrl-C does.
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.runIf(inject('clusterKind') === 'local')('manyfold start --local --once', () => {
  it('converges every example to Ready on its own control plane and leaves nothing running', async () => {
    const dir = join(inject('clusterDir'), 'start-local');
    const { code, stdout, stderr } = await run(['start', '--local', '--once', '--real-nodes', '0'], { ...process.env, MANYFOLD_DEV_DIR: dir }, 150_000);
    const rows = stdout.split('\n').filter((line) => /^(Cell|FencedLease|RatePolicy|SensorFleet|ShardMap)\s/.test(line));
    expect({ code, rows }, `stdout:\n${stdout}\nstderr (tail):\n${stderr.slice(-3000)}`).toMatchObject({ code: 0 });
    // Three Cells, a FencedLease, a RatePolicy (its pods Ready on kwok) and a ShardMap, Ready=True;
    // the SensorFleet's pods are Ready on the labelled kwok node, and it waits for agents that kwok
    // does not run, as the note says.
    expect(rows.map((line) => line.split(/\s+/)[0]).sort()).toEqual(['Cell', 'Cell', 'Cell', 'FencedLease', 'RatePolicy', 'SensorFleet', 'ShardMap']);
    for (const line of rows.filter((l) => !l.startsWith('SensorFleet'))) expect(line.split(/\s+/)[3], line).toBe('True');
    const fleet = rows.find((l) => l.startsWith('SensorFleet'))?.split(/\s+/) ?? [];
    expect(fleet.slice(3, 5)).toEqual(['False', 'NodesNotReporting']);
    expect(stdout).toContain('kwok fakes that run no containers');
    expect(stderr).toContain('Applied 16 example objects');
    expect(stderr).toMatch(/Labelled node kwok-node-0 manyfold\.dev\/edge=true/);
    const state = await readState(dir);
    expect(state === undefined || !isUp(state)).toBe(true);
  }, 200_000);
});

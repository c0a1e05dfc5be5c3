/**
 * Process hygiene: an operator whose probe or metrics port is taken logs EADDRINUSE and
 * exits non-zero (instead of looping its informers on a closed client), and
 * `npm start | tee start.log` followed by Ctrl-C (SIGINT to the whole foreground
 * process group: npm, node, tee) stops every control-plane process it started, although
 * tee, and with it the pipe, is gone before the clean-up ends.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { down, readState } from '../../src/devcluster/cluster.ts';
import { isRunning } from '../../src/devcluster/processes.ts';
import { eventually } from '../support/cluster.ts';
import { startOperatorProcess } from '../support/operator.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('an operator whose port is taken', () => {
  let blocker: Server;
  let taken = '';
  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    taken = `127.0.0.1:${(blocker.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

  it.each<[string, string[]]>([
    ['probe', ['--health-probe-bind-address']],
    ['metrics', ['--metrics-bind-address']],
    ['secure metrics', ['--metrics-secure=true', '--metrics-bind-address']],
  ])('exits non-zero after logging EADDRINUSE when its %s port is taken', async (_what, flags) => {
    const operator = startOperatorProcess([...flags, taken]);
    const exited = new Promise<number | null>((resolve) => operator.child.once('exit', (code) => resolve(code)));
    const code = await Promise.race([exited, sleep(20_000).then(() => 'still running' as const)]);
    if (code === 'still running') await operator.stop(1000);
    expect(code).toBe(1);
    const failure = operator.logs.find((l) => l['event'] === 'operator_failed');
    expect(failure).toMatchObject({ level: 'error', code: 'EADDRINUSE' });
    expect(String(failure?.['err'])).toContain(taken);
    expect(operator.logs.some((l) => l['event'] === 'leader_elected')).toBe(false);
  });
});

describe.runIf(inject('clusterKind') === 'local')('npm start | tee start.log, then Ctrl-C', () => {
  it('leaves no control-plane process running', async () => {
    const dir = join(inject('clusterDir'), 'start-tee');
    const logFile = join(dir, '..', 'start-tee.log');
    await rm(logFile, { force: true });
    // A shell in a process group of its own stands in for the terminal's foreground job.
    const shell = spawn('sh', ['-c', `npm start --silent -- --local 2>&1 | tee ${logFile} > /dev/null`], {
      cwd: root,
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, MANYFOLD_DEV_DIR: dir },
    });
    const group = shell.pid ?? 0;
    const shellExited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
    try {
      await eventually('the operator started by npm start', async () => (await readFile(logFile, 'utf8').catch(() => '')).includes('Operator started'), { timeoutMs: 150_000, intervalMs: 100 });
      const state = await readState(dir);
      const names = (state?.processes ?? []).map((p) => p.name);
      expect(names).toEqual(expect.arrayContaining(['etcd', 'kube-apiserver', 'kube-controller-manager']));
      process.kill(-group, 'SIGINT'); // Ctrl-C: npm, node and tee at once
      await Promise.race([shellExited, sleep(90_000)]);
      const left = await eventually(
        'every control-plane process stopped',
        async () => {
          const running = (state?.processes ?? []).filter(isRunning).map((p) => `${p.name} (pid ${p.pid})`);
          if (running.length > 0) throw new Error(`still running: ${running.join(', ')}`);
          return running;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(left).toEqual([]);
      expect(await readState(dir)).toBeUndefined();
    } finally {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // the group is gone
      }
      await down({ dir, log: () => undefined });
    }
  }, 330_000);
});

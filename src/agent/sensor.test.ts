import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, closeSync, constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemClock } from '../legos/clock.ts';
import { silentLogger } from '../runtime/log.ts';
import type { AgentConfig } from './config.ts';
import { createSensor } from './sensor-set.ts';
import type { SensorDeps } from './sensor.ts';
import { SensorStats } from './stats.ts';
import { eventually, tempDir } from './testing.test-helper.ts';
import type { PendingSample } from './writer.ts';

type Definition = AgentConfig['sensors'][number];

function deps(options: { blocked?: boolean } = {}): { deps: SensorDeps; offered: PendingSample[]; stats: SensorStats } {
  const offered: PendingSample[] = [];
  const stats = new SensorStats();
  const writer = {
    blocked: options.blocked ?? false,
    offer: (sample: PendingSample) => {
      offered.push(sample);
      return true;
    },
  };
  return { deps: { writer, stats, clock: SystemClock, random: Math.random, staleAfterMs: 60_000, log: silentLogger }, offered, stats };
}

async function runFor(definition: Definition, d: SensorDeps, until: () => boolean): Promise<ReturnType<ReturnType<typeof createSensor>['health']>> {
  const sensor = createSensor(definition, d);
  const controller = new AbortController();
  const running = sensor.run(controller.signal);
  try {
    await eventually(`sensor ${definition.name}`, until, 10_000, 20);
    return sensor.health();
  } finally {
    controller.abort();
    await running;
  }
}

describe('polled sensors', () => {
  it('file: decodes each reading, counts malformed ones by reason, filters, and reports read errors as health error', async () => {
    const dir = tempDir();
    const path = join(dir, 'temp');
    const { deps: d, offered, stats } = deps();
    const readings = ['45000\n', '45000\n', 'garbage', '45100', '{"t": 1e999}', '', '46000'];
    let i = 0;
    writeFileSync(path, readings[0] as string);
    const definition: Definition = { name: 'temp', source: { type: 'file', path }, intervalMs: 10, filters: [{ type: 'threshold', threshold: 500 }] };
    const sensor = createSensor(definition, d);
    const controller = new AbortController();
    const running = sensor.run(controller.signal);
    // Step through the readings: each is read at least once.
    while (i < readings.length - 1) {
      const before = stats.read;
      await eventually('a read', () => stats.read > before, 5000, 5);
      writeFileSync(path, readings[++i] as string);
    }
    await eventually('the last reading', () => offered.some((s) => s.value === 46000), 5000, 5);
    controller.abort();
    await running;
    expect(offered.map((s) => s.value)).toEqual([45000, 46000]); // 45100 is within the dead band
    expect(stats.dropped.invalidJson).toBeGreaterThan(0);
    expect(stats.dropped.nonFiniteNumber).toBeGreaterThan(0);
    expect(stats.dropped.blank).toBeGreaterThan(0);
    expect(stats.dropped.filtered).toBeGreaterThan(0);
    expect(stats.passed).toBe(2);

    const missing = deps();
    const health = await runFor({ name: 'gone', source: { type: 'file', path: join(dir, 'nope') }, intervalMs: 10, filters: [] }, missing.deps, () => missing.stats.readErrors >= 3);
    expect(health.status).toBe('error');
    expect(missing.offered).toEqual([]);
  });

  it('command: reads stdout as the reading; a failing command is a read error', async () => {
    const dir = tempDir();
    const script = join(dir, 'probe.sh');
    writeFileSync(script, '#!/bin/sh\necho \'{"rh": 41.5}\'\n');
    chmodSync(script, 0o755);
    const ok = deps();
    await runFor({ name: 'rh', source: { type: 'command', command: [script] }, intervalMs: 20, filters: [{ type: 'change', key: 'rh' }] }, ok.deps, () => ok.stats.read >= 3);
    expect(ok.offered.map((s) => s.value)).toEqual([{ rh: 41.5 }]);
    expect(ok.stats.dropped.filtered).toBeGreaterThanOrEqual(2);
    const failing = deps();
    await runFor({ name: 'bad', source: { type: 'command', command: ['/bin/false'] }, intervalMs: 20, filters: [] }, failing.deps, () => failing.stats.readErrors >= 2);
    expect(failing.stats.read).toBe(0);
  });

  it('skips its reads while the spool is blocked, counting them as spoolFull', async () => {
    const blocked = deps({ blocked: true });
    await runFor({ name: 'sim', source: { type: 'simulated', waveform: 'sine', base: 0, amplitude: 1, noise: 0, periodMs: 1000 }, intervalMs: 10, filters: [] }, blocked.deps, () => blocked.stats.dropped.spoolFull >= 3);
    expect(blocked.stats.read).toBe(0);
    expect(blocked.offered).toEqual([]);
  });
});

describe('stream sensors', () => {
  it('Unix socket: splits lines, drops malformed ones, releases the newest value per interval, reconnects', async () => {
    const dir = tempDir();
    const path = join(dir, 'dev.sock');
    const clients: Socket[] = [];
    const server = createServer((socket) => clients.push(socket));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const { deps: d, offered, stats } = deps();
    const sensor = createSensor({ name: 'vib', source: { type: 'stream', path, delimiter: '\n' }, intervalMs: 20, filters: [] }, d);
    const controller = new AbortController();
    const running = sensor.run(controller.signal);
    try {
      await eventually('the agent to connect', () => clients.length === 1);
      clients[0]?.write('{"g": 1}\nnot json\n\xff\n');
      clients[0]?.write(Buffer.from([0xff, 0x0a])); // invalid UTF-8 line
      clients[0]?.write('{"g": 2}\n{"g": ');
      clients[0]?.write('3}\n');
      await eventually('g=3 released', () => offered.some((s) => JSON.stringify(s.value) === '{"g":3}'));
      expect(stats.dropped.invalidJson).toBeGreaterThanOrEqual(1);
      expect(stats.dropped.invalidUtf8).toBe(1);
      clients[0]?.destroy(); // device went away: the sensor reconnects
      await eventually('a reconnect', () => clients.length === 2, 10_000);
      clients[1]?.write('{"g": 4}\n');
      await eventually('g=4 released', () => offered.some((s) => JSON.stringify(s.value) === '{"g":4}'));
      // Values that arrive faster than the release interval are superseded, not all spooled.
      clients[1]?.write(Array.from({ length: 200 }, (_, i) => `{"g": ${100 + i}}\n`).join(''));
      await eventually('g=299 released', () => offered.some((s) => JSON.stringify(s.value) === '{"g":299}'));
      expect(stats.dropped.superseded).toBeGreaterThan(100);
      // Every reading is accounted for: passed, dropped by reason, or (at most one) still waiting for its release tick.
      expect([0, 1]).toContain(stats.read - stats.passed - stats.droppedTotal);
      expect(sensor.health().status).toBe('ok');
    } finally {
      controller.abort();
      await running;
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('FIFO (a device-like pipe): reads lines as a writer sends them', async () => {
    const dir = tempDir();
    const path = join(dir, 'dev');
    execFileSync('mkfifo', [path]);
    const { deps: d, offered, stats } = deps();
    const sensor = createSensor({ name: 'fifo', source: { type: 'stream', path, delimiter: '\n' }, intervalMs: 20, filters: [] }, d);
    const controller = new AbortController();
    const running = sensor.run(controller.signal);
    try {
      let fd = -1;
      await eventually('the agent to open the FIFO for reading', () => {
        try {
          fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK); // ENXIO until a reader has it open
          return true;
        } catch {
          return false;
        }
      });
      writeSync(fd, '{"a": 2}\nbad\n');
      await eventually('the first value', () => offered.some((s) => JSON.stringify(s.value) === '{"a":2}'));
      writeSync(fd, '3\n');
      await eventually('the second value', () => offered.some((s) => s.value === 3));
      closeSync(fd);
      expect(stats.dropped.invalidJson).toBe(1);
      expect(stats.readErrors).toBe(0);
    } finally {
      controller.abort();
      await running;
    }
  });

  it('regular file: follows appended lines like tail -f', async () => {
    const dir = tempDir();
    const path = join(dir, 'log');
    writeFileSync(path, '{"old": true}\n');
    const { deps: d, offered } = deps();
    const sensor = createSensor({ name: 'tail', source: { type: 'stream', path, delimiter: '\n' }, intervalMs: 20, filters: [] }, d);
    const controller = new AbortController();
    const running = sensor.run(controller.signal);
    try {
      // Append a marker until one is read: from then on the follower is at the file's end,
      // so the next line appended is read (no guess at when it opened the file).
      await eventually('the follower at the end of the file', () => {
        if (offered.some((s) => s.value === 0)) return true;
        appendFileSync(path, '0\n');
        return false;
      });
      appendFileSync(path, '21.5\n');
      await eventually('the appended line', () => offered.some((s) => s.value === 21.5));
      expect(offered.some((s) => JSON.stringify(s.value) === '{"old":true}')).toBe(false);
    } finally {
      controller.abort();
      await running;
    }
  });
});

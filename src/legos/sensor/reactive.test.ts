import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { type Observer, type Peripheral, PeripheralAdapter, type PushSource, ReactiveSensorSource } from './reactive.ts';
import { SequenceCounter } from './sequence.ts';
import type { SensorEvent, SensorSample } from './types.ts';

/** A minimal hot push source that records its subscribers. */
class Subject<T> implements PushSource<T> {
  observers = new Set<Observer<T>>();
  subscribe(observer: Observer<T>) {
    this.observers.add(observer);
    return { unsubscribe: () => void this.observers.delete(observer) };
  }
  next(value: T) {
    for (const o of [...this.observers]) o.next(value);
  }
  error(error: unknown) {
    for (const o of [...this.observers]) o.error?.(error);
  }
  complete() {
    for (const o of [...this.observers]) o.complete?.();
  }
}

/** A device that emits its first readings synchronously while starting. */
class Device implements Peripheral<number, string> {
  readonly output = new Subject<number>();
  commands: string[] = [];
  stopped = 0;
  start() {
    this.output.next(1);
    this.output.next(2);
  }
  stop() {
    this.stopped++;
  }
  send(command: string) {
    this.commands.push(command);
  }
}

describe('ReactiveSensorSource', () => {
  it('subscribes before starting the device, so items emitted during start are published', async () => {
    const clock = new ManualClock({ wallMs: 7 });
    const subject = new Subject<number>();
    const samples: SensorSample<string>[] = [];
    const source = new ReactiveSensorSource<number, string>({
      source: subject,
      publish: (s) => void samples.push(s),
      map: (n) => `v${n}`,
      startDevice: () => subject.next(1),
      clock,
    });
    const abort = new AbortController();
    await source.start(abort.signal);
    subject.next(2);
    expect(samples).toEqual([
      { value: 'v1', sourceTimeMs: 7, ingestTimeMs: 7, sequence: 1 },
      { value: 'v2', sourceTimeMs: 7, ingestTimeMs: 7, sequence: 2 },
    ]);
    abort.abort();
    subject.next(3);
    expect(samples).toHaveLength(2);
    expect(subject.observers.size).toBe(0);
    expect(source.active).toBe(false);
  });

  it('counts publish failures without consuming sequence numbers, and records source errors and completion', async () => {
    const subject = new Subject<number>();
    const errors: string[] = [];
    const published: number[] = [];
    const source = new ReactiveSensorSource<number>({
      source: subject,
      publish: (s) => {
        if (s.value < 0) throw new Error('negative');
        published.push(s.sequence);
      },
      onError: (_e, stage) => errors.push(stage),
      clock: new ManualClock(),
      sequence: new SequenceCounter({ start: 10 }),
    });
    await source.start(new AbortController().signal);
    subject.next(1);
    subject.next(-1);
    subject.error(new Error('EIO'));
    expect(source.consecutiveFailures).toBe(2);
    subject.next(2);
    subject.complete();
    expect(published).toEqual([11, 12]);
    expect(errors).toEqual(['publish', 'source']);
    expect([source.received, source.published, source.failures, source.sourceErrors]).toEqual([3, 2, 1, 1]);
    expect(source.consecutiveFailures).toBe(0);
    expect(source.completed).toBe(true);
  });

  it('ignores items a sloppy source still delivers after the abort', async () => {
    let observer: Observer<number> | undefined;
    const sloppy: PushSource<number> = {
      subscribe: (o) => {
        observer = o;
        return { unsubscribe: () => undefined }; // keeps delivering
      },
    };
    const values: number[] = [];
    const source = new ReactiveSensorSource<number>({ source: sloppy, publish: (s) => void values.push(s.value) });
    const abort = new AbortController();
    await source.start(abort.signal);
    observer?.next(1);
    abort.abort();
    observer?.next(2);
    observer?.error?.(new Error('late'));
    expect(values).toEqual([1]);
    expect([source.received, source.sourceErrors]).toEqual([1, 0]);
  });

  it('unsubscribes when the device fails to start', async () => {
    const subject = new Subject<number>();
    const source = new ReactiveSensorSource<number>({
      source: subject,
      publish: () => undefined,
      startDevice: () => Promise.reject(new Error('no such device')),
    });
    await expect(source.start(new AbortController().signal)).rejects.toThrow('no such device');
    expect(subject.observers.size).toBe(0);
  });
});

describe('PeripheralAdapter', () => {
  it('publishes device output as events, forwards commands, and stops the device on abort', async () => {
    const device = new Device();
    const events: SensorEvent[] = [];
    const adapter = new PeripheralAdapter<number, string>({
      peripheral: device,
      publish: (e) => void events.push(e),
      eventType: 'button.press',
      data: (n) => ({ button: n }),
      identity: { id: 'panel-1' },
      clock: new ManualClock({ wallMs: 3 }),
      group: 'panel',
    });
    const abort = new AbortController();
    await adapter.start(abort.signal);
    expect(events).toEqual([1, 2].map((n) => ({ type: 'button.press', data: { button: n }, observedAtMs: 3, identity: { id: 'panel-1' }, sequence: n, metadata: {} })));
    await adapter.send('led:on');
    expect(device.commands).toEqual(['led:on']);
    abort.abort();
    await Promise.resolve();
    await Promise.resolve();
    expect(device.stopped).toBe(1);
    device.output.next(3);
    expect(events).toHaveLength(2);
    expect(adapter.sequence.group).toBe('panel');
  });

  it('refuses commands to a device without input', async () => {
    const adapter = new PeripheralAdapter<number>({ peripheral: { output: new Subject<number>() }, publish: () => undefined, eventType: 'x' });
    await expect(adapter.send('anything')).rejects.toThrow(TypeError);
  });
});

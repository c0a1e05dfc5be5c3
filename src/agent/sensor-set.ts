/**
 * The running sensors of an agent, by name: starts each with its own AbortSignal, stops
 * them (waiting until their in-flight reads ended), and collects their health. A sensor
 * whose `run` rejects unexpectedly is logged and left stopped (its health goes stale).
 *
 * Limitations: at most `MAX_SENSORS` entries (the config schema's bound).
 */
import type { HealthStatus } from '../legos/sensor/index.ts';
import type { SensorDefinition } from './config.ts';
import { PolledSensor, type SensorDeps, type SensorRunner } from './sensor.ts';
import { StreamSensor } from './stream.ts';

interface Running {
  readonly runner: SensorRunner;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

type StreamDefinition = SensorDefinition & { source: { type: 'stream' } };
type PolledDefinition = SensorDefinition & { source: { type: 'file' | 'command' | 'http' | 'simulated' } };

function isStream(definition: SensorDefinition): definition is StreamDefinition {
  return definition.source.type === 'stream';
}

/** A sensor runner for a definition. */
export function createSensor(definition: SensorDefinition, deps: SensorDeps): SensorRunner {
  return isStream(definition) ? new StreamSensor(definition, deps) : new PolledSensor(definition as PolledDefinition, deps);
}

/** The set of running sensors. */
export class SensorSet {
  readonly #running = new Map<string, Running>();

  /** Names of the running sensors. */
  get names(): string[] {
    return [...this.#running.keys()];
  }

  /** Starts `definition` (a sensor of the same name must not be running). */
  start(definition: SensorDefinition, deps: SensorDeps): void {
    if (this.#running.has(definition.name)) throw new Error(`sensor ${definition.name} is already running`);
    const runner = createSensor(definition, deps);
    const controller = new AbortController();
    const done = runner.run(controller.signal).catch((error: unknown) => {
      deps.log.error({ event: 'sensor_crashed', sensor: definition.name, err: error }, 'sensor stopped unexpectedly');
    });
    this.#running.set(definition.name, { runner, controller, done });
  }

  /** Stops the named sensors and waits for them. */
  async stop(names: Iterable<string>): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const name of names) {
      const running = this.#running.get(name);
      if (running === undefined) continue;
      this.#running.delete(name);
      running.controller.abort();
      stopping.push(running.done);
    }
    await Promise.all(stopping);
  }

  /** Stops every sensor. */
  async stopAll(): Promise<void> {
    await this.stop(this.names);
  }

  /** Each running sensor's health now. */
  health(): { name: string; status: HealthStatus }[] {
    return [...this.#running].map(([name, running]) => ({ name, status: running.runner.health() }));
  }
}

/**
 * The `simulated` source: a synthetic signal for demos and tests, as a pure function of
 * the wall time and a uniform random source (injected, so tests are deterministic).
 *
 * `value(t) = base + amplitude × shape(t / periodMs) + noise × N(0, 1)`, where shape is
 * sin(2πx) (`sine`), its sign (`square`), `2·frac(x) − 1` (`sawtooth`), a uniform draw
 * in [−1, 1) (`random`) or 0 (`constant`); N(0, 1) is a Box–Muller normal draw.
 *
 * Limitations: the phase follows the wall clock, so a clock step shifts the waveform.
 */
import type { SensorDefinition } from './config.ts';

type SimulatedSource = Extract<SensorDefinition['source'], { type: 'simulated' }>;

function normal(random: () => number): number {
  const u = 1 - random(); // (0, 1]: log(0) is avoided
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** The simulated reading at wall time `nowMs`; always a finite number. */
export function simulatedValue(source: SimulatedSource, nowMs: number, random: () => number): number {
  const x = nowMs / source.periodMs;
  let shape: number;
  switch (source.waveform) {
    case 'sine':
      shape = Math.sin(2 * Math.PI * x);
      break;
    case 'square':
      shape = Math.sin(2 * Math.PI * x) >= 0 ? 1 : -1;
      break;
    case 'sawtooth':
      shape = 2 * (x - Math.floor(x)) - 1;
      break;
    case 'random':
      shape = 2 * random() - 1;
      break;
    case 'constant':
      shape = 0;
      break;
  }
  const value = source.base + source.amplitude * shape + (source.noise > 0 ? source.noise * normal(random) : 0);
  return Number.isFinite(value) ? value : source.base;
}

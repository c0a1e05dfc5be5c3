/**
 * The edge-sensor agent's local building blocks (see /work/shared/SENSOR-IO.md):
 * sources, decoders, filters, buffers, rate matching and health. Pure and
 * I/O-free apart from the Clock seam; the agent wires them to files, sockets and the
 * spool. Retry/backoff live one level up in `../retry.ts` and are re-exported here.
 */
export {
  type AttemptContext,
  AttemptTimeoutError,
  BackoffPolicy,
  type BackoffPolicyOptions,
  type Jitter,
  RetryLoop,
  type RetryLoopOptions,
  RetryPolicy,
  type RetryPolicyOptions,
} from '../retry.ts';
export { xorChecksum } from './checksum.ts';
export { DelimitedMessageBuffer, type DelimitedMessageBufferOptions } from './delimited.ts';
export { DoubleBuffer, type DoubleBufferOptions, type SamplePacket } from './double-buffer.ts';
export { ChangeFilter, ThresholdFilter, changedEnough, deepEqual, type FilterOptions } from './filters.ts';
export { FrameAssembler, type FrameAssemblerOptions, type FrameEvictionReason, type FrameId, type SensorFrame } from './frame-assembler.ts';
export { JsonEventDecoder, type JsonDecodeResult, type JsonDropReason, type JsonEventDecoderOptions } from './json-event-decoder.ts';
export { LocalSensorSource, type LocalSensorSourceOptions, type SourceFailureStage } from './local-source.ts';
export { RateMatchedSensor, type RateMatchMode, type RateMatchedSensorOptions } from './rate-matched.ts';
export {
  type Observer,
  type Peripheral,
  PeripheralAdapter,
  type PeripheralAdapterOptions,
  type PushFailureStage,
  type PushSource,
  ReactiveSensorSource,
  type ReactiveSensorSourceOptions,
  type Unsubscribable,
} from './reactive.ts';
export { BoundedRingBuffer, type BoundedRingBufferOptions, type OverflowPolicy } from './ring-buffer.ts';
export { type IntervalOptions, type TickInfo, runOnInterval } from './schedule.ts';
export { SequenceCounter, type SequenceCounterOptions } from './sequence.ts';
export type { HealthState, HealthStatus, JsonObject, JsonValue, SensorEvent, SensorIdentity, SensorSample } from './types.ts';
export { type HealthInputs, SensorHealthWatchdog, type SensorHealthWatchdogOptions, assessHealth } from './watchdog.ts';

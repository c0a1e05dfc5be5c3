/**
 * FrameAssembler: groups samples that belong together (the rows of a camera line
 * scan, the channels of a multi-axis reading, the parts of a split radio packet) into
 * frames. Each sample names its frame id and its slot; a frame is emitted as soon as
 * it holds `expectedSlots` distinct slots, with its samples in numeric slot order
 * (the reference sorted with the language default, which in JavaScript would put slot
 * 10 before slot 2).
 *
 * Better than the reference: incomplete frames cannot pile up. A frame still
 * incomplete `maxFrameAgeMs` after its first sample (monotonic clock) is evicted, and
 * when a new frame would exceed `maxPendingFrames`, the oldest incomplete frame is
 * evicted; both are counted by reason and offered to `onEvict`.
 *
 * Guarantees: every accepted sample ends up in exactly one of: an emitted frame, a
 * pending frame, an evicted frame, or `replacedSlots` (a later sample for the same slot
 * of a pending frame replaces the earlier one). Age eviction runs on every `add` and
 * on `evictExpired()`, which an owner may call from a timer.
 *
 * Limitations: a sample arriving after its frame was emitted or evicted starts a new
 * frame with the same id (ids are not remembered, because devices reuse them, e.g. an
 * 8-bit counter that wraps).
 */
import { type Clock, SystemClock } from '../clock.ts';

/** Frame ids: whatever the device uses, compared with `===`. */
export type FrameId = string | number;

/** A completed (or evicted) frame. */
export interface SensorFrame<T> {
  readonly frameId: FrameId;
  /** Slot numbers, ascending. */
  readonly slots: readonly number[];
  /** The samples, in the order of `slots`. */
  readonly samples: readonly T[];
}

/** Why an incomplete frame was evicted. */
export type FrameEvictionReason = 'age' | 'count';

/** Options of a {@link FrameAssembler}. */
export interface FrameAssemblerOptions<T> {
  /** Distinct slots that complete a frame; a positive integer. */
  expectedSlots: number;
  frameId: (sample: T) => FrameId;
  /** The sample's slot; must be a finite number, other samples are rejected and counted. */
  slot: (sample: T) => number;
  /** Incomplete frames held at most; a positive integer. Default 64. */
  maxPendingFrames?: number | undefined;
  /** Age (ms since a frame's first sample) at which an incomplete frame is evicted. Default: never. */
  maxFrameAgeMs?: number | undefined;
  /** Called with each evicted frame; must not throw. */
  onEvict?: ((frame: SensorFrame<T>, reason: FrameEvictionReason) => void) | undefined;
  /** Monotonic time for ages. Default `SystemClock`. */
  clock?: Clock | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

interface PendingFrame<T> {
  readonly firstSeenMs: number;
  readonly slots: Map<number, T>;
}

/** Assembles frames from slotted samples with bounded pending state. */
export class FrameAssembler<T> {
  readonly expectedSlots: number;
  readonly maxPendingFrames: number;
  readonly maxFrameAgeMs: number | undefined;
  readonly group: string | undefined;
  readonly #options: FrameAssemblerOptions<T>;
  readonly #clock: Clock;
  /** Insertion order is creation order, so the first entry is always the oldest. */
  readonly #pending = new Map<FrameId, PendingFrame<T>>();
  #emitted = 0;
  #evictedByAge = 0;
  #evictedByCount = 0;
  #replacedSlots = 0;
  #rejected = 0;

  constructor(options: FrameAssemblerOptions<T>) {
    this.#options = options;
    this.expectedSlots = options.expectedSlots;
    this.maxPendingFrames = options.maxPendingFrames ?? 64;
    this.maxFrameAgeMs = options.maxFrameAgeMs;
    this.group = options.group;
    this.#clock = options.clock ?? SystemClock;
    for (const [name, value] of [['expectedSlots', this.expectedSlots], ['maxPendingFrames', this.maxPendingFrames]] as const) {
      if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`FrameAssembler: ${name} must be a positive integer, got ${value}`);
    }
    if (this.maxFrameAgeMs !== undefined && !(this.maxFrameAgeMs > 0)) {
      throw new RangeError(`FrameAssembler: maxFrameAgeMs must be > 0, got ${this.maxFrameAgeMs}`);
    }
  }

  /** Frames emitted complete. */
  get emitted(): number {
    return this.#emitted;
  }
  /** Incomplete frames evicted for age. */
  get evictedByAge(): number {
    return this.#evictedByAge;
  }
  /** Incomplete frames evicted to respect `maxPendingFrames`. */
  get evictedByCount(): number {
    return this.#evictedByCount;
  }
  /** Samples replaced by a later sample for the same slot of a pending frame. */
  get replacedSlots(): number {
    return this.#replacedSlots;
  }
  /** Samples rejected for a non-finite slot. */
  get rejected(): number {
    return this.#rejected;
  }
  /** Incomplete frames held now. */
  get pendingFrames(): number {
    return this.#pending.size;
  }

  /** Adds a sample; returns the frame it completed, if any. */
  add(sample: T): SensorFrame<T> | undefined {
    this.evictExpired();
    const slot = this.#options.slot(sample);
    if (!Number.isFinite(slot)) {
      this.#rejected++;
      return undefined;
    }
    const id = this.#options.frameId(sample);
    let frame = this.#pending.get(id);
    if (frame === undefined) {
      if (this.#pending.size >= this.maxPendingFrames) this.#evictOldest('count');
      frame = { firstSeenMs: this.#clock.monotonic(), slots: new Map() };
      this.#pending.set(id, frame);
    }
    if (frame.slots.has(slot)) this.#replacedSlots++;
    frame.slots.set(slot, sample);
    if (frame.slots.size < this.expectedSlots) return undefined;
    this.#pending.delete(id);
    this.#emitted++;
    return toFrame(id, frame);
  }

  /** Evicts every incomplete frame at least `maxFrameAgeMs` old; returns how many. */
  evictExpired(): number {
    if (this.maxFrameAgeMs === undefined) return 0;
    const now = this.#clock.monotonic();
    let evicted = 0;
    for (const frame of this.#pending.values()) {
      if (now - frame.firstSeenMs < this.maxFrameAgeMs) break; // the rest are younger
      this.#evictOldest('age');
      evicted++;
    }
    return evicted;
  }

  #evictOldest(reason: FrameEvictionReason): void {
    const oldest = this.#pending.entries().next();
    if (oldest.done === true) return;
    const [id, frame] = oldest.value;
    this.#pending.delete(id);
    if (reason === 'age') this.#evictedByAge++;
    else this.#evictedByCount++;
    this.#options.onEvict?.(toFrame(id, frame), reason);
  }
}

function toFrame<T>(frameId: FrameId, frame: PendingFrame<T>): SensorFrame<T> {
  const slots = [...frame.slots.keys()].sort((a, b) => a - b);
  return { frameId, slots, samples: slots.map((slot) => frame.slots.get(slot) as T) };
}

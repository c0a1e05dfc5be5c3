/**
 * DoubleBuffer: batches a bursty stream of samples into packets. Samples fill the
 * active buffer; a full buffer is handed over whole (the two buffers swap, so the
 * producer keeps filling while the consumer reads), and `flush` hands over a partial
 * one, for example on shutdown or a timer.
 *
 * Better than the reference: hand-over goes through a bounded queue (`maxReady`
 * packets). When the consumer falls behind, `overflow` decides which packet is lost
 * (`dropOldest`, the default, keeps the freshest data; `dropNewest` keeps the backlog),
 * and the loss is counted in packets and samples. The reference queued without bound.
 *
 * Packets carry a running `sequence`, so a consumer can see from a gap that packets
 * were dropped. Limitations: single-threaded use; samples are held by reference.
 */
import { BoundedRingBuffer } from './ring-buffer.ts';

/** One handed-over buffer. */
export interface SamplePacket<T> {
  /** Which of the two buffers (0 or 1) the samples were collected in. */
  readonly bufferId: 0 | 1;
  /** 1-based count of hand-overs, dropped packets included. */
  readonly sequence: number;
  readonly samples: readonly T[];
}

/** Options of a {@link DoubleBuffer}. */
export interface DoubleBufferOptions {
  /** Samples per full buffer; a positive integer. */
  bufferSize: number;
  /** Packets waiting for the consumer at most; a positive integer. Default 2. */
  maxReady?: number | undefined;
  /** Which packet a full hand-over queue loses. Default `'dropOldest'`. */
  overflow?: 'dropOldest' | 'dropNewest' | undefined;
  /** Metric/log label. */
  group?: string | undefined;
}

/** Two alternating buffers and a bounded queue of full ones. */
export class DoubleBuffer<T> {
  readonly bufferSize: number;
  readonly group: string | undefined;
  readonly #ready: BoundedRingBuffer<SamplePacket<T>>;
  #active: T[] = [];
  #activeId: 0 | 1 = 0;
  #handedOver = 0;
  #droppedSamples = 0;

  constructor(options: DoubleBufferOptions) {
    if (!Number.isSafeInteger(options.bufferSize) || options.bufferSize <= 0) {
      throw new RangeError(`DoubleBuffer: bufferSize must be a positive integer, got ${options.bufferSize}`);
    }
    this.bufferSize = options.bufferSize;
    this.group = options.group;
    this.#ready = new BoundedRingBuffer({ capacity: options.maxReady ?? 2, overflow: options.overflow ?? 'dropOldest', group: options.group });
  }

  /** Samples in the active (filling) buffer. */
  get activeCount(): number {
    return this.#active.length;
  }
  /** Packets waiting for `pop`. */
  get readyCount(): number {
    return this.#ready.size;
  }
  /** Buffers handed over (full or flushed). */
  get handedOver(): number {
    return this.#handedOver;
  }
  /** Packets lost to a full hand-over queue. */
  get droppedPackets(): number {
    return this.#ready.dropped;
  }
  /** Samples in the lost packets. */
  get droppedSamples(): number {
    return this.#droppedSamples;
  }

  /** Adds a sample; true when it filled the active buffer and the buffer was handed over. */
  push(sample: T): boolean {
    this.#active.push(sample);
    if (this.#active.length < this.bufferSize) return false;
    this.#handOver();
    return true;
  }

  /** Hands over the active buffer even if it is not full; false when it was empty. */
  flush(): boolean {
    if (this.#active.length === 0) return false;
    this.#handOver();
    return true;
  }

  /** The oldest handed-over packet, or undefined. */
  pop(): SamplePacket<T> | undefined {
    return this.#ready.pop();
  }

  #handOver(): void {
    this.#handedOver++;
    const packet: SamplePacket<T> = { bufferId: this.#activeId, sequence: this.#handedOver, samples: this.#active };
    const evicted = this.#ready.full && this.#ready.overflow === 'dropOldest' ? this.#ready.peek() : undefined;
    if (!this.#ready.push(packet)) this.#droppedSamples += packet.samples.length;
    else if (evicted !== undefined) this.#droppedSamples += evicted.samples.length;
    this.#active = [];
    this.#activeId = this.#activeId === 0 ? 1 : 0;
  }
}

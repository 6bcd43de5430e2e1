import { releaseAll, type Batch } from './acknowledgement.js';
import { MAX_NESTING, type AttributeValue, type LogEvent } from './event.js';

/**
 * What a full buffer does with a new batch.
 * - `block`: the sender waits until the consumer makes room (backpressure reaches the input, which stops
 *   reading; a file is simply read later, a network client is slowed or told to retry).
 * - `drop_newest`: the new batch is discarded, counted, and its acknowledgement completes as `dropped`.
 */
export type WhenFull = 'block' | 'drop_newest';

export interface BufferOptions {
  /** Capacity in events. A single batch larger than this is still accepted into an empty buffer. */
  maxEvents: number;
  /** Capacity in bytes, as `batchBytes` estimates them (default: no bound). A larger batch still enters an empty buffer. */
  maxBytes?: number;
  whenFull: WhenFull;
}

export interface BufferStats {
  /** Events currently queued. */
  queuedEvents: number;
  /** Bytes currently queued, as `batchBytes` estimates them. */
  queuedBytes: number;
  /** Events ever discarded because the buffer was full (drop_newest). */
  droppedEvents: number;
  /** Times a sender had to wait for room (block). */
  blockedSends: number;
  /** Events sent after the buffer was sealed (a sender waiting for room when its consumer was given up on): answered `abandoned`. */
  abandonedEvents: number;
}

/**
 * A bounded, in-memory queue of batches in front of one consumer (a transform or output), fed by one or more
 * producers (fan-in). The queue closes, and the consumer's iteration ends, once every producer has closed
 * its end and the queue is drained: that is how shutdown drains the pipeline stage by stage.
 */
export class BatchBuffer implements AsyncIterable<Batch> {
  readonly stats: BufferStats = { queuedEvents: 0, queuedBytes: 0, droppedEvents: 0, blockedSends: 0, abandonedEvents: 0 };
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly whenFull: WhenFull;
  /** Batches queued, each with its `bytes` set (by `bytesOf`, when it was sent). */
  private queue: Batch[] = [];
  private head = 0;
  private openProducers = 0;
  private sealed = false;
  private consumerWaiting: (() => void) | null = null;
  private readonly senderWaiting: Array<() => void> = [];

  constructor(options: BufferOptions) {
    if (!(options.maxEvents >= 1)) throw new RangeError('maxEvents must be at least 1');
    if (!((options.maxBytes ?? Infinity) >= 1)) throw new RangeError('maxBytes must be at least 1');
    this.maxEvents = options.maxEvents;
    this.maxBytes = options.maxBytes ?? Infinity;
    this.whenFull = options.whenFull;
  }

  /** Registers a producer; call the returned function once when it will send no more. */
  addProducer(): () => void {
    if (this.sealed) throw new Error('buffer is closed');
    this.openProducers += 1;
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.openProducers -= 1;
      if (this.openProducers === 0) this.seal();
    };
  }

  /** Ends the buffer now: no more sends are accepted; what is queued is still consumed. */
  seal(): void {
    this.sealed = true;
    this.wakeConsumer();
    // Senders blocked on a sealed buffer must not hang forever.
    for (const wake of this.senderWaiting.splice(0)) wake();
  }

  get closed(): boolean {
    return this.sealed;
  }

  private hasRoomFor(count: number, bytes: number): boolean {
    const { queuedEvents, queuedBytes } = this.stats;
    return queuedEvents === 0 || (queuedEvents + count <= this.maxEvents && queuedBytes + bytes <= this.maxBytes);
  }

  private get full(): boolean {
    return this.stats.queuedEvents >= this.maxEvents || this.stats.queuedBytes >= this.maxBytes;
  }

  /**
   * Queues a batch. Resolves when it is queued (or dropped). With `block`, waits for room, in arrival order.
   * Returns false if the batch was not queued (dropped, or the buffer was closed).
   */
  async send(batch: Batch): Promise<boolean> {
    if (batch.events.length === 0) {
      releaseAll(batch.finalizers);
      return true;
    }
    const bytes = bytesOf(batch);
    if (!this.hasRoomFor(batch.events.length, bytes) || this.senderWaiting.length > 0) {
      if (this.whenFull === 'drop_newest') {
        this.stats.droppedEvents += batch.events.length;
        releaseAll(batch.finalizers, 'dropped');
        return false;
      }
      this.stats.blockedSends += 1;
      // Wait in line. Once woken we are at the head of the line; without room yet, we keep that place.
      let atHead = false;
      while (!this.sealed && (!this.hasRoomFor(batch.events.length, bytes) || (!atHead && this.senderWaiting.length > 0))) {
        const head = atHead;
        await new Promise<void>((resolve) => (head ? this.senderWaiting.unshift(resolve) : this.senderWaiting.push(resolve)));
        atHead = true;
      }
    }
    if (this.sealed) {
      this.stats.abandonedEvents += batch.events.length;
      releaseAll(batch.finalizers, 'abandoned');
      return false;
    }
    this.queue.push(batch);
    this.stats.queuedEvents += batch.events.length;
    this.stats.queuedBytes += bytes;
    this.wakeConsumer();
    // There may be room for the next sender in line too; it checks for itself.
    if (this.senderWaiting.length > 0 && !this.full) this.wakeSenders();
    return true;
  }

  /** Takes the next batch, waiting for one; undefined once the buffer is closed and empty. */
  async next(): Promise<Batch | undefined> {
    while (this.head >= this.queue.length) {
      if (this.sealed) return undefined;
      await new Promise<void>((resolve) => {
        this.consumerWaiting = resolve;
      });
    }
    return this.take();
  }

  /** Takes the next batch if one is queued, without waiting; undefined if none is. */
  takeQueued(): Batch | undefined {
    return this.head < this.queue.length ? this.take() : undefined;
  }

  private take(): Batch {
    const batch = this.queue[this.head]!;
    this.queue[this.head] = undefined as unknown as Batch;
    this.stats.queuedBytes -= batch.bytes!;
    this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.stats.queuedEvents -= batch.events.length;
    this.wakeSenders();
    return batch;
  }

  /** Removes everything queued (forced shutdown), returning it so the caller can account for it. */
  drainQueued(): Batch[] {
    const rest = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    this.stats.queuedEvents = 0;
    this.stats.queuedBytes = 0;
    this.wakeSenders();
    return rest;
  }

  private wakeConsumer(): void {
    const wake = this.consumerWaiting;
    if (wake) {
      this.consumerWaiting = null;
      wake();
    }
  }

  private wakeSenders(): void {
    // Wake the first waiting sender; it re-checks for room and, when it has sent, the next one goes.
    const wake = this.senderWaiting.shift();
    if (wake) wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    while (true) {
      const batch = await this.next();
      if (batch === undefined) return;
      yield batch;
    }
  }
}

/**
 * A batch's `bytes`: those it carries, or (none, or not a size: a plugin's batch) estimated now and kept on
 * it, so that the buffers it goes on to do not walk its events again.
 */
export function bytesOf(batch: Batch): number {
  const carried = batch.bytes;
  if (typeof carried === 'number' && carried >= 0 && carried < Infinity) return carried;
  return (batch.bytes = batchBytes(batch.events));
}

/**
 * The `bytes` of a batch made of `events` out of `from` (a transform's output of its input): in proportion to
 * the events passed on, without a walk over them (a parsed event holds about the text of its line).
 */
export function carriedBytes(from: Batch, events: readonly unknown[]): number | undefined {
  if (from.bytes === undefined) return undefined;
  const n = from.events.length;
  return events.length === n ? from.bytes : n === 0 ? undefined : Math.round((from.bytes * events.length) / n);
}

/** What an event costs beyond the text and numbers of its fields (its objects, its source, its timestamps), roughly. */
const EVENT_OVERHEAD_BYTES = 100;
/** What a number, boolean or null counts for. */
const SCALAR_BYTES = 8;

/**
 * An estimate of the memory a batch holds, for `buffer.max_bytes`: per event a fixed overhead plus the text
 * of its body, attributes and resource (a character counted as a byte; a key as its name; a scalar as 8
 * bytes). A raw line costs one read of its length; a parsed one a walk over its fields, nested ones too (as
 * deep as events nest, `MAX_NESTING`): a big value hidden in a map is counted as a big line is. Made once where
 * a batch enters the pipeline (the transforms carry it on: `carriedBytes`), so the walk is rare.
 */
export function batchBytes(events: readonly LogEvent[]): number {
  let bytes = events.length * EVENT_OVERHEAD_BYTES;
  for (const e of events) {
    const body = e.body;
    bytes += typeof body === 'string' ? body.length : valueBytes(body, 0);
    bytes += valueBytes(e.attributes, 0);
    if (e.resource !== undefined) bytes += valueBytes(e.resource, 0);
  }
  return bytes;
}

function valueBytes(value: AttributeValue | undefined, depth: number): number {
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object') return SCALAR_BYTES;
  if (depth > MAX_NESTING) return 0;
  let bytes = 0;
  if (Array.isArray(value)) {
    for (const item of value) bytes += valueBytes(item, depth + 1);
  } else {
    for (const key in value) bytes += key.length + valueBytes(value[key], depth + 1);
  }
  return bytes;
}

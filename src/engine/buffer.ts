import { releaseAll, type Batch } from './acknowledgement.js';

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
  whenFull: WhenFull;
}

export interface BufferStats {
  /** Events currently queued. */
  queuedEvents: number;
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
  readonly stats: BufferStats = { queuedEvents: 0, droppedEvents: 0, blockedSends: 0, abandonedEvents: 0 };
  private readonly options: BufferOptions;
  private queue: Batch[] = [];
  private head = 0;
  private openProducers = 0;
  private sealed = false;
  private consumerWaiting: (() => void) | null = null;
  private readonly senderWaiting: Array<() => void> = [];

  constructor(options: BufferOptions) {
    if (!(options.maxEvents >= 1)) throw new RangeError('maxEvents must be at least 1');
    this.options = options;
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

  private hasRoomFor(count: number): boolean {
    return this.stats.queuedEvents === 0 || this.stats.queuedEvents + count <= this.options.maxEvents;
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
    if (!this.hasRoomFor(batch.events.length) || this.senderWaiting.length > 0) {
      if (this.options.whenFull === 'drop_newest') {
        this.stats.droppedEvents += batch.events.length;
        releaseAll(batch.finalizers, 'dropped');
        return false;
      }
      this.stats.blockedSends += 1;
      // Wait in line. Once woken we are at the head of the line; without room yet, we keep that place.
      let atHead = false;
      while (!this.sealed && (!this.hasRoomFor(batch.events.length) || (!atHead && this.senderWaiting.length > 0))) {
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
    this.wakeConsumer();
    // There may be room for the next sender in line too; it checks for itself.
    if (this.senderWaiting.length > 0 && this.stats.queuedEvents < this.options.maxEvents) this.wakeSenders();
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

/**
 * End-to-end acknowledgements.
 *
 * An input that wants to know when its events are safely delivered (the file input, to checkpoint offsets;
 * a network input, to answer its client) attaches a `Finalizer` to the batch it emits. The finalizer counts the
 * places the batch still has to reach: the engine retains it once more for every extra downstream edge
 * (fan-out), transforms hand it on to what they emit, and each output releases it when its write is done. When
 * the count reaches zero the input's callback runs once, with the worst status any branch reported.
 *
 * Statuses, from best to worst:
 * - `delivered`: every output that the events reached accepted them (or a transform filtered them out).
 * - `dropped`:   a buffer with `when_full: drop_newest` discarded them, or a transform with `on_error: drop`
 *                failed on them; the config chose this; inputs move on (the same events would fail again).
 * - `rejected`:  an output refused them for good (a permanent error); counted and logged; inputs move on.
 * - `abandoned`: the daemon stopped (shutdown timeout, or the pipeline closing) before every output was
 *                done with them. Not a verdict on the events: inputs that can offer them again should (the
 *                file input reads them again at the next start; network inputs let the client retry).
 */
import type { LogEvent } from './event.js';

export type AckStatus = 'delivered' | 'dropped' | 'rejected' | 'abandoned';

const RANK: Record<AckStatus, number> = { delivered: 0, dropped: 1, rejected: 2, abandoned: 3 };

export class Finalizer {
  private pending = 1;
  private status: AckStatus = 'delivered';
  private readonly onFinal: (status: AckStatus) => void;

  constructor(onFinal: (status: AckStatus) => void) {
    this.onFinal = onFinal;
  }

  /** Another place now holds the batch; it must release once too. */
  retain(count = 1): void {
    if (this.pending <= 0) throw new Error('retain() on a finalizer that already completed');
    this.pending += count;
  }

  release(status: AckStatus = 'delivered'): void {
    if (this.pending <= 0) return; // completing twice is a bug elsewhere, but must not double-ack an input
    if (RANK[status] > RANK[this.status]) this.status = status;
    this.pending -= 1;
    if (this.pending === 0) this.onFinal(this.status);
  }

  get done(): boolean {
    return this.pending <= 0;
  }
}

/** A batch of events flowing between stages, with the finalizers of the input batches it came from. */
export interface Batch {
  events: LogEvent[];
  finalizers: Finalizer[];
  /**
   * An estimate of the memory its events hold (`batchBytes`), for the buffers' `max_bytes`: made once, where
   * the events enter the pipeline, and carried on by the transforms (in proportion to the events they pass
   * on). Absent, the buffer that takes the batch makes it.
   */
  bytes?: number;
}

export function retainAll(finalizers: readonly Finalizer[], count = 1): void {
  for (const f of finalizers) f.retain(count);
}

export function releaseAll(finalizers: readonly Finalizer[], status: AckStatus = 'delivered'): void {
  for (const f of finalizers) f.release(status);
}

/** Acknowledges a batch: the output that received it has finished with it. */
export function ackBatch(batch: Batch, status: AckStatus = 'delivered'): void {
  releaseAll(batch.finalizers, status);
}

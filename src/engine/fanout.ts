/**
 * How a producer's batches reach the buffers of the components it feeds: one buffer gets the batch itself,
 * several get copies (so that branches cannot see each other's changes), and a producer held through a
 * reload waits at a gate until the next pipeline adopts it.
 */
import { releaseAll, retainAll, type Batch } from './acknowledgement.js';
import { bytesOf, type BatchBuffer } from './buffer.js';
import type { LogEvent } from './event.js';
import type { Taps } from './tap.js';

/**
 * A deep copy of the events for another branch. An event that cannot be copied (nested so deep that
 * structuredClone overflows the stack: the inputs and parsers cut nesting, a plugin may not) is replaced, in
 * the batch as in its copies, by a marked stand-in rather than stopping the producer.
 */
function copyEvents(events: LogEvent[]): LogEvent[] {
  try {
    return structuredClone(events);
  } catch {
    for (let i = 0; i < events.length; i++) {
      try {
        structuredClone(events[i]);
      } catch (err) {
        const e = events[i]!;
        events[i] = {
          ...(e.timestamp !== undefined ? { timestamp: e.timestamp } : {}),
          observedTimestamp: e.observedTimestamp,
          body: `[event could not be copied: ${(err as Error).message}]`,
          attributes: { 'log.truncated': true },
          source: { ...e.source },
        };
      }
    }
    return structuredClone(events);
  }
}

/**
 * Sends a producer's batches to every downstream buffer. An input kept running through a reload is *held*
 * (`hold`): its sends wait at a gate while the pipeline it fed drains, and go on into the buffers of the
 * pipeline that adopts it once that one runs (`add`, then `open`); or, if the daemon stops instead, they
 * are answered `abandoned` (`discard`), so that an input that can offer them again (a file) will.
 */
export class Fanout {
  private targets: Array<{ buffer: BatchBuffer; close: () => void }> = [];
  /** Sends not yet queued by every target: past the microtasks of a send, one waits for room. */
  private sending = 0;
  /** Sends waiting at the gate of a hold. */
  private waiting = 0;
  private gate: { opened: Promise<void>; open: () => void } | undefined;
  private discarding = false;
  /** Events answered `abandoned` by `discard`. */
  discarded = 0;
  private closed = false;
  private idle: Array<() => void> = [];

  /** `id`: the producer's, for the `taps` watching what it sends. */
  constructor(private readonly id: string, private readonly taps: Taps | undefined) {}

  /** Whether a send waits for room in a downstream buffer, or at the gate of a reload (the component's output is held up). */
  get blocked(): boolean {
    return this.sending > 0 || this.waiting > 0;
  }

  add(buffer: BatchBuffer): void {
    const close = buffer.addProducer();
    // A producer that has finished (an input that ended while held) sends nothing more to a new buffer.
    if (this.closed) close();
    else this.targets.push({ buffer, close });
  }

  /** Sends a batch; false when it was not sent (discarded at a stop that came while held: answered `abandoned`). */
  async send(batch: Batch): Promise<boolean> {
    while (this.gate) {
      this.waiting += 1;
      try {
        await this.gate.opened;
      } finally {
        this.waiting -= 1;
      }
    }
    if (this.discarding) {
      this.discarded += batch.events.length;
      releaseAll(batch.finalizers, 'abandoned');
      return false;
    }
    if (this.taps?.active) this.taps.offer(this.id, batch.events);
    this.sending += 1;
    try {
      await this.sendAll(batch);
    } finally {
      this.sending -= 1;
      if (this.sending === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
    return true;
  }

  private async sendAll(batch: Batch): Promise<void> {
    const n = this.targets.length;
    if (n === 1) {
      await this.targets[0]!.buffer.send(batch);
      return;
    }
    if (n === 0) {
      releaseAll(batch.finalizers);
      return;
    }
    // Copies first: a copy that throws must not leave the finalizers retained for sends that never happen.
    const copies: LogEvent[][] = [];
    for (let i = 0; i < n - 1; i++) copies.push(copyEvents(batch.events));
    retainAll(batch.finalizers, n - 1);
    // Estimated once for every copy.
    const bytes = bytesOf(batch);
    const sends: Promise<boolean>[] = [];
    for (let i = 0; i < n; i++) {
      const events = i === n - 1 ? batch.events : copies[i]!;
      sends.push(this.targets[i]!.buffer.send({ events, finalizers: batch.finalizers, bytes }));
    }
    await Promise.all(sends);
  }

  /**
   * Holds the producer for a reload: new sends wait at a gate; the buffers it fed are let go (closed for
   * it) once the sends already under way are queued, which the returned promise waits for.
   */
  async hold(): Promise<void> {
    if (!this.gate) {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      this.gate = { opened, open };
    }
    const previous = this.targets;
    this.targets = [];
    if (this.sending > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    for (const t of previous) t.close();
  }

  /** Lets the sends held at the gate go on, into the buffers added since. */
  open(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  /** Lets the sends held at the gate go, answered `abandoned`, and those that follow too (the daemon stops). */
  discard(): void {
    this.discarding = true;
    this.open();
  }

  close(): void {
    this.closed = true;
    for (const t of this.targets) t.close();
  }
}

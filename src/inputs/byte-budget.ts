/**
 * `max_pending_bytes`: the bytes an input holds for a pipeline that is not taking them yet (syslog's datagrams
 * and TCP/TLS messages, otlp_grpc's requests, fluent_forward's chunks), those being handed to it included. The
 * pipeline's buffers bound what they hold; this bounds what waits in front of them, which a count of events
 * alone does not (one event may be megabytes).
 *
 * What does not fit is refused (otlp_grpc: UNAVAILABLE, the client retries), dropped (syslog UDP: nothing
 * can slow a UDP sender) or, where TCP can slow the sender, not read yet (ReadBudget).
 */
export class ByteBudget {
  readonly max: number;
  /** Bytes held now. */
  used = 0;

  constructor(max: number) {
    this.max = max;
  }

  /**
   * Whether `bytes` more may be taken: while they fit, and always when nothing is held, so that one larger
   * than the budget is still taken alone (as an empty buffer takes a batch larger than its capacity).
   */
  fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.max;
  }

  /** Nothing more fits (but what one larger than the budget brings when nothing is held). */
  get spent(): boolean {
    return this.used >= this.max;
  }

  take(bytes: number): void {
    this.used += bytes;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * A ByteBudget shared by the connections of a stream input that can slow its senders (TCP): every byte a
 * connection has read counts from the read until it is handed to the pipeline (`Reader.give`). While the
 * budget is spent, a connection that would read more waits here instead (its socket is not read: the kernel's
 * receive buffer and then the sender's TCP window fill, and the sender buffers on its side); when bytes come
 * back, every connection waiting goes on, in the order they came, so none is left behind for ever.
 *
 * The bytes held may be messages not yet complete, which only more reading completes: when the budget is
 * spent and no connection is handing anything to the pipeline (so nothing will come back), the first
 * connection waiting that holds bytes may read past the budget until it hands on what it holds (or gives it
 * up). So a single message larger than the budget still passes, one at a time, as in the other inputs.
 *
 * That connection's sender may stop in the middle of its message: once it has read nothing for `stallMs`
 * (a second), the turn passes to the next connection waiting that holds bytes, and the stalled one waits in
 * line like the others when it reads again. Before, every other connection waited for that sender to go on or
 * for idle_timeout (5 minutes) to close it. What stalled connections passed over go on holding is bounded:
 * the turn is passed on only while it stays within the budget, past that it waits for them as before. What
 * is held is then at most twice the budget, one message, and what the connections woken together read at
 * once (one read each).
 */
export class ReadBudget {
  readonly bytes: ByteBudget;
  /** How long the reader allowed past the budget may read nothing before its turn passes on (see the class). */
  readonly stallMs: number;
  private readonly line: Array<{ reader: Reader; go: () => void }> = [];
  /** Readers inside the pipeline's emit. */
  private handing = 0;
  /** The reader allowed past the budget (see the class). */
  private exempt: Reader | undefined;
  /** When the exempt reader was let past the budget, or last read. */
  private exemptRead = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Readers whose turn passed on while they held half a message; until they hold nothing. */
  private readonly passedOver = new Set<Reader>();
  private opened = false;

  /** `stop`: the input's stop, at which the budget opens (see `open`). */
  constructor(max: number, stop: AbortSignal, stallMs = EXEMPT_STALL_MS) {
    this.bytes = new ByteBudget(max);
    this.stallMs = stallMs;
    if (stop.aborted) this.opened = true;
    else stop.addEventListener('abort', () => this.open(), { once: true });
  }

  /** A connection's share of the budget; `leave()` it when the connection ends. */
  reader(): Reader {
    return new Reader(this);
  }

  /** Lets everyone through from now on (the input stops: the last bytes read are passed on as before). */
  private open(): void {
    this.opened = true;
    this.setExempt(undefined);
    this.wake();
  }

  /** @internal Whether `reader` may read (or unpack) more now. */
  may(reader: Reader): boolean {
    return this.opened || reader === this.exempt || (!this.bytes.spent && this.line.length === 0);
  }

  /** @internal Resolves once `reader` may go on; see the class. */
  async wait(reader: Reader): Promise<void> {
    while (!this.may(reader)) {
      await new Promise<void>((go) => {
        this.line.push({ reader, go });
        this.wake();
      });
    }
  }

  /** @internal `reader` read (or made) bytes. */
  took(reader: Reader): void {
    if (reader === this.exempt) this.exemptRead = performance.now();
  }

  /** @internal */
  handOver(reader: Reader, start: boolean): void {
    if (start) {
      this.handing += 1;
      this.done(reader);
    } else {
      this.handing -= 1;
      this.wake();
    }
  }

  /** @internal Bytes `reader` no longer holds. */
  give(reader: Reader, bytes: number): void {
    this.bytes.give(bytes);
    this.done(reader);
    this.wake();
  }

  /** @internal `reader` is gone; what it held comes back (`give`). */
  leave(reader: Reader): void {
    const at = this.line.findIndex((w) => w.reader === reader);
    if (at >= 0) this.line.splice(at, 1);
    this.done(reader);
    this.wake();
  }

  /**
   * `reader` handed on (or gave up) bytes: its turn past the budget, if it had one, is over; once it holds
   * nothing it no longer counts among those passed over (a part given back, say the skipped end of an
   * over-long message, leaves the rest counted).
   */
  private done(reader: Reader): void {
    if (this.exempt === reader) this.setExempt(undefined);
    if (reader.held === 0) this.passedOver.delete(reader);
  }

  private setExempt(reader: Reader | undefined): void {
    this.exempt = reader;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (reader === undefined) return;
    this.exemptRead = performance.now();
    this.watchStall(this.stallMs);
  }

  private watchStall(ms: number): void {
    this.stallTimer = setTimeout(() => this.checkStall(), ms);
    this.stallTimer.unref();
  }

  /** The exempt reader's sender may have stopped in the middle of its message: see the class. */
  private checkStall(): void {
    const stalled = this.exempt;
    if (stalled === undefined) return;
    const idle = performance.now() - this.exemptRead;
    if (idle < this.stallMs) return this.watchStall(this.stallMs - idle);
    let held = stalled.held;
    for (const r of this.passedOver) held += r.held;
    if (held > this.bytes.max || !this.line.some((w) => w.reader.held > 0)) return this.watchStall(this.stallMs);
    this.passedOver.add(stalled);
    this.setExempt(undefined);
    this.wake();
  }

  private wake(): void {
    if (this.line.length === 0) return;
    if (this.opened || !this.bytes.spent) {
      for (const waiting of this.line.splice(0)) waiting.go();
    } else if (this.handing === 0 && this.exempt === undefined) {
      // Only a reader that holds bytes can end the wait by reading on (to the end of its chunk); one that
      // holds none could wait for its sender for ever while the others' half chunks hold the budget.
      const at = this.line.findIndex((w) => w.reader.held > 0);
      if (at < 0) return;
      const [first] = this.line.splice(at, 1);
      this.setExempt(first!.reader);
      first!.go();
    }
  }
}

/** One connection's share of a ReadBudget. */
export class Reader {
  private readonly budget: ReadBudget;
  /** Bytes this connection read and has not handed on or given up yet. */
  held = 0;

  constructor(budget: ReadBudget) {
    this.budget = budget;
  }

  /** Whether the connection may read (or unpack) more now, without waiting. */
  get may(): boolean {
    return this.budget.may(this);
  }

  /** Resolves once the connection may read (or unpack) more. */
  wait(): Promise<void> {
    return this.budget.wait(this);
  }

  /** `bytes` were read (or made, say by decompressing). */
  take(bytes: number): void {
    this.held += bytes;
    this.budget.bytes.take(bytes);
    this.budget.took(this);
  }

  /** `bytes` were handed on, or given up. */
  give(bytes: number): void {
    this.held -= bytes;
    this.budget.give(this, bytes);
  }

  /** Runs `emit` (handing events to the pipeline): the budget knows that bytes will come back. */
  async handOver(emit: () => Promise<void>): Promise<void> {
    this.budget.handOver(this, true);
    try {
      await emit();
    } finally {
      this.budget.handOver(this, false);
    }
  }

  /** The connection ended: what it held comes back. */
  leave(): void {
    if (this.held) this.give(this.held);
    this.budget.leave(this);
  }
}

/** How long a connection let past the budget may read nothing before its turn passes on (see ReadBudget). */
const EXEMPT_STALL_MS = 1000;

/**
 * The delivery loop every queued output runs: takes the oldest records from its disk queue, forms a batch
 * (by count, bytes and time), waits for the rate limiter, sends, and acks the queue when the receiver took
 * the batch. Retryable failures (408, 429, 5xx, network errors, timeouts) are retried with exponential
 * backoff and jitter, or exactly after `Retry-After` when the receiver says so, for as long as it takes:
 * the records are on disk meanwhile. A permanent failure (another 4xx) is logged with the receiver's answer,
 * counted, and the batch is given up on: retrying cannot help, and it must not block the alerts behind it.
 *
 * Batches are sent one at a time and in order, so a healthy receiver gets every record once, in order.
 */
import type { Logger } from 'pino';
import type { ComponentMetrics } from '../../engine/metrics.js';
import { Backoff, sleep, type BackoffOptions } from './backoff.js';
import type { DiskQueue, QueuedRecord } from './disk-queue.js';
import type { SendOutcome } from './http.js';
import type { TokenBucket } from './rate-limit.js';

export interface BatchOptions {
  /** Records per request at most. */
  maxItems: number;
  /** Bytes (of queued records) per request at most; a single larger record is still sent alone. */
  maxBytes: number;
  /** How long the oldest record may wait for the batch to fill; 0 sends what is there at once. */
  lingerMs: number;
}

export interface WorkerOptions<T> {
  queue: DiskQueue<T>;
  send: (records: Array<QueuedRecord<T>>, signal: AbortSignal) => Promise<SendOutcome>;
  batch: BatchOptions;
  backoff: BackoffOptions;
  rateLimit?: TokenBucket | undefined;
  logger: Logger;
  metrics: ComponentMetrics;
  /** What the records are sent to, for log lines ("Slack", "the webhook"). Never the URL. */
  target: string;
  /** A longer `Retry-After` than this is capped (default 10 min). */
  maxRetryAfterMs?: number;
  /** Told when the loop dies of an error (see `error`). */
  onError?: (err: Error) => void;
  /** Told when sends start failing (a retryable failure after a success, or the first one). */
  onFailing?: () => void;
  /** Told when the loop has ended, whatever the reason (nothing makes room in the queue after that). */
  onEnded?: () => void;
  /**
   * What becomes of the records left queued when a stop ends the loop, as the end of a sentence on them
   * (`SENT_AT_NEXT_START`, the default).
   */
  leftOnDisk?: () => string;
}

/** What becomes of records a stop leaves queued, when nothing else takes them over. */
export const SENT_AT_NEXT_START = 'stay on disk and are sent at the next start';

/**
 * While stopping, the longest the worker waits for the rate limiter before it leaves the rest on disk: a
 * normal turn (Slack: one message a second) is waited for; a receiver's `Retry-After` of minutes is not.
 */
const DRAIN_MAX_WAIT_MS = 5000;

/** Refusals for good are logged at most once in this long (the others are counted into the next line). */
const REJECTION_LOG_INTERVAL_MS = 10_000;

export class DeliveryWorker<T> {
  /** The stop has begun: a failure or refusal ends the loop (the rest stays on disk), and no long wait is waited. */
  private stopping = false;
  /** The input has ended too: the loop ends once the queue is empty. */
  private draining = false;
  /** A successor takes the queue over (a reload): the loop ends after the request in flight. */
  private handingOff = false;
  /** Interrupts waits (linger, backoff, rate limit) when the stop begins. */
  private readonly wake = new AbortController();
  /** Interrupts the wait for records when draining begins (at the stop the pipeline may still queue some). */
  private readonly drained = new AbortController();
  private running: Promise<void> | undefined;
  private failing = false;
  private done = false;

  /** Whether the loop has ended (drained, stopped at a failure while stopping, halted, or died of an error). */
  get ended(): boolean {
    return this.done;
  }

  /** Whether the last attempt failed (the receiver is down or refusing for now). */
  get isFailing(): boolean {
    return this.failing;
  }

  constructor(private readonly options: WorkerOptions<T>) {}

  /** Aborts everything at once (a crash of the output): what is queued stays on disk. */
  private readonly halt = new AbortController();

  /** Why the loop died, if it did (an error no retry handles): the output rethrows it to crash and restart. */
  error: Error | undefined;

  /** Starts the loop; `hardStop` aborts everything, in-flight requests included. */
  start(hardStop: AbortSignal): void {
    // Never an unhandled rejection (the daemon would exit 70): the error is kept for the output to raise.
    this.running ??= this.loop(AbortSignal.any([hardStop, this.halt.signal]))
      .catch((err: unknown) => {
        this.error = err instanceof Error ? err : new Error(String(err));
        this.options.logger.error({ err: this.error, target: this.options.target }, `delivery to ${this.options.target} stopped by an error; the output restarts`);
        this.options.onError?.(this.error);
      })
      .finally(() => {
        this.done = true;
        this.options.onEnded?.();
      });
  }

  /** Stops now, without draining (in-flight requests are abandoned; their records stay queued). */
  async stop(): Promise<void> {
    this.halt.abort();
    await this.running;
    this.logRefusalsLeft();
  }

  /**
   * The daemon is stopping: from now on the first failure or refusal ends the loop (what is left stays on
   * disk for the next start) instead of a retry, and a backoff in progress is cut short (one more try at
   * once). The loop still sends what the pipeline queues meanwhile, until `finish`.
   */
  beginStop(): void {
    this.stopping = true;
    this.wake.abort();
  }

  /**
   * Finishes: sends what is queued while the receiver accepts it, and stops at the first failure (what is
   * left stays on disk for the next start). Resolves when the loop has ended.
   */
  async finish(): Promise<void> {
    this.beginStop();
    this.draining = true;
    this.drained.abort();
    await this.running;
    this.logRefusalsLeft();
  }

  private leftOnDisk(): string {
    return this.options.leftOnDisk?.() ?? SENT_AT_NEXT_START;
  }

  /** Refusals counted since the last line that said so: said once more, so that none goes unlogged. */
  private logRefusalsLeft(): void {
    if (this.refusedUnlogged === 0) return;
    this.options.logger.error({ target: this.options.target, refused_since_last_line: this.refusedUnlogged }, `${this.options.target} refused ${this.refusedUnlogged} more alert(s) for good since the last line; not retried`);
    this.refusedUnlogged = 0;
  }

  private async loop(hardStop: AbortSignal): Promise<void> {
    const { queue, batch } = this.options;
    const waits = AbortSignal.any([hardStop, this.wake.signal]);
    const idle = AbortSignal.any([hardStop, this.drained.signal]);
    while (!hardStop.aborted) {
      if (this.handingOff) return;
      if (queue.pending === 0) {
        if (this.draining) return;
        await queue.waitForRecords(idle);
        continue;
      }
      if (batch.lingerMs > 0 && !this.stopping) {
        const first = queue.peek(1)[0]!;
        const full = () => queue.pending >= batch.maxItems || queue.pendingBytes >= batch.maxBytes;
        while (!full() && !waits.aborted) {
          const left = first.enqueuedAt + batch.lingerMs - performance.now();
          if (left <= 0) break;
          await sleep(Math.min(left, 20), waits);
        }
      }
      const records = queue.peek(batch.maxItems, batch.maxBytes);
      const sent = await this.deliver(records, hardStop, waits);
      if (!sent) return;
    }
  }

  /** When a refusal was last logged, and the records refused since without a line of their own. */
  private refusalLoggedAt: number | undefined;
  private refusedUnlogged = 0;

  /**
   * Logs a refusal at error level, at most one line every 10 s with the count of those in between (a wrong
   * URL refuses every alert; a line each buried the log). `delivery_rejected_total` counts them all.
   */
  private logRejection(status: number, reason: string, records: Array<QueuedRecord<T>>): void {
    const { logger, target } = this.options;
    const now = performance.now();
    if (this.refusalLoggedAt !== undefined && now - this.refusalLoggedAt < REJECTION_LOG_INTERVAL_MS) {
      this.refusedUnlogged += records.length;
      return;
    }
    const between = this.refusedUnlogged > 0 ? { refused_since_last_line: this.refusedUnlogged } : {};
    logger.error(
      { target, status, reason, records: records.length, first_seq: records[0]!.seq, ...between },
      `${target} refused ${records.length === 1 ? 'an alert' : `${records.length} alerts`} for good (${reason}); not retrying: ${refusalHint(status)}`,
    );
    this.refusalLoggedAt = now;
    this.refusedUnlogged = 0;
  }

  /**
   * Waits for the rate limiter's turn. While stopping, a turn further off than DRAIN_MAX_WAIT_MS (a
   * `Retry-After` the receiver gave) is not waited for: false, and what is queued stays on disk. A wait that
   * began before the stop is cut short when it begins, and judged again.
   */
  private async takeTurn(hardStop: AbortSignal, waits: AbortSignal): Promise<boolean> {
    const limiter = this.options.rateLimit;
    if (!limiter) return true;
    if (!this.stopping && (await limiter.take(waits))) return true;
    if (hardStop.aborted) return false;
    const wait = limiter.waitTime();
    if (wait > DRAIN_MAX_WAIT_MS) {
      const { logger, target, queue } = this.options;
      logger.warn({ target, wait_ms: wait, queued: queue.pending }, `not waiting ${Math.round(wait / 1000)} s for ${target}'s rate limit while stopping; ${queue.pending} queued record(s) ${this.leftOnDisk()}`);
      return false;
    }
    return limiter.take(hardStop);
  }

  /**
   * A reload whose new pipeline has this output (same id and type) takes its queue over: no more requests
   * after the one in flight (whose outcome is recorded, so the successor neither loses nor repeats it). What
   * the pipeline still queues waits on disk for the successor. Resolves when the loop has ended.
   */
  async handOff(): Promise<void> {
    this.handingOff = true;
    this.beginStop();
    this.drained.abort();
    await this.running;
    this.logRefusalsLeft();
  }

  /** Sends one batch until it is delivered or given up on. False: stop the loop (draining or hard stop). */
  private async deliver(records: Array<QueuedRecord<T>>, hardStop: AbortSignal, waits: AbortSignal): Promise<boolean> {
    const { queue, metrics, logger, target } = this.options;
    const backoff = new Backoff(this.options.backoff);
    for (;;) {
      if (!(await this.takeTurn(hardStop, waits))) return false;
      if (hardStop.aborted) return false;
      metrics.add('delivery_requests_total');
      const started = performance.now();
      const outcome = await this.options.send(records, hardStop);
      // Cut off by the output (a crash, or the stop's deadline, which says so): not the receiver's failure.
      if (hardStop.aborted && !outcome.ok) return false;
      if (outcome.ok) {
        await queue.ack(records.length, 'delivered');
        metrics.add('delivered_records_total', records.length);
        if (this.failing) {
          this.failing = false;
          logger.info({ target, attempts: backoff.attempts + 1, queued: queue.pending }, `${target} accepts deliveries again`);
        }
        return true;
      }
      metrics.add('errors_total');
      if (!outcome.retry) {
        metrics.add('delivery_rejected_total', records.length);
        // Records with a callback (acknowledgements: delivered) are counted by the engine when it hears.
        const unheard = records.filter((r) => !r.onDone).length;
        if (unheard) metrics.add('rejected_events_total', unheard);
        this.logRejection(outcome.status, outcome.reason, records);
        await queue.ack(records.length, 'rejected');
        // While stopping, a refusal ends the drain like any failure: a wrong URL or revoked token refuses
        // the rest too, and kept on disk they can still go out once the config is fixed. Said, as for a
        // failure (before, the stop said "drained" with them left there, and nothing else did).
        if (!this.stopping) return true;
        if (queue.pending > 0) logger.warn({ target, status: outcome.status, queued: queue.pending }, `${target} refused an alert for good while stopping; not trying the rest: ${queue.pending} queued record(s) ${this.leftOnDisk()}`);
        return false;
      }
      metrics.add('delivery_retries_total');
      const maxRetryAfter = this.options.maxRetryAfterMs ?? 600_000;
      // The receiver's own word on when to come back, but never sooner than the first backoff step:
      // `Retry-After: 0` (or a date already past) on every answer would otherwise be retried in a busy loop.
      const step = backoff.next();
      const delay = outcome.retryAfterMs !== undefined ? Math.max(Math.min(outcome.retryAfterMs, maxRetryAfter), this.options.backoff.initialMs) : step;
      // It applies to every send to that receiver, not only this one.
      if (outcome.retryAfterMs !== undefined) this.options.rateLimit?.penalize(delay);
      if (!this.failing) this.options.onFailing?.();
      this.failing = true;
      const fields = { target, reason: outcome.reason, status: outcome.status, attempt: backoff.attempts, queued: queue.pending, took_ms: Math.round(performance.now() - started) };
      if (this.stopping) {
        logger.warn({ ...fields }, `cannot deliver to ${target} while stopping; ${queue.pending} queued record(s) ${this.leftOnDisk()}`);
        return false;
      }
      logger.warn({ ...fields, retry_in_ms: delay }, `cannot deliver to ${target}; retrying`);
      await sleep(delay, waits);
      if (hardStop.aborted || this.handingOff) return false;
      // Woken early because the stop began: try once more right away (the loop stops at the next failure).
    }
  }
}

/**
 * What a permanent refusal asks of the operator. A wrong address or credentials (3xx, 401, 403, 404, 410) is
 * theirs to fix; a request refused for what it holds (400, 413, 422: Slack's `invalid_blocks`) is not, and
 * "check the URL" would send them the wrong way.
 */
export function refusalHint(status: number): string {
  // A redirect not followed (301/302/303, or to another origin) is a URL that moved: the URL is theirs to fix too.
  if ((status >= 300 && status < 400) || status === 401 || status === 403 || status === 404 || status === 410) return 'check the URL and credentials';
  if (status === 400 || status === 413 || status === 422) return 'the receiver refused the request itself (what it held, or its size), and would refuse it again';
  return 'the receiver says it will not take it';
}

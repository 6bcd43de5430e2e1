/**
 * The skeleton every queued output shares: the on-disk queue in `data_dir/<id>/queue`, the delivery worker,
 * and the acknowledgement of upstream batches (at the durable enqueue, or at delivery). The output itself
 * only turns events into records and records into a request.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../atomic-write.js';
import type { AckStatus } from '../../engine/acknowledgement.js';
import type { ComponentContext } from '../../engine/component.js';
import type { Settle } from './acks.js';
import type { QueuedOutputConfig } from './config.js';
import { DiskQueue, QueueFullError, type QueuedRecord } from './disk-queue.js';
import type { SendOutcome } from './http.js';
import type { TokenBucket } from './rate-limit.js';
import { sleep } from './backoff.js';
import { DeliveryWorker, SENT_AT_NEXT_START, type BatchOptions } from './worker.js';

/** How often a push is tried again while the disk under the queue is full. */
const DISK_FULL_RETRY_MS = 1000;
/** Time kept, at least, between the end of a drain at shutdown and the shutdown timeout (a fifth, if longer). */
const DRAIN_MARGIN_MS = 1000;

export interface QueuedOutputOptions<T> {
  ctx: ComponentContext;
  config: QueuedOutputConfig;
  /**
   * What its records are, written beside them (`queue/format`): the output's type. A queue another format
   * left under the same id is not sent by this one (see `claimQueue`). Default: queues written before the
   * format was kept, taken as this one's.
   */
  format?: string;
  target: string;
  batch: BatchOptions;
  rateLimit?: TokenBucket | undefined;
  send: (records: Array<QueuedRecord<T>>, signal: AbortSignal) => Promise<SendOutcome>;
}

/** The file in the queue's folder that says what its records are (`QueuedOutputOptions.format`). */
const FORMAT_FILE = 'format';

/**
 * Makes `dir` the queue of records of `format`. Records another format left there are moved aside with their
 * folder, not sent: the id's type changed (a slack output become a webhook, by a reload or a restart) while
 * some were undelivered, and sent they would go out in the other type's shape (a webhook's alert posted to
 * Slack, which refuses it for good; a Slack message as a PagerDuty event). Said in a warning with where they
 * are kept. A queue without the file is one written before it was kept: taken as this format's.
 */
async function claimQueue(dir: string, format: string, ctx: ComponentContext, target: string): Promise<void> {
  const file = path.join(dir, FORMAT_FILE);
  let wrote: string | undefined;
  try {
    wrote = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (wrote === format) return;
  if (wrote !== undefined) {
    const left = await DiskQueue.open<unknown>({ dir, maxBytes: Infinity });
    const pending = left.pending;
    await left.close();
    if (pending === 0) await rm(dir, { recursive: true, force: true });
    else {
      const aside = `${dir}.${wrote.replace(/[^\w-]/g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(dir, aside);
      ctx.logger.warn({ queued: pending, folder: aside, queue_format: wrote, format },
        `${pending} undelivered record(s) in the on-disk queue were left by a ${wrote} output with this id: not sent to ${target}, which would get them in a ${wrote} output's shape; kept in ${aside} (delete it when they are no longer needed)`);
    }
  }
  await writeFileAtomic(file, `${format}\n`);
}

export class QueuedOutput<T> {
  private constructor(
    readonly queue: DiskQueue<T>,
    private readonly worker: DeliveryWorker<T>,
    private readonly ackMode: QueuedOutputConfig['acknowledgements'],
    private readonly ctx: ComponentContext,
    private readonly full: { since: number | undefined },
    private readonly maxBytes: number,
    private readonly giveUp: AbortController,
  ) {}

  /** Records not queued because the queue stayed full into the stop (counted once per stop, logged once). */
  private notQueued = 0;
  /**
   * A batch was not queued while stopping: no later one is either. Queued, it would overtake the one its
   * input offers again at the next start (the file input reads from the first line not acknowledged), and
   * the receiver would get it twice, out of order.
   */
  private abandoning = false;
  /** The last push failed for want of disk space (reported to /health until one succeeds). */
  private diskFull = false;
  /** Ends the drain before the shutdown timeout (armed when the stop begins). */
  private deadline: NodeJS.Timeout | undefined;
  private deadlineArmed = false;
  /** A reload's new pipeline takes the queue over: the worker stopped after its request in flight. */
  private handedOff = false;
  private readonly onStop = () => this.stopBegan();

  static async open<T>(options: QueuedOutputOptions<T>): Promise<QueuedOutput<T>> {
    const { ctx, config } = options;
    // A full queue is said once, when a push first has to wait, and again when it has room (see enqueue).
    const full = { since: undefined as number | undefined };
    const onFull = () => {
      if (full.since !== undefined) return;
      full.since = Date.now();
      ctx.logger.warn({ target: options.target, max_bytes: config.queue.max_bytes }, `the on-disk queue is full: the output waits for deliveries to ${options.target} to make room, and the pipeline slows down (backpressure)`);
    };
    let markFailing = false;
    const onMarkError = (err: unknown) => {
      ctx.metrics.add('errors_total');
      if (markFailing) return;
      markFailing = true;
      ctx.logger.error({ err }, 'cannot write the on-disk queue\'s delivered mark; delivering on (records delivered since may be sent again after a restart)');
    };
    const dir = path.join(ctx.dataDir, 'queue');
    if (options.format !== undefined) await claimQueue(dir, options.format, ctx, options.target);
    const queue = await DiskQueue.open<T>({ dir, maxBytes: config.queue.max_bytes, onFull, onMarkError });
    ctx.metrics.gauge('queue_records', () => queue.pending);
    ctx.metrics.gauge('queue_bytes', () => queue.pendingBytes);
    // skipped_events_total: what the output leaves out on purpose (below min_confidence), counted by it.
    ctx.metrics.declare('delivery_requests_total', 'delivery_retries_total', 'delivery_rejected_total', 'delivered_records_total', 'skipped_events_total');
    if (queue.pending > 0) ctx.logger.info({ target: options.target, queued: queue.pending }, `${queue.pending} undelivered record(s) found in the on-disk queue; sending them first`);
    // A push waiting for room in a full queue gives up once the daemon is stopping *and* no room will come
    // before the shutdown timeout: the receiver fails (the worker leaves the rest on disk at the first
    // failure while stopping), the worker has ended, or the drain's time is up. While it delivers, room
    // comes: the push waits, so that inputs that cannot send again (syslog) lose nothing.
    const giveUp = new AbortController();
    const worker = new DeliveryWorker<T>({
      queue,
      send: options.send,
      batch: options.batch,
      backoff: { initialMs: config.retry.initial_backoff, maxMs: Math.max(config.retry.max_backoff, config.retry.initial_backoff) },
      rateLimit: options.rateLimit,
      logger: ctx.logger,
      metrics: ctx.metrics,
      target: options.target,
      onError: (err) => ctx.health?.failing(`delivery stopped: ${err.message}`),
      onFailing: () => {
        if (ctx.stopping?.aborted) giveUp.abort();
      },
      // Nothing makes room after the loop has ended (a push then raises the worker's error, if it died).
      onEnded: () => giveUp.abort(),
      leftOnDisk: (): string => out.leftOnDisk(),
    });
    const out: QueuedOutput<T> = new QueuedOutput(queue, worker, config.acknowledgements, ctx, full, config.queue.max_bytes, giveUp);
    worker.start(ctx.signal);
    if (ctx.stopping?.aborted) out.stopBegan();
    else ctx.stopping?.addEventListener('abort', out.onStop, { once: true });
    // A new instance (the first, or one restarted after a crash) starts out healthy.
    ctx.health?.ok();
    return out;
  }

  /**
   * The stop has begun (the inputs stop; what is in the pipeline still comes): the worker leaves the rest on
   * disk at its first failure from now on (a retry would hold the stop up by a backoff and another request
   * timeout), and the drain's deadline is armed, whatever the output is doing (waiting for room in a full
   * queue, or a request in flight to a receiver that does not answer).
   */
  private stopBegan(): void {
    // A reload whose new pipeline has this output takes its queue over: the backlog waits on disk for it
    // instead of being drained here while the reload waits (up to most of the shutdown timeout for a slow or
    // rate-limited receiver, with the rebuilt inputs closed meanwhile). Not with the queue full: events
    // still coming through the pipeline wait for room, which only this worker's sending makes. The request
    // in flight is waited for within the same deadline as a drain: one that hangs (a request.timeout longer
    // than the shutdown timeout) held the reload to its shutdown timeout, whose inputs then lost their
    // acknowledgements and read again what the queue hands on too.
    if (this.ctx.succeeded?.() && this.full.since === undefined) {
      this.handedOff = true;
      void this.worker.handOff();
    } else {
      this.worker.beginStop();
      if (this.worker.isFailing || this.worker.error) this.giveUp.abort();
    }
    this.armDeadline();
  }

  /**
   * What becomes of the records a stop leaves queued, as the end of a sentence on them: the new
   * pipeline's instance sends them (a reload that hands the queue on), none does (a reload whose config has
   * no such output: before, they were said to be 'sent at the next start', which no start would do), or the
   * next start does (also after a hand-off that a SIGTERM cut short: no new pipeline starts then; before,
   * they were said to wait for it).
   */
  leftOnDisk(): string {
    const succeeded = this.ctx.succeeded?.();
    if (this.handedOff && succeeded) return `wait on disk for the new pipeline's ${this.ctx.id}, which sends them first`;
    if (succeeded === false) return `stay on disk in ${this.queue.dir}, which no output of the new config sends (it has no such output: removed, renamed, or of another type); give one that id and type again to send them, or delete the folder`;
    return SENT_AT_NEXT_START;
  }

  /**
   * Drains while the receiver accepts, but not into the shutdown timeout: what is on disk is safe there,
   * and a daemon that hits the timeout exits 1 and, with acknowledgements: delivered, leaves its inputs
   * unacknowledged (they would read it all again). Kept before the deadline: a fifth of what is left, at
   * least 1 s, but never more than half (a shutdown_timeout of 1 s still drains for half a second). At the
   * end of it the request in flight is aborted (its records stay queued, and are sent at the next start)
   * and pushes waiting for room give up.
   */
  private armDeadline(): void {
    if (this.deadlineArmed) return;
    const deadline = this.ctx.stopDeadline?.();
    if (deadline === undefined) return;
    this.deadlineArmed = true;
    const left = deadline - performance.now();
    const budget = Math.max(0, left - Math.max(left * 0.2, Math.min(DRAIN_MARGIN_MS, left / 2)));
    this.deadline = setTimeout(() => {
      // A worker that already left the rest on disk (a failure while stopping) has said so.
      if (this.worker.ended) return;
      this.ctx.logger.warn({ queued: this.queue.pending, drained_ms: Math.round(budget) }, `stopping before the shutdown timeout: ${this.queue.pending} queued record(s) ${this.leftOnDisk()}`);
      this.giveUp.abort();
      void this.worker.stop();
    }, budget);
  }

  /**
   * Queues records durably. Each record's settle functions run (with `delivered`) once it is on disk, or,
   * with `acknowledgements: delivered`, once the receiver took it (or refused it for good: `rejected`).
   */
  async enqueue(items: readonly T[], settles: ReadonlyArray<readonly Settle[]>): Promise<void> {
    // A worker that died takes the output down with it, so that the engine restarts both.
    if (this.worker.error) throw this.worker.error;
    if (items.length === 0) return;
    const settleAll = (i: number, status: AckStatus) => {
      for (const s of settles[i] ?? []) s(status);
    };
    const abandon = (reason: string) => {
      this.abandoning = true;
      // The daemon is stopping and the queue cannot take them (full: the receiver is down or slower than
      // the input; or its disk is full): waiting would only run into the shutdown timeout. These records are
      // not queued; their inputs hear `abandoned` (the file input reads them again at the next start,
      // network clients resend).
      if (this.notQueued === 0) this.ctx.logger.warn({ reason }, 'stopping with the on-disk queue full: events still in the pipeline are not queued (counted in abandoned_events_total); inputs that can offer them again (file, otlp_grpc, fluent_forward with acks) do at the next start, the others (syslog) lose them');
      this.notQueued += items.length;
      for (let i = 0; i < items.length; i++) settleAll(i, 'abandoned');
    };
    if (this.abandoning) return abandon('an earlier batch was not queued');
    for (;;) {
      try {
        if (this.ackMode === 'delivered') {
          await this.queue.push(items, (i) => (status) => settleAll(i, status), this.giveUp.signal);
        } else {
          await this.queue.push(items, undefined, this.giveUp.signal);
          for (let i = 0; i < items.length; i++) settleAll(i, 'delivered');
        }
        if (this.full.since !== undefined && this.queue.pendingBytes < this.maxBytes / 2) {
          this.ctx.logger.info({ full_for_ms: Date.now() - this.full.since }, 'the on-disk queue has room again');
          this.full.since = undefined;
        }
        if (this.diskFull) {
          this.diskFull = false;
          this.ctx.health?.ok();
          this.ctx.logger.info('the on-disk queue can be written again');
        }
        return;
      } catch (err) {
        if (err instanceof QueueFullError) {
          if (this.worker.error) throw this.worker.error;
          return abandon(err.message);
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
        // The disk under data_dir is full. Crashing would stop the worker too, the only thing that frees
        // space (delivered segments are deleted): keep it running and try the push again, as for a full queue.
        this.ctx.metrics.add('errors_total');
        if (!this.diskFull) {
          this.diskFull = true;
          this.ctx.health?.failing(`cannot write the on-disk queue: ${(err as Error).message}`);
          this.ctx.logger.error({ err }, 'cannot write the on-disk queue (disk full); retrying every second while the queue delivers');
        }
        if (this.ctx.stopping?.aborted) return abandon((err as Error).message);
        await sleep(DISK_FULL_RETRY_MS, this.ctx.stopping ?? this.ctx.signal);
        if (this.ctx.signal.aborted) return abandon((err as Error).message);
      }
    }
  }

  /**
   * Delivers what is queued while the receiver accepts it (`drain`, at the end of the input), or stops at once
   * (after a crash), then closes the queue. What is not delivered stays on disk for the next start. The
   * drain ends at the deadline armed when the stop began (`armDeadline`), wherever it is.
   *
   * With `acknowledgements: delivered`, the records left undelivered are acknowledged then: the queue,
   * already on disk, sends them first at the next start. Left unacknowledged, a file input would read them
   * again too, and the receiver would get every record of the outage twice.
   */
  async close(drain = true): Promise<void> {
    try {
      if (this.handedOff) {
        await this.worker.handOff();
        if (this.queue.pending > 0) this.ctx.logger.info({ queued: this.queue.pending }, `${this.ctx.succeeded?.() ? 'reload' : 'stopped during a reload'}: ${this.queue.pending} queued record(s) ${this.leftOnDisk()}`);
      } else if (!drain) await this.worker.stop();
      else {
        this.armDeadline();
        await this.worker.finish();
      }
    } finally {
      // Kept until now: a stop that begins during the drain at the end of the input arms the deadline too.
      this.ctx.stopping?.removeEventListener('abort', this.onStop);
      clearTimeout(this.deadline);
      await this.queue.close();
      if (this.ackMode === 'delivered') this.queue.handOver('delivered');
    }
  }
}

/**
 * `file`: appends events to a file, one line each, with optional size-based rotation.
 *
 * Each batch is encoded into one buffer and written with one `write()`, together with the batches queued
 * behind it when a backlog has formed (up to about 1 MiB a write; without rotation), and acknowledged only
 * once that write has resolved. Failed writes are retried with backoff, never dropped:
 * the pipeline slows down instead (backpressure) until the disk recovers or the daemon stops.
 */
import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ackBatch, type Batch } from '../engine/acknowledgement.js';
import { defineOutput, type Batches, type ComponentContext } from '../engine/component.js';
import { byteSize, duration } from '../config/schema.js';
import { encodeEvent } from './encoding.js';
import { Backoff, sleep } from './delivery/backoff.js';
import { makeFolder, whyNoFolder } from '../make-folder.js';
import { FailureReport } from '../engine/failure-report.js';

export const fileConfig = z.object({
  path: z.string().min(1).describe('File to append to. A relative path resolves against the working directory of the daemon; missing parent folders are created.'),
  encoding: z.enum(['json', 'text']).default('json').describe('`json`: the whole event as one JSON object per line; `text`: the body per line (as JSON if it is structured).'),
  rotate: z
    .strictObject({
      max_bytes: byteSize().prefault('100MiB').describe('Start a new file when a write would make the current one larger than this (default 100MiB). A batch of events is written whole and a line is never split across files, so a file can pass this by up to one batch as written: a file input sends the lines of 256 KiB of a read as one batch, and as JSON lines 256 KiB of short lines can be many times that (12-byte lines made files of 3.4 MB with `max_bytes: 64KiB`).'),
      max_files: z.number().int().min(1).default(5).describe('Rotated files to keep, `path.1` (newest) to `path.N`; older ones are deleted.'),
    })
    .optional()
    .describe('Rotation by size: `path` is renamed to `path.1`, `path.1` to `path.2`, and so on. Without it the file grows forever (or until logrotate moves it; the output then reopens `path`).'),
  fsync_interval: duration().prefault('1s').describe('Flush written data to disk at most this often, and always on rotation and shutdown. `0` flushes after every write, before acknowledging it.'),
});

export type FileOutputConfig = z.output<typeof fileConfig>;

/** How often, at most, to check whether the file was deleted or moved away (logrotate). */
const REOPEN_CHECK_MS = 1000;
/**
 * Batches already queued behind the one being written go with it, in one write, up to this many bytes
 * (1 MiB): a backlog is written in few large writes instead of one write per batch.
 */
const COALESCE_BYTES = 1 << 20;
/** A LineBuffer starts this large, and keeps what it grew to up to LINE_BUFFER_KEEP between writes. */
const LINE_BUFFER_START = 64 * 1024;
const LINE_BUFFER_KEEP = 4 << 20;
/** Retries of a failed write: the shared backoff (with jitter) of every output that can fail. */
const RETRY = { initialMs: 100, maxMs: 5000 };

interface Rotation {
  maxBytes: number;
  maxFiles: number;
}

/** What a write attempt achieved, kept across retries so that a half-written batch is finished, not doubled. */
interface WriteProgress {
  offset: number;
  dev: number;
  ino: number;
}

/**
 * The bytes of one write, encoded into a buffer line by line and kept from write to write. Before, a write's
 * lines were joined into one string and made bytes with Buffer.from: V8 first copied the joined string into a
 * flat one as large as the write, and Node's Buffer.from then allocated three bytes a character and shrank
 * that, fresh memory both times, for every write (a third of the daemon's CPU time in the otlp_grpc -> file bench).
 */
class LineBuffer {
  private buf = Buffer.allocUnsafe(LINE_BUFFER_START);
  /** Bytes in use. */
  length = 0;

  append(text: string): void {
    // At most three bytes of UTF-8 for each UTF-16 unit (a lone surrogate becomes U+FFFD, three bytes).
    const need = this.length + text.length * 3;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    this.length += this.buf.write(text, this.length);
  }

  /** The bytes in use, valid until the next reset. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** Empties it for the next write; one grown past LINE_BUFFER_KEEP (a huge batch) is let go. */
  reset(): void {
    this.length = 0;
    if (this.buf.length > LINE_BUFFER_KEEP) this.buf = Buffer.allocUnsafe(LINE_BUFFER_START);
  }
}

/** One append-only file; the caller serialises write/sync/close, only the fsync timer runs alongside. */
class AppendFile {
  private handle: FileHandle | undefined;
  private dev = 0;
  private ino = 0;
  private size = 0;
  private dirty = false;
  private lastCheck = 0;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly file: string,
    private readonly rotation: Rotation | undefined,
    /** Background fsyncs (the timer's): told when one fails and when one works. */
    private readonly syncs: Pick<FailureReport, 'failed' | 'succeeded'>,
    private readonly onTornEnd: (size: number) => void = () => undefined,
  ) {}

  /** Appends buf from `progress.offset`; on failure `progress` says how much got into which file. */
  async write(buf: Buffer, progress: WriteProgress): Promise<void> {
    if (progress.offset > 0) {
      if (!this.handle) await this.open();
      // The first part went to a file that is gone: rewrite the batch whole rather than leave half a line.
      if (this.dev !== progress.dev || this.ino !== progress.ino) progress.offset = 0;
    }
    if (progress.offset === 0) await this.prepare(buf.length);
    const handle = this.handle!;
    progress.dev = this.dev;
    progress.ino = this.ino;
    while (progress.offset < buf.length) {
      const { bytesWritten } = await handle.write(buf, progress.offset, buf.length - progress.offset);
      if (bytesWritten <= 0) throw new Error('write() made no progress');
      progress.offset += bytesWritten;
      this.size += bytesWritten;
      this.dirty = true;
    }
  }

  /** `force`: also when nothing is known to be unsynced (a retry after a failed fsync reopened the file). */
  async sync(force = false): Promise<void> {
    const handle = this.handle;
    if (!handle || !(this.dirty || force)) return;
    await this.syncing;
    this.dirty = false;
    await handle.sync();
  }

  /** Timer-driven fsync; runs alongside writes (the kernel allows it), close() waits for it. */
  syncInBackground(): void {
    const handle = this.handle;
    if (!handle || !this.dirty || this.syncing) return;
    this.dirty = false;
    this.syncing = handle
      .sync()
      .then(
        () => this.syncs.succeeded(),
        (err: unknown) => {
          this.dirty = true;
          this.syncs.failed(err);
        },
      )
      .finally(() => {
        this.syncing = undefined;
      });
  }

  async close(): Promise<void> {
    const handle = this.handle;
    if (!handle) return;
    this.handle = undefined;
    try {
      await this.syncing;
      if (this.dirty) await handle.sync();
    } finally {
      this.dirty = false;
      await handle.close();
    }
  }

  /** After a failed attempt: drop the handle, whatever state it is in, so that the retry starts clean. */
  async discard(): Promise<void> {
    await this.close().catch(() => undefined);
  }

  private async prepare(length: number): Promise<void> {
    const now = Date.now();
    if (!this.handle) await this.open(now, true);
    else if (now - this.lastCheck >= REOPEN_CHECK_MS || this.wouldOverflow(length)) await this.checkIdentity(now);
    if (this.wouldOverflow(length)) await this.rotate();
  }

  private wouldOverflow(length: number): boolean {
    return this.rotation !== undefined && this.size > 0 && this.size + length > this.rotation.maxBytes;
  }

  /** Reopens `path` if it no longer names the open file; refreshes the size (copytruncate shrinks it). */
  private async checkIdentity(now: number): Promise<void> {
    this.lastCheck = now;
    try {
      const st = await stat(this.file);
      if (st.dev === this.dev && st.ino === this.ino) {
        this.size = st.size;
        return;
      }
    } catch (err) {
      // Anything but "gone" (say EACCES on a parent) says nothing about our file: keep writing to it.
      if (errorCode(err) !== 'ENOENT') return;
    }
    await this.close();
    await this.open(now);
  }

  private async rotate(): Promise<void> {
    await this.close();
    const { maxFiles } = this.rotation!;
    for (let i = maxFiles - 1; i >= 1; i--) await renameIfExists(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    await renameIfExists(this.file, `${this.file}.1`);
    await this.open();
  }

  /**
   * Opens `path` for appending. With `repair` (no batch is half written: a new batch comes), a file that
   * ends inside a line (a write cut short when the disk filled up as the daemon stopped, or a file another
   * program wrote) gets a newline first, so that the next record starts a line of its own instead of being
   * glued to the fragment.
   */
  private async open(now = Date.now(), repair = false): Promise<void> {
    const folder = path.dirname(this.file);
    await makeFolder(folder).catch(async (err: NodeJS.ErrnoException) => {
      // Said in words (`/var/log/app is a file, not a folder`), the code kept for what reads it.
      throw Object.assign(new Error(`cannot make the folder of ${this.file}: ${await whyNoFolder(folder, err, folder)} (${err.code})`, { cause: err }), { code: err.code });
    });
    const handle = await open(this.file, 'a');
    try {
      const st = await handle.stat();
      this.dev = st.dev;
      this.ino = st.ino;
      this.size = st.size;
      const last = repair && st.size > 0 ? await lastByte(this.file, st.size) : undefined;
      if (last !== undefined && last !== 0x0a) {
        await handle.write('\n');
        this.size += 1;
        this.onTornEnd(st.size);
      }
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    this.handle = handle;
    this.dirty = false;
    this.lastCheck = now;
  }
}

/**
 * The last byte of a file, read through a handle of its own: the output's is opened for appending only, as
 * a target may be writable and not readable (mode 0200, an append-only policy). Undefined when it cannot be
 * read; the file is then left as it is.
 */
async function lastByte(file: string, size: number): Promise<number | undefined> {
  const reader = await open(file, 'r').catch(() => undefined);
  if (!reader) return undefined;
  try {
    const last = Buffer.alloc(1);
    const { bytesRead } = await reader.read(last, 0, 1, size - 1);
    return bytesRead === 1 ? last[0] : undefined;
  } catch {
    return undefined;
  } finally {
    await reader.close().catch(() => undefined);
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
}

export const fileOutput = defineOutput({
  type: 'file',
  description: 'Appends events to a file, one per line (JSON or the message text), with optional rotation by size. Reopens the file if it is moved or deleted (logrotate).',
  config: fileConfig,
  example: {
    type: 'file',
    inputs: ['app'],
    path: '/var/log/driftlock/events.jsonl',
    rotate: { max_bytes: '100MiB', max_files: 5 },
  },
  build(config) {
    const target = path.resolve(config.path);
    const rotation = config.rotate && { maxBytes: config.rotate.max_bytes, maxFiles: config.rotate.max_files };
    const syncEachWrite = config.fsync_interval === 0;

    return {
      async consume(batches: Batches, ctx: ComponentContext): Promise<void> {
        // A write that fails (a full disk) is retried until it works: said once, not at every retry (every
        // 5 s at most, for as long as the disk stayed full), counted each time, and on /health meanwhile.
        const writes = new FailureReport(ctx, { what: `cannot write ${target}`, recovered: 'writing to the output file works again', fields: { path: target } });
        // Background fsyncs, said the same way; not on /health (a write that works would say ok meanwhile).
        const syncs = new FailureReport({ logger: ctx.logger, metrics: ctx.metrics }, { what: 'cannot fsync the output file', recovered: 'fsync of the output file works again', fields: { path: target } });
        const file = new AppendFile(
          target,
          rotation,
          syncs,
          (size) => ctx.logger.warn({ path: target, size }, 'the output file ended inside a line (a write cut short, such as by a full disk at the last stop): a newline was added, so the next record starts a line of its own'),
        );
        const timer = syncEachWrite ? undefined : setInterval(() => file.syncInBackground(), config.fsync_interval);
        timer?.unref();

        // Written one write at a time (writeBatches is awaited before the next batch is taken).
        const lines = new LineBuffer();

        /** Appends a batch's lines to `lines`; false when it cannot be encoded: it is then rejected, none of its lines kept. */
        const encode = (batch: Batch): boolean => {
          const start = lines.length;
          try {
            for (const event of batch.events) lines.append(encodeEvent(event, config.encoding));
            return true;
          } catch (err) {
            lines.length = start;
            // Cannot happen with well-formed events (JSON values only); retrying would not help either.
            ctx.metrics.add('errors_total');
            ctx.logger.error({ err, path: target, events: batch.events.length }, 'cannot encode events; rejecting them');
            ackBatch(batch, 'rejected');
            return false;
          }
        };

        /**
         * Writes `first` and the batches queued behind it (up to COALESCE_BYTES) with one write,
         * retrying until it is written or the daemon stops; false when it gave up. Each batch is
         * acknowledged once the write that holds it is done. With rotation, one batch a write, so that files
         * are cut between the same batches as ever.
         */
        const writeBatches = async (first: Batch): Promise<boolean> => {
          lines.reset();
          if (!encode(first)) return true;
          const group = [first];
          let events = first.events.length;
          while (!rotation && lines.length < COALESCE_BYTES) {
            const batch = batches.takeQueued?.();
            if (!batch) break;
            if (!encode(batch)) continue;
            group.push(batch);
            events += batch.events.length;
          }
          const buf = lines.bytes();
          const progress: WriteProgress = { offset: 0, dev: 0, ino: 0 };
          const backoff = new Backoff(RETRY);
          for (let attempt = 0; ; attempt++) {
            try {
              if (buf.length) await file.write(buf, progress);
              if (syncEachWrite) {
                try {
                  await file.sync(true);
                } catch (err) {
                  // After a failed fsync the kernel may have dropped the written pages, and a new descriptor
                  // does not see that error: write the batches again rather than trust it (a line may then be
                  // twice in the file; none is lost).
                  progress.offset = 0;
                  throw err;
                }
              }
              writes.succeeded({ attempts: attempt + 1 });
              for (const batch of group) ackBatch(batch);
              return true;
            } catch (err) {
              writes.failed(err, { events });
              await file.discard();
              const delay = backoff.next();
              if (!ctx.signal.aborted) await sleep(delay, ctx.signal);
              if (ctx.signal.aborted) {
                ctx.logger.error({ err, path: target, events }, 'cannot write to the output file; stopping, events not written');
                for (const batch of group) ackBatch(batch, 'abandoned');
                return false;
              }
            }
          }
        };

        try {
          for await (const batch of batches) {
            if (!(await writeBatches(batch))) return;
          }
        } finally {
          clearInterval(timer);
          try {
            await file.close();
          } catch (err) {
            ctx.metrics.add('errors_total');
            ctx.logger.error({ err, path: target }, 'cannot flush and close the output file');
          }
        }
      },
    };
  },
});

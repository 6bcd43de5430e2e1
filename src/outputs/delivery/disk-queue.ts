/**
 * A bounded, durable FIFO queue on disk: what an output has accepted but not yet delivered.
 *
 * Layout (in the output's `data_dir/<id>/queue/`): append-only segment files named by the sequence number
 * of their first record (`00000000000000000001.log`), one JSON line per record (`{"s":seq,"d":data}`), and
 * an `acked` file holding the highest sequence number delivered (or given up on). `push()` appends a whole
 * group of records with one write and one fdatasync before it resolves: once it has, the records survive a
 * crash, a SIGKILL or a power cut. `ack()` moves the acked mark forward (rename of a small file, no fsync:
 * losing it only means a record is sent again, which at-least-once allows) and deletes segments that hold
 * only acked records. At start the queue reads back every record after the mark; a torn last line (a crash
 * mid-write) is cut off.
 *
 * Unacked records are also kept in memory (the queue is bounded by `maxBytes`, so this is bounded too),
 * so sending never reads the disk. `push()` waits while the queue is full: backpressure reaches the
 * pipeline, nothing is dropped.
 */
import { open, readdir, readFile, truncate, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { AckStatus } from '../../engine/acknowledgement.js';
import { writeFileAtomic } from '../../atomic-write.js';
import { makeFolder, STATE_FILE_MODE, STATE_FOLDER_MODE } from '../../make-folder.js';

/** A push given up on while the queue was full (see `push`'s `giveUp`). */
export class QueueFullError extends Error {
  constructor(bytes: number, maxBytes: number) {
    super(`the on-disk queue is full (${bytes} of ${maxBytes} bytes)`);
  }
}

export interface DiskQueueOptions {
  dir: string;
  /** Bytes of unacked records at most (a single push into an empty queue is accepted whatever its size). */
  maxBytes: number;
  /** Start a new segment file when the current one is this large (default 4 MiB). */
  segmentBytes?: number;
  /** fdatasync each push before it resolves (default true). */
  fsync?: boolean;
  /** Called when a push starts waiting for room (the queue is full). */
  onFull?: () => void;
  /** Called when the acked mark could not be written (the ack itself goes on). */
  onMarkError?: (err: unknown) => void;
}

export interface QueuedRecord<T> {
  seq: number;
  data: T;
  /** Size of the record's line on disk. */
  bytes: number;
  /** When it was pushed (ms, performance.now() clock), or when it was read back at start. */
  enqueuedAt: number;
  /** Called once when the record is acked (delivered or given up on); not kept across restarts. */
  onDone?: ((status: AckStatus) => void) | undefined;
}

interface Segment {
  file: string;
  firstSeq: number;
  lastSeq: number;
  size: number;
}

const ACKED_FILE = 'acked';
const SEGMENT_RE = /^(\d{20})\.log$/;

/** Resolves when one of `waiters` is called (they are woken all at once), or when `signal` aborts. */
function wake(waiters: Array<() => void>, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      signal?.removeEventListener('abort', done);
      resolve();
    };
    waiters.push(done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function segmentName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.log`;
}

export class DiskQueue<T> {
  private records: Array<QueuedRecord<T>> = [];
  private head = 0;
  private bytes = 0;
  private nextSeq = 1;
  private ackedSeq = 0;
  private readonly segments: Segment[] = [];
  private handle: FileHandle | undefined;
  /** File operations run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly roomWaiters: Array<() => void> = [];
  private readonly recordWaiters: Array<() => void> = [];
  private closed = false;
  /** A push was given up on (see `push`). */
  private gaveUp = false;
  /** Damaged records skipped when the queue was opened (counted; the records around them are kept). */
  corruptRecords = 0;
  private readonly segmentBytes: number;
  private readonly fsync: boolean;

  private constructor(private readonly options: DiskQueueOptions) {
    this.segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
    this.fsync = options.fsync ?? true;
  }

  /** Opens (creating if needed) the queue in `dir` and reads back what was not acked. */
  static async open<T>(options: DiskQueueOptions): Promise<DiskQueue<T>> {
    const q = new DiskQueue<T>(options);
    await q.recover();
    return q;
  }

  /** The folder it keeps its records in. */
  get dir(): string {
    return this.options.dir;
  }

  /** Records waiting to be acked. */
  get pending(): number {
    return this.records.length - this.head;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /** Sequence number the next pushed record will get. */
  get next(): number {
    return this.nextSeq;
  }

  private async recover(): Promise<void> {
    const dir = this.options.dir;
    await makeFolder(dir, STATE_FOLDER_MODE);
    try {
      const text = (await readFile(path.join(dir, ACKED_FILE), 'utf8')).trim();
      const n = Number(text);
      if (Number.isSafeInteger(n) && n >= 0) this.ackedSeq = n;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.nextSeq = this.ackedSeq + 1;
    const names = (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    const now = performance.now();
    for (const name of names) {
      const file = path.join(dir, name);
      const buf = await readFile(file);
      let good = 0;
      let firstSeq = Number(SEGMENT_RE.exec(name)![1]);
      let lastSeq = firstSeq - 1;
      let start = 0;
      for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
        const line = buf.subarray(start, nl);
        let parsed: { s: number; d: T } | undefined;
        try {
          parsed = JSON.parse(line.toString('utf8')) as { s: number; d: T };
        } catch {
          parsed = undefined;
        }
        start = nl + 1;
        good = start;
        if (!parsed || typeof parsed.s !== 'number') {
          // A damaged record in the middle (a disk error): skip it, keep the ones after it.
          this.corruptRecords += 1;
          continue;
        }
        if (lastSeq < firstSeq) firstSeq = parsed.s;
        lastSeq = parsed.s;
        if (parsed.s > this.ackedSeq) {
          this.records.push({ seq: parsed.s, data: parsed.d, bytes: line.length + 1, enqueuedAt: now });
          this.bytes += line.length + 1;
        }
        if (parsed.s >= this.nextSeq) this.nextSeq = parsed.s + 1;
      }
      // A torn tail (a crash in the middle of a write, no newline yet): keep what was whole.
      if (good < buf.length) await truncate(file, good);
      if (lastSeq >= firstSeq && lastSeq > this.ackedSeq) this.segments.push({ file, firstSeq, lastSeq, size: good });
      else await unlink(file);
    }
  }

  /**
   * Appends records durably; resolves with them once they are on disk. Waits while the queue is full.
   * `onDone` (per record) runs when the record is later acked. `giveUp` ends that wait: the push then
   * throws `QueueFullError` and nothing of it is queued; from then on, so does every push given an aborted
   * `giveUp`, even one that fits (queued, it would overtake the records given up on).
   */
  async push(items: readonly T[], onDone?: (index: number) => ((status: AckStatus) => void) | undefined, giveUp?: AbortSignal): Promise<Array<QueuedRecord<T>>> {
    if (items.length === 0) return [];
    const datas = items.map((d) => JSON.stringify(d));
    const size = datas.reduce((n, d) => n + Buffer.byteLength(d) + 32, 0);
    if (this.gaveUp && giveUp?.aborted) throw new QueueFullError(this.bytes, this.options.maxBytes);
    let waited = false;
    while (!this.closed && this.bytes > 0 && this.bytes + size > this.options.maxBytes) {
      if (giveUp?.aborted) {
        this.gaveUp = true;
        throw new QueueFullError(this.bytes, this.options.maxBytes);
      }
      if (!waited) {
        waited = true;
        this.options.onFull?.();
      }
      await wake(this.roomWaiters, giveUp);
    }
    if (this.closed) throw new Error('queue is closed');
    return this.serial(async () => {
      const seq0 = this.nextSeq;
      this.nextSeq += items.length;
      const lines = datas.map((d, i) => `{"s":${seq0 + i},"d":${d}}\n`);
      const buf = Buffer.from(lines.join(''));
      const seg = await this.writable(seq0);
      const before = seg.size;
      try {
        let off = 0;
        while (off < buf.length) off += (await this.handle!.write(buf, off, buf.length - off)).bytesWritten;
        if (this.fsync) await this.handle!.datasync();
      } catch (err) {
        // Leave no half-written group behind: the caller may retry the whole push.
        this.nextSeq = seq0;
        await this.handle?.close().catch(() => undefined);
        this.handle = undefined;
        await truncate(seg.file, before).catch(() => undefined);
        throw err;
      }
      seg.size += buf.length;
      seg.lastSeq = seq0 + items.length - 1;
      const now = performance.now();
      const out: Array<QueuedRecord<T>> = [];
      for (let i = 0; i < items.length; i++) {
        const bytes = Buffer.byteLength(lines[i]!);
        const rec: QueuedRecord<T> = { seq: seq0 + i, data: items[i]!, bytes, enqueuedAt: now, onDone: onDone?.(i) };
        this.records.push(rec);
        this.bytes += bytes;
        out.push(rec);
      }
      for (const wake of this.recordWaiters.splice(0)) wake();
      return out;
    });
  }

  /** The oldest unacked records, up to `maxItems` and (after the first) `maxBytes`. */
  peek(maxItems: number, maxBytes = Infinity): Array<QueuedRecord<T>> {
    const out: Array<QueuedRecord<T>> = [];
    let bytes = 0;
    for (let i = this.head; i < this.records.length && out.length < maxItems; i++) {
      const r = this.records[i]!;
      if (out.length > 0 && bytes + r.bytes > maxBytes) break;
      bytes += r.bytes;
      out.push(r);
    }
    return out;
  }

  /** Resolves when there is at least one record, or the signal aborts. */
  async waitForRecords(signal?: AbortSignal): Promise<void> {
    if (this.pending > 0 || signal?.aborted) return;
    await wake(this.recordWaiters, signal);
  }

  /** Acks the oldest `count` records (delivered, or given up on: `rejected`). */
  async ack(count: number, status: AckStatus = 'delivered'): Promise<void> {
    const n = Math.min(count, this.pending);
    if (n <= 0) return;
    const done: Array<QueuedRecord<T>> = [];
    for (let i = 0; i < n; i++) {
      const r = this.records[this.head]!;
      this.records[this.head] = undefined as unknown as QueuedRecord<T>;
      this.head += 1;
      this.bytes -= r.bytes;
      done.push(r);
    }
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
    const acked = done.at(-1)!.seq;
    for (const wake of this.roomWaiters.splice(0)) wake();
    await this.serial(async () => {
      this.ackedSeq = Math.max(this.ackedSeq, acked);
      try {
        await writeFileAtomic(path.join(this.options.dir, ACKED_FILE), `${this.ackedSeq}\n`);
      } catch (err) {
        // The records were delivered; a mark that lags on disk only means they may be sent again after a
        // restart (at-least-once). Not fatal: the next ack writes the mark again, and the segments below
        // still go (which frees space when the disk is full).
        this.options.onMarkError?.(err);
      }
      // Segments holding only acked records go; the one being written to goes too when fully acked.
      while (this.segments.length > 0 && this.segments[0]!.lastSeq <= this.ackedSeq) {
        const seg = this.segments.shift()!;
        if (this.segments.length === 0 && this.handle) {
          await this.handle.close();
          this.handle = undefined;
        }
        await unlink(seg.file).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
    });
    for (const r of done) r.onDone?.(status);
  }

  /**
   * Tells whoever waits on the records still queued that the queue answers for them now (`status`), and
   * forgets who they were; the records stay queued. For closing: they are on disk and go first at the next
   * start, so an input that would otherwise read them again must not.
   */
  handOver(status: AckStatus): void {
    for (let i = this.head; i < this.records.length; i++) {
      const r = this.records[i]!;
      const done = r.onDone;
      r.onDone = undefined;
      done?.(status);
    }
  }

  /** Stops waiting pushes (they throw) and closes the file. Unacked records stay on disk. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.roomWaiters.splice(0)) wake();
    for (const wake of this.recordWaiters.splice(0)) wake();
    await this.serial(async () => {
      await this.handle?.close();
      this.handle = undefined;
    });
  }

  /** The segment to append to, opening or starting one as needed. */
  private async writable(seq: number): Promise<Segment> {
    let seg = this.segments.at(-1);
    if (seg && this.handle && seg.size < this.segmentBytes) return seg;
    if (seg && !this.handle && seg.size < this.segmentBytes) {
      this.handle = await open(seg.file, 'a', STATE_FILE_MODE);
      return seg;
    }
    await this.handle?.close();
    this.handle = undefined;
    seg = { file: path.join(this.options.dir, segmentName(seq)), firstSeq: seq, lastSeq: seq - 1, size: 0 };
    this.handle = await open(seg.file, 'a', STATE_FILE_MODE);
    this.segments.push(seg);
    return seg;
  }

  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/**
 * One open file, read from an offset to its end and followed as it grows.
 *
 * Reads are large (up to `max_read_bytes`), and the lines a read completed go downstream in batches, one per
 * slice of up to 256 KiB of the read (`SLICE_BYTES`), each emitted with an acknowledgement callback of its
 * own. The `AckTracker` turns those acknowledgements, which may complete out of order, into the checkpoint:
 * the end of the highest *contiguous* acknowledged batch.
 *
 * A tailer follows its file by descriptor, not by name. When the name comes to point at another file
 * (rename rotation) or at nothing (deleted), the tailer keeps reading its descriptor to the end, waits
 * `rotate_wait` for a writer that has not reopened yet (not for a deleted file), emits a last line that had
 * no newline, waits for every batch to be acknowledged, and only then closes (what it grows by meanwhile is
 * read, and `rotate_wait` starts again). When the file shrinks below
 * what was read, or its first bytes change (copytruncate, or truncated and rewritten), the tailer starts
 * again from offset 0; its host looks for a copy holding the part that was not read yet.
 *
 * A live file read to its end, with every batch acknowledged, may be closed while its name still holds it
 * (`close_inactive`, or to give way to files waiting for a descriptor: see TailerHost.mayRest). Its
 * checkpoint is then exactly where its events end, and its host opens it again from there when it changes.
 */
import type { FileHandle } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { AckStatus } from '../../engine/acknowledgement.js';
import type { InputContext } from '../../engine/component.js';
import type { LogEvent } from '../../engine/event.js';
import type { ProblemLog } from '../net/problems.js';
import { LineSplitter, type LineFlags } from '../line-splitter.js';
import { markAndSayLine } from '../stdin.js';
import type { Checkpoint } from './checkpoints.js';
import { fileKey } from './checkpoints.js';
import { EMPTY_FINGERPRINT, hashBytes, readPrefix } from './fingerprint.js';
import { MultilineJoiner, type MultilineRule } from './multiline.js';

export interface TailerOptions {
  maxLineBytes: number;
  maxReadBytes: number;
  fingerprintBytes: number;
  /** 0: a last line without newline waits until the file is let go. */
  partialLineTimeoutMs: number;
  rotateWaitMs: number;
  /** 0: a file is not closed for being idle (only to give way to files waiting; see TailerHost.mayRest). */
  closeInactiveMs: number;
  multiline?: { rule: MultilineRule; timeoutMs: number; maxLines: number };
}

/** Shared by every tracker of one input: what to do with acknowledgements that are not `delivered`. */
export class AckPolicy {
  /** Batches emitted and not yet acknowledged, over all files. */
  outstanding = 0;
  constructor(
    readonly onAdvance: () => void,
    readonly onNotDelivered: (status: AckStatus, events: number, file: string, counted: boolean) => void,
  ) {}
}

/**
 * Turns out-of-order acknowledgements of one file's batches into the offset of the last line up to which
 * everything is acknowledged. It belongs to the *content* it checkpoints: when a truncated file's unread
 * rest is found in a copy, the tracker moves to the tailer of the copy, so late acknowledgements still count.
 */
export class AckTracker {
  entry: Checkpoint;
  private ends: number[] = [];
  /** 0 pending, 1 acknowledged, 2 abandoned (rejected at shutdown: the checkpoint must not pass it). */
  private states: number[] = [];
  private head = 0;
  /** Index of `states[0]` among all batches ever tracked. */
  private base = 0;
  private count = 0;
  outstanding = 0;
  onIdle: (() => void) | undefined;
  readonly policy: AckPolicy;

  constructor(entry: Checkpoint, policy: AckPolicy) {
    this.entry = entry;
    this.policy = policy;
  }

  /** Registers a batch ending at `end`; returns the callback to hand to `emit`. */
  track(end: number, events: number): (status: AckStatus) => void {
    const index = this.count++;
    this.ends.push(end);
    this.states.push(0);
    this.outstanding += 1;
    this.policy.outstanding += 1;
    return (status) => {
      this.outstanding -= 1;
      this.policy.outstanding -= 1;
      let state = 1;
      if (status !== 'delivered') {
        // Abandoned lines (the daemon stopped before they were written) are read again at the next start.
        const counted = status !== 'abandoned';
        if (!counted) state = 2;
        this.policy.onNotDelivered(status, events, this.entry.path, counted);
      }
      this.states[index - this.base] = state;
      this.advance();
      if (this.outstanding === 0) this.onIdle?.();
    };
  }

  private advance(): void {
    let moved = false;
    while (this.head < this.states.length && this.states[this.head] === 1) {
      this.entry.offset = this.ends[this.head]!;
      this.head += 1;
      moved = true;
    }
    if (this.head > 1024 && this.head * 2 > this.states.length) {
      this.ends = this.ends.slice(this.head);
      this.states = this.states.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
    if (moved) this.policy.onAdvance();
  }
}

export type TailerState = 'live' | 'rotated' | 'deleted';

/**
 * A read is split into lines and emitted this much at a time, with a turn of the event loop in between, so
 * that the pipeline carries one slice's events away before the next slice's are made. A whole 1 MiB read
 * as one batch (~3,600 nginx lines) kept its events, their parsed copies and their encoded text alive all
 * at once: the young-generation GCs found them alive and promoted them (1M nginx lines through
 * parse(json) -> file: 546 MB promoted, 975 ms of scavenges; in 256 KiB slices 73 MB, 248 ms). Smaller
 * slices cost more small writes downstream than they save (64 KiB was slower than 256 KiB).
 */
const SLICE_BYTES = 256 * 1024;

/** How long after a change notification the file is read once more: past chokidar's 50 ms throttle of changes. */
const CHANGE_QUIET_MS = 60;

/** File times lag the wall clock (coarse timestamps; 1 s on some file systems). */
const UNREAD_SLACK_MS = 1000;

/**
 * How long a file system with times in whole seconds (ext2/ext3 with small inodes, FAT, some NFS servers) may
 * leave a file's times unmoved by a write: a tick (2 s on FAT).
 */
const COARSE_TICK_MS = 2000;

/** Whether a file's times are in whole seconds: a file system whose times cannot tell two writes within one apart. */
function coarseTimes(st: { mtimeMs: number; ctimeMs: number }): boolean {
  return st.mtimeMs % 1000 === 0 && st.ctimeMs % 1000 === 0;
}

/**
 * The clock of the tailer's timeouts (multiline, partial lines, rotate_wait): monotonic, so that a step of
 * the wall clock (NTP, a VM resumed) neither holds an event back for as long as the clock went back (a
 * trace waited an hour after a one-hour step back) nor lets the timeouts fall due at once when it went
 * forward. The wall clock stays for what is compared with file times and for the events' timestamps.
 */
const monotonic = (): number => performance.now();

export interface TailerHost {
  readonly ctx: InputContext;
  readonly options: TailerOptions;
  /** Where cut lines and lines that are not UTF-8 are said (rate-limited), beside `malformed_events_total`. */
  readonly problems: ProblemLog;
  /**
   * The file's name now points at another file or at nothing (the file was renamed away, or `deleted`): look
   * at the name again. `checkedMtimeMs` is the file's modification time when its content was last found
   * unchanged (see `truncated`).
   */
  rotated(tailer: Tailer, previousPath: string, checkedMtimeMs: number, deleted: boolean): void;
  /**
   * The file was truncated; `old` is what was being read before: find its rest in a copy, and read copies
   * of what was written and rotated away after `checkedMtimeMs` (the file's modification time when it was
   * last found holding the old content): rotated more than once in between, they were never seen.
   */
  truncated(tailer: Tailer, old: { tracker: AckTracker; resumeAt: number; seenSize: number; path: string; checkedMtimeMs: number }): Promise<void>;
  /**
   * The file changed while nothing had been read from it yet (offset 0, no fingerprint): if it was written,
   * copied and truncated in between (copytruncate right after a burst), the truncation cannot be seen on the
   * file itself. Read whole the copies of it written since `sinceMtimeMs` (the file's modification time when
   * it was last found unchanged) whose content is not known.
   */
  changedUnread(tailer: Tailer, sinceMtimeMs: number): Promise<void>;
  /**
   * The file is read to its end, everything read was acknowledged, and it was idle for `idleMs`: may it be
   * closed? Its checkpoint then stays, and it is opened again (from there) when it changes.
   */
  mayRest(tailer: Tailer, idleMs: number): boolean;
  closed(tailer: Tailer): void;
}

export class Tailer {
  readonly key: string;
  readonly dev: number;
  readonly ino: number;
  /** The included name the file has now; null once it was rotated away or deleted. */
  path: string | null;
  /** The last name the file was known by (for logs, checkpoints and events). */
  lastPath: string;
  state: TailerState;
  tracker: AckTracker;
  private readonly host: TailerHost;
  private readonly handle: FileHandle;
  private readonly opts: TailerOptions;
  private readOffset: number;
  /** The file's modification time when its content was last found unchanged (see TailerHost.truncated). */
  private checkedMtimeMs: number;
  /**
   * Its change time then: the modification time may be set back (`touch -d`, a writer that restores it)
   * after the file was truncated and written again; the change time cannot be.
   */
  private checkedCtimeMs: number;
  /**
   * Whether a write since those times would have moved them: always with fine times; with times in whole
   * seconds, only once the file was found unchanged a tick (`COARSE_TICK_MS`) after them. Until then each look
   * compares the first bytes: before, a file truncated and written again within the second it was read in
   * kept its times, and the truncation went unseen (the rest in the copy and the new lines were lost).
   */
  private checkedSettled: boolean;
  /** Its size then. */
  private checkedSize: number;
  /**
   * Wall time (ms) of the last look that found the file unchanged. A copy of what was written since is made
   * after it: rotated files older than that (written before the file was found: an old app.log.1 beside an
   * empty app.log at start) are not its content (see TailerHost.changedUnread).
   */
  private lookedAtMs = Date.now();
  /** End of the last line handed on as an event (what a copy resumes from after truncation). */
  private consumedEnd: number;
  /** The size the file was last found at holding what was read: past `consumedEnd`, what a truncation may lose. */
  private seenSize = 0;
  private splitter: LineSplitter;
  private readonly joiner: MultilineJoiner | undefined;
  private events: LogEvent[] = [];
  private batchEnd = 0;
  private malformed = 0;
  /** Wall time of the last read: the events' observed timestamp. */
  private now = Date.now();
  /** Monotonic times (see `monotonic`) of the last growth of the file and of the last line read. */
  private lastGrowth = monotonic();
  private lastLine = monotonic();
  private letGo = false;
  private closing = false;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private lookingAtName = false;
  /** The wake that follows a change notification (see `changed`). */
  private trailingWake: NodeJS.Timeout | undefined;
  /**
   * Set when the file was closed while live, read to its end (see TailerHost.mayRest): its size and
   * modification time then, to tell when it changes.
   */
  rested: { size: number; mtimeMs: number } | undefined;
  done: Promise<void> = Promise.resolve();

  constructor(host: TailerHost, handle: FileHandle, file: string, st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }, offset: number, tracker: AckTracker, state: TailerState = 'live') {
    this.host = host;
    this.handle = handle;
    this.opts = host.options;
    this.key = fileKey(st.dev, st.ino);
    this.dev = st.dev;
    this.ino = st.ino;
    this.checkedMtimeMs = st.mtimeMs;
    this.checkedCtimeMs = st.ctimeMs;
    this.checkedSettled = this.settledAt(st, Date.now());
    this.checkedSize = st.size;
    this.path = state === 'live' ? file : null;
    this.lastPath = file;
    this.state = state;
    this.readOffset = offset;
    this.consumedEnd = offset;
    this.tracker = tracker;
    tracker.onIdle = () => this.wake();
    this.splitter = new LineSplitter(this.opts.maxLineBytes, offset);
    const ml = this.opts.multiline;
    this.joiner = ml && new MultilineJoiner(ml.rule, ml.maxLines, this.opts.maxLineBytes);
    if (state !== 'live') this.lastGrowth = monotonic();
  }

  /** Whether times found at wall time `lookedAt` would be moved by any later write (see `checkedSettled`). */
  private settledAt(st: { mtimeMs: number; ctimeMs: number }, lookedAt: number): boolean {
    return !coarseTimes(st) || lookedAt >= Math.max(st.mtimeMs, st.ctimeMs) + COARSE_TICK_MS;
  }

  /** The file was found holding what was read, at wall time `lookedAt`, with these times. */
  private checked(st: { size: number; mtimeMs: number; ctimeMs: number }, lookedAt: number): void {
    this.checkedMtimeMs = st.mtimeMs;
    this.checkedCtimeMs = st.ctimeMs;
    this.checkedSettled = this.settledAt(st, lookedAt);
    this.checkedSize = st.size;
  }

  /** Whether its modification or change time moved since it was last found holding what was read (see `checkedCtimeMs`). */
  private timesMoved(st: { mtimeMs: number; ctimeMs: number }): boolean {
    return st.mtimeMs !== this.checkedMtimeMs || st.ctimeMs !== this.checkedCtimeMs;
  }

  /** The file's modification time when its content was last found unchanged. */
  get checkedMtime(): number {
    return this.checkedMtimeMs;
  }

  get position(): number {
    return this.readOffset;
  }

  /** Whether the loop sleeps, waiting for a change or a timeout. */
  get asleep(): boolean {
    return this.wakeUp !== undefined;
  }

  /**
   * The file is under an included name again (renamed back, or to another included name): it is live. A
   * tailer that had already let it go (rotate_wait passed while acks were outstanding) reads on instead of
   * waiting to close: before, it neither read the new lines nor closed.
   */
  takeBack(file: string): void {
    this.path = file;
    this.state = 'live';
    this.lastPath = file;
    this.letGo = false;
    this.lastGrowth = monotonic();
    this.wake();
  }

  start(): void {
    this.done = this.loop().catch((err: unknown) => {
      this.host.ctx.metrics.add('errors_total');
      this.host.ctx.logger.error({ err, file: this.lastPath }, 'cannot read file; letting it go (it is read again when found again)');
    }).finally(async () => {
      await this.handle.close().catch(() => undefined);
      this.host.closed(this);
    });
  }

  /**
   * The watcher saw the file change: read now, and once more `CHANGE_QUIET_MS` later. chokidar passes on
   * at most one change of a file each 50 ms and drops the others, with no trailing one: a line appended just
   * after a notified one waited for the periodic check (`check_interval`, 1 s by default), and the last line
   * of a burst came up to a second late. Each notification moves the second read on, so that it follows
   * the last one; the timer does not hold the process open. The second look includes the name (see
   * `lookAtName`): a file deleted and created again right after a notified append is notified by nothing.
   */
  changed(): void {
    this.wake();
    if (this.trailingWake) this.trailingWake.refresh();
    else {
      this.trailingWake = setTimeout(() => {
        this.trailingWake = undefined;
        this.lookAtName();
      }, CHANGE_QUIET_MS);
      this.trailingWake.unref();
    }
  }

  /**
   * The name may point at another file now (a notification about it, or the periodic check): look at once.
   * A sleeping loop looks when woken; a busy one (a long backlog, or a full pipeline holding its `emit`)
   * would look only at the end of the file, so the name is looked at beside it: the file that replaced this
   * one is opened now, not after the backlog, and read even if it is deleted again meanwhile.
   */
  lookAtName(): void {
    const asleep = this.wakeUp !== undefined;
    this.wake();
    if (asleep || this.state !== 'live' || this.lookingAtName || this.closing) return;
    this.lookingAtName = true;
    void (async () => {
      try {
        if ((await this.handle.stat()).nlink === 0) this.release(true);
        else if (this.path) await this.checkName(this.path);
      } catch {
        // closed meanwhile: nothing to look at
      } finally {
        this.lookingAtName = false;
      }
    })();
  }

  /** Something may have changed: read again. */
  wake(): void {
    this.woken = true;
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** The file's name points elsewhere now (rotation) or at nothing (deleted). */
  markGone(deleted: boolean): void {
    if (this.state === 'live') {
      this.state = deleted ? 'deleted' : 'rotated';
      this.lastGrowth = monotonic();
      this.path = null;
    } else if (deleted) this.state = 'deleted';
    this.wake();
  }

  private async loop(): Promise<void> {
    const signal = this.host.ctx.signal;
    while (!signal.aborted && !this.closing) {
      this.woken = false;
      const progressed = await this.step();
      if (this.closing || signal.aborted) break;
      if (!progressed) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    if (this.woken) return Promise.resolve();
    // No abort listener per file (there may be thousands): the input wakes every tailer when it stops.
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      this.wakeUp = done;
      const due = this.nextDeadline();
      if (due !== undefined) timer = setTimeout(done, Math.max(10, due - monotonic()));
    });
  }

  /** When a timeout (multiline, partial line, rotate_wait) falls due, if one is pending. */
  private nextDeadline(): number | undefined {
    let due: number | undefined;
    const at = (t: number) => (due = due === undefined ? t : Math.min(due, t));
    if (this.joiner?.pending && !this.splitter.inLine) at(this.lastLine + this.opts.multiline!.timeoutMs);
    if (this.opts.partialLineTimeoutMs > 0 && this.splitter.pendingBytes > 0) at(this.lastGrowth + this.opts.partialLineTimeoutMs);
    if (this.state === 'rotated' && !this.letGo) at(this.lastGrowth + this.opts.rotateWaitMs);
    // Only while it is ahead: one that passed while the file could not rest would wake the loop at once, again and again.
    const inactive = this.lastGrowth + this.opts.closeInactiveMs;
    if (this.state === 'live' && this.opts.closeInactiveMs > 0 && inactive > monotonic()) at(inactive);
    return due;
  }

  /** One turn: read a chunk if there is one; else handle timeouts, rotation and closing. True if it did something. */
  private async step(): Promise<boolean> {
    const lookedAt = Date.now();
    const st = await this.handle.stat();
    // Deleted: read on to the end, but let the name go now, so that a file created under it is read at once.
    if (st.nlink === 0 && this.state !== 'deleted') this.release(true);
    const fp = this.tracker.entry.fingerprint;
    if (st.size < this.readOffset || st.size < fp.length) {
      await this.restartAfterTruncation(st.size);
      return true;
    }
    // Nothing read from the file yet, and it changed since it was last looked at: what was written in
    // between may have been copied and truncated away already (see TailerHost.changedUnread). Looked for
    // after the read below: a copy made before it is there by then; one made after it starts with what was
    // read (the fingerprint), a copy the truncation path finds.
    // Times that cannot tell yet (see `checkedSettled`) count when the file is empty or its size changed:
    // not a search before the first read of every file found within a tick of its last write. Not the change
    // time, which a rename moves: a search at each rename of a file nothing was read from yet.
    const mtimeMoved = st.mtimeMs !== this.checkedMtimeMs;
    const unsure = !this.checkedSettled;
    const written = mtimeMoved || (unsure && (st.size === 0 || st.size !== this.checkedSize));
    const unreadSince = this.state === 'live' && this.readOffset === 0 && fp.length === 0 && written
      ? Math.max(this.checkedMtimeMs, this.lookedAtMs - UNREAD_SLACK_MS)
      : undefined;
    if (!written) this.lookedAtMs = lookedAt;
    // Read also when let go at rotate_wait but still open (batches unacknowledged): see below.
    if (st.size > this.readOffset) {
      const want = Math.min(this.opts.maxReadBytes, st.size - this.readOffset);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await this.handle.read(buf, 0, want, this.readOffset);
      if (bytesRead > 0) {
        const chunk = buf.subarray(0, bytesRead);
        // Checked after the read: if the file was truncated before it, its first bytes differ now.
        if (!(await this.sameContent(chunk, st.size))) {
          await this.restartAfterTruncation(st.size);
          return true;
        }
        // Found unchanged from here on once the copies made before are looked for: until then, a save of the
        // checkpoints (`unseen_since`, see FileInput.unseenSince) says the name was last looked at before
        // they were made, and a start after a crash meanwhile reads them.
        if (unreadSince !== undefined) await this.host.changedUnread(this, unreadSince);
        this.checked(st, lookedAt);
        this.seenSize = st.size;
        this.readOffset += bytesRead;
        this.now = Date.now();
        this.lastGrowth = monotonic();
        this.lastLine = this.lastGrowth;
        // Grown after it was let go at rotate_wait, while still open for its unacknowledged batches: its writer
        // had not reopened yet after all. Read on, and let go again once rotate_wait passes with nothing new.
        // Before, the growth was left unread and the file closed at the acknowledgement: those lines were lost.
        this.letGo = false;
        // In slices, each emitted before the next is split (see SLICE_BYTES); the read is checked and
        // accounted for as a whole above, and a line cut between two slices is joined by the splitter.
        for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
          if (at > 0) await yieldToLoop();
          this.splitter.push(chunk.subarray(at, at + SLICE_BYTES), this.onLine);
          await this.emitPending();
        }
        return true;
      }
    }
    // Written since it was last found unchanged, and no longer than what was read: truncated and written
    // again to exactly that size (copytruncate, then as many bytes as were read) shows neither as a shrink
    // nor as growth to read. Only its first bytes tell. Before, the rest in the copy and the new lines were lost.
    if (st.size === this.readOffset && fp.length > 0 && (this.timesMoved(st) || unsure)) {
      const prefix = await readPrefix(this.handle, fp.length);
      if (prefix.length < fp.length || hashBytes(prefix) !== fp.hash) {
        await this.restartAfterTruncation(st.size);
        return true;
      }
      this.checked(st, lookedAt);
    }
    if (unreadSince !== undefined && st.size === 0) {
      // Still empty: written and truncated since the last look, or only touched.
      await this.host.changedUnread(this, unreadSince);
      this.checked(st, lookedAt);
      // The search waits its turn among the input's decisions, and the file may have been written to and
      // renamed away meanwhile: looked at again, not let go at rotate_wait by the size found before it.
      // Before, those lines were lost. Only at the next wake when its times did not move (whole seconds that
      // cannot tell yet, see `checkedSettled`): not a search at each turn of the loop until they can.
      return mtimeMoved;
    }
    return this.atEnd(st);
  }

  /** At the end of the file: timeouts, rotation and deletion, closing. */
  private async atEnd(st: { size: number; mtimeMs: number }): Promise<boolean> {
    this.now = Date.now();
    const now = monotonic();
    // Not while a last line waits for its newline: that line may continue the event (a trace written by a
    // block-buffered writer stops anywhere). The event waits with it: for its newline, partial_line_timeout,
    // or the moment the file is let go, when both go out together (flushAll).
    if (this.joiner?.pending && !this.splitter.inLine && now - this.lastLine >= this.opts.multiline!.timeoutMs) this.joiner.flush(this.onEvent);
    if (this.opts.partialLineTimeoutMs > 0 && this.splitter.pendingBytes > 0 && now - this.lastGrowth >= this.opts.partialLineTimeoutMs) {
      this.flushAll();
    }
    if (this.events.length) {
      await this.emitPending();
      return true;
    }
    if (this.state === 'live' && this.path) await this.checkName(this.path);
    if (this.state === 'live') {
      if (this.mayRest(st) && this.host.mayRest(this, now - this.lastGrowth)) {
        this.rested = { size: st.size, mtimeMs: st.mtimeMs };
        this.closing = true;
        return true;
      }
      return false;
    }
    if (!this.letGo && (this.state === 'deleted' || now - this.lastGrowth >= this.opts.rotateWaitMs)) {
      // Nobody will complete a last line without newline now: hand it on, and stop reading.
      this.letGo = true;
      this.flushAll();
      await this.emitPending();
      // Looked at again before it is closed: the emit may have waited for a full pipeline while the file grew,
      // and its batch be acknowledged at once. Before, it was closed with what it grew by unread.
      return true;
    }
    if (this.letGo && this.tracker.outstanding === 0) {
      this.closing = true;
      return true;
    }
    return false;
  }

  /**
   * Whether the file could be closed now and opened again later at its checkpoint with nothing lost or
   * repeated: all of it read, every batch acknowledged (so the checkpoint is where the events end), no event
   * waiting in the joiner. A last line without newline may wait: it is after the checkpoint, and read again
   * (not when partial_line_timeout would pass it on: its timeout would start again at each opening).
   */
  private mayRest(st: { size: number }): boolean {
    return (
      this.state === 'live' && this.path !== null && !this.letGo && st.size === this.readOffset && this.events.length === 0 &&
      this.tracker.outstanding === 0 && !this.joiner?.pending && (!this.splitter.inLine || this.opts.partialLineTimeoutMs === 0)
    );
  }

  /** Whether the name still points at this file; if not, the file was renamed away or deleted. */
  private async checkName(file: string): Promise<void> {
    try {
      const st = await stat(file);
      if (fileKey(st.dev, st.ino) === this.key) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return; // says nothing about our file
    }
    const own = await this.handle.stat().catch(() => undefined);
    this.release(own?.nlink === 0);
  }

  /**
   * The file is no longer under its name: renamed away, or deleted. It is read on to its end (after
   * `rotate_wait` if renamed); a live file's name goes back to the host, which looks at it at once. Before,
   * a deleted file kept its name until it was closed and the host was never told: a file deleted and
   * created again under the same name (which chokidar reports as one `change` when it takes under 100 ms)
   * was found only by the periodic scan, `scan_interval` later, and not at all if it was deleted again
   * before then. Once only: the loop and `lookAtName` may both find it.
   */
  private release(deleted: boolean): void {
    const file = this.state === 'live' ? this.path : null;
    if (!file) {
      if (deleted) this.markGone(true);
      return;
    }
    if (!deleted) this.host.ctx.metrics.add('file_rotations_total');
    this.markGone(deleted);
    this.host.rotated(this, file, this.checkedMtimeMs, deleted);
  }

  /**
   * Whether the file still holds what was read from it: its first bytes match the fingerprint. A short
   * fingerprint (the file was small) is upgraded once the file has grown.
   */
  private async sameContent(chunk: Buffer, size: number): Promise<boolean> {
    const entry = this.tracker.entry;
    const fp = entry.fingerprint;
    const want = Math.min(this.opts.fingerprintBytes, size);
    if (fp.length >= want) {
      if (fp.length === 0) return true;
      const prefix = this.readOffset === 0 ? chunk.subarray(0, fp.length) : await readPrefix(this.handle, fp.length);
      return prefix.length === fp.length && hashBytes(prefix) === fp.hash;
    }
    const prefix = this.readOffset === 0 && chunk.length >= want ? chunk.subarray(0, want) : await readPrefix(this.handle, want);
    if (fp.length > 0 && (prefix.length < fp.length || hashBytes(prefix.subarray(0, fp.length)) !== fp.hash)) return false;
    entry.fingerprint = { length: prefix.length, hash: hashBytes(prefix) };
    return true;
  }

  private async restartAfterTruncation(size: number): Promise<void> {
    const old = { tracker: this.tracker, resumeAt: this.consumedEnd, seenSize: this.seenSize, path: this.lastPath, checkedMtimeMs: this.checkedMtimeMs };
    this.seenSize = 0;
    this.host.ctx.metrics.add('file_truncations_total');
    this.host.ctx.logger.info({ file: this.lastPath, size, read_up_to: this.readOffset }, 'file truncated or replaced in place (copytruncate?): reading it again from the start');
    this.events = [];
    this.splitter = new LineSplitter(this.opts.maxLineBytes, 0);
    this.joiner?.reset();
    this.readOffset = 0;
    this.consumedEnd = 0;
    // Let go at rotate_wait but still open (batches unacknowledged): truncated and written again, it is written
    // to after all, and what it holds now is read (rotate_wait runs anew). Before, it was closed unread.
    if (this.letGo) {
      this.letGo = false;
      this.lastGrowth = monotonic();
    }
    const entry: Checkpoint = { path: this.lastPath, dev: this.dev, ino: this.ino, fingerprint: EMPTY_FINGERPRINT, offset: 0, seen: Date.now() };
    old.tracker.onIdle = undefined;
    this.tracker = new AckTracker(entry, old.tracker.policy);
    this.tracker.onIdle = () => this.wake();
    await this.host.truncated(this, old);
  }

  private flushAll(): void {
    this.splitter.flush(this.onLine);
    this.joiner?.flush(this.onEvent);
  }

  private readonly onLine = (text: string, flags: LineFlags, start: number, end: number): void => {
    if (this.joiner) this.joiner.push(text, flags, start, end, this.onEvent);
    else this.onEvent(text, flags, start, end);
  };

  private readonly onEvent = (text: string, flags: LineFlags, start: number, end: number): void => {
    const event: LogEvent = { observedTimestamp: this.now, body: text, attributes: {}, source: { input: this.host.ctx.id, file: this.lastPath, offset: start } };
    if (flags.truncated || flags.invalidUtf8) {
      const limits = this.opts.multiline ? `max_line_bytes (${this.opts.maxLineBytes}) or multiline.max_lines (${this.opts.multiline.maxLines})` : `max_line_bytes (${this.opts.maxLineBytes})`;
      markAndSayLine(event, flags, this.host.problems, `a line or event over ${limits} was cut there`, this.opts.maxLineBytes, { file: this.lastPath, offset: start });
      this.malformed += 1;
    }
    this.events.push(event);
    this.batchEnd = end;
    this.consumedEnd = end;
  };

  private async emitPending(): Promise<void> {
    if (this.malformed) {
      this.host.ctx.metrics.add('malformed_events_total', this.malformed);
      this.malformed = 0;
    }
    if (this.events.length === 0) return;
    const events = this.events;
    this.events = [];
    this.host.ctx.metrics.add('received_events_total', events.length);
    await this.host.ctx.emit(events, this.tracker.track(this.batchEnd, events.length));
  }
}

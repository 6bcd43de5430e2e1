/**
 * `file`: tails log files matched by globs, through rotation, truncation and restarts, losing no line and
 * repeating only lines that were not yet checkpointed.
 *
 * - discovery.ts:   which files (globs, chokidar, a periodic scan)
 * - tailer.ts:      reading one file by descriptor, acknowledgements into checkpoint offsets
 * - checkpoints.ts: identity and acknowledged offset per file, saved atomically
 * - fingerprint.ts: the first bytes that tell a new file from an old one with a reused inode
 * - multiline.ts:   joining stack traces into one event
 *
 * This file decides, for each file found, where to start reading: from its checkpoint if the identity
 * (device, inode and fingerprint) matches; from its start if it is new since the input started, took the
 * place of a checkpointed file (rotation while driftlock was stopped), or reuses a checkpointed inode with
 * other content; from `start_at` only for files seen for the first time at start. And it finds the unread
 * rest of a file that was rotated or truncated while driftlock was not looking: in the same folder, under a
 * name starting like its own, by inode (renamed) or by fingerprint (a copytruncate copy); and reads whole
 * the rotated copies of content it never saw (written while it was stopped, rotated more than once between
 * two looks, or a new file rotated before it was found under the name its predecessor left empty).
 *
 * And it keeps the files it holds open within `max_open_files` (see `waiting`), closes those read to their end
 * and idle (see `resting`), leaves closed the files older than `ignore_older`, and finds what happened to a
 * closed file (renamed, copied and truncated, deleted) as it does at a restart. An open that fails for want
 * of descriptors (EMFILE, ENFILE) is said in words, counted, and retried (see `limitHit`).
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { byteSize, duration } from '../../config/schema.js';
import { defineInput, type InputContext } from '../../engine/component.js';
import { FailureReport, sharedHealth } from '../../engine/failure-report.js';
import { compileUserRegex } from '../../engine/user-regex.js';
import { folderUnreadable } from '../../make-folder.js';
import { CheckpointStore, fileKey, type Checkpoint } from './checkpoints.js';
import { gunzippedRest } from './compressed.js';
import { isDescriptorLimit, openFileLimit } from '../../engine/descriptors.js';
import { descriptorLimitError, maxOpenFiles, OpenFilesCap } from './descriptors.js';
import { Discovery } from './discovery.js';
import { EMPTY_FINGERPRINT, FingerprintSet, fingerprintOf, readPrefix, startsWith, type Fingerprint } from './fingerprint.js';
import { missingFolders, PathMatcher, unreadableFolders } from './glob.js';
import { continuationPatternRule, PRESETS, startPatternRule, type MultilineRule } from './multiline.js';
import { AckPolicy, AckTracker, Tailer, type TailerHost, type TailerOptions } from './tailer.js';
import { ProblemLog } from '../net/problems.js';

function regex() {
  return z.string().min(1).superRefine((value, ctx) => {
    try {
      compileUserRegex(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a regular expression driftlock can use: ${(err as Error).message}` });
    }
  });
}

export const fileInputConfig = z.object({
  include: z.array(z.string().min(1)).min(1).describe('Files to read: paths or globs (`*`, `?`, `**`, `[abc]`, `{a,b}`). Relative paths resolve against the working directory. Match the live names (`/var/log/app/*.log`), not the rotated ones: rotated files are followed by the input itself.'),
  exclude: z.array(z.string().min(1)).default([]).describe('Globs of files not to read, even if `include` matches them. A glob starting with `**` matches anywhere (`**/*.gz`).'),
  start_at: z.enum(['beginning', 'end']).default('end').describe('Where to start in a file seen for the first time when the input starts: `end` reads only what is written from now on, `beginning` reads what is there. Files that appear later, or that replaced a checkpointed file while driftlock was stopped, are always read from their start; checkpointed files resume from their checkpoint.'),
  max_line_bytes: byteSize().prefault('1MiB').describe('Longer lines (and joined multiline events) are cut to this size and marked `log.truncated`; the next line is unaffected. Cut lines, and lines that are not valid UTF-8 (marked `log.invalid_utf8`), are counted in `malformed_events_total` and logged with their file and byte offset: the first of each at once, then a sum at most every 10 s.'),
  max_read_bytes: byteSize().prefault('1MiB').describe('Bytes read from a file at once; its lines go downstream in batches, one for each 256 KiB of the read.'),
  partial_line_timeout: duration().prefault('0s').describe('How long a last line without newline waits for the rest before it is passed on as it is. `0s`: it waits until the file is let go (rotated or deleted).'),
  multiline: z
    .strictObject({
      preset: z.enum(['java', 'python', 'go']).optional().describe('Ready-made rules: `java` (`at ...` frames, `Caused by:`), `python` (`Traceback ...` up to the exception line), `go` (`panic:` and its goroutine dump).'),
      start_pattern: regex().optional().describe('A line matching this regular expression starts a new event; other lines continue the current one.'),
      continuation_pattern: regex().optional().describe('A line matching this regular expression continues the current event; other lines start a new one.'),
      timeout: duration().prefault('1s').describe('An event is passed on when no line came for this long (the next line may still have continued it). While the file ends in a line without newline, the event waits with that line, which may continue it (see `partial_line_timeout`).'),
      max_lines: z.number().int().min(1).default(500).describe('Lines joined into one event at most; the rest of the event is dropped and the event marked `log.truncated`.'),
    })
    .refine((m) => [m.preset, m.start_pattern, m.continuation_pattern].filter((v) => v !== undefined).length === 1, {
      message: 'set exactly one of preset, start_pattern, continuation_pattern',
    })
    .optional()
    .describe('Join continuation lines (stack traces) into one event.'),
  fingerprint_bytes: z.number().int().min(16).max(65536).default(256).describe('Bytes at the start of a file that, with device and inode, identify it: a reused inode with other first bytes is a new file, read from its start.'),
  checkpoint_interval: duration().prefault('1s').describe('How often acknowledged offsets are saved to `data_dir` (also at shutdown). After a crash, lines acknowledged since the last save are read again.'),
  checkpoint_ttl: duration().prefault('24h').describe('Checkpoints of files not seen for this long are forgotten.'),
  rotate_wait: duration().prefault('5s').describe('How long a file renamed away (rotated) is still read after its last growth, for writers that have not reopened the new file yet. Deleted files are let go at their end.'),
  check_interval: duration().prefault('1s').describe('How often open files are checked for growth, rotation and truncation when no change notification arrived.'),
  scan_interval: duration().prefault('10s').describe('How often the globs are walked again, in case the watcher missed a new file.'),
  use_polling: z.boolean().default(false).describe('Poll for changes instead of relying on change notifications (inotify); for network filesystems (NFS, SMB) where notifications do not arrive.'),
  ignore_older: duration().optional().describe('Files last modified longer ago than this are not opened (off by default). Such a file with a checkpoint keeps it; one without is taken as read to its end (as Filebeat and Vector do), whatever `start_at` says. Written to later, it is opened and read from there: only the new lines.'),
  close_inactive: duration().prefault('5m').describe('A file read to its end, with every line acknowledged, that did not grow for this long is closed: its checkpoint stays, and it is opened again (resuming there) when it changes. `0s`: files are closed only to give way to files waiting for a descriptor (see `max_open_files`). The risk: lines written to a closed file that is then rotated and deleted before driftlock looks (the `check_interval` after the write at most) are lost.'),
  max_open_files: z.union([z.enum(['auto']), z.number().int().min(1)]).default('auto').describe('Files this input holds open at most; matched files beyond wait, and files read to their end give way to them. `auto`: half the process\'s open-files limit (`ulimit -n`, read from /proc/self/limits), no cap where it cannot be read. A number not below that limit cannot be held: it is taken as `auto`, with a warning. Rotated files being read to their end are opened over the cap; they count against it, but never take its last eighth (one file at least) from the files under `include`. Out of descriptors, the input holds fewer for a while (the `max_open_files_now` gauge), raised back a sixteenth of this at each `check_interval` once opens work again.'),
});

export type FileInputConfig = z.output<typeof fileInputConfig>;

function multilineRule(m: NonNullable<FileInputConfig['multiline']>): MultilineRule {
  if (m.preset) return PRESETS[m.preset];
  if (m.start_pattern) return startPatternRule(compileUserRegex(m.start_pattern));
  return continuationPatternRule(compileUserRegex(m.continuation_pattern!));
}

interface Found {
  file: string;
  st: Stats;
}

/**
 * A folder's names, listed once for the looks that share it, and those of its files statted so far: each
 * look stats only the names it wants (see `FileInput.listed`).
 */
interface Listing {
  names: string[];
  stats: Map<string, Stats | undefined>;
}

/** A file under an included name that is not held open: its identity, and its size and time when last looked at. */
interface Resting {
  key: string;
  size: number;
  mtimeMs: number;
}

/**
 * Work that could not open a file for want of descriptors (see `FileInput.deferred`): done again at each
 * `check_interval` until it can.
 */
interface Deferred {
  /**
   * A look for the rest of a rotated file (see `FileInput.deferRecovery`) whose checkpoint stays under this
   * key, where a file of other content is read meanwhile (truncated, or its inode reused): that file is not
   * closed to rest until the look is done.
   */
  holds?: string;
  /**
   * A walk for rotated files never seen (see `readUnseen`): the names whose rotated files it reads, each with
   * the modification time from which they are read. Saved with the checkpoints (`unseen_since`), so that a
   * start before the walk could be done reads them.
   */
  since?: Map<string, number>;
  retry: () => Promise<void>;
}

/**
 * What a look for the rest of a rotated file found (see `FileInput.recover`): it, nothing, or a file it could not
 * open (or list the folder of) for want of descriptors.
 */
type Recovered = 'found' | 'none' | 'short';

interface RecoverOptions {
  /** A truncation seen while reading: the tracker of what was read, and where its events end. */
  resume?: { tracker: AckTracker; at: number };
  /** See `recoverFrom`. */
  followRenamed?: boolean;
}

/** How many closed files are looked at (stat) at once in the periodic check, and files of a folder in a look for copies. */
const RESTING_CHECKS_AT_ONCE = 64;

/** The files a walk for rotated files never seen names in its debug line, at most (a folder may hold thousands). */
const WALK_LOG_FILES = 20;

/** The walks of a folder one look for rotated files never seen makes at most while its names shift (see `readUnseen`). */
const WALK_PASSES = 5;

/** Names remembered as found since the start (see `namesFound`), the first found forgotten first. */
const MAX_NAMES_FOUND = 10_000;

/** The running input: decides where each file starts, owns the tailers and the checkpoints. */
export class FileInput implements TailerHost {
  readonly options: TailerOptions;
  readonly problems: ProblemLog;
  private readonly tailers = new Map<string, Tailer>();
  private readonly byPath = new Map<string, Tailer>();
  private readonly store: CheckpointStore;
  private readonly policy: AckPolicy;
  private readonly matcher: PathMatcher;
  private readonly discovery: Discovery;
  /**
   * Decisions about which reader takes which file run one at a time, in the order they come: the start-up
   * scan and recovery, files found later, a tailer's search for the copy of its truncated file. Side by
   * side, one could look at the folder in the middle of another (a truncation seen during the start-up,
   * before the copy is taken over) and read the copy again from its start.
   */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastSyncSave = 0;
  private readonly abandoned = new Map<string, number>();
  /**
   * Names whose file was rotated away (or deleted), until a file is found in its place. The writer creates the new file
   * a moment later, and the watcher may never say so: chokidar reports a name unlinked and created again
   * within 100 ms as one `change` (atomic mode), and drops a `change` that comes within 50 ms of the last
   * one for that name, so a file created right after the rename, while the `change` of the last append is
   * in that window, is reported by no event at all. Such a name is looked at again at every
   * `check_interval` until a file is found there, for `scan_interval` at most (the periodic walk looks at
   * it by then). Kept: when the rotation was seen, and the rotated file's modification time when it was
   * last found unchanged (see `consider`). A look that finds a file there reads the files created under
   * the name and rotated on before they were found (see `consider`), and so does a last look once
   * `scan_interval` has passed (`ending`), whatever it finds.
   */
  private readonly vacated = new Map<string, { since: number; checkedMtimeMs: number; ending?: boolean }>();
  /** Checkpoints that cannot be saved (a full or read-only data_dir): said once, on /health, retried. */
  private readonly saveFailure: FailureReport;
  /**
   * Files under included names held closed: read to their end and closed (close_inactive, or to give way to
   * files waiting), or not opened at all (ignore_older). Each has a checkpoint, and is opened again when it
   * changes (a notification, the periodic check of these files, or the scan).
   */
  private readonly resting = new Map<string, Resting>();
  /**
   * Files found while `max_open_files` were open, or that could not be opened (the open-files limit): each
   * has a checkpoint (where it is to be read from), and is opened in turn, in the order found.
   */
  private readonly waiting = new Map<string, Resting>();
  /** Waiting files taken in turn and not yet opened. */
  private readonly admitted = new Set<string>();
  /**
   * Files held open at most: `max_open_files`, lowered when the open-files limit is hit below it (to three
   * quarters of the files open then, leaving descriptors to the rest of the process: the API, checkpoint
   * saves, outputs), and raised back once opens work again (see OpenFilesCap).
   */
  private readonly cap: OpenFilesCap;
  /** Files waited for the cap (not for descriptors) since the last `check_interval`: the cap may rise. */
  private capWanted = false;
  /** The open-files limit (`ulimit -n`), read at start (reading it needs a descriptor too). */
  private readonly openLimit: number | undefined;
  /**
   * Opens that fail with EMFILE/ENFILE: said once, on /health, retried; over once the files and work they
   * put off are done (see `checkLimit`).
   */
  private readonly limitFailure: FailureReport;
  /** What /health says of the input: the checkpoint saves' failure and the opens' (see `limitFailure`). */
  private readonly health: ReturnType<typeof sharedHealth>;
  /** An open (or a folder's listing) ran out of descriptors since the last `check_interval`; or in the interval before. */
  private ranOutSinceCheck = false;
  private ranOutLastInterval = false;
  /**
   * Files that could not be opened for want of descriptors, waiting (see `waiting`) and not opened since.
   * Not the files that merely wait for the cap: while more files than it are written to, some always wait.
   */
  private readonly starved = new Set<string>();
  /**
   * Looks for the rest of rotated files (see `recover`) and walks for rotated files never seen (see
   * `readUnseen`) that could not open a file, or list its folder, for want of descriptors (EMFILE, ENFILE):
   * each is done again at every `check_interval`, in the decisions' queue, until it opened what it needed
   * (meanwhile files read to their end give way, see `mayRest`). Before, such a file was passed over and
   * its lines never read. Keyed by what they look for, so that one failing again replaces itself.
   */
  private readonly deferred = new Map<string, Deferred>();
  /** Include folders its user may not list, said at the start (the watcher's errors for them are not said again). */
  private unreadable: Array<{ dir: string; err: NodeJS.ErrnoException }> = [];
  private retryingDeferred = false;
  private checkingResting = false;
  private nudging = false;
  private saidWaiting = false;
  /** The included names found since the start (by its scan, or since), and when the start-up scan began: see `consider`. */
  private readonly namesFound = new Set<string>();
  private startedAtMs = Date.now();
  /**
   * The included names the start's look for rotated files never seen walked for, each with the time it walked
   * from: saved in `unseen_since` and taken as the time of the name's next look (its file renamed away, or
   * copied and truncated) until a look from that time is done after the start's. A rotated file the start's
   * look missed is read then, or at the next start. Before, every look after the start's, in this run or the
   * next, began at the modification time of the file read under the name by then, later than the missed
   * file's: it was never read. (The file-crash test lost one so, once in about 150 runs: see the torn listing
   * in `readUnseen`.) Not once `checkpoint_ttl` old (see `fromStart`).
   */
  private readonly startSince = new Map<string, number>();

  constructor(
    private readonly config: FileInputConfig,
    readonly ctx: InputContext,
  ) {
    this.options = {
      maxLineBytes: config.max_line_bytes,
      maxReadBytes: Math.max(4096, config.max_read_bytes),
      fingerprintBytes: config.fingerprint_bytes,
      partialLineTimeoutMs: config.partial_line_timeout,
      rotateWaitMs: config.rotate_wait,
      closeInactiveMs: config.close_inactive,
      ...(config.multiline
        ? { multiline: { rule: multilineRule(config.multiline), timeoutMs: config.multiline.timeout, maxLines: config.multiline.max_lines } }
        : {}),
    };
    this.problems = new ProblemLog(ctx.logger, ctx.signal);
    this.store = new CheckpointStore(ctx.dataDir);
    this.store.unseenSince = () => this.unseenSince();
    this.matcher = new PathMatcher(config.include, config.exclude);
    this.discovery = new Discovery(this.matcher);
    this.policy = new AckPolicy(
      () => this.advanced(),
      (status, events, file, counted) => {
        if (status === 'abandoned') {
          this.noteAbandoned(file, events);
          return;
        }
        ctx.metrics.add(status === 'dropped' ? 'ack_dropped_events_total' : 'ack_rejected_events_total', events);
        if (status === 'rejected') ctx.logger.warn({ file, events, checkpointed: counted }, 'an output rejected lines for good; they are not read again');
      },
    );
    this.health = sharedHealth(ctx.health);
    this.saveFailure = new FailureReport({ logger: ctx.logger, metrics: ctx.metrics, health: this.health('save') }, {
      what: 'cannot save checkpoints',
      recovered: 'checkpoints can be saved again',
      fields: { file: this.store.file },
    });
    this.openLimit = openFileLimit();
    const { max, warning } = maxOpenFiles(config.max_open_files, this.openLimit);
    if (warning) ctx.logger.warn({ max_open_files: config.max_open_files, open_files_limit: this.openLimit, max_open_files_now: max }, warning);
    this.cap = new OpenFilesCap(max);
    // Counted by `limitHit`, once a spell: not through the report, which counts each failure.
    this.limitFailure = new FailureReport({ logger: ctx.logger, health: this.health('open') }, {
      what: 'too many open files',
      recovered: 'files can be opened again',
      counted: 'counted once in errors_total and too_many_open_files_total, each open put off in deferred_opens_total',
    });
    ctx.metrics.gauge('files_open', () => this.tailers.size);
    ctx.metrics.gauge('files_waiting', () => this.waiting.size);
    if (Number.isFinite(this.cap.ceiling)) ctx.metrics.gauge('max_open_files_now', () => this.cap.current);
    ctx.metrics.declare('file_rotations_total', 'file_truncations_total', 'ack_dropped_events_total', 'ack_rejected_events_total', 'too_many_open_files_total', 'deferred_opens_total', 'file_lost_bytes_total');
  }

  /**
   * Lines not delivered at shutdown are logged once, as a total per file: the engine abandons every batch
   * still in flight at the same moment, and one line per batch said the same thing dozens of times.
   */
  private noteAbandoned(file: string, events: number): void {
    const first = this.abandoned.size === 0;
    this.abandoned.set(file, (this.abandoned.get(file) ?? 0) + events);
    if (first) setImmediate(() => this.logAbandoned());
  }

  /** Logs the lines abandoned so far, if any (at the next turn of the event loop, or at shutdown). */
  private logAbandoned(): void {
    if (this.abandoned.size === 0) return;
    const files = Object.fromEntries(this.abandoned);
    const total = [...this.abandoned.values()].reduce((a, b) => a + b, 0);
    this.abandoned.clear();
    this.ctx.logger.info({ events: total, files }, 'lines not delivered before shutdown; they are read again at the next start');
  }

  async run(): Promise<void> {
    const { ctx } = this;
    // A run that throws leaves its tailers behind, reading on and holding their files open: the engine
    // aborts the signal then, and they must hear it (no abort listener per file; see Tailer.sleep). Before,
    // they slept on, each restart opened and read every file once more (a 2,000-line file was delivered 5
    // times over 4 restarts) and the descriptors added up until the process hit its limit.
    ctx.signal.addEventListener('abort', () => {
      for (const t of this.tailers.values()) t.wake();
    }, { once: true });
    const loaded = await this.store.load();
    if (loaded.corrupt) {
      ctx.metrics.add('errors_total');
      ctx.logger.error({ moved_to: loaded.corrupt }, `checkpoint file unreadable; moved aside, files start per start_at (${this.config.start_at})`);
    }
    const firstRun = this.store.size === 0;
    this.startedAtMs = Date.now();
    const found = await this.scan();
    await this.exclusive(async () => {
      for (const file of found) await this.consider(file, true);
      await this.recoverOrphans(loaded.savedAt, loaded.unseenSince);
    });
    // A save that fails (a full data_dir) is retried by the timer: the lines are read meanwhile, and only
    // their checkpoints wait. Before, it was a crash, and a full disk at start was a crash loop.
    await this.saveCheckpoints(true);
    ctx.logger.info({
      files: this.tailers.size, checkpoints: this.store.size, first_run: firstRun,
      ...(this.waiting.size > 0 ? { waiting: this.waiting.size, max_open_files: this.cap.current } : {}),
      ...(this.resting.size > 0 ? { closed: this.resting.size } : {}),
    }, 'file input started');
    this.admitWaiting();
    // A wrong path is the commonest mistake, and looks like a quiet log: say so (files that appear later
    // are still picked up). A folder that is not there is said as such.
    // A folder it may not list is said whatever else is found: nothing in it will ever be (before, it was
    // "no file matches include yet; waiting for one to appear", then a watcher error said the scan goes on).
    const unreadable = (this.unreadable = await unreadableFolders(this.matcher.include));
    for (const { dir, err } of unreadable) ctx.logger.warn({ include: this.config.include, folder: dir, err }, `cannot read an include folder: ${folderUnreadable(dir)}`);
    const unseen = found.length === 0 && unreadable.length === 0;
    const missing = unseen ? await missingFolders(this.matcher.include) : [];
    if (missing.length > 0) ctx.logger.warn({ include: this.config.include, missing_folders: missing }, `no file matches include yet: ${missing.length === 1 ? `the folder ${missing[0]} does not exist` : `the folders ${missing.join(', ')} do not exist`}; waiting for a file to appear (check the path if this is unexpected)`);
    else if (unseen) ctx.logger.warn({ include: this.config.include }, 'no file matches include yet; waiting for one to appear (check the path if this is unexpected)');
    if (ctx.signal.aborted) return this.shutdown();

    // Not waited for: the timers below (checkpoint saves, the checks of open, closed, waiting and rotated
    // files, the scan) must run whatever the watcher does (see `watchFiles`).
    void this.watchFiles();

    const timers = [
      setInterval(() => void this.saveNow(), this.config.checkpoint_interval),
      setInterval(() => {
        for (const t of this.tailers.values()) t.lookAtName();
        this.lookAtVacated();
        void this.lookAtResting();
        this.raiseCap();
        this.checkLimit();
        this.admitWaiting();
        this.retryDeferred();
      }, this.config.check_interval),
      setInterval(() => this.rescan(), this.config.scan_interval),
    ];
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    for (const t of timers) clearInterval(t);
    for (const t of this.tailers.values()) t.wake();
    await this.shutdown();
  }

  /**
   * Starts the watcher of the include folders (change notifications). One that cannot start for want of
   * descriptors (its first walk cannot list a folder) is started again at a later `check_interval` (see
   * `deferred`); meanwhile the periodic checks and the scan find what it would have told. Before, the input
   * waited for the watcher to be ready before it set its timers, and a watcher that ran out of descriptors
   * is never ready (chokidar says so and stops): no checkpoint was saved from then on, open files were read
   * only as far as their last notification, files created later were never found, and a stop waited for
   * the shutdown timeout and saved no checkpoint. A watcher tells nothing of the files created before it
   * was ready: the globs are walked then, also at the start (the start's walk came before it).
   */
  private watchFiles(): Promise<void> {
    const { ctx } = this;
    return this.discovery.watch(
      {
        // A name being read may now hold another file, whatever the event says: a name deleted and created
        // again within 100 ms comes as one `change` (chokidar's atomic mode), and polling reports a replaced
        // file as a `change` too. The tailer looks at its name (see Tailer.lookAtName).
        added: (f) => this.notified(f),
        changed: (f) => this.notified(f),
        removed: (f) => {
          const t = this.byPath.get(f);
          if (t) t.lookAtName();
          else if (this.resting.has(f) || this.waiting.has(f)) this.enqueue(f);
        },
        error: (err) => {
          if (isDescriptorLimit(err)) this.limitHit(err, 'watch the include folders');
          // A folder said unreadable at the start: not said again as the watcher's.
          else if ((err as NodeJS.ErrnoException).code === 'EACCES' && this.unreadable.some((u) => u.dir === (err as NodeJS.ErrnoException).path)) return;
          else ctx.logger.warn({ err }, 'file watcher error; the periodic scan keeps finding files');
        },
      },
      { usePolling: this.config.use_polling, pollIntervalMs: Math.max(100, Math.min(this.config.check_interval, 1000)) },
    ).then(
      () => {
        ctx.logger.debug({ use_polling: this.config.use_polling }, 'watching for file changes');
        // Before, at the start, a file created between the start's walk and this waited for the next scan.
        this.rescan();
      },
      (err: unknown) => {
        if (!isDescriptorLimit(err)) return ctx.logger.warn({ err }, 'cannot watch for file changes; relying on periodic checks');
        this.limitHit(err, 'watch the include folders');
        this.deferred.set('watch', { retry: () => this.watchFiles() });
      },
    );
  }

  /** Walks the globs, and considers the files found that are not read or waiting already. */
  private rescan(): void {
    void this.scan().then((files) => files.forEach((f) => this.byPath.has(f) || this.waiting.has(f) || this.enqueue(f)), () => undefined);
  }

  private async shutdown(): Promise<void> {
    this.logAbandoned();
    await this.discovery.close().catch(() => undefined);
    await this.queue;
    for (const t of this.tailers.values()) t.wake();
    await Promise.all([...this.tailers.values()].map((t) => t.done));
    this.touchSeen();
    // The last save is synchronous, after any save in flight: an acknowledgement that came during an
    // asynchronous one would have missed it (its text was taken before), and with `stopped` set no later
    // save might come. From here on advanced() saves each acknowledgement synchronously.
    await this.store.idle();
    this.stopped = true;
    this.saveSync();
  }

  /** Saves the checkpoints at once, synchronously (see `CheckpointStore.saveSync`); a failure is reported. */
  private saveSync(): void {
    try {
      this.store.saveSync();
      this.saveFailure.succeeded();
    } catch (err) {
      this.saveFailure.failed(this.explained(err, 'save checkpoints'));
    }
  }

  /** Runs `fn` after every decision queued before it (see `queue`). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Considers `file` in turn (see `queue`), then calls `after`, if given, in the same turn. */
  private enqueue(file: string, after?: () => void): void {
    if (this.stopped || this.ctx.signal.aborted) return;
    this.exclusive(async () => {
      await this.consider(file, false);
      after?.();
    }).catch((err: unknown) => {
      this.ctx.metrics.add('errors_total');
      this.ctx.logger.error({ err, file }, 'cannot open file');
    });
  }

  /** A notification about `file`: its tailer reads and looks at the name, or the name is considered. */
  private notified(file: string): void {
    const t = this.byPath.get(file);
    if (!t) return this.enqueue(file);
    t.changed();
    t.lookAtName();
  }

  /** Looks again at the names rotated away with no file in their place yet (see `vacated`). */
  private lookAtVacated(): void {
    const now = Date.now();
    for (const [file, v] of this.vacated) {
      if (this.byPath.has(file)) this.vacated.delete(file);
      else if (v.ending) continue;
      else if (now - v.since < this.config.scan_interval) this.enqueue(file);
      else {
        // The last look: forgotten once it is done, not before (see `consider`).
        v.ending = true;
        this.enqueue(file, () => this.vacated.get(file) === v && this.vacated.delete(file));
      }
    }
  }

  private advanced(): void {
    this.store.touch();
    if (!this.stopped) return;
    const now = Date.now();
    if (this.policy.outstanding === 0 || now - this.lastSyncSave > 200) {
      this.lastSyncSave = now;
      this.saveSync();
    }
  }

  private touchSeen(): void {
    const now = Date.now();
    for (const t of this.tailers.values()) t.tracker.entry.seen = now;
    for (const key of this.parkedKeys()) {
      const entry = this.store.get(key);
      if (entry) entry.seen = now;
    }
  }

  /** The checkpoints of files under included names that are not held open (see `resting` and `waiting`). */
  private parkedKeys(): Set<string> {
    const keys = new Set<string>();
    for (const parked of [this.resting, this.waiting]) for (const r of parked.values()) keys.add(r.key);
    return keys;
  }

  private async saveNow(): Promise<void> {
    const now = Date.now();
    this.touchSeen();
    const live = this.parkedKeys();
    for (const t of this.tailers.values()) live.add(fileKey(t.tracker.entry.dev, t.tracker.entry.ino));
    const forgotten = this.store.expire(now, this.config.checkpoint_ttl, (key) => live.has(key));
    if (forgotten) this.ctx.logger.info({ checkpoints: forgotten }, 'forgot checkpoints of files gone for longer than checkpoint_ttl');
    await this.saveCheckpoints();
  }

  /**
   * Saves the checkpoints if they changed (or `force`). A failure (a full or read-only data_dir) is said
   * once, counted and shown on /health until a save works again; what was not saved stays to be saved.
   */
  private async saveCheckpoints(force = false): Promise<void> {
    try {
      await this.store.save(force);
      this.saveFailure.succeeded();
    } catch (err) {
      this.saveFailure.failed(this.explained(err, 'save checkpoints'));
    }
  }

  /**
   * An error for the log: the open-files limit said in words, others as they are. Counted in
   * `too_many_open_files_total` once, not at each save that fails again, nor during a spell of opens
   * running out (see `limitHit`).
   */
  private explained(err: unknown, doing: string): unknown {
    if (!isDescriptorLimit(err)) return err;
    if (!this.saveFailure.failing && !this.limitFailure.failing) this.ctx.metrics.add('too_many_open_files_total');
    return descriptorLimitError(err, doing, this.tailers.size, this.openLimit);
  }

  /**
   * A file matched the globs: start reading it unless it is read already, or held closed and unchanged since
   * (see `resting`). A file older than `ignore_older` is not read, and one found while `max_open_files` are
   * open waits its turn (see `waiting`).
   */
  private async consider(file: string, atStart: boolean): Promise<void> {
    if (this.ctx.signal.aborted) return;
    if (this.byPath.has(file)) return this.stopWaiting(file);
    const found = await stat(file).catch(() => undefined);
    const foundKey = found && fileKey(found.dev, found.ino);
    // A file held closed under this name may have been renamed away, deleted or replaced meanwhile: its
    // rest is looked for as at a rotation. Unchanged, it stays closed.
    const parked = this.resting.get(file) ?? this.waiting.get(file);
    let restedSince: number | undefined;
    if (parked) {
      const resting = this.resting.get(file) === parked;
      if (resting && foundKey === parked.key && found!.size === parked.size && found!.mtimeMs === parked.mtimeMs) return;
      this.resting.delete(file);
      if (foundKey !== parked.key) {
        this.waiting.delete(file);
        this.starved.delete(file);
        await this.parkedMoved(file, parked, found === undefined);
      } else if (resting) restedSince = parked.mtimeMs;
    }
    // Rotated away with nothing in its place (see `vacated`), and still nothing there at its last look: a
    // file created under the name meanwhile may have been rotated on already, before anything looked (a
    // rotation run twice in a row, or an input held up): its copy is read now. Before, only a file found
    // under the name led to its copies, and with none there (the writer done, or its next file later than
    // scan_interval) their lines were never read. At the last look only: a walk of the folder at each
    // check_interval, for each name deleted or rotated with no successor, would cost more than the lines
    // come sooner.
    // A name found for the first time since the start: files created under it and rotated on (renamed to a
    // name include does not match, or copied and truncated) before the input first looked were never read,
    // and no reader followed the name to find them. It is looked at as a name rotated away (see `vacated`),
    // with the rotated copies written since the start-up scan as its unread ones. Before, they were lost:
    // the first files of each name under rotations faster than the input first found the name (in the
    // rotation stress run, up to 450 lines a seed, every one of them in the first 0.3 to 0.7 s).
    if (!atStart && !parked && !this.namesFound.has(file) && !this.vacated.has(file)) this.vacated.set(file, { since: Date.now(), checkedMtimeMs: this.startedAtMs });
    this.namesFound.add(file);
    // Bounded (names made of dates or pod ids come and go): a name forgotten and found again is looked at
    // as new, and its rotated copies already read hold known content, so none is read twice.
    if (this.namesFound.size > MAX_NAMES_FOUND) this.namesFound.delete(this.namesFound.values().next().value!);
    const vacated = this.vacated.get(file);
    if (!found && !parked && vacated?.ending) await this.readCopiesSince(file, vacated.checkedMtimeMs, 'reading a rotated file never seen (the file was rotated before it was found)');
    if (!found?.isFile()) return;
    if (this.takenBack(file, foundKey!)) return this.stopWaiting(file);
    const old = this.config.ignore_older !== undefined && Date.now() - found.mtimeMs > this.config.ignore_older;
    if (!old && !this.roomForLive()) {
      this.capWanted = true;
      return await this.wait(file, found, atStart);
    }
    this.waiting.delete(file);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if (isDescriptorLimit(err)) {
        this.limitHit(err, `open ${file}`);
        this.starved.add(file);
        return await this.wait(file, found, atStart);
      }
      this.starved.delete(file);
      // Renamed away or deleted since it was found: what it holds is looked for (see `parkedMoved`).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') await this.parkedMoved(file, { key: foundKey!, size: found.size, mtimeMs: found.mtimeMs }, true);
      return; // not readable; the next scan tries again
    }
    this.starved.delete(file);
    let keep = false;
    try {
      const st = await handle.stat();
      if (!st.isFile()) return;
      const key = fileKey(st.dev, st.ino);
      // The name holds another file than the one found there (looking for a closed file's rest takes two
      // walks of its folder meanwhile): that one was renamed on, and what it holds is looked for, as a
      // closed file's would be. Before, it was never read (the next file under the name was).
      if (key !== foundKey) await this.parkedMoved(file, { key: foundKey!, size: found.size, mtimeMs: found.mtimeMs }, false);
      if (this.takenBack(file, key)) return;
      const now = Date.now();
      const entry = this.store.get(key);
      const matches = entry !== undefined && (await startsWith(handle, entry.fingerprint)) && entry.offset <= st.size;
      let tailer: Tailer | undefined;
      if (entry && matches) {
        this.store.setPath(key, file);
        entry.seen = now;
        // A checkpoint past the file's start without its first bytes (the file waited and could not be opened
        // to take them, see `wait`; or an older version saved it so): taken now, so that once it is closed
        // again (close_inactive, or giving way) a new file reusing its inode is not resumed at its offset.
        if (entry.offset > 0 && entry.fingerprint.length === 0) {
          entry.fingerprint = await this.fingerprintAt(handle, entry.offset);
          this.store.touch();
        }
        if (!old) {
          this.ctx.logger.debug({ file, ino: st.ino, offset: entry.offset, size: st.size }, 'resuming file from its checkpoint');
          tailer = this.startTailer(handle, file, st, entry.offset, new AckTracker(entry, this.policy), 'live');
        }
      } else {
        // The inode now holds other content: reused by a new file, or truncated while we were not looking.
        // Its checkpoint stays until the fresh one replaces it below: saved meanwhile, it still leads the
        // next start to the copy. Not found for want of descriptors, it stays until it is (see `deferRecovery`).
        let recovered: Recovered = 'none';
        if (entry) {
          this.ctx.logger.info({ file, checkpoint_offset: entry.offset, size: st.size }, 'file does not match its checkpoint (inode reused, or truncated): reading it from the start');
          recovered = await this.recover(entry, key);
        }
        // A file too old to be read is taken as read to its end: written to later, only the new lines are read.
        const { offset, successor } = old ? { offset: st.size, successor: false } : this.startOffset(file, key, st, atStart, entry);
        const fresh: Checkpoint = {
          path: file, dev: st.dev, ino: st.ino, offset,
          fingerprint: await this.fingerprintAt(handle, offset), seen: now,
        };
        if (entry && recovered === 'short') {
          this.deferRecovery(entry, key, {}, () => {
            const held = this.store.get(key);
            if (held === undefined || held === entry) this.store.set(key, tailer?.tracker.entry ?? fresh);
          });
        } else this.store.set(key, fresh);
        if (!old) {
          this.ctx.logger.debug({ file, ino: st.ino, offset, size: st.size, successor }, 'reading new file');
          tailer = this.startTailer(handle, file, st, offset, new AckTracker(fresh, this.policy), 'live');
          // Saved at once: if driftlock dies before the next save and the file is rotated away meanwhile,
          // its checkpoint is what lets the next start find it.
          if (!atStart) await this.saveCheckpoints();
        }
      }
      if (!tailer) {
        this.resting.set(file, { key, size: st.size, mtimeMs: st.mtimeMs });
        this.ctx.logger.debug({ file, mtime: new Date(st.mtimeMs).toISOString(), checkpoint: this.store.get(key)!.offset }, 'file older than ignore_older: not opened until it changes');
        return;
      }
      keep = true;
      // Found only after its name was found empty at a rotation (see `vacated`): nobody read it meanwhile,
      // and it may have been rotated already (copied and truncated, or renamed, with a new file in its
      // place). Copies written after the rotated file was last found unchanged, whose content is not known,
      // are read whole, as after a truncation seen late.
      if (vacated) {
        // Only the look read before the awaits above (the checkpoint save): the file opened now may have been
        // rotated meanwhile, with nothing in its place, and the look that rotation asked for is its own.
        // Before, it was forgotten here, and a file created under the name and rotated on after this look
        // was never read.
        if (this.vacated.get(file) === vacated) this.vacated.delete(file);
        await this.readCopiesSince(file, vacated.checkedMtimeMs, 'reading a rotated file never seen (the file was rotated before it was found)');
      }
      // Opened again after it was closed, and truncated meanwhile (its first bytes changed, or nothing had
      // been read from it): copies made since are read whole unless their content is known (the one holding
      // the rest of what was read is being read from its checkpoint by now, see `recover`).
      if (restedSince !== undefined && (!matches || entry.fingerprint.length === 0)) {
        await this.readCopiesSince(file, restedSince, 'reading a rotated file never seen (the file was copied and truncated while it was closed)');
      }
    } finally {
      if (!keep) await handle.close().catch(() => undefined);
    }
  }

  /**
   * A waiting file is read already (under this name, or another: see `takenBack`): it waits no more. Before,
   * it stayed in `waiting` for good (each look at the name returned at once, the name being read), and while
   * it did, every file read to its end was closed at once to give way to it.
   */
  private stopWaiting(file: string): void {
    this.waiting.delete(file);
    this.starved.delete(file);
  }

  /**
   * The file is read already, under another name (renamed back to an included name, or a hard link): one
   * reader is kept, and it takes this name if it had none.
   */
  private takenBack(file: string, key: string): boolean {
    const existing = this.tailers.get(key);
    if (!existing) return false;
    if (existing.state !== 'deleted' && existing.path === null) {
      existing.takeBack(file);
      this.byPath.set(file, existing);
    }
    return true;
  }

  /**
   * Where a file without a checkpoint starts: `start_at` for files found at start, unless it took the place
   * of a checkpointed file (rotated while driftlock was stopped: a `successor`); its start otherwise.
   */
  private startOffset(file: string, key: string, st: Stats, atStart: boolean, entry: Checkpoint | undefined): { offset: number; successor: boolean } {
    const successor = atStart && this.store.heldByAnother(file, key);
    const fromEnd = atStart && !entry && !successor && this.config.start_at === 'end';
    return { offset: fromEnd ? st.size : 0, successor };
  }

  /**
   * `max_open_files` are open, or the file could not be opened (the open-files limit): it waits its turn.
   * Where it is to be read from is decided now, in a checkpoint (`start_at` applies to files found at start,
   * and the lines written while it waits are read), with the file's first bytes when that is past its start,
   * as for a file opened at once: the file is opened for a moment to take them. Before, the checkpoint had
   * none, and a new file that took the inode of a waiting file deleted meanwhile (while waiting, or while
   * driftlock was stopped) was resumed at the old file's offset: its first lines were lost, and it was read
   * from the middle of a line. Only an open that fails for want of descriptors leaves them out: they are
   * taken when the file is opened (see `consider`).
   */
  private async wait(file: string, st: Stats, atStart: boolean): Promise<void> {
    const key = fileKey(st.dev, st.ino);
    if (!this.store.get(key)) {
      const { offset } = this.startOffset(file, key, st, atStart, undefined);
      const fingerprint = offset > 0 ? await this.fingerprintOfFile(file, key, offset) : EMPTY_FINGERPRINT;
      this.store.set(key, { path: file, dev: st.dev, ino: st.ino, offset, fingerprint, seen: Date.now() });
    }
    if (!this.saidWaiting && !this.limitFailure.failing) {
      this.saidWaiting = true;
      this.ctx.logger.info({ max_open_files: this.cap.current, file }, 'max_open_files files are open: more files wait, and are read in turn as open ones reach their end (files_waiting says how many wait)');
    }
    this.waiting.set(file, { key, size: st.size, mtimeMs: st.mtimeMs });
    this.nudgeIdle();
  }

  /**
   * The fingerprint of a checkpoint at `offset`: the file's first bytes once any of it is behind the offset;
   * none at its start (the tailer takes them as it reads, and none says that nothing was read yet).
   */
  private async fingerprintAt(handle: FileHandle, offset: number): Promise<Fingerprint> {
    return offset > 0 ? fingerprintOf(handle, this.config.fingerprint_bytes) : EMPTY_FINGERPRINT;
  }

  /**
   * The same for a file not held open: opened for the moment it takes, if `file` is still the file of `key`.
   * None if it cannot be opened (out of descriptors, or gone: what is under the name then is looked at anew).
   */
  private async fingerprintOfFile(file: string, key: string, offset: number): Promise<Fingerprint> {
    const handle = await open(file, 'r').catch(() => undefined);
    if (!handle) return EMPTY_FINGERPRINT;
    try {
      const st = await handle.stat();
      return fileKey(st.dev, st.ino) === key ? await this.fingerprintAt(handle, offset) : EMPTY_FINGERPRINT;
    } catch {
      return EMPTY_FINGERPRINT;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** Files wait for a descriptor: tailers asleep at the end of their file are woken, to give way (see `mayRest`). */
  private nudgeIdle(): void {
    if (this.nudging) return;
    this.nudging = true;
    setImmediate(() => {
      this.nudging = false;
      for (const t of this.tailers.values()) if (t.asleep && t.state === 'live') t.wake();
    });
  }

  /**
   * Whether a file under an included name may be opened, with `admitting` more being opened already: while
   * fewer than the cap are open, rotated files too; and whatever the rotated files hold, while fewer than an
   * eighth of the cap (one at least) are live files. Rotated files are kept `rotate_wait` after their last
   * growth, for writers that have not reopened yet, and cannot give way as a live file read to its end does
   * (their name is gone, and lines written to them after they were closed could not be found again once
   * deleted: logrotate's `compress` deletes them at once). Before, when they held the whole cap (every file
   * rotated at once, as many files as the cap), the new files under the names waited behind them, for
   * `rotate_wait`, however idle they were; now the new files are read in turn through that eighth (live files
   * read to their end give way while others wait, see `mayRest`). Not more: opened over the cap, live files
   * take descriptors the cap leaves to the rest of the process.
   */
  private roomForLive(admitting = 0): boolean {
    if (this.tailers.size + admitting < this.cap.current) return true;
    let live = admitting;
    for (const t of this.tailers.values()) if (t.state === 'live') live += 1;
    return live < Math.max(1, Math.floor(this.cap.current / 8));
  }

  /**
   * Takes waiting files in turn while fewer than `max_open_files` are open. While opens fail for want of
   * descriptors (one ran out in this `check_interval` or the last), one at a time: each file closed frees
   * one. Not for as long as files it put off wait (see `checkLimit`): opens work by then, and one at a time
   * held them back behind the files waiting for the cap.
   */
  private admitWaiting(): void {
    if (this.stopped || this.ctx.signal.aborted) return;
    let budget = this.ranOutSinceCheck || this.ranOutLastInterval ? 1 : Infinity;
    for (const file of this.waiting.keys()) {
      if (this.admitted.has(file)) continue;
      if (!this.roomForLive(this.admitted.size)) {
        this.capWanted = true;
        break;
      }
      if (budget <= 0) break;
      budget -= 1;
      this.admitted.add(file);
      this.exclusive(() => this.consider(file, false))
        .catch((err: unknown) => {
          this.ctx.metrics.add('errors_total');
          this.ctx.logger.error({ err, file }, 'cannot open file');
        })
        .finally(() => this.admitted.delete(file));
    }
  }

  /**
   * Looks at the files held closed (see `resting`) at every `check_interval`: one that changed, moved or is
   * gone is considered again (a change notification does the same at once, when one comes).
   */
  private async lookAtResting(): Promise<void> {
    if (this.checkingResting || this.resting.size === 0) return;
    this.checkingResting = true;
    try {
      const all = [...this.resting];
      for (let i = 0; i < all.length && !this.ctx.signal.aborted; i += RESTING_CHECKS_AT_ONCE) {
        await Promise.all(all.slice(i, i + RESTING_CHECKS_AT_ONCE).map(async ([file, r]) => {
          const st = await stat(file).catch(() => undefined);
          if (this.resting.get(file) !== r) return;
          if (!st || fileKey(st.dev, st.ino) !== r.key || st.size !== r.size || st.mtimeMs !== r.mtimeMs) this.enqueue(file);
        }));
      }
    } finally {
      this.checkingResting = false;
    }
  }

  /**
   * A file held closed (or found under the name and not opened yet) is no longer under its name: renamed
   * away (rotation), deleted, or replaced. What it
   * holds past its checkpoint is read as a rotated file's would be: found by inode in its folder, read from
   * the checkpoint, and kept `rotate_wait` for a writer that has not reopened yet. Rotated copies written
   * since it was last looked at, whose content is not known, are read whole (rotated more than once
   * meanwhile). With no file under the name now, the name is looked at as after a rotation (see `vacated`).
   */
  private async parkedMoved(file: string, parked: Resting, gone: boolean): Promise<void> {
    const entry = this.store.get(parked.key);
    if (entry && !this.tailers.has(parked.key)) {
      const counted = (found: boolean) => found && this.ctx.metrics.add('file_rotations_total');
      const recovered = await this.recover(entry, parked.key, new Map(), { followRenamed: true });
      if (recovered === 'short') this.deferRecovery(entry, parked.key, { followRenamed: true }, counted);
      else counted(recovered === 'found');
    }
    const since = Math.min(parked.mtimeMs, this.fromStart(file));
    await this.readCopiesSince(file, since, 'reading a rotated file never seen (rotated while the file was closed)');
    if (gone) this.vacated.set(file, { since: Date.now(), checkedMtimeMs: since });
  }

  /** Reads whole the rotated copies of `file` written since `sinceMtimeMs` whose content is not known (see `readUnseen`). */
  private readCopiesSince(file: string, sinceMtimeMs: number, why: string): Promise<void> {
    return this.readUnseen(new Map([[path.dirname(file), new Map([[path.basename(file), sinceMtimeMs]])]]), new Map(), why);
  }

  /**
   * The open-files limit was hit: said (with what to do) once, on /health; what could not be opened is
   * retried. Counted in `errors_total` and `too_many_open_files_total` once a spell (see `checkLimit`), as
   * the network inputs count theirs, and each open put off in `deferred_opens_total`. Before, each open
   * retried counted in both: 105 to 112 in a 2 s burst of connections taking every descriptor while 100 files
   * were written to, 971 and 1,821 with 300. The input holds fewer files open for a while (see `cap`).
   */
  private limitHit(err: unknown, doing: string): void {
    this.ranOutSinceCheck = true;
    this.ctx.metrics.add('deferred_opens_total');
    if (!this.limitFailure.failing) {
      this.ctx.metrics.add('errors_total');
      this.ctx.metrics.add('too_many_open_files_total');
    }
    const open = this.tailers.size;
    const lowered = this.cap.ranOut(open);
    const fields: Record<string, unknown> = { files_open: open };
    if (lowered !== undefined) fields.max_open_files_now = lowered;
    this.limitFailure.failed(descriptorLimitError(err, doing, open, this.openLimit), fields);
  }

  /**
   * At each `check_interval`: the cap lowered by running out of descriptors rises a step if files waited for
   * it and nothing ran out meanwhile (see OpenFilesCap); said when it is back at `max_open_files`.
   */
  private raiseCap(): void {
    const wanted = this.capWanted;
    this.capWanted = false;
    const raised = this.cap.interval(wanted);
    if (raised === undefined) return;
    if (this.cap.lowered) this.ctx.logger.debug({ max_open_files_now: raised }, 'opens work again: more files held open');
    else this.ctx.logger.info({ max_open_files: raised }, 'opens work again: as many files held open as max_open_files allows');
  }

  /** The walk of the include globs, with folders that could not be listed for want of a descriptor said. */
  private scan(): Promise<string[]> {
    return this.discovery.scan((err, dir) => this.limitHit(err, `list ${dir}`));
  }

  private startTailer(handle: FileHandle, file: string, st: Stats, offset: number, tracker: AckTracker, state: 'live' | 'rotated'): Tailer {
    const t = new Tailer(this, handle, file, st, offset, tracker, state);
    this.tailers.set(t.key, t);
    if (state === 'live') this.byPath.set(file, t);
    t.start();
    return t;
  }

  /** Checkpoints whose file was not found under an included name: look for it (renamed, or copied) nearby. */
  private async recoverOrphans(savedAt: number | undefined, unseenSince = new Map<string, number>()): Promise<void> {
    const parked = this.parkedKeys();
    const orphans = [...this.store.all()].filter(([key]) => !this.tailers.has(key) && !parked.has(key));
    this.ctx.logger.debug({ orphans: orphans.map(([k, e]) => `${k} ${e.path} ${e.offset}`) }, 'checkpoints of files not found under an included name');
    const listings = new Map<string, Listing>();
    const missed: Array<[string, Checkpoint]> = [];
    for (const [key, entry] of orphans) {
      if (this.store.get(key) !== entry) continue;
      const recovered = await this.recoverFrom(entry, key, listings);
      if (recovered === 'none') missed.push([key, entry]);
      else if (recovered === 'short') this.deferRecovery(entry, key, {});
    }
    // Names may have moved while the folders were listed (a rotation running right now): the ones not found
    // look once more, in folders listed again once for all of them. Not once per checkpoint: checkpoints of
    // deleted files stay for checkpoint_ttl, and re-listing a folder of 200 files for each of 4,000 of them
    // held every file back for 20 s at each start and each reload.
    if (missed.length > 0) {
      for (const [, entry] of missed) listings.delete(path.dirname(entry.path));
      for (const [key, entry] of missed) {
        if (this.store.get(key) !== entry) continue;
        if ((await this.recoverFrom(entry, key, listings)) === 'short') this.deferRecovery(entry, key, {});
      }
    }
    if (savedAt !== undefined) await this.recoverUnseen(savedAt, unseenSince, listings);
  }

  /**
   * Rotated files never seen: created and rotated away while driftlock was stopped (or before it had saved
   * their checkpoint). In the folder of a checkpointed file, a file that is named as a rotation of it
   * (`app.log.1`, `app.log-20250101`, `app.1.log`), is not excluded, is not compressed, has no checkpoint,
   * and was written to after the last save, is read from its start.
   */
  private async recoverUnseen(savedAt: number, unseenSince: Map<string, number>, listings: Map<string, Listing>): Promise<void> {
    const origins = new Map<string, Map<string, number>>();
    for (const file of [...[...this.store.all()].map(([, e]) => e.path), ...unseenSince.keys()]) {
      const dir = path.dirname(file);
      const name = path.basename(file);
      const names = origins.get(dir) ?? new Map<string, number>();
      origins.set(dir, names);
      // A name not looked at since before the save: from when it was last looked at (see `unseenSince`).
      const since = unseenSince.get(file);
      names.set(name, since !== undefined && since <= savedAt ? since : savedAt);
    }
    await this.readUnseen(origins, listings, 'reading a rotated file written while driftlock was stopped');
    for (const [dir, names] of origins) {
      for (const [name, since] of names) {
        const file = path.join(dir, name);
        if (this.matcher.matches(file) && Date.now() - since < this.config.checkpoint_ttl) this.startSince.set(file, since);
      }
    }
  }

  /**
   * Saved with the checkpoints (`unseen_since`): the included names whose file may have been rotated away
   * since it was last looked at, and that file's modification time then. The next start reads the unseen
   * rotated copies of such a name written since then, not only those written after the save: a file
   * created under the name and rotated on before the input looked is known to no checkpoint. Before, a
   * closed file rotated twice before a save was followed, and the file rotated in between was never read.
   */
  private unseenSince(): Map<string, number> {
    const since = new Map<string, number>();
    const add = (file: string, mtimeMs: number) => since.set(file, Math.min(mtimeMs, since.get(file) ?? Infinity));
    for (const t of this.tailers.values()) if (t.path !== null) add(t.path, t.checkedMtime);
    for (const parked of [this.resting, this.waiting]) for (const [file, r] of parked) add(file, r.mtimeMs);
    for (const [file, v] of this.vacated) add(file, v.checkedMtimeMs);
    for (const d of this.deferred.values()) for (const [file, from] of d.since ?? []) add(file, from);
    for (const file of [...this.startSince.keys()]) {
      const from = this.fromStart(file);
      if (from !== Infinity) add(file, from);
    }
    return since;
  }

  /**
   * The time the start's look walked `file` from (see `startSince`); none (Infinity) once a later look from
   * it is done, or once it is `checkpoint_ttl` old: the checkpoints of rotated files read since then may be
   * forgotten, and a look from that time would read them whole again.
   */
  private fromStart(file: string): number {
    const since = this.startSince.get(file);
    if (since === undefined) return Infinity;
    if (Date.now() - since < this.config.checkpoint_ttl) return since;
    this.startSince.delete(file);
    return Infinity;
  }

  /**
   * Reads whole the files in `origins`' folders (folder -> name -> modification time) that are named as a
   * rotation of one of its names, are not read already, and were modified at or after that name's time:
   * unless their first bytes are those of a known file. A file it cannot open for want of descriptors
   * (EMFILE, ENFILE) is not passed over: the folder's walk is done again later (see `deferred`).
   */
  private async readUnseen(origins: Map<string, Map<string, number>>, listings: Map<string, Listing>, why: string): Promise<void> {
    for (const [dir, names] of origins) {
      // The first bytes of the files checkpointed in this folder: what is known content here.
      const knownHere = this.knownIn(dir);
      // Enough of a file's first bytes for any fingerprint: those known now, and those the tailers take
      // while the folder is walked (fingerprint_bytes at most).
      const prefixBytes = Math.max(knownHere.longest, this.config.fingerprint_bytes);
      // Named as a rotation of one of the names, and modified at or after that name's time (and, a first sieve
      // before the names are matched, after the earliest of them).
      const rotationOf = (file: string, mtimeMs: number) =>
        [...names].some(([name, since]) => isRotationOf(path.basename(file), name) && mtimeMs >= since);
      const earliest = Math.min(...names.values());
      // Only these names are statted (see `listed`).
      const wanted = (name: string) => {
        const file = path.join(dir, name);
        return !this.matcher.matches(file) && !this.matcher.excluded(file) && [...names.keys()].some((n) => isRotationOf(name, n));
      };
      let short = false;
      const logWalk = this.ctx.logger.isLevelEnabled('debug');
      // A rotation running while the listing is walked shifts names: a file listed as app.log.2 may be
      // app.log.3 by the time it is opened, and the walk would never open it. A name found holding another
      // file than listed says so; the folder is then listed and walked again (files already started are
      // skipped), a few times at most.
      // A rotation running while the folder is listed tears the listing itself: names listed before a
      // rename and statted after it, and a file renamed from app.log.1 to app.log.2 in between is under
      // neither name in it. Nothing the walk opens says so (app.log.1 holds the file being read by then), so
      // the folder is listed again once walked, and walked again if a name holds another file, or is there
      // or gone, in the new listing; the next pass walks that one. Before, such a file was never read: the
      // next look at the name starts after the file being read now, and so does the next start (see
      // `unseenSince`); the file-crash test lost a whole rotated file this way, once in about 150 runs.
      let listing = await this.listed(dir, listings, wanted);
      let shifted = true;
      for (let pass = 0; shifted && !short && pass < WALK_PASSES; pass++) {
        shifted = false;
        if (!listing) {
          short = true;
          break;
        }
        // What became of each file, for the debug log: why a file was not read is otherwise nowhere.
        const seen: string[] = [];
        const passed = (f: Found, why: string) => logWalk && seen.length < WALK_LOG_FILES && seen.push(`${path.basename(f.file)} (inode ${f.st.ino}, ${f.st.size} bytes, modified ${new Date(f.st.mtimeMs).toISOString()}): ${why}`);
        for (const f of listing) {
          const skip = this.tailers.has(fileKey(f.st.dev, f.st.ino)) ? 'being read'
            : f.st.size === 0 ? 'empty'
            : f.st.mtimeMs < earliest || !rotationOf(f.file, f.st.mtimeMs) ? 'modified before'
            : undefined;
          if (skip) {
            passed(f, skip);
            continue;
          }
          let handle: FileHandle;
          try {
            handle = await open(f.file, 'r');
          } catch (err) {
            if (!isDescriptorLimit(err)) {
              passed(f, `gone (${(err as NodeJS.ErrnoException).code})`);
              shifted = true; // gone since the listing: renamed on
              continue;
            }
            // Out of descriptors: the walk is done again later, whole (the opens after this one would fail
            // too, and so would walking the folder again now).
            this.limitHit(err, `open ${f.file}`);
            short = true;
            break;
          }
          // The name may point at another file than when the folder was listed (a rotation running now):
          // what counts is the file opened.
          const st = await handle.stat().catch(() => undefined);
          if (st && (st.dev !== f.st.dev || st.ino !== f.st.ino)) shifted = true;
          const key = st && fileKey(st.dev, st.ino);
          const passOver = !st || !key ? undefined
            : this.tailers.has(key) ? 'being read'
            : st.size === 0 ? 'empty'
            : !rotationOf(f.file, st.mtimeMs) ? 'modified before'
            : (await isCompressed(handle)) ? 'compressed'
            : undefined;
          if (!st || !key || passOver) {
            passed(f, st && key ? `opened as inode ${st.ino}, ${st.size} bytes: ${passOver}` : 'cannot stat');
            await handle.close().catch(() => undefined);
            continue;
          }
          // Known content (its own checkpoint, or a copy of a checkpointed file) is not read again: known by
          // the checkpoints as they are when the tailer starts, with no wait in between. The walk waits on
          // each file it opens, and meanwhile a tailer may have read a file whose first bytes were not taken
          // yet when the walk began, seen it rotated and let it go: by the fingerprints of then, such a file
          // was unknown and read whole a second time. (Checked first against those of then, which answer for
          // most files without going through the checkpoints again.)
          const prefix = await readPrefix(handle, prefixBytes).catch(() => undefined);
          if (!prefix || knownHere.has(prefix) || this.tailers.has(key) || this.knownIn(dir).has(prefix)) {
            passed(f, !prefix ? 'cannot read' : this.tailers.has(key) ? 'being read' : 'known content');
            await handle.close().catch(() => undefined);
            continue;
          }
          const fresh: Checkpoint = { path: f.file, dev: st.dev, ino: st.ino, offset: 0, fingerprint: EMPTY_FINGERPRINT, seen: Date.now() };
          this.store.set(key, fresh);
          passed(f, 'read whole');
          this.ctx.logger.info({ file: f.file, size: st.size }, why);
          this.startTailer(handle, f.file, st, 0, new AckTracker(fresh, this.policy), 'rotated');
        }
        if (logWalk) this.ctx.logger.debug({ folder: dir, pass, since: Object.fromEntries([...names].map(([n, t]) => [n, new Date(t).toISOString()])), files: seen }, 'looked for rotated files never seen');
        if (short) break;
        const walked = listing;
        listing = await this.listed(dir, listings, wanted, true);
        if (!listing) short = true;
        else if (!sameFiles(walked, listing)) shifted = true;
      }
      if (short) this.deferUnseen(dir, names, why);
      // Done, unless names still shifted at the last pass: the start's time is kept for the next look then.
      else if (shifted) this.ctx.logger.debug({ folder: dir, names: [...names.keys()] }, `gave up looking for rotated files never seen: names still shifting after ${WALK_PASSES} walks of the folder`);
      else {
        for (const [name, since] of names) {
          const file = path.join(dir, name);
          if (since <= (this.startSince.get(file) ?? -Infinity)) this.startSince.delete(file);
        }
      }
    }
  }

  /**
   * A walk for rotated files never seen that could not open one (see `readUnseen`): done again later (see
   * `deferred`), for the names it walked for and any a walk of the same folder deferred before it, each from
   * the earlier of their times.
   */
  private deferUnseen(dir: string, names: Map<string, number>, why: string): void {
    const id = `unseen ${dir}`;
    const since = new Map(this.deferred.get(id)?.since);
    for (const [name, from] of names) {
      const file = path.join(dir, name);
      since.set(file, Math.min(from, since.get(file) ?? Infinity));
    }
    this.ctx.logger.debug({ folder: dir, names: [...names.keys()] }, 'out of descriptors: the walk for rotated files never seen is done again at check_interval');
    const walk = new Map([...since].map(([file, from]) => [path.basename(file), from]));
    this.deferred.set(id, { since, retry: () => this.readUnseen(new Map([[dir, walk]]), new Map(), why) });
    this.nudgeIdle();
  }

  /**
   * Does again the work that could not open a file for want of descriptors (see `deferred`), at each
   * `check_interval`, one after the other in the decisions' queue. One that cannot open it again defers
   * itself anew.
   */
  private retryDeferred(): void {
    if (this.deferred.size === 0 || this.retryingDeferred || this.stopped || this.ctx.signal.aborted) return;
    this.retryingDeferred = true;
    this.exclusive(async () => {
      for (const [id, d] of [...this.deferred]) {
        if (this.ctx.signal.aborted) return;
        await d.retry();
        if (this.deferred.get(id) === d) this.deferred.delete(id);
      }
    })
      .catch((err: unknown) => {
        this.ctx.metrics.add('errors_total');
        this.ctx.logger.error({ err }, 'cannot look for rotated files');
      })
      .finally(() => (this.retryingDeferred = false));
  }

  /**
   * At each `check_interval` while out of descriptors: over (said once, /health ok) once a whole interval
   * passed with no open running out, the files that could not be opened are open (see `starved`) and the
   * work put off is done (see `deferred`); not at each open that works meanwhile, which would make one spell
   * many. Until then, once opens work again, /health says what is still put off. Before, it was over only
   * once no file waited at all: while more files than the cap were written to, some always waited for it,
   * and /health said the first failed open's error (`cannot open f108.log ... holds 103 files open`) for as
   * long as the writes went on, opens working and every line read.
   */
  private checkLimit(): void {
    const ranOut = this.ranOutSinceCheck;
    this.ranOutLastInterval = ranOut;
    this.ranOutSinceCheck = false;
    if (!this.limitFailure.failing) return;
    // Read under another name meanwhile (a hard link, renamed back), or gone from `waiting` some other way.
    for (const file of this.starved) if (this.byPath.has(file) || !(this.waiting.has(file) || this.admitted.has(file))) this.starved.delete(file);
    if (ranOut) return;
    if (this.starved.size === 0 && this.deferred.size === 0) return this.limitFailure.succeeded();
    const putOff = [
      ...(this.starved.size > 0 ? [`${this.starved.size} ${this.starved.size === 1 ? 'file' : 'files'} that could not be opened wait their turn, read as open files reach their end (${this.tailers.size} open${Number.isFinite(this.cap.current) ? `, max_open_files_now ${this.cap.current}` : ''})`] : []),
      ...(this.deferred.size > 0 ? [`${this.deferred.size} ${this.deferred.size === 1 ? 'look' : 'looks'} for rotated files done again at every check_interval`] : []),
    ];
    this.health('open')?.failing(`too many open files earlier, opens work again: ${putOff.join('; ')}`);
  }

  /**
   * The files of `dir` whose names `wanted` takes, from its listing shared by the looks that share `listings`
   * (listed anew if `again`): each name statted once a listing, and only when a look wants it, many at once.
   * Before, every file of the folder was statted, one after the other, at every look: in a folder of 2,000
   * other files, 2,000 to 6,000 stats and up to 3.3 s for one copytruncate. None when the folder cannot be
   * listed for want of a descriptor (said, see `limitHit`): before, that was taken for an empty folder, and
   * what the look was for was never found.
   */
  private async listed(dir: string, listings: Map<string, Listing>, wanted: (name: string) => boolean, again = false): Promise<Found[] | undefined> {
    let listing = again ? undefined : listings.get(dir);
    if (!listing) {
      try {
        listing = { names: await namesIn(dir), stats: new Map() };
      } catch (err) {
        this.limitHit(err, `list ${dir}`);
        return undefined;
      }
      listings.set(dir, listing);
    }
    const names = listing.names.filter(wanted);
    const { stats } = listing;
    const unstatted = names.filter((name) => !stats.has(name));
    for (let i = 0; i < unstatted.length; i += RESTING_CHECKS_AT_ONCE) {
      await Promise.all(unstatted.slice(i, i + RESTING_CHECKS_AT_ONCE).map(async (name) => {
        stats.set(name, await stat(path.join(dir, name)).catch(() => undefined));
      }));
    }
    const found: Found[] = [];
    for (const name of names) {
      const st = stats.get(name);
      if (st?.isFile()) found.push({ file: path.join(dir, name), st });
    }
    return found;
  }

  /**
   * The first bytes of the content checkpointed in `dir`: every file read there (a tailer takes its first
   * bytes before it hands on a line of it), and every copy known to hold what was read (see `recover`).
   */
  private knownIn(dir: string): FingerprintSet {
    const known = new FingerprintSet();
    for (const [, e] of this.store.all()) if (path.dirname(e.path) === dir) known.add(e.fingerprint);
    return known;
  }

  /**
   * Finds the unread rest of a checkpointed file in its folder: the same inode under another name (renamed
   * by rotation), or a copy with the same first bytes (copytruncate), longer than what was read. Reads it
   * from there to its end, then lets it go. `found` if the content was found: being read, or a copy of it
   * already read whole (remembered as read); `short` if a file that may hold it could not be opened, or its
   * folder listed, for want of descriptors (the caller looks again later: see `deferRecovery`).
   */
  private async recover(entry: Checkpoint, key: string, listings = new Map<string, Listing>(), options: RecoverOptions = {}): Promise<Recovered> {
    const first = await this.recoverFrom(entry, key, listings, options);
    if (first !== 'none') return first;
    // Names may have moved since the folder was listed (a rotation running right now): look once more.
    listings.delete(path.dirname(entry.path));
    return this.recoverFrom(entry, key, listings, options);
  }

  /**
   * A look for the rest of `entry`'s content (see `recover`) that could not open a file, or list its folder,
   * for want of descriptors: done again at every `check_interval` until it can (see `deferred`), then
   * `settled` with whether the content was found. Meanwhile its checkpoint stays in the store under `key`
   * (the caller leaves it there), so that it is saved, its first bytes stay known (a copy holding it is not
   * taken for a rotated file never seen and read whole), and a start before the look is done looks again.
   * Before, the look was given up: the rest was never read, and when the file under `key` had been truncated
   * or its inode reused, its fresh checkpoint took the place of the old one, first bytes and all, and no
   * later start looked for the rest either. Not done again if the checkpoint was taken over meanwhile
   * (the file found again under its name and resumed from it, or the checkpoint replaced), unless
   * a tracker still running waits for it (`resume`: a truncation seen while reading).
   */
  private deferRecovery(entry: Checkpoint, key: string, options: RecoverOptions, settled?: (found: boolean) => void): void {
    this.deferred.set(`recover ${key} ${entry.fingerprint.hash}`, {
      holds: key,
      retry: async () => {
        if (!options.resume && this.store.get(key) !== entry) return;
        const recovered = await this.recover(entry, key, new Map(), options);
        if (recovered === 'short') this.deferRecovery(entry, key, options, settled);
        else settled?.(recovered === 'found');
      },
    });
    this.ctx.logger.debug({ file: entry.path, offset: entry.offset }, 'out of descriptors: the rest of a rotated file is looked for again at check_interval');
    this.nudgeIdle();
  }

  /**
   * `followRenamed`: the file itself (same inode) is taken even when it holds nothing unread yet, and kept
   * `rotate_wait`: it was closed (see `resting`) when it was renamed away, and its writer may not have
   * reopened yet.
   */
  private async recoverFrom(entry: Checkpoint, key: string, listings: Map<string, Listing>, options: RecoverOptions = {}): Promise<Recovered> {
    const { resume, followRenamed = false } = options;
    const dir = path.dirname(entry.path);
    // A copy is recognised by its first bytes, and only under a name derived from the original (app.log ->
    // app.log.1, app.log-20250101, app.1.log): an unrelated file can start with the same lines (the file
    // output of this very pipeline does). Without a fingerprint (nothing read yet) only the inode counts.
    // The file itself, renamed, is looked for under such names too: only they are statted, not every file
    // of the folder (see `listed`).
    const stem = stemOf(entry.path);
    const listing = await this.listed(dir, listings, (name) => name.startsWith(stem));
    if (!listing) return 'short';
    const at = resume?.at ?? entry.offset;
    const known = entry.fingerprint.length > 0;
    // Whether the file of `st` may hold the rest: asked of the listing, and again of the file opened.
    const mayHold = (st: Stats) => {
      const k = fileKey(st.dev, st.ino);
      if (this.tailers.has(k) || st.size < entry.fingerprint.length) return false;
      // The file itself (same inode) only if it holds more than was read; a copy at any size: a copy of
      // what was already read whole is remembered (below), so that it is not taken for a new file later.
      if (k === key) return st.size > at || (followRenamed && st.size === at);
      return known;
    };
    const candidates = listing
      .filter((f) => mayHold(f.st))
      .sort((a, b) => Number(fileKey(b.st.dev, b.st.ino) === key) - Number(fileKey(a.st.dev, a.st.ino) === key));
    let remembered = false;
    for (const c of candidates) {
      let handle: FileHandle;
      try {
        handle = await open(c.file, 'r');
      } catch (err) {
        if (!isDescriptorLimit(err)) continue;
        // Out of descriptors: looked for again later (the opens after this one would fail too).
        this.limitHit(err, `open ${c.file}`);
        return 'short';
      }
      // The name may hold another file than when the folder was listed (a rotation running now), and a
      // tailer may have taken the file since: what counts is the file opened. Before, it was taken on the
      // listed file's merits. A checkpoint with no first bytes yet (saved as its file was first opened,
      // then SIGKILL) passes any file's, and the file-crash test read a whole rotated file twice: under its
      // name, and as the "copy" of such a checkpoint, renamed onto the listed name before the open.
      const st = await handle.stat().catch(() => undefined);
      if (!st || !mayHold(st) || !(await startsWith(handle, entry.fingerprint).catch(() => false))) {
        await handle.close().catch(() => undefined);
        continue;
      }
      const cKey = fileKey(st.dev, st.ino);
      // Acknowledged so far: a tracker still running (truncation while reading) may have moved on since
      // `entry` was copied from its checkpoint.
      const acked = resume?.tracker.entry.offset ?? entry.offset;
      if (st.size < at || (st.size === at && !(followRenamed && cKey === key))) {
        // A copy holding nothing unread (copytruncate after everything was read): remember it as read, or
        // the next start takes it for a rotated file never seen and reads it again. An entry of the copy's
        // inode with other first bytes is a deleted file's whose inode the copy reuses (copies come and go
        // at every rotation): replaced. Lines still waiting for their acknowledgement are checkpointed in
        // the copy's entry as they are acknowledged: after a crash before that, they are read again from
        // the copy, not lost.
        if (cKey === key) {
          await handle.close().catch(() => undefined);
          continue;
        }
        const own = this.store.get(cKey);
        const ownIsCopy = own !== undefined && own.fingerprint.length > 0 && (await startsWith(handle, own.fingerprint).catch(() => false));
        await handle.close().catch(() => undefined);
        remembered = true;
        if (ownIsCopy) continue;
        const read: Checkpoint = { ...entry, path: c.file, dev: st.dev, ino: st.ino, offset: Math.min(acked, st.size), seen: Date.now() };
        this.store.set(cKey, read);
        if (resume) resume.tracker.entry = read;
        continue;
      }
      const moved: Checkpoint = { ...entry, path: c.file, dev: st.dev, ino: st.ino, offset: acked, seen: Date.now() };
      // Only its own: a look done again later (see `deferRecovery`) may find the key holding another file's now.
      if (cKey !== key && this.store.get(key) === entry) this.store.delete(key);
      this.store.set(cKey, moved);
      const tracker = resume?.tracker ?? new AckTracker(moved, this.policy);
      tracker.entry = moved;
      this.ctx.logger.info({ file: c.file, was: entry.path, from_offset: at, size: st.size, how: cKey === key ? 'renamed' : 'copied' }, 'reading the rest of a rotated file');
      this.startTailer(handle, c.file, st, at, tracker, 'rotated');
      return 'found';
    }
    return remembered ? 'found' : 'none';
  }

  // TailerHost

  rotated(tailer: Tailer, previousPath: string, checkedMtimeMs: number, deleted: boolean): void {
    if (this.byPath.get(previousPath) === tailer) this.byPath.delete(previousPath);
    this.ctx.logger.debug({ file: previousPath }, deleted ? 'file deleted; reading it to its end' : 'file rotated away; reading it to its end');
    // Before the name is looked at: whatever is found there then, files created under it and rotated on
    // before that are read (see `vacated`). Before, only a name found empty led to them, and a second
    // file rotated away before the look, with a third one in its place by then, was never read.
    const earlier = this.vacated.get(previousPath);
    this.vacated.set(previousPath, { since: Date.now(), checkedMtimeMs: Math.min(checkedMtimeMs, earlier?.checkedMtimeMs ?? Infinity, this.fromStart(previousPath)) });
    this.enqueue(previousPath, () => {
      // No file under the name yet: a notification of the one to come may never arrive (see `vacated`).
      if (!this.byPath.has(previousPath)) this.ctx.logger.debug({ file: previousPath }, 'no file in its place yet; looking at the name at every check_interval');
    });
  }

  async truncated(tailer: Tailer, old: { tracker: AckTracker; resumeAt: number; seenSize: number; path: string; checkedMtimeMs: number }): Promise<void> {
    await this.exclusive(async () => {
      // The checkpoint of what was read stays under the file's key until it moves to the copy: saved
      // meanwhile, it leads the next start to the copy; and the content stays known, so that nothing takes
      // the copy for a rotated file never seen.
      // Not found for want of descriptors, it stays there until it is (see `deferRecovery`).
      const oldEntry = old.tracker.entry;
      const entry = { ...oldEntry, path: old.path };
      const resume = { tracker: old.tracker, at: old.resumeAt };
      const options: RecoverOptions = { resume };
      let recovered: Recovered = 'none';
      if (old.resumeAt >= 0) {
        recovered = await this.recover(entry, tailer.key, new Map(), options);
        // No plain copy: it may have been gzipped at once.
        if (recovered === 'none' && (await this.recoverCompressed(entry, resume))) recovered = 'found';
      }
      const settled = (found: boolean) => {
        if (!found) old.tracker.entry = { ...oldEntry }; // detached: its late acknowledgements change nothing saved
        const held = this.store.get(tailer.key);
        if (held === undefined || held === oldEntry) this.store.set(tailer.key, tailer.tracker.entry);
      };
      if (recovered === 'short') this.deferRecovery(entry, tailer.key, options, settled);
      // Rotated again before this tailer looked (it was held up by a full pipeline, or by the start-up):
      // the copies in between were never seen. A copy is modified after its original was last found
      // unchanged (a copy made then, or keeping the modification time of lines written after), and the
      // same clock stamps both: older rotated files are not taken.
      await this.readCopiesSince(old.path, Math.min(old.checkedMtimeMs, this.fromStart(old.path)), 'reading a rotated file never seen (rotated more than once since the file was last read)');
      if (recovered !== 'short') settled(recovered === 'found');
      // No copy holds the rest: what the file was seen holding past the last line read is gone (at least: more
      // may have been written after that look).
      if (recovered === 'none' && old.seenSize > old.resumeAt) {
        this.lost(old.path, old.seenSize - old.resumeAt, this.ctx.signal.aborted
          ? 'the file was truncated before it was read to its end, and the input stopped while it looked for the rest in a compressed copy'
          : 'the file was truncated before it was read to its end, and no copy holding the rest was found (copytruncate with the copy deleted at once or compressed other than by gzip, or a truncation in place)');
      }
    });
  }

  /**
   * The rest of `entry`'s content from a copy compressed at once (logrotate's `copytruncate` with `compress`
   * and no `delaycompress`: the copy is gzipped and deleted within milliseconds of the truncation, before a
   * look for it). Looked for among the `.gz` files named as rotations of the file (`app.log.1.gz`), by the
   * first bytes of what they hold, as a plain copy is, the last modified first. Not only those modified
   * since the file was last found unchanged: the copy keeps the file's modification time when it was
   * copied, and the input may look at the file between the copy and the truncation (measured with the real
   * logrotate: a .gz modified 150 ms before that look, its lines lost). Read from where the lines read end,
   * by a tailer of the decompressed content (see `gunzippedRest`), whose events name the `.gz`. Before,
   * those lines were lost, and not counted when the input had not seen them yet (measured with the real
   * logrotate, 2,500 lines a second, 4 rotations a run: 24, 15 and 40 lines lost in 3 runs of 5;
   * `test/e2e/file-logrotate.test.ts`). Not checkpointed: after a crash before they are acknowledged, they
   * are not read again, nor after a stop during the decompression (which a stop does not wait for).
   */
  private async recoverCompressed(entry: Checkpoint, resume: { tracker: AckTracker; at: number }): Promise<boolean> {
    if (entry.fingerprint.length === 0) return false;
    const base = path.basename(entry.path);
    const found = await this.listed(path.dirname(entry.path), new Map(), (name) => name.endsWith('.gz') && isRotationOf(name.slice(0, -'.gz'.length), base));
    for (const c of (found ?? []).sort((a, b) => b.st.mtimeMs - a.st.mtimeMs)) {
      const handle = await gunzippedRest(c.file, entry.fingerprint, resume.at, this.ctx.dataDir, this.ctx.signal);
      if (!handle) continue;
      const st = await handle.stat();
      const moved: Checkpoint = { ...entry, path: c.file, dev: st.dev, ino: st.ino, offset: resume.tracker.entry.offset, seen: Date.now() };
      resume.tracker.entry = moved;
      this.ctx.logger.info({ file: c.file, was: entry.path, from_offset: resume.at, size: st.size, how: 'compressed' }, 'reading the rest of a rotated file');
      this.startTailer(handle, c.file, st, resume.at, resume.tracker, 'rotated');
      return true;
    }
    return false;
  }

  /**
   * Bytes of a file that can no longer be read: counted in `file_lost_bytes_total` and said, which file, how
   * many bytes and why (the first at once, then a sum at most every 10 s). Before, such a loss was silent.
   */
  private lost(file: string, bytes: number, why: string): void {
    this.ctx.metrics.add('file_lost_bytes_total', bytes);
    this.problems.report('file_lines_lost', `lines lost: ${bytes} bytes of ${file} were not read: ${why}`, { file, lost_bytes: bytes });
  }

  async changedUnread(tailer: Tailer, sinceMtimeMs: number): Promise<void> {
    await this.exclusive(async () => {
      await this.readCopiesSince(tailer.lastPath, Math.min(sinceMtimeMs, this.fromStart(tailer.lastPath)), 'reading a rotated file never seen (the file was copied and truncated before anything in it was read)');
    });
  }

  mayRest(tailer: Tailer, idleMs: number): boolean {
    if (this.stopped || this.ctx.signal.aborted) return false;
    // Its checkpoint holds the content it replaced until that is found (see `deferRecovery`): closed, it would
    // be opened again as a file that does not match its checkpoint, and read again from its start.
    for (const d of this.deferred.values()) if (d.holds === tailer.key) return false;
    // Files wait for a descriptor, or work waits to open one (see `deferred`): one read to its end gives way
    // at once, so that all are read in turn.
    if (this.waiting.size > this.admitted.size || this.deferred.size > 0) return true;
    return this.config.close_inactive > 0 && idleMs >= this.config.close_inactive;
  }

  closed(tailer: Tailer): void {
    if (this.tailers.get(tailer.key) === tailer) this.tailers.delete(tailer.key);
    for (const [p, t] of this.byPath) if (t === tailer) this.byPath.delete(p);
    if (tailer.rested && tailer.path !== null && !this.byPath.has(tailer.path)) {
      this.resting.set(tailer.path, { key: tailer.key, ...tailer.rested });
      this.ctx.logger.debug({ file: tailer.path, offset: tailer.tracker.entry.offset }, 'file read to its end and idle: closed until it changes');
    }
    this.admitWaiting();
  }
}

/**
 * Whether `name` is how rotation names a copy of `original`: `app.log.1`, `app.log-20250101`,
 * `app.log.2025-01-01` (a suffix of digits and separators after the name), or `app.1.log`,
 * `app-20250101.log` (the same before the extension).
 */
export function isRotationOf(name: string, original: string): boolean {
  const suffix = /^[.-]\d[\d.-]*$/;
  if (name.startsWith(original) && suffix.test(name.slice(original.length))) return true;
  const dot = original.lastIndexOf('.');
  if (dot <= 0) return false;
  const [stem, ext] = [original.slice(0, dot), original.slice(dot)];
  return name.startsWith(stem) && name.endsWith(ext) && suffix.test(name.slice(stem.length, name.length - ext.length));
}

/** Whether two listings of a folder name the same files (device and inode) under the same names. */
function sameFiles(a: Found[], b: Found[]): boolean {
  if (a.length !== b.length) return false;
  const files = new Map(a.map((f) => [f.file, fileKey(f.st.dev, f.st.ino)]));
  return b.every((f) => files.get(f.file) === fileKey(f.st.dev, f.st.ino));
}

/** gzip, bzip2, xz and zstd files start with these bytes: archives of old logs, never read as text. */
async function isCompressed(handle: FileHandle): Promise<boolean> {
  const head = await readPrefix(handle, 6).catch(() => Buffer.alloc(0));
  return (
    (head[0] === 0x1f && head[1] === 0x8b) ||
    head.subarray(0, 3).toString('latin1') === 'BZh' ||
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ||
    head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))
  );
}

/** The name of a file up to its first dot: rotated copies of `app.log` start with `app`. */
function stemOf(file: string): string {
  const base = path.basename(file);
  const dot = base.indexOf('.', 1);
  return dot > 0 ? base.slice(0, dot) : base;
}

/** The names in `dir`; none if it cannot be listed, unless for want of a descriptor (thrown: see `FileInput.listed`). */
async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isDescriptorLimit(err)) throw err;
    return [];
  }
}

export const fileInput = defineInput({
  type: 'file',
  description: 'Tails files matched by globs, through rename and copytruncate rotation, truncation and restarts: offsets of acknowledged lines are checkpointed in `data_dir`, so no line is lost and only lines not yet checkpointed can repeat after a crash. Events carry `source.file` and `source.offset`.',
  config: fileInputConfig,
  example: { type: 'file', include: ['/var/log/nginx/access.log'], start_at: 'beginning' },
  build(config) {
    return {
      run: (ctx) => new FileInput(config, ctx).run(),
    };
  },
});

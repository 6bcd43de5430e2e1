/**
 * `driftlock stream` and `driftlock scan`: the detector on the command line, without a pipeline file.
 *
 * Both read lines with the same splitter as the `stdin` and `file` inputs (long lines cut and marked,
 * invalid UTF-8 replaced), read them with the same parsers as the `anomaly_detect` transform, and feed the
 * same detector. `stream` reads standard input until it ends or a signal arrives and prints alerts as they
 * happen; `scan` reads files to their end and summarises.
 */
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import stringWidth from 'string-width';
import { Detector, saysNothing, type Anomaly, type AnomalyKind, type Profile } from '../detector/index.js';
import type { LogEvent } from '../engine/event.js';
import { MultilineJoiner, PRESETS, type LineOut } from '../inputs/file/multiline.js';
import { LineSplitter, type LineFlags } from '../inputs/line-splitter.js';
import { markLine } from '../inputs/stdin.js';
import { percent, renderAlertText, renderRepeatsText } from '../outputs/alert-format.js';
import { printable } from '../printable.js';
import { RepeatFolder } from './repeat-folder.js';
import { SILENCE_CHECK_MS, BackGatherer, NotDetectorState, backAnomaly, lineParser, tellSilences, loadDetectorState, missingFieldHint, receiverClock, resolveStreamId, saveDetectorState, silenceText, toDetectorInput, type AnomalyDetectConfig } from '../transforms/anomaly-detect.js';
import { describeRestore } from '../detector/snapshot.js';
import { readProblem, stateFolder } from '../make-folder.js';

import { detectSession } from './detect-session.js';
import { eventsText } from './counts.js';

export { DETECT_FORMATS, PROFILE_NAMES, detectSession } from './detect-session.js';

export interface DetectOptions {
  format: AnomalyDetectConfig['format'];
  profile: Profile;
  streamId?: string;
  threshold?: number;
  warmup?: number;
  /** Seconds of silence that make a volume drop (the profile's 30 when not given). */
  minSilenceSeconds?: number;
  state?: string;
  maxLineBytes: number;
  /** Readable output folds an incident's repeats into a line per this window (see repeat-folder.ts); 0 folds nothing. */
  groupWindowMs?: number;
  /** Joins stack traces into one event with the file input's preset rules. */
  multiline?: keyof typeof PRESETS;
  /** Streams kept at most (the least recently seen is evicted; 1,000 when not given). */
  maxStreams?: number;
}

interface Line {
  text: string;
  flags: LineFlags;
  number: number;
}

interface Found {
  anomaly: Anomaly;
  line: number;
  entry: string;
  /** Event or arrival time (ms); none for a scanned line without a time of its own. */
  time: number | undefined;
}

/**
 * Writes to a stream, waiting for it to drain when its buffer is full (a slow pipe reader). `halt`: the
 * command was told to stop (Ctrl-C): the wait ends then, so that a reader that does not read (`| less`
 * left on its first page) cannot keep the command from stopping and saving its state.
 */
async function write(out: Writable, text: string, halt?: AbortSignal): Promise<void> {
  if (out.destroyed || (out === process.stdout && detectSession.readerGone.signal.aborted)) return;
  if (!out.write(text) && !halt?.aborted) {
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        halt?.removeEventListener('abort', done);
        resolve();
      };
      out.once('drain', done);
      out.once('close', done);
      halt?.addEventListener('abort', done, { once: true });
    });
  }
}

/** A terminal that understands escape sequences (colors, a line rewritten in place): not TERM=dumb (Emacs shells, some CI logs). */
function ansiTerminal(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
}

/**
 * A status line cut to the terminal's width (one column spare): a longer one wraps, and `\r` then redraws
 * only its last row, leaving a trail of stale rows. `keep` is the tail that matters most (percentage and
 * counts); the head (a file name) gives way first, from its start.
 */
export function fitStatus(columns: number | undefined, head: string, keep = ''): string {
  const max = columns && columns > 1 ? columns - 1 : Infinity;
  if (stringWidth(head) + stringWidth(keep) <= max) return head + keep;
  const room = max - stringWidth(keep);
  if (room >= 8) {
    // The end of the head, as many characters (whole graphemes: an emoji with its modifiers) as fit in the
    // room left after the `…`.
    const chars = graphemes(head);
    let used = 1;
    let from = chars.length;
    while (from > 0 && used + stringWidth(chars[from - 1]!) <= room) used += stringWidth(chars[--from]!);
    return `…${chars.slice(from).join('')}${keep}`;
  }
  let out = '';
  let used = 1;
  for (const ch of graphemes(head + keep)) {
    const w = stringWidth(ch);
    if (used + w > Math.max(2, max)) break;
    out += ch;
    used += w;
  }
  return out + '…';
}

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The text's user-perceived characters: what a cut must not split. */
function graphemes(text: string): string[] {
  return Array.from(GRAPHEMES.segment(text), (g) => g.segment);
}

function colorWanted(stream: NodeJS.WriteStream): boolean {
  return ansiTerminal(stream) && !process.env.NO_COLOR;
}

/** `1 anomaly`, `2,345 anomalies`. */
function anomaliesText(n: number): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'anomaly' : 'anomalies'}`;
}

/** The detector, the parser and the per-line bookkeeping that both commands share. */
export class LineDetector {
  readonly detector: Detector;
  events = 0;
  anomalies = 0;
  malformed = 0;
  /** Lines that did not parse in the `--format` asked for (json, nginx, logfmt, syslog): read as text. */
  unparsed = 0;
  /** Events their stream judged: past its warm-up (learned from before, or restored from `--state`). */
  judged = 0;
  /** Blank lines (spaces, tabs): counted as events, but the detector neither judges nor learns them. */
  blank = 0;
  private formatWarned = false;
  readonly byKind = new Map<AnomalyKind, number>();
  private parse!: (events: LogEvent[]) => LogEvent[] | Promise<LogEvent[]>;

  /** Streams were evicted before their warm-up ended (told once). */
  private coldWarned = false;
  /** Streams back from a silence told for many at once: one notice for those back within a few seconds. */
  private readonly gathered = new BackGatherer();
  /** Fields of `--stream-id` some line lacked: each is told once. */
  private readonly toldMissing = new Set<string>();

  private missing(ref: string, event: LogEvent, line: number | undefined): void {
    if (this.toldMissing.has(ref)) return;
    this.toldMissing.add(ref);
    this.warn(`--stream-id: ${line !== undefined ? `line ${line}` : 'a line'} has no {${ref}} (${missingFieldHint(ref, event)}); such lines share the stream "-"`);
  }

  /** `warn`: a word to the user, said once: most of the first lines do not parse in the format asked for, or lines lack a field of `--stream-id`. */
  constructor(readonly options: DetectOptions, private readonly warn: (message: string) => void = () => undefined) {
    this.detector = new Detector({
      profile: options.profile,
      ...(options.maxStreams !== undefined ? { maxStreams: options.maxStreams } : {}),
      overrides: {
        ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
        ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
        ...(options.minSilenceSeconds !== undefined ? { minSilenceSeconds: options.minSilenceSeconds } : {}),
      },
    });
  }

  /**
   * Reads `--state`: a note to say (what was restored, or that there is none yet), or `refused` when its
   * folder cannot be made or written. The folder is made when missing, as `run` makes `data_dir` (mode 0700,
   * with its parents), and said; before, it was made silently at the end, so that a mistyped path saved the
   * baseline where no one looked, and a folder that could not be written failed the command (exit 2) only
   * after the whole scan.
   */
  async init(): Promise<{ note?: string; warning?: string; refused?: string }> {
    this.parse = await lineParser(this.options.format);
    const file = this.options.state;
    if (!file) return {};
    const dir = path.dirname(path.resolve(file));
    const folder = await stateFolder(dir);
    if ('reason' in folder) return { refused: `--state ${file}: its folder ${dir} cannot be used: ${folder.reason}: ${folder.err.message}` };
    try {
      const r = await loadDetectorState(this.detector, file);
      if (r !== undefined) return { note: `restored ${describeRestore(r)} from ${file}` };
      return { note: `no state in ${file} yet: a new warm-up, saved there at the end${folder.created ? ` (its folder ${dir} did not exist: created it)` : ''}` };
    } catch (err) {
      // Not ours (a log named by mistake: `--state app.log.1`): refused rather than replaced at the end by the
      // new state. Before, it was replaced: the log was lost.
      if (err instanceof NotDetectorState || (err as NodeJS.ErrnoException).code === 'EISDIR') {
        return { refused: `--state ${file}: ${err instanceof NotDetectorState ? err.message : 'it is a folder'}; it is not replaced: name another file (one not there yet starts a new warm-up)` };
      }
      return { warning: `cannot restore ${file} (${(err as Error).message}); starting a new warm-up` };
    }
  }

  /** The save in flight: saves run one after another (two at once would write the same temp file). */
  private saving: Promise<void> = Promise.resolve();

  save(): Promise<void> {
    const file = this.options.state;
    if (!file) return Promise.resolve();
    const next = this.saving.catch(() => undefined).then(() => saveDetectorState(this.detector, file));
    this.saving = next;
    return next;
  }

  /**
   * Runs a batch of lines through the parser and the detector. `arrivalTime`: whether a line without a
   * timestamp of its own happened when it was read (live input) or at an unknown time (a file).
   */
  async detect(lines: Line[], source: LogEvent['source'], defaultStream: string, arrivalTime: boolean): Promise<Found[]> {
    const now = Date.now();
    // Live input: when each line was received, so that a stream's silence can be told while it lasts.
    const receivedAt = arrivalTime ? receiverClock() : undefined;
    const events: LogEvent[] = lines.map((l) => {
      const event: LogEvent = { observedTimestamp: now, body: l.text, attributes: {}, source };
      if (l.flags.truncated || l.flags.invalidUtf8) {
        markLine(event, l.flags);
        this.malformed += 1;
      }
      return event;
    });
    await this.parse(events);
    const strict = this.options.format !== 'text' && this.options.format !== 'auto';
    const found: Found[] = [];
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (strict && event.attributes['parse.error'] !== undefined) this.unparsed += 1;
      const streamId = this.options.streamId ? resolveStreamId(this.options.streamId, event, (ref) => this.missing(ref, event, lines[i]!.number)) : defaultStream;
      const input = toDetectorInput(event, null, arrivalTime);
      if (receivedAt !== undefined) input.receivedAt = receivedAt;
      this.events += 1;
      const anomaly = this.detector.observe(streamId, input);
      // A blank line after the warm-up is not judged either: a --state baseline and a file of blank lines judged nothing.
      if (saysNothing(input)) this.blank += 1;
      else if ((this.detector.peek(streamId)?.events ?? 0) > this.detector.options.warmup) this.judged += 1;
      // A stream whose silence was told while it lasted is back: said before this line's own verdict (not
      // counted as an anomaly).
      const end = this.detector.takeSilenceEnd(streamId);
      if (end?.grouped) this.gathered.add(streamId, end, receivedAt ?? receiverClock(), input.time ?? (arrivalTime ? now : undefined));
      else if (end) {
        const back = backAnomaly([{ streamId, end }]);
        found.push({ anomaly: back, line: lines[i]!.number, entry: back.why, time: input.time ?? (arrivalTime ? now : undefined) });
      }
      if (!anomaly) continue;
      this.anomalies += 1;
      this.byKind.set(anomaly.kind, (this.byKind.get(anomaly.kind) ?? 0) + 1);
      // A line without a time of its own (a scanned file's untimed line) is shown without one, not with
      // the moment of the scan.
      found.push({ anomaly, line: lines[i]!.number, entry: lines[i]!.text, time: input.time ?? (arrivalTime ? now : undefined) });
    }
    if (!this.coldWarned && this.detector.evictedColdStreams > 0) {
      this.coldWarned = true;
      this.warn(`--stream-id ${this.options.streamId ?? ''}: more streams take turns than --max-streams (${this.options.maxStreams ?? 1000}) keeps; those evicted before their warm-up ended are never scored (raise --max-streams, or use a coarser --stream-id)`);
    }
    // A wrong --format is no error (each line that does not parse is read as text), but it is a mistake
    // worth a word: said once, when nine in ten of the first hundred lines or more did not parse.
    if (strict && !this.formatWarned && this.events >= 100 && this.unparsed >= 0.9 * this.events) {
      this.formatWarned = true;
      this.warn(`${this.unparsed.toLocaleString('en-US')} of the first ${this.events.toLocaleString('en-US')} lines are not ${this.options.format}: they are read as plain text (is --format ${this.options.format} right? --format auto reads JSON objects as JSON and the rest as text)`);
    }
    return found;
  }

  /**
   * Streams of live input silent now (see `Detector.checkSilence`), each as an alert whose entry says so;
   * they have no line of their own.
   */
  silences(now = receiverClock()): Array<Omit<Found, 'line'>> {
    const found = tellSilences(this.detector, now).map((anomaly) => {
      this.anomalies += 1;
      this.byKind.set(anomaly.kind, (this.byKind.get(anomaly.kind) ?? 0) + 1);
      const time = this.detector.peek(anomaly.stream_id)?.sourceTimeAt(now);
      return { anomaly, entry: silenceText(anomaly), time };
    });
    // Streams back that are gathered are told before a new silence.
    return [...this.backs(now, found.length > 0), ...found];
  }

  /** The notice of streams back from a silence told for many at once, when due at `now` (or at once with `force`). */
  backs(now = receiverClock(), force = false): Array<Omit<Found, 'line'>> {
    const due = this.gathered.take(now, force);
    return due ? [{ anomaly: due.anomaly, entry: due.anomaly.why, time: due.time }] : [];
  }

  /** The summary's note of lines that were cut, invalid UTF-8, or not in the format asked for. */
  lineNotes(): string {
    let notes = this.malformed ? `, ${this.malformed.toLocaleString('en-US')} malformed line${this.malformed === 1 ? '' : 's'} (cut or invalid UTF-8)` : '';
    if (this.unparsed) notes += `, ${this.unparsed.toLocaleString('en-US')} line${this.unparsed === 1 ? '' : 's'} not ${this.options.format} (read as text)`;
    return notes;
  }

  /**
   * No event was judged: what was read (`read`: `app.log`, `the 3 files read`, `standard input`; undefined
   * when nothing could be read, which is said otherwise) was empty or blank lines, or every stream was still
   * in its warm-up or evicted before its end. The summary says so, for "0 anomalies" then means nothing was
   * looked at, not nothing found; `scan` exits 2. Lines cut, not valid UTF-8 or not in the format asked for
   * are judged (as text): they change no exit code.
   */
  noneJudged(read: string | undefined, several = false): string | undefined {
    if (this.judged > 0) return undefined;
    if (this.events === this.blank) {
      if (read === undefined) return undefined;
      const what = this.events === 0 ? (several ? 'are empty' : 'is empty') : `${several ? 'hold' : 'holds'} only blank lines`;
      return `no event was judged: ${read} ${what}, nothing to look at`;
    }
    const evicted = this.detector.evictedColdStreams > 0 ? ` or evicted before its end (more streams than --max-streams ${this.options.maxStreams ?? 1000})` : '';
    return `no event was judged: every stream was still in its warm-up (its first ${this.detector.options.warmup.toLocaleString('en-US')} events)${evicted}; give it more lines, a lower --warmup, or the baseline of an earlier run with --state`;
  }

  kindSummary(): string {
    return [...this.byKind.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ');
  }
}

/** Lines of a stack trace joined into one event at most (the file input's `multiline.max_lines` default). */
const MULTILINE_MAX_LINES = 500;
/** A joined event is passed on when no line came for this long (the file input's `multiline.timeout` default). */
const MULTILINE_TIMEOUT_MS = 1000;

/**
 * Feeds a byte stream through the splitter, handing over the complete lines of each chunk. With `multiline`,
 * lines are joined into events by the preset's rule first (numbered by their first line); the event still
 * open at the end of a chunk waits for the next line, or is passed on after a second without one (`tail -f`).
 */
async function forEachLines(input: Readable, maxLineBytes: number, onLines: (lines: Line[]) => Promise<void>, onBytes?: (n: number) => void, multiline?: DetectOptions['multiline']): Promise<void> {
  const splitter = new LineSplitter(maxLineBytes);
  let number = 0;
  let lines: Line[] = [];
  const joiner = multiline ? new MultilineJoiner(PRESETS[multiline], MULTILINE_MAX_LINES, maxLineBytes) : undefined;
  const joined: LineOut = (text, flags, first) => lines.push({ text, flags, number: first });
  const onLine = joiner
    ? (text: string, flags: LineFlags) => {
        number += 1;
        joiner.push(text, flags, number, number, joined);
      }
    : (text: string, flags: LineFlags) => lines.push({ text, flags, number: ++number });
  // Batches go out one after another: the timer's flush never overlaps the loop's.
  let delivering: Promise<void> = Promise.resolve();
  const deliver = () => {
    if (!lines.length) return delivering;
    const batch = lines;
    lines = [];
    return (delivering = delivering.then(() => onLines(batch)));
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    for await (const chunk of input) {
      clearTimeout(timer);
      splitter.push(chunk as Buffer, onLine);
      onBytes?.((chunk as Buffer).length);
      await deliver();
      if (joiner?.pending) {
        timer = setTimeout(() => {
          joiner.flush(joined);
          void deliver();
        }, MULTILINE_TIMEOUT_MS);
      }
    }
  } finally {
    clearTimeout(timer);
  }
  splitter.flush(onLine);
  joiner?.flush(joined);
  await deliver();
}

function rate(n: number, seconds: number): string {
  return `${Math.round(n / Math.max(seconds, 1e-3)).toLocaleString('en-US')}/s`;
}

/**
 * The lines of a folder's incidents whose window has ended at `now` (of all of them with `end`); `spans`:
 * whether they say how long the repeats came over (not for alerts timed by the wall clock in a scan).
 */
function dueText(folder: RepeatFolder | undefined, now: number, end: boolean, color: boolean, spans = true): string {
  let out = '';
  for (const r of folder?.due(now, end) ?? []) out += renderRepeatsText(r.repeats, r.total, spans ? r.seconds : undefined, r.anomaly.why, color);
  return out;
}

/** How long `stream` folds an incident's repeats on a terminal before it says how many came (`--group-window`). */
export const DEFAULT_GROUP_WINDOW_MS = 10_000;

export interface StreamIo {
  stdin: Readable;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/**
 * `driftlock stream`: alerts for standard input, as they happen. Readable blocks on a terminal (an
 * incident's repeats folded into a line each group window, see repeat-folder.ts), JSON lines otherwise
 * (every alert); a status line on stderr (rewritten in place on a terminal, every 10 s otherwise). Ends at EOF
 * or on SIGINT/SIGTERM with a summary; returns the exit code (0, or 2 on an error).
 */
export async function runStream(options: DetectOptions & { quiet: boolean }, io: StreamIo): Promise<number> {
  const ld = new LineDetector(options, (message) => {
    clearStatus();
    io.stderr.write(`driftlock: ${message}\n`);
  });
  const { note, warning, refused } = await ld.init();
  if (refused) {
    io.stderr.write(`driftlock: ${refused}\n`);
    return 2;
  }
  // --quiet leaves out the status and the summary, not a warning: a state that cannot be restored is said
  // (before, it was not, and a quiet stream began a new warm-up without a word).
  if (warning) io.stderr.write(`driftlock: ${warning}\n`);
  if (note && !options.quiet) io.stderr.write(`driftlock: ${note}\n`);
  const json = !io.stdout.isTTY;
  const color = colorWanted(io.stdout);
  const statusTty = ansiTerminal(io.stderr);
  const started = Date.now();
  let lastStatus = { at: started, events: 0 };
  let statusShown = false;
  const status = () => {
    const now = Date.now();
    const recent = rate(ld.events - lastStatus.events, (now - lastStatus.at) / 1000);
    lastStatus = { at: now, events: ld.events };
    return `events ${ld.events.toLocaleString('en-US')} (${recent}), anomalies ${ld.anomalies.toLocaleString('en-US')}, streams ${ld.detector.streamCount}`;
  };
  const clearStatus = () => {
    if (statusShown) io.stderr.write('\r\x1b[K');
    statusShown = false;
  };
  const timer = options.quiet
    ? undefined
    : setInterval(() => {
        if (statusTty) {
          io.stderr.write(`\r\x1b[K${fitStatus(io.stderr.columns, '', status())}`);
          statusShown = true;
        } else {
          io.stderr.write(`driftlock: ${status()}\n`);
        }
      }, statusTty ? 500 : 10_000);
  timer?.unref();
  const saver = options.state ? setInterval(() => void ld.save().catch(() => undefined), 60_000) : undefined;
  saver?.unref();

  const halt = new AbortController();
  const stop = () => {
    halt.abort();
    io.stdin.destroy();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  detectSession.active = true;
  detectSession.readerGone.signal.addEventListener('abort', stop, { once: true });
  let code = 0;
  // On a terminal, an incident's repeats are folded into a line every group window (see repeat-folder.ts);
  // JSON lines carry every alert.
  const folder = json ? undefined : new RepeatFolder(options.groupWindowMs ?? DEFAULT_GROUP_WINDOW_MS);
  const folded = (end = false): string => dueText(folder, Date.now(), end, color);
  // The alerts to write, after the lines of the incidents whose window has ended.
  const render = (found: Array<Omit<Found, 'line'> & { line?: number }>): string => {
    let out = folded();
    for (const f of found) {
      if (json) {
        out += JSON.stringify({ time: new Date(f.time ?? Date.now()).toISOString(), line: f.line, ...f.anomaly, entry: f.entry }) + '\n';
      } else if (!folder || folder.show(f.anomaly, Date.now())) {
        out += renderAlertText({ anomaly: f.anomaly, entry: f.entry, time: f.time, ...(f.line !== undefined ? { location: `line ${f.line}` } : {}) }, color);
      }
    }
    return out;
  };
  // A silent stream is told while it lasts (a service that stopped logging sends no next line to tell
  // it), looked for every second while standard input is waited on: not while lines are scored or an
  // alert waits for a slow reader of standard output, which is this command's delay, not the stream's.
  let busy = 0;
  // The silence alert being written, if any: awaited before the command ends, so that an end of input
  // right after it does not cut it off.
  let silenceWritten: Promise<void> = Promise.resolve();
  const silenceTicker = setInterval(() => {
    if (busy > 0 || halt.signal.aborted) return;
    const out = render(ld.silences());
    if (!out) return;
    clearStatus();
    busy += 1;
    silenceWritten = write(io.stdout, out, halt.signal).catch(() => undefined).finally(() => (busy -= 1));
  }, SILENCE_CHECK_MS);
  silenceTicker.unref();
  try {
    await forEachLines(io.stdin, options.maxLineBytes, async (lines) => {
      busy += 1;
      try {
        const found = await ld.detect(lines, { input: 'stdin' }, 'stdin', true);
        const out = found.length ? render(found) : '';
        if (!out) return;
        clearStatus();
        await write(io.stdout, out, halt.signal);
      } finally {
        busy -= 1;
      }
    }, undefined, options.multiline);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
      io.stderr.write(`driftlock: cannot read standard input: ${(err as Error).message}\n`);
      code = 2;
    }
  } finally {
    detectSession.readerGone.signal.removeEventListener('abort', stop);
    clearInterval(silenceTicker);
    await silenceWritten;
    // Streams back whose notice was still gathering, then the repeats folded since each incident's last
    // line, before the summary.
    const backs = ld.backs(receiverClock(), true);
    const rest = (backs.length ? render(backs) : '') + folded(true);
    if (rest) {
      clearStatus();
      await write(io.stdout, rest, halt.signal).catch(() => undefined);
    }
    if (timer) clearInterval(timer);
    if (saver) clearInterval(saver);
  }
  // A first Ctrl-C while the state is saved (standard input ended, the save under way) does not kill the
  // process half-way through writing it: the handlers are removed after the save.
  try {
    await ld.save();
  } catch (err) {
    io.stderr.write(`driftlock: cannot save state to ${options.state}: ${(err as Error).message}\n`);
    code = 2;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  clearStatus();
  if (!options.quiet) {
    const seconds = (Date.now() - started) / 1000;
    io.stderr.write(
      `driftlock: ${eventsText(ld.events)} in ${seconds.toFixed(1)} s, ${anomaliesText(ld.anomalies)}` +
        `${ld.anomalies ? ` (${ld.kindSummary()})` : ''}${ld.lineNotes()}\n`,
    );
    const unjudged = ld.noneJudged('standard input');
    if (unjudged) io.stderr.write(`driftlock: ${unjudged}\n`);
  }
  return code;
}

export interface ScanOptions extends DetectOptions {
  output: 'text' | 'json';
  top: number;
  progress: boolean;
}

const COMPRESSORS = { bzip2: 'bzcat', xz: 'xzcat', zstd: 'zstdcat' } as const;

/**
 * What a file holds, from its first bytes: gzip (read decompressed, whatever its name), another compression
 * scan does not unpack, binary data (NUL bytes, as grep judges it: wtmp, a journal file, an executable), or
 * text. A file named `.gz` that holds plain text is read as text, as `zcat -f` would.
 */
type ContentKind = 'gzip' | keyof typeof COMPRESSORS | 'binary' | 'text';

function contentKind(file: string): ContentKind {
  const head = Buffer.alloc(4096);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return kindOfBytes(head.subarray(0, n));
}

/** What the first bytes of a file or a stream say it holds. */
function kindOfBytes(bytes: Buffer): ContentKind {
  const starts = (...b: number[]) => bytes.length >= b.length && b.every((v, i) => bytes[i] === v);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  return bytes.subarray(0, 4096).includes(0) ? 'binary' : 'text';
}

/** Why a file of this kind is not scanned (undefined: it is read); `piped`: standard input or a pipe. */
function refusal(kind: ContentKind, file: string, piped: boolean): string | undefined {
  if (kind === 'binary') return 'a binary file (NUL bytes in its first 4 KiB), not a log; skipped';
  if (kind === 'text' || kind === 'gzip') return undefined;
  const unpack = piped ? `... | ${COMPRESSORS[kind]} | driftlock scan -` : `${COMPRESSORS[kind]} ${file} | driftlock scan -`;
  return `compressed with ${kind}, which scan does not unpack (gzip only); try: ${unpack}`;
}

/**
 * The first bytes of a stream (standard input, a pipe), put back to be read again: what it holds is
 * judged by them as a regular file's are. Empty at its end, or when `halt` stops the scan meanwhile.
 */
function peek(stream: Readable, halt: AbortSignal): Promise<Buffer> {
  if (stream.readableEnded || stream.destroyed || halt.aborted) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      halt.removeEventListener('abort', onEnd);
    };
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return; // the end: 'end' follows
      cleanup();
      stream.unshift(chunk);
      resolve(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.alloc(0));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
    halt.addEventListener('abort', onEnd, { once: true });
  });
}

/**
 * The stream a scanned file belongs to: its path without a rotation suffix, so that `app.log.1`,
 * `app.log.2.gz`, `app.log-20251125` and `app.log` share one baseline (and one saved `--state`).
 */
export function streamOfFile(file: string): string {
  return file.replace(/(?:\.\d+)?(?:\.(?:gz|bz2|xz|zst))?$/, '').replace(/[-.](?:\d{8}|\d{4}-\d\d-\d\d)(?:-\d+)?$/, '');
}

/**
 * `driftlock scan FILE...`: each file to its end (gzip files decompressed), one stream per log (the file's
 * absolute path without a rotation suffix: `app.log.1` and `app.log` are one stream) unless `--stream-id`
 * says otherwise.
 * Exit code 0 when nothing was flagged, 1 when anomalies were found, 2 on an error (a file that cannot be
 * read; the other files are still scanned), 130 / 143 when stopped by SIGINT / SIGTERM (state saved,
 * summary written).
 */
export async function runScan(files: string[], options: ScanOptions, io: Omit<StreamIo, 'stdin'> & { stdin?: Readable }): Promise<number> {
  // Said on a line of its own: the progress bar is redrawn after it.
  const ld = new LineDetector(options, (message) => io.stderr.write(`${showProgress ? '\r\x1b[K' : ''}driftlock: ${message}\n`));
  const { note, warning, refused } = await ld.init();
  if (refused) {
    io.stderr.write(`driftlock: ${refused}\n`);
    return 2;
  }
  for (const said of [warning, note]) if (said) io.stderr.write(`driftlock: ${said}\n`);
  const color = colorWanted(io.stdout);
  const showProgress = options.progress && ansiTerminal(io.stderr);
  const started = Date.now();
  const top = new TopAnomalies();
  // Readable output folds an incident's repeats (see repeat-folder.ts) in the log's own time: a scan reads
  // hours of it in seconds. Alerts of lines without a time fold by the wall clock, in a folder of their own,
  // and their lines do not say how long the repeats took.
  const window = options.groupWindowMs ?? DEFAULT_GROUP_WINDOW_MS;
  const byLogTime = options.output === 'json' ? undefined : new RepeatFolder(window);
  const byClock = options.output === 'json' ? undefined : new RepeatFolder(window);
  // The latest log time of an alert: the end of the last window at the end of a file.
  let logTime: number | undefined;
  const foldedLines = (logNow: number | undefined, end = false): string =>
    (logNow !== undefined || end ? dueText(byLogTime, logNow ?? 0, end, color) : '') + dueText(byClock, Date.now(), end, color, false);
  let failed = 0;
  if (options.output === 'json') await write(io.stdout, JSON.stringify({ warmup_lines: ld.detector.options.warmup, profile: options.profile }) + '\n');

  detectSession.active = true;
  // Stops the scan: the reader of stdout went away, or Ctrl-C / SIGTERM. Reading stops, the state is saved
  // and the summary written; a signal makes the exit code 130 (SIGINT) or 143 (SIGTERM), as a shell's would
  // be, so that `driftlock scan ... && echo clean` does not take an interrupted scan for a clean one. A
  // second signal kills at once (the handlers are removed after the first).
  const halt = new AbortController();
  const gone = halt.signal;
  let signalled: NodeJS.Signals | undefined;
  const onGone = () => halt.abort();
  const onSignal = (sig: NodeJS.Signals) => {
    signalled ??= sig;
    halt.abort();
  };
  if (detectSession.readerGone.signal.aborted) halt.abort();
  detectSession.readerGone.signal.addEventListener('abort', onGone, { once: true });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let scanned = 0;
  // The last file read to its end: named when an empty file is all that was read.
  let lastScanned = '';
  for (const file of files) {
    if (gone.aborted) break; // stopped: save the state, summarise
    let size = 0;
    let gzip = false;
    // A pipe, a FIFO or a device: what it holds is judged by its first bytes once it is open.
    let piped = false;
    // `-` is standard input, as grep and jq read it (a pipe or a socket: /dev/stdin cannot open a socket).
    const stdin = file === '-' && io.stdin ? io.stdin : undefined;
    if (!stdin) try {
      const stat = statSync(file);
      size = stat.size;
      if (stat.isDirectory()) throw new Error(`a directory (scan reads files: driftlock scan ${path.join(file, '*.log')})`);
      // How a file is read is decided by what it holds, not by its name.
      if (stat.isFile()) {
        const kind = contentKind(file);
        const refused = refusal(kind, file, false);
        if (refused) throw new Error(refused);
        gzip = kind === 'gzip';
      } else piped = true;
    } catch (err) {
      io.stderr.write(`driftlock: cannot read ${file}: ${readProblem(err)}\n`);
      failed += 1;
      continue;
    }
    let read = 0;
    let lastDraw = 0;
    const draw = (final = false) => {
      const now = Date.now();
      if (!final && now - lastDraw < 200) return;
      lastDraw = now;
      const counts = `${eventsText(ld.events)}, ${anomaliesText(ld.anomalies)}`;
      // Standard input has no size to measure a bar against: only the counts.
      if (stdin) {
        io.stderr.write(`\r\x1b[K${fitStatus(io.stderr.columns, 'standard input', `  ${counts}`)}`);
        return;
      }
      const share = size ? Math.min(1, read / size) : 1;
      const width = 24;
      const bar = '█'.repeat(Math.round(share * width)).padEnd(width, '░');
      io.stderr.write(`\r\x1b[K${fitStatus(io.stderr.columns, path.basename(file), ` ${bar} ${(share * 100).toFixed(0)}%  ${counts}`)}`);
    };
    try {
      // A gzipped rotation (app.log.2.gz) is read decompressed; the bar moves with the bytes read from the
      // file (compressed), which is what `size` counts.
      const raw = stdin ?? createReadStream(file);
      if (stdin || piped) {
        // `gunzip -c app.log.2.gz | ...` is not needed: `cat app.log.2.gz | driftlock scan -` reads it too.
        const kind = kindOfBytes(await peek(raw, gone));
        if (gone.aborted) {
          if (!stdin) raw.destroy();
          break;
        }
        const refused = refusal(kind, file, true);
        if (refused) {
          if (!stdin) raw.destroy();
          throw new Error(refused);
        }
        gzip = kind === 'gzip';
      }
      const input = gzip ? raw.pipe(createGunzip()) : raw;
      if (input !== raw) {
        raw.on('error', (err: Error) => input.destroy(err));
        // zlib's own words ("unexpected end of file") do not say that the file is a truncated gzip.
        input.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code?.startsWith('Z_')) err.message = `gzip data: ${err.message}`;
        });
      }
      const stopReading = () => input.destroy();
      gone.addEventListener('abort', stopReading, { once: true });
      input.once('close', () => gone.removeEventListener('abort', stopReading));
      // One stream per log whatever the path looks like (`app.log`, `./app.log`, `/var/log/app.log`).
      const stream = stdin ? 'stdin' : streamOfFile(path.resolve(file));
      await forEachLines(
        input,
        options.maxLineBytes,
        async (lines) => {
          const found = await ld.detect(lines, { input: 'scan', file }, stream, false);
          let out = '';
          for (const f of found) {
            top.add({ ...f, file });
            if (options.output === 'json') {
              out += JSON.stringify({
                file, line: f.line, kind: f.anomaly.kind, score: f.anomaly.score, confidence: f.anomaly.confidence, why: f.anomaly.why,
                field: f.anomaly.field ?? null, template: f.anomaly.template, stream_id: f.anomaly.stream_id,
              }) + '\n';
            } else {
              if (f.time !== undefined) logTime = f.time;
              out += foldedLines(f.time);
              const folder = f.time !== undefined ? byLogTime! : byClock!;
              if (folder.show(f.anomaly, f.time ?? Date.now())) out += renderAlertText({ anomaly: f.anomaly, entry: f.entry, time: f.time, location: `${file}:${f.line}` }, color);
            }
          }
          if (out) {
            if (showProgress) io.stderr.write('\r\x1b[K');
            await write(io.stdout, out, gone);
          }
          if (showProgress) draw();
        },
        () => (read = 'bytesRead' in raw ? raw.bytesRead : 0),
        options.multiline,
      );
      // The repeats folded since each incident's last line, at the end of each file (its incidents end with it).
      const rest = foldedLines(logTime, true);
      if (rest) {
        if (showProgress) io.stderr.write('\r\x1b[K');
        await write(io.stdout, rest, gone);
      }
      if (showProgress) {
        draw(true);
        io.stderr.write('\n');
      }
      // A file whose reading was stopped half-way is not counted as scanned.
      if (!gone.aborted) {
        scanned += 1;
        lastScanned = stdin ? 'standard input' : file;
      }
    } catch (err) {
      if (showProgress) io.stderr.write('\n');
      if (gone.aborted) break;
      io.stderr.write(`driftlock: cannot read ${file}: ${readProblem(err)}\n`);
      failed += 1;
    }
  }
  // The handlers stay on while the state is saved: a Ctrl-C then (the files read, the save under way) is
  // noted, as one during the scan is, rather than killing the process half-way through writing the state.
  try {
    await ld.save();
  } catch (err) {
    io.stderr.write(`driftlock: cannot save state to ${options.state}: ${(err as Error).message}\n`);
    failed += 1;
  }

  const seconds = (Date.now() - started) / 1000;
  let summary =
    `\n${signalled ? `Interrupted (${signalled}). ` : ''}Scanned ${scanned} of ${files.length} file${files.length === 1 ? '' : 's'}: ${eventsText(ld.events)} in ${seconds.toFixed(1)} s (${rate(ld.events, seconds)}), ` +
    `${anomaliesText(ld.anomalies)}${ld.lineNotes()}\n`;
  const read = scanned === 0 ? undefined : scanned === 1 ? printable(lastScanned) : `the ${scanned} files read`;
  const unjudged = ld.noneJudged(read, scanned > 1);
  if (unjudged) summary += `Not a clean result: ${unjudged}.\n`;
  if (ld.anomalies) {
    summary += `By kind: ${ld.kindSummary()}\nTop anomalies:\n`;
    for (const f of top.list(options.top)) {
      const alike = f.alike ? ` (and ${f.alike.toLocaleString('en-US')} more alike)` : '';
      summary += `  ${percent(f.anomaly.confidence).padStart(6)}  ${printable(f.file)}:${f.line}  ${f.anomaly.kind}: ${printable(f.anomaly.why)}${alike}\n`;
    }
  }
  // With JSON on stdout the summary goes to stderr, so that stdout stays one object per line.
  await write(options.output === 'json' ? io.stderr : io.stdout, summary, gone);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  detectSession.readerGone.signal.removeEventListener('abort', onGone);
  if (signalled) return signalled === 'SIGINT' ? 130 : 143;
  if (failed || unjudged) return 2;
  return ld.anomalies ? 1 : 0;
}

/**
 * The summary's top anomalies: one line per stream, kind, pattern and field (the best of them), with how
 * many more alike there were, so that one incident's 800 repeats do not fill the list.
 */
class TopAnomalies {
  private readonly best = new Map<string, Found & { file: string; alike: number }>();

  add(f: Found & { file: string }): void {
    const a = f.anomaly;
    const key = `${a.stream_id}\u0000${a.kind}\u0000${a.template_id}\u0000${a.field ?? ''}`;
    const had = this.best.get(key);
    if (!had) {
      this.best.set(key, { ...f, alike: 0 });
      // Bounded: beyond 4,096 kinds of anomaly, the 1,024 best stay.
      if (this.best.size > 4096) {
        const keep = new Set(this.list(1024));
        for (const [k, v] of this.best) if (!keep.has(v)) this.best.delete(k);
      }
    } else if (better(f, had)) {
      this.best.set(key, { ...f, alike: had.alike + 1 });
    } else {
      had.alike += 1;
    }
  }

  list(n: number): Array<Found & { file: string; alike: number }> {
    return [...this.best.values()].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0)).slice(0, n);
  }
}

function better(a: Found, b: Found): boolean {
  return a.anomaly.confidence > b.anomaly.confidence || (a.anomaly.confidence === b.anomaly.confidence && a.anomaly.score > b.anomaly.score);
}

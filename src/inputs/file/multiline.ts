/**
 * Joins continuation lines into one event: a Java or Python stack trace, a Go panic. A rule looks at each
 * line and says whether it continues the event being built; the joiner builds events from that, with a cap
 * on lines and bytes (the excess is dropped and the event marked `log.truncated`), and the caller flushes the
 * pending event after a timeout with no new line.
 *
 * Offsets: a joined event starts at its first line and ends after its last, so a checkpoint never falls in
 * the middle of a stack trace.
 */
import { utf8Boundary, type LineFlags } from '../line-splitter.js';

export interface MultilineRule {
  /**
   * Whether `line` belongs to the event that `first` started (`first` is that event's first line);
   * `lines`: how many lines the event has so far (1: `previous` is `first`).
   */
  continues(line: string, first: string, previous: string, lines?: number): boolean;
}

/** A line matching `start` begins an event; any other line continues the current one. */
export function startPatternRule(start: RegExp): MultilineRule {
  return { continues: (line) => !start.test(line) };
}

/** A line matching `continuation` continues the current event; any other line begins one. */
export function continuationPatternRule(continuation: RegExp): MultilineRule {
  return { continues: (line) => continuation.test(line) };
}

/**
 * Java (and other JVM languages): `\tat ...` frames, `... 12 more`, `Caused by:` and `Suppressed:`.
 * The exception line itself (`java.lang.IllegalStateException: boom`) follows the logged message.
 */
const JAVA_FRAME = /^(?:\s+at |\s+\.\.\. \d+ (?:more|common frames omitted)|\s*Caused by: |\s+Suppressed: |\s+\.\.\.)/;
const JAVA_EXCEPTION = /^(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)\b(?::.*)?$|^Exception in thread "/;
export const javaRule: MultilineRule = {
  continues(line, _first, previous) {
    if (JAVA_FRAME.test(line)) return true;
    // The exception line right after the message that logged it, or after `Caused by` chains.
    return JAVA_EXCEPTION.test(line) && !JAVA_EXCEPTION.test(previous) && !/^\s/.test(previous) && !line.startsWith('Exception in thread');
  },
};

/**
 * Python: `Traceback (most recent call last):`, indented `File ...` lines and code, then the exception line
 * (`ValueError: bad`); chained exceptions (`During handling of the above exception...`) stay in the event.
 */
const PY_CHAIN = /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)$/;
// An exception line (`ValueError: bad value`): it starts with a name, so it is never indented.
const PY_EXCEPTION = /^[A-Za-z_][\w.]*(?::.*)?$/;
export const pythonRule: MultilineRule = {
  continues(line, _first, previous, lines) {
    // A traceback continues the message that logged it (logging.exception), a chain's blank line, or
    // anything but the exception line that ended a traceback: right after one, it is the next traceback
    // (a worker crashing twice), not part of the first.
    if (line.startsWith('Traceback (most recent call last):')) return lines === 1 || !PY_EXCEPTION.test(previous);
    if (/^\s/.test(line) && line.trim() !== '') return true;
    if (PY_CHAIN.test(line)) return true;
    // The blank line before a chain's message, and the one after it (Python writes both).
    if (line === '') return PY_EXCEPTION.test(previous) || PY_CHAIN.test(previous);
    if (previous === '') return line.startsWith('During handling') || line.startsWith('The above exception');
    // The exception line ends the traceback: it follows an indented source line.
    return /^\s{4}\S/.test(previous) && PY_EXCEPTION.test(line);
  },
};

/**
 * Go: a `panic:` or `fatal error:` line, then blank lines, `goroutine N [running]:`, function lines,
 * tab-indented `file:line +0x..` lines, `created by ...`, `[signal ...]`, up to `exit status N`.
 */
const GO_START = /^(?:panic: |fatal error: |runtime: )/;
// A function line (`main.main()`, `pkg.(*T).M(0x1, ...)`) is a run of name characters, `(`, and a line
// that ends in `)`. The end is checked once, before the run: `run\(.*\)$` tried `.*` to the end after
// every `(` of the run, quadratic on a hostile line (`x(t(t(t...`, 128 KB took 4-8 s).
const GO_BODY = /^(?:$|\s|goroutine \d+ \[|created by |\[signal |exit status \d+|panic: |\[recovered\]|(?=.*\)$)[\w./*()[\]-]+\(|\.\.\.\d+ frames elided\.\.\.)/;
export const goRule: MultilineRule = {
  continues(line, first) {
    return GO_START.test(first) && !GO_START.test(line) && GO_BODY.test(line);
  },
};

export const PRESETS: Record<'java' | 'python' | 'go', MultilineRule> = { java: javaRule, python: pythonRule, go: goRule };

/** The first `bytes` bytes of `text` in UTF-8, not splitting a character. */
function cutUtf8(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  return bytes >= buf.length ? text : buf.toString('utf8', 0, utf8Boundary(buf, 0, bytes));
}

export type LineOut = (text: string, flags: LineFlags, start: number, end: number) => void;

export class MultilineJoiner {
  private readonly rule: MultilineRule;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private parts: string[] = [];
  private first = '';
  private previous = '';
  /** Lines in the pending event, those dropped past max_lines or max_line_bytes included. */
  private lines = 0;
  private bytes = 0;
  private start = 0;
  private end = 0;
  private truncated = false;
  private invalidUtf8 = false;
  /** At max_lines or max_line_bytes: the rest of the event is dropped. */
  private full = false;

  constructor(rule: MultilineRule, maxLines: number, maxBytes: number) {
    this.rule = rule;
    this.maxLines = maxLines;
    this.maxBytes = maxBytes;
  }

  get pending(): boolean {
    return this.parts.length > 0;
  }

  push(text: string, flags: LineFlags, start: number, end: number, out: LineOut): void {
    if (this.parts.length > 0 && this.rule.continues(text, this.first, this.previous, this.lines)) {
      this.previous = text;
      this.lines += 1;
      this.end = end;
      if (flags.invalidUtf8) this.invalidUtf8 = true;
      if (flags.truncated) this.truncated = true;
      if (this.full) return; // keep consuming the event's lines, drop their text
      const size = Buffer.byteLength(text) + 1;
      if (this.parts.length >= this.maxLines || this.bytes + size > this.maxBytes) {
        // The event is cut here, as a long line is: the line that does not fit keeps what fits, and no later
        // line is joined after it (a shorter frame after a dropped long one left a hole in the trace).
        const room = this.maxBytes - this.bytes - 1;
        if (this.parts.length < this.maxLines && room > 0) {
          this.parts.push(cutUtf8(text, room));
          this.bytes = this.maxBytes;
        }
        this.truncated = true;
        this.full = true;
        return;
      }
      this.parts.push(text);
      this.bytes += size;
      return;
    }
    this.flush(out);
    this.parts.push(text);
    this.first = text;
    this.previous = text;
    this.lines = 1;
    this.bytes = Buffer.byteLength(text);
    this.start = start;
    this.end = end;
    this.truncated = flags.truncated;
    this.invalidUtf8 = flags.invalidUtf8;
    this.full = false;
  }

  flush(out: LineOut): void {
    if (this.parts.length === 0) return;
    const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join('\n');
    this.parts = [];
    out(text, { truncated: this.truncated, invalidUtf8: this.invalidUtf8 }, this.start, this.end);
  }

  /** Forgets the pending event (the file was truncated: its lines are read again from a copy, or lost). */
  reset(): void {
    this.parts = [];
  }
}

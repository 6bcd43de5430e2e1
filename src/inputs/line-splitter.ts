/**
 * Splits a byte stream into lines, the way every line-oriented input needs it: `\n` or `\r\n` endings,
 * a cap on line length (the excess is cut and the line marked, its neighbours untouched), invalid UTF-8
 * replaced with U+FFFD and marked, and the byte offset of each line kept for checkpointing.
 */
import { isUtf8 } from 'node:buffer';

export interface LineFlags {
  /** The line was longer than `maxLineBytes`; `text` holds its first part. */
  truncated: boolean;
  /** The line was not valid UTF-8; invalid bytes became U+FFFD. */
  invalidUtf8: boolean;
}

/** Receives each complete line: its text, flags, the offset of its first byte and of the byte after its end. */
export type LineHandler = (text: string, flags: LineFlags, start: number, end: number) => void;

const NEWLINE = 0x0a;
const CR = 0x0d;
const CLEAN: LineFlags = Object.freeze({ truncated: false, invalidUtf8: false });

export class LineSplitter {
  private readonly maxLineBytes: number;
  private pending: Buffer | null = null;
  /** Offset of the first byte of `pending` (or of the next chunk) in the whole stream. */
  private position: number;
  /** Inside an over-long line: skip bytes up to the next newline. */
  private discarding = false;
  /**
   * The head of that over-long line, held until its newline is found: only then is it emitted, with the
   * offset after the newline as its end, so that a checkpoint never points into the middle of a line.
   */
  private held: { bytes: Buffer; offset: number } | null = null;

  constructor(maxLineBytes: number, startOffset = 0) {
    this.maxLineBytes = maxLineBytes;
    this.position = startOffset;
  }

  /** Bytes held back waiting for their newline. */
  get pendingBytes(): number {
    return this.pending?.length ?? 0;
  }

  push(chunk: Buffer, onLine: LineHandler): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let start = 0;
    const base = this.position;
    const lastNewline = buf.lastIndexOf(NEWLINE);
    // One validity check for the whole run of complete lines; only an invalid run is checked line by line.
    const allValid = lastNewline < 0 || isUtf8(buf.subarray(0, lastNewline));
    let nl = lastNewline < 0 ? -1 : buf.indexOf(NEWLINE, 0);
    while (nl >= 0) {
      if (this.discarding) {
        this.discarding = false;
        this.emitHeld(base + nl + 1, onLine);
      } else {
        this.emit(buf, start, nl, nl + 1, allValid, base, onLine, false);
      }
      start = nl + 1;
      nl = start > lastNewline ? -1 : buf.indexOf(NEWLINE, start);
    }
    const rest = buf.length - start;
    if (rest > 0 && !this.discarding) {
      if (rest > this.maxLineBytes) {
        // Keep the head of the over-long line and skip the rest of it, so memory stays bounded.
        this.held = { bytes: Buffer.from(buf.subarray(start, start + this.maxLineBytes)), offset: base + start };
        this.discarding = true;
      } else {
        this.pending = Buffer.from(buf.subarray(start));
      }
    }
    this.position = base + buf.length - (this.pending?.length ?? 0);
  }

  /** Emits what is left without a trailing newline (end of stream). */
  flush(onLine: LineHandler): void {
    if (this.pending && this.pending.length > 0 && !this.discarding) {
      const buf = this.pending;
      this.pending = null;
      this.emit(buf, 0, buf.length, buf.length, false, this.position, onLine, false);
      this.position += buf.length;
    }
    this.pending = null;
    this.emitHeld(this.position, onLine);
    this.discarding = false;
  }

  /** Emits the held head of an over-long line, as ending at `end` (an absolute offset). */
  private emitHeld(end: number, onLine: LineHandler): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    this.emit(held.bytes, 0, held.bytes.length, end - held.offset, false, held.offset, onLine, true);
  }

  private emit(buf: Buffer, start: number, end: number, next: number, known: boolean, base: number, onLine: LineHandler, truncated: boolean): void {
    let stop = end;
    if (!truncated && stop > start && buf[stop - 1] === CR) stop -= 1;
    if (!truncated && stop - start > this.maxLineBytes) {
      stop = start + this.maxLineBytes;
      truncated = true;
    }
    if (truncated) stop = utf8Boundary(buf, start, stop);
    const valid = known || isUtf8(buf.subarray(start, stop));
    const text = buf.toString('utf8', start, stop);
    const flags = truncated || !valid ? { truncated, invalidUtf8: !valid } : CLEAN;
    onLine(text, flags, base + start, base + next);
  }
}

/** Moves a cut point back so that it does not split a multi-byte UTF-8 character. */
function utf8Boundary(buf: Buffer, start: number, end: number): number {
  let i = end;
  // Continuation bytes are 10xxxxxx; step back over at most 3 of them to the lead byte.
  while (i > start && i > end - 4 && (buf[i]! & 0xc0) === 0x80) i--;
  return i;
}

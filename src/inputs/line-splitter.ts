/**
 * Splits a byte stream into lines, the way every line-oriented input needs it: `\n` or `\r\n` endings,
 * a cap on line length (the excess is cut and the line marked, its neighbours untouched), invalid UTF-8
 * replaced with U+FFFD and marked, and the byte offset of each line kept for checkpointing.
 */
import { isUtf8 } from 'node:buffer';
import { PendingBytes } from './pending-bytes.js';

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
  /**
   * The start of a line whose newline has not come yet, joined once when it ends. Joining it with every
   * chunk, and searching all of it again for a newline, made a long line arriving in small chunks cost
   * quadratic time: a 1 MiB line in 256-byte chunks took 0.7 s, 4 MiB in 1 KiB chunks 5.8 s.
   */
  private pending = new PendingBytes();
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
    return this.pending.length;
  }

  /** Whether a line is begun and its newline not yet come (its bytes, or the head of an over-long one). */
  get inLine(): boolean {
    return this.pending.length > 0 || this.discarding;
  }

  push(chunk: Buffer, onLine: LineHandler): void {
    // Offset of the chunk's first byte. Only the chunk is searched for newlines: `pending` holds none.
    const base = this.position + this.pending.length;
    const lastNewline = chunk.lastIndexOf(NEWLINE);
    let start = 0;
    if (lastNewline >= 0 && (this.discarding || this.pending.length > 0)) {
      // The first newline ends the line begun in earlier chunks.
      const nl = chunk.indexOf(NEWLINE);
      if (this.discarding) {
        this.discarding = false;
        this.emitHeld(base + nl + 1, onLine);
      } else {
        const line = this.pending.take(chunk.subarray(0, nl));
        this.emit(line, 0, line.length, line.length + 1, false, this.position, onLine, false);
      }
      start = nl + 1;
    }
    // One validity check for the whole run of complete lines in the chunk; only an invalid run is checked line by line.
    const allValid = lastNewline < start || isUtf8(chunk.subarray(start, lastNewline));
    let nl = lastNewline < start ? -1 : chunk.indexOf(NEWLINE, start);
    while (nl >= 0) {
      this.emit(chunk, start, nl, nl + 1, allValid, base, onLine, false);
      start = nl + 1;
      nl = start > lastNewline ? -1 : chunk.indexOf(NEWLINE, start);
    }
    if (lastNewline >= 0) this.position = base + start;
    const rest = chunk.length - start;
    if (this.discarding) {
      this.position = base + chunk.length;
    } else if (rest > 0) {
      if (this.pending.length + rest > this.maxLineBytes) {
        // Keep the head of the over-long line and skip the rest of it, so memory stays bounded.
        const head = chunk.subarray(start, start + this.maxLineBytes - this.pending.length);
        this.held = { bytes: this.pending.take(head), offset: this.position };
        this.discarding = true;
        this.position = base + chunk.length;
      } else {
        this.pending.append(chunk.subarray(start));
      }
    }
  }

  /** Emits what is left without a trailing newline (end of stream). */
  flush(onLine: LineHandler): void {
    if (this.pending.length > 0 && !this.discarding) {
      const buf = this.pending.take();
      this.emit(buf, 0, buf.length, buf.length, false, this.position, onLine, false);
      this.position += buf.length;
    }
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
export function utf8Boundary(buf: Buffer, start: number, end: number): number {
  let i = end;
  // Continuation bytes are 10xxxxxx; step back over at most 3 of them to the lead byte.
  while (i > start && i > end - 4 && (buf[i]! & 0xc0) === 0x80) i--;
  return i;
}

/**
 * Splits a syslog TCP (or TLS) byte stream into messages, RFC 6587: octet counting (`LEN SP MSG`) and
 * non-transparent framing (one message per line), detected at the start of every frame, so a connection may
 * use either (rsyslog and `logger --octet-count` count octets; most other senders end lines with LF). A frame
 * is octet-counted only when its digits and space are followed by `<` (the message's PRI). In non-transparent
 * framing a NUL ends a message as LF does (the trailer some senders use, which rsyslog's imtcp can take as a
 * delimiter): `msg1\0msg2\0` is two messages, not one with NULs in it.
 *
 * Memory stays bounded whatever a client sends: a frame longer than `maxBytes` is cut to its first `maxBytes`
 * (the rest skipped as it arrives) and flagged `truncated`, and at most a 10-digit length prefix is held back
 * while undecided.
 *
 * A count above `maxBytes` is not trusted at once: a bogus one (`99999999 <13>hi\n`) made every message after
 * it on the connection the body of that one frame, skipped. Its message is taken as an octet-counted frame (cut,
 * the rest of the count skipped) unless, within its first `maxBytes`, a line end (LF or NUL) is followed by
 * the start of a frame (`<` or a count's first digit), or by the end of the connection: that ends it as a
 * line, as rsyslog falls back to LF framing for a count it cannot accept (the count itself is dropped), and
 * `onBadCount` is told. A line end followed by anything else is part of the message (a long stack trace's).
 * The framer holds no more either way: `maxBytes`.
 */

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const NUL = 0x00;
const LT = 0x3c;
const MAX_LENGTH_DIGITS = 10;

/**
 * How frames are told apart: `auto` as above; `octet_counting` takes every `LEN SP` as a count whatever the
 * message starts with (rsyslog's JSON or file-format templates have no PRI); `newline` never counts octets.
 */
export type Framing = 'auto' | 'octet_counting' | 'newline';

/** Receives one message: its bytes (without framing) and whether it was cut to `maxBytes`. */
export type FrameHandler = (bytes: Buffer, truncated: boolean) => void;

/** Told of an octet count above `maxBytes` whose message ended at a line end first: it was read as a line. */
export type BadCountHandler = (count: number) => void;

const enum State {
  Start,
  Line,
  Octets,
  /** An octet count above maxBytes, its first maxBytes bytes not all here yet: a line end first makes it a line. */
  Unconfirmed,
  SkipLine,
}

export class SyslogFramer {
  private readonly maxBytes: number;
  private state = State.Start;
  /** Undecided bytes of a possible length prefix. */
  private pending: Buffer | null = null;
  private parts: Buffer[] = [];
  private kept = 0;
  private truncated = false;
  /** Bytes still to come of the current octet-counted frame. */
  private remaining = 0;
  /** The count of the Unconfirmed frame, for onBadCount. */
  private count = 0;
  /** Unconfirmed: the line end (LF or NUL) that ended the last read, held until the byte after it decides; -1: none. */
  private heldEnd = -1;

  constructor(maxBytes: number, private readonly framing: Framing = 'auto', private readonly onBadCount?: BadCountHandler) {
    this.maxBytes = maxBytes;
  }

  /** True while part of a frame has been received (a client that disconnects now leaves it incomplete). */
  get midFrame(): boolean {
    return this.state === State.Octets || this.state === State.Unconfirmed || (this.state === State.Line && this.kept > 0) || this.pending !== null;
  }

  /** Bytes held for the frame not complete yet (those of it kept, and an undecided length prefix). */
  get held(): number {
    return this.kept + (this.pending?.length ?? 0);
  }

  push(chunk: Buffer, onFrame: FrameHandler): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const n = buf.length;
    let p = 0;
    // Where the next NUL is at or after p (-1: none in buf), looked up again only once p has passed it, so a
    // chunk of many lines is searched for NUL once, not once per line.
    let nul = -2;
    const lineEnd = (from: number): number => {
      if (nul !== -1 && nul < from) nul = buf.indexOf(NUL, from);
      const lf = buf.indexOf(LF, from);
      if (nul < 0) return lf;
      return lf < 0 || nul < lf ? nul : lf;
    };
    while (p < n) {
      switch (this.state) {
        case State.Start: {
          const c = buf[p]!;
          if (c === LF || c === CR || c === NUL) {
            p++; // stray line ends between frames, and the NUL trailer some senders use
            break;
          }
          if (c >= 0x31 && c <= 0x39 && this.framing !== 'newline') {
            let q = p + 1;
            while (q < n && q - p < MAX_LENGTH_DIGITS && buf[q]! >= 0x30 && buf[q]! <= 0x39) q++;
            // Cannot tell yet: wait for the bytes after the digits (the space, and what follows it).
            if ((q === n && q - p <= MAX_LENGTH_DIGITS) || (q + 1 === n && buf[q] === SP)) {
              this.pending = Buffer.from(buf.subarray(p));
              return;
            }
            // An octet count is followed by a syslog message, which begins with its PRI (`<`): a plain line
            // that starts with a number (`1764120000 web01 ...`, `200 OK`) is a line, not a length that would
            // swallow the messages after it.
            if (buf[q] === SP && (buf[q + 1] === LT || this.framing === 'octet_counting')) {
              this.remaining = Number(buf.toString('latin1', p, q));
              this.count = this.remaining;
              this.state = this.remaining > this.maxBytes ? State.Unconfirmed : State.Octets;
              p = q + 1;
              if (this.remaining === 0) this.finish(onFrame);
              break;
            }
          }
          this.state = State.Line;
          break;
        }
        case State.Line: {
          const nl = lineEnd(p);
          const end = nl < 0 ? n : nl;
          this.keep(buf, p, end);
          if (nl >= 0) {
            this.finish(onFrame);
            p = nl + 1;
          } else {
            p = n;
            if (this.truncated) {
              // Over-long line: pass its head on now and skip the rest up to the next LF (or NUL).
              this.finish(onFrame);
              this.state = State.SkipLine;
            }
          }
          break;
        }
        case State.Octets: {
          const take = Math.min(this.remaining, n - p);
          this.keep(buf, p, p + take);
          this.remaining -= take;
          p += take;
          if (this.remaining === 0) this.finish(onFrame);
          break;
        }
        case State.Unconfirmed: {
          if (this.heldEnd >= 0) {
            const end = this.heldEnd;
            this.heldEnd = -1;
            if (startsFrame(buf[p]!)) {
              this.endAsLine(onFrame);
              break;
            }
            this.keep(Buffer.of(end), 0, 1);
            this.remaining -= 1;
            if (this.truncated) {
              this.state = State.Octets;
              break;
            }
          }
          // The count exceeds maxBytes: what is kept is the same as a line's or a cut frame's, up to maxBytes.
          const room = this.maxBytes - this.kept;
          let nl = lineEnd(p);
          let decided = false;
          while (nl >= 0 && nl - p <= room) {
            if (nl + 1 === n || startsFrame(buf[nl + 1]!)) {
              this.keep(buf, p, nl);
              this.remaining -= nl - p;
              if (nl + 1 === n) this.heldEnd = buf[nl]!;
              else this.endAsLine(onFrame);
              p = nl + 1;
              decided = true;
              break;
            }
            nl = lineEnd(nl + 1);
          }
          if (decided) break;
          const stop = Math.min(n, p + room);
          this.keep(buf, p, stop);
          this.remaining -= stop - p;
          p = stop;
          // A byte past maxBytes that ends no line: the count stands, and Octets cuts the frame there.
          if (p < n) this.state = State.Octets;
          break;
        }
        case State.SkipLine: {
          const nl = lineEnd(p);
          if (nl < 0) {
            p = n;
          } else {
            p = nl + 1;
            this.state = State.Start;
          }
          break;
        }
      }
    }
  }

  /**
   * End of the connection: a last line without LF is a message, unless the connection broke (`broken`: a
   * reset), when it may be cut and is flagged truncated; an octet-counted frame cut short is passed on
   * (flagged truncated). Returns true when a frame was incomplete.
   */
  end(onFrame: FrameHandler, broken = false): boolean {
    let incomplete = false;
    if (this.pending) {
      // Digits and no space: a line that never ended.
      this.keep(this.pending, 0, this.pending.length);
      this.pending = null;
      this.state = State.Line;
    }
    if (this.state === State.Unconfirmed && this.heldEnd >= 0) {
      // Its line end was the last byte the client sent: a line.
      this.heldEnd = -1;
      this.endAsLine(onFrame);
    } else if (this.state === State.Octets || this.state === State.Unconfirmed) {
      incomplete = true;
      this.truncated = true;
      this.finish(onFrame);
    } else if (this.state === State.Line && this.kept > 0) {
      if (broken) {
        incomplete = true;
        this.truncated = true;
      }
      this.finish(onFrame);
    }
    this.state = State.Start;
    return incomplete;
  }

  /** Ends an Unconfirmed frame at the line end before its first maxBytes: a line, its count no count. */
  private endAsLine(onFrame: FrameHandler): void {
    this.state = State.Line;
    this.finish(onFrame);
    this.onBadCount?.(this.count);
  }

  private keep(buf: Buffer, start: number, end: number): void {
    const room = this.maxBytes - this.kept;
    let stop = end;
    if (end - start > room) {
      stop = start + room;
      this.truncated = true;
    }
    if (stop > start) {
      // Copied: the socket's chunk should not be retained for a partial frame.
      this.parts.push(Buffer.from(buf.subarray(start, stop)));
      this.kept += stop - start;
    }
  }

  private finish(onFrame: FrameHandler): void {
    let bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.kept);
    if (!this.truncated && this.state === State.Line && bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    const truncated = this.truncated;
    this.parts = [];
    this.kept = 0;
    this.truncated = false;
    this.state = State.Start;
    if (bytes.length > 0 || truncated) onFrame(bytes, truncated);
  }
}

/** Whether a byte can start a frame: a message's PRI (`<`) or an octet count's first digit. */
function startsFrame(c: number): boolean {
  return c === LT || (c >= 0x31 && c <= 0x39);
}

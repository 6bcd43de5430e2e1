/**
 * The bytes of something that arrives in pieces (a line, a forward message), held until it is complete and
 * then joined once. Joining the bytes held with each new piece instead (`Buffer.concat([pending, chunk])` per
 * read) copies everything held on every read: quadratic, seconds for a megabyte sent in small writes.
 *
 * Each piece is copied in once (the caller's buffer may be reused, and a small piece must not keep a large
 * one alive), into parts that double in size up to PART_BYTES: a sender that trickles a byte per read makes
 * a few dozen parts, not millions of Buffers, and what is held takes at most twice its size.
 */

/** Largest part made to take small pieces; a larger piece gets a part of its own size. */
const PART_BYTES = 1 << 20;

export class PendingBytes {
  private parts: Buffer[] = [];
  /** Bytes in use in the last part; the parts before it are full. */
  private lastUsed = 0;
  private total = 0;

  /** Bytes held. */
  get length(): number {
    return this.total;
  }

  /** Copies `bytes` in after those held. */
  append(bytes: Uint8Array): void {
    let from = 0;
    const last = this.parts[this.parts.length - 1];
    if (last && this.lastUsed < last.length) {
      from = Math.min(bytes.length, last.length - this.lastUsed);
      last.set(bytes.subarray(0, from), this.lastUsed);
      this.lastUsed += from;
    }
    const rest = bytes.length - from;
    if (rest > 0) {
      const part = Buffer.allocUnsafe(Math.max(rest, Math.min(this.total, PART_BYTES)));
      part.set(from === 0 ? bytes : bytes.subarray(from), 0);
      this.parts.push(part);
      this.lastUsed = rest;
    }
    this.total += bytes.length;
  }

  /** The bytes held followed by `tail` (not held: the end of the last piece), in one new Buffer; empties this. */
  take(tail?: Uint8Array): Buffer {
    const list: Uint8Array[] = this.parts.slice(0, -1);
    if (this.parts.length) list.push(this.parts[this.parts.length - 1]!.subarray(0, this.lastUsed));
    if (tail?.length) list.push(tail);
    const joined = Buffer.concat(list, this.total + (tail?.length ?? 0));
    this.parts = [];
    this.lastUsed = 0;
    this.total = 0;
    return joined;
  }
}

/**
 * Where msgpack values end in a byte stream that arrives in pieces, found without decoding them: the server
 * holds the bytes of a message until its end has come and then decodes it whole, and knows at the end of the
 * stream whether a message was left half received. This walks the bytes header by header (a few steps per
 * value; str, bin and ext bodies are passed over in one step) and keeps the count of bytes received since the
 * last value ended.
 */

/** Bytes that follow each head byte that has a body of fixed size (numbers, fixext). */
const FIXED_BODY: Record<number, number> = {
  0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8,
  // fixext 1, 2, 4, 8, 16: a type byte, then the data.
  0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17,
};

const enum Counts {
  Bytes,
  Ext,
  Array,
  Map,
}

/** For the head bytes followed by a length: how many bytes it takes and what it counts. */
const LENGTH: Record<number, [bytes: number, counts: Counts]> = {
  0xc4: [1, Counts.Bytes], 0xc5: [2, Counts.Bytes], 0xc6: [4, Counts.Bytes], // bin 8/16/32
  0xc7: [1, Counts.Ext], 0xc8: [2, Counts.Ext], 0xc9: [4, Counts.Ext], // ext 8/16/32
  0xd9: [1, Counts.Bytes], 0xda: [2, Counts.Bytes], 0xdb: [4, Counts.Bytes], // str 8/16/32
  0xdc: [2, Counts.Array], 0xdd: [4, Counts.Array], // array 16/32
  0xde: [2, Counts.Map], 0xdf: [4, Counts.Map], // map 16/32
};

export class MessageBoundaries {
  /** Bytes received since the last complete top-level value: the part of an unfinished one received so far. */
  pending = 0;
  /** Values still to come before the current top-level value is complete (0 between values). */
  private values = 0;
  /** Body bytes still to pass over. */
  private skip = 0;
  /** Length bytes still to read after a head byte, the length read so far, and what it counts. */
  private lengthBytes = 0;
  private length = 0;
  private counts = Counts.Bytes;
  /** Set at a byte that is not msgpack (0xc1): the decoder fails there and closes the connection. */
  lost = false;
  /** Top-level values complete so far. */
  private complete = 0;

  /**
   * Bytes the unfinished top-level value is known to take at least: those received, the rest of a body begun,
   * and a byte for each value announced but not begun. A message that announces more than it may hold is
   * refused at once, not after that much has come.
   */
  get atLeast(): number {
    return this.lost ? this.pending : this.pending + this.skip + this.lengthBytes + this.values;
  }

  push(chunk: Uint8Array): void {
    const lastEnd = this.walk(chunk, false);
    this.pending = lastEnd === -1 || this.lost ? this.pending + chunk.length : chunk.length - lastEnd;
  }

  /**
   * Where the first value in `bytes` ends (its length in bytes), or -1 when it does not end in them (cut
   * short, or at a byte that is not msgpack).
   */
  static firstEnd(bytes: Uint8Array): number {
    const walker = new MessageBoundaries();
    const end = walker.walk(bytes, true);
    return walker.lost ? -1 : end;
  }

  /** How many whole values `bytes` holds, up to a byte that is not msgpack (the entries of a PackedForward chunk). */
  static count(bytes: Uint8Array): number {
    const walker = new MessageBoundaries();
    walker.walk(bytes, false);
    return walker.complete;
  }

  /** Walks the bytes; returns where the last value complete in them ends (the first, with `first`), -1 if none. */
  private walk(chunk: Uint8Array, first: boolean): number {
    const n = chunk.length;
    let lastEnd = -1;
    let i = 0;
    while (i < n && !this.lost) {
      if (this.skip > 0) {
        const step = Math.min(this.skip, n - i);
        this.skip -= step;
        i += step;
      } else if (this.lengthBytes > 0) {
        this.length = this.length * 256 + chunk[i++]!;
        if (--this.lengthBytes === 0) this.lengthRead();
      } else {
        this.head(chunk[i++]!);
      }
      if (this.values === 0 && this.skip === 0 && this.lengthBytes === 0) {
        lastEnd = i;
        this.complete += 1;
        if (first) break;
      }
    }
    return lastEnd;
  }

  private head(b: number): void {
    // Between values a head byte starts a top-level one; inside one, it is one of the values still to come.
    if (this.values === 0) this.values = 1;
    this.values -= 1;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return; // fixint, nil, bool
    if (b <= 0x8f) this.values += 2 * (b - 0x80); // fixmap
    else if (b <= 0x9f) this.values += b - 0x90; // fixarray
    else if (b <= 0xbf) this.skip = b - 0xa0; // fixstr
    else if (FIXED_BODY[b] !== undefined) this.skip = FIXED_BODY[b];
    else if (LENGTH[b] !== undefined) {
      [this.lengthBytes, this.counts] = LENGTH[b];
      this.length = 0;
    } else this.lost = true;
  }

  private lengthRead(): void {
    if (this.counts === Counts.Bytes) this.skip = this.length;
    else if (this.counts === Counts.Ext) this.skip = this.length + 1; // the type byte, then the data
    else if (this.counts === Counts.Array) this.values += this.length;
    else this.values += 2 * this.length;
  }
}

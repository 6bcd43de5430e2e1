/**
 * Compression distance at line rate.
 *
 * A sliding window over a stream's recent normal text, indexed the way deflate indexes its window: a hash
 * of every 4-character sequence points at its latest position, and a chain links earlier positions with the
 * same hash. Appending text costs O(length); scoring an event costs O(length × chain depth) and never
 * depends on the size of the baseline. Scoring parses the event greedily into matches (against the window,
 * or earlier in the event itself) and literals, and adds up an LZ77-style code length in bits:
 *
 * - `conditionalBits`: the event's code length given the window, ≈ C(x | baseline);
 * - `selfBits`: its code length on its own, ≈ C(x);
 * - `ratio = conditionalBits / selfBits`: an NCD-style distance: near 0 when the baseline explains the event,
 *   near 1 when it explains nothing.
 *
 * The literal runs of the conditional parse are the parts of the event the baseline could not explain:
 * exactly what a `why` should quote.
 */
const MIN_MATCH = 4;
const MAX_MATCH = 258;
const LITERAL_BITS = 8;
/** Hash bits of the per-event index of self-matches. */
const LOCAL_HASH_BITS = 12;
/** Characters appended after which positions are moved back (see `rebase`); well below 2^31. */
export const REBASE_AT = 2 ** 30;

export interface CompressionCost {
  conditionalBits: number;
  selfBits: number;
  ratio: number;
  /** [start, end) ranges of the event the window could not explain, longest first. */
  literalRuns: Array<[number, number]>;
}

function hash4(a: number, b: number, c: number, d: number, bits: number): number {
  return (Math.imul((a << 24) ^ (b << 16) ^ (c << 8) ^ d ^ (a >>> 8) ^ (b >>> 3), 0x9e3779b1) >>> (32 - bits));
}

function log2(n: number): number {
  return 31 - Math.clz32(n);
}

/** Bits to code a match: a flag, the distance, and the length (Elias-gamma-like). */
function matchBits(distance: number, length: number): number {
  return 1 + log2(distance) + 1 + 2 * log2(length - MIN_MATCH + 1) + 1;
}

/**
 * Scratch for an event's own hash chains (its matches within itself), shared by every window: a call
 * (`cost`, `selfBits`) uses it from start to end without yielding, and marks what it wrote with a stamp of
 * its own. Before, each window had its own (36 KB: a stream's half-dozen windows took some 220 KB of it).
 */
const Local = {
  head: new Int32Array(1 << LOCAL_HASH_BITS),
  stamps: new Int32Array(1 << LOCAL_HASH_BITS),
  prev: new Int32Array(1024),
  stamp: 0,
  /**
   * A new stamp for a call on a text of `n` characters. Stamps are stored in an Int32Array: past 2^31 - 1
   * they were stored wrapped, never equal to the counter again, and every event lost its matches within
   * itself for good (after some 2 billion calls: 12 days of one stream at 1,000 events/s). They start again
   * at 1 instead, with the old marks cleared.
   */
  begin(n: number): number {
    if (this.prev.length < n) this.prev = new Int32Array(n * 2);
    if (this.stamp >= 0x7fffffff) {
      this.stamps.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  },
};

/** For tests: sets the shared stamp counter (to reach its wrap). */
export function setLocalStamp(stamp: number): void {
  Local.stamp = stamp;
}

/** Characters a window's arrays hold at first; they grow fourfold as text comes, up to the window's size. */
const FIRST_SLOTS = 1 << 10;

function hashBitsFor(slots: number): number {
  return Math.max(10, Math.min(16, log2(slots)));
}

export class LzWindow {
  /** Characters the window holds at most. */
  readonly size: number;
  /** Characters its arrays hold now: `size`, or less while all the text appended so far fits in less. */
  private slots: number;
  private mask: number;
  private hashBits: number;
  private readonly maxChain: number;
  private buf: Uint16Array;
  private head: Int32Array;
  private prev: Int32Array;
  /** Absolute count of characters ever appended. */
  private total = 0;
  // The result of localMatch, kept in fields to avoid an allocation per position.
  private matchLen = 0;
  private matchDist = 0;
  /**
   * Texts appended recently: where they start in the window and their own code length. A text that is in
   * the window already, exactly, costs one match per `MAX_MATCH` characters: no search needed.
   */
  private readonly recent = new Map<string, { at: number; self: number }>();
  private lastCost: { text: string; self: number } | undefined;

  /**
   * `recentTexts`: how many recently appended texts to remember for the exact-copy shortcut (0: none; worth
   * it where whole texts repeat, as masked log lines do).
   */
  constructor(size = 1 << 16, maxChain = 16, private readonly recentTexts = 0) {
    if ((size & (size - 1)) !== 0) throw new RangeError('window size must be a power of two');
    this.size = size;
    this.slots = Math.min(size, FIRST_SLOTS);
    this.mask = this.slots - 1;
    this.hashBits = hashBitsFor(this.slots);
    this.maxChain = maxChain;
    this.buf = new Uint16Array(this.slots);
    this.head = new Int32Array(1 << this.hashBits).fill(-1);
    this.prev = new Int32Array(this.slots).fill(-1);
  }

  /**
   * Makes room for `chars` characters in all while the arrays are smaller than the window: a stream that
   * sees a few events (a `stream_id` of high cardinality, or a quiet field) does not allocate the whole window
   * (640 KB for the default 64K characters: a new text stream's time went into allocating and collecting it).
   * Until the arrays are full nothing in them has been overwritten, so position p is at index p in the old
   * arrays as in the new; the hash table is sized to the arrays, so its chains are rebuilt.
   */
  private grow(chars: number): void {
    let slots = this.slots;
    while (slots < chars && slots < this.size) slots = Math.min(this.size, slots * 4);
    const buf = new Uint16Array(slots);
    buf.set(this.buf.subarray(0, this.total));
    this.buf = buf;
    this.slots = slots;
    this.mask = slots - 1;
    this.hashBits = hashBitsFor(slots);
    this.head = new Int32Array(1 << this.hashBits).fill(-1);
    this.prev = new Int32Array(slots).fill(-1);
    for (let start = 0; start + 3 < this.total; start++) {
      const h = hash4(buf[start]!, buf[start + 1]!, buf[start + 2]!, buf[start + 3]!, this.hashBits);
      this.prev[start] = this.head[h]!;
      this.head[h] = start;
    }
  }

  /** Characters currently in the window. */
  get length(): number {
    return Math.min(this.total, this.size);
  }

  /** Appends text (plus a separator) to the window, indexing every position. */
  append(text: string): void {
    const n = text.length;
    if (this.recentTexts > 0 && this.lastCost?.text === text && n >= MIN_MATCH) {
      if (this.recent.size >= this.recentTexts) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(text, { at: this.total, self: this.lastCost.self });
    }
    if (this.total + n + 1 > this.slots && this.slots < this.size) this.grow(this.total + n + 1);
    if (this.total + n + 1 > REBASE_AT) this.rebase();
    for (let i = 0; i <= n; i++) {
      const pos = this.total;
      this.buf[pos & this.mask] = i < n ? text.charCodeAt(i) : 10;
      this.total = pos + 1;
      const start = pos - 3;
      if (start >= 0) {
        const m = this.mask;
        const h = hash4(this.buf[start & m]!, this.buf[(start + 1) & m]!, this.buf[(start + 2) & m]!, this.buf[pos & m]!, this.hashBits);
        this.prev[start & m] = this.head[h]!;
        this.head[h] = start;
      }
    }
  }

  /**
   * Moves every position back by a multiple of the window's size (so each keeps its slot in `buf`), keeping the
   * window's text and matches as they are. Positions are kept in Int32Arrays: before, past 2^31 characters
   * appended (some 2.4 hours of one stream at 1,000 events of 250 characters a second) they were stored as
   * negative numbers, no match was found in the window again, and every event scored as wholly new.
   */
  private rebase(): void {
    const shift = Math.floor((this.total - this.size) / this.size) * this.size;
    if (shift <= 0) return;
    const move = (a: Int32Array) => {
      for (let k = 0; k < a.length; k++) {
        const p = a[k]!;
        a[k] = p >= shift ? p - shift : -1;
      }
    };
    move(this.head);
    move(this.prev);
    this.total -= shift;
    for (const [text, r] of this.recent) {
      if (r.at >= shift) r.at -= shift;
      else this.recent.delete(text);
    }
  }

  /** Refills the window from `text()` of a snapshot (which already ends with a separator). */
  restore(text: string): void {
    this.append(text.endsWith('\n') ? text.slice(0, -1) : text);
  }

  /** The code length of `text` given the window (and of `text` alone), without changing the window. */
  cost(text: string): CompressionCost {
    const n = text.length;
    const seen = this.recentTexts > 0 ? this.recent.get(text) : undefined;
    if (seen && this.total - seen.at + n < this.size) {
      // An exact copy is in the window: the greedy parse is one match per MAX_MATCH characters.
      let bits = 0;
      for (let k = 0; k < n; k += MAX_MATCH) bits += matchBits(this.total - seen.at, Math.max(MIN_MATCH, Math.min(MAX_MATCH, n - k)));
      this.lastCost = { text, self: seen.self };
      return { conditionalBits: bits, selfBits: seen.self, ratio: seen.self > 0 ? Math.min(bits / seen.self, 1.5) : 0, literalRuns: [] };
    }
    const m = this.mask;
    const lowest = this.total - this.size;
    const stamp = Local.begin(n);
    let conditional = 0;
    const runs: Array<[number, number]> = [];
    let runStart = -1;
    let i = 0;
    while (i < n) {
      let best = 0;
      let bestDist = 0;
      if (i + MIN_MATCH <= n) {
        const c0 = text.charCodeAt(i), c1 = text.charCodeAt(i + 1), c2 = text.charCodeAt(i + 2), c3 = text.charCodeAt(i + 3);
        // Candidates in the baseline window.
        let p = this.head[hash4(c0, c1, c2, c3, this.hashBits)]!;
        for (let chain = 0; p >= 0 && p >= lowest && chain < this.maxChain; chain++) {
          const limit = Math.min(n - i, MAX_MATCH, this.total - p);
          let len = 0;
          while (len < limit && this.buf[(p + len) & m] === text.charCodeAt(i + len)) len++;
          if (len > best) {
            best = len;
            bestDist = this.total - p + i;
            if (len === limit) break;
          }
          const next = this.prev[p & m]!;
          if (next >= p) break; // the slot was reused by a newer position: the chain ends here
          p = next;
        }
        // Candidates earlier in the event itself.
        this.matchLen = best;
        this.matchDist = bestDist;
        this.localMatch(text, i, n, stamp);
        best = this.matchLen;
        bestDist = this.matchDist;
      }
      if (best >= MIN_MATCH) {
        if (runStart >= 0) {
          runs.push([runStart, i]);
          runStart = -1;
        }
        conditional += matchBits(bestDist, best);
        for (let k = 0; k < best; k++) this.insertLocal(text, i + k, n, stamp);
        i += best;
      } else {
        if (runStart < 0) runStart = i;
        conditional += LITERAL_BITS + 1;
        this.insertLocal(text, i, n, stamp);
        i += 1;
      }
    }
    if (runStart >= 0) runs.push([runStart, n]);
    const self = this.selfBits(text);
    this.lastCost = { text, self };
    runs.sort((a, b) => b[1] - b[0] - (a[1] - a[0]));
    return { conditionalBits: conditional, selfBits: self, ratio: self > 0 ? Math.min(conditional / self, 1.5) : 0, literalRuns: runs };
  }

  /** Code length of the text on its own: literals and matches within the text only. */
  selfBits(text: string): number {
    const n = text.length;
    const stamp = Local.begin(n);
    let bits = 0;
    let i = 0;
    while (i < n) {
      this.matchLen = 0;
      if (i + MIN_MATCH <= n) this.localMatch(text, i, n, stamp);
      const best = this.matchLen;
      if (best >= MIN_MATCH) {
        bits += matchBits(this.matchDist, best);
        for (let k = 0; k < best; k++) this.insertLocal(text, i + k, n, stamp);
        i += best;
      } else {
        bits += LITERAL_BITS + 1;
        this.insertLocal(text, i, n, stamp);
        i += 1;
      }
    }
    return bits;
  }

  /** Indexes position `p` of the event (this call's `stamp`) for matches within the event itself. */
  private insertLocal(text: string, p: number, n: number, stamp: number): void {
    if (p + 4 > n) return;
    const h = hash4(text.charCodeAt(p), text.charCodeAt(p + 1), text.charCodeAt(p + 2), text.charCodeAt(p + 3), LOCAL_HASH_BITS);
    Local.prev[p] = Local.stamps[h] === stamp ? Local.head[h]! : -1;
    Local.head[h] = p;
    Local.stamps[h] = stamp;
  }

  /**
   * Looks for a longer match of the event at `i` earlier in the event itself; raises `matchLen` and
   * `matchDist` when it finds one (they hold the best so far on entry).
   */
  private localMatch(text: string, i: number, n: number, stamp: number): void {
    const lh = hash4(text.charCodeAt(i), text.charCodeAt(i + 1), text.charCodeAt(i + 2), text.charCodeAt(i + 3), LOCAL_HASH_BITS);
    let q = Local.stamps[lh] === stamp ? Local.head[lh]! : -1;
    const limit = Math.min(n - i, MAX_MATCH);
    for (let chain = 0; q >= 0 && chain < 4; chain++) {
      let len = 0;
      while (len < limit && text.charCodeAt(q + len) === text.charCodeAt(i + len)) len++;
      if (len > this.matchLen) {
        this.matchLen = len;
        this.matchDist = i - q;
      }
      q = Local.prev[q]!;
    }
  }

  /** The window's text, oldest first (for snapshots). */
  text(): string {
    const len = this.length;
    const start = this.total - len;
    let out = '';
    for (let i = 0; i < len; i += 4096) {
      const chunk: number[] = [];
      for (let k = i; k < Math.min(len, i + 4096); k++) chunk.push(this.buf[(start + k) & this.mask]!);
      out += String.fromCharCode(...chunk);
    }
    return out;
  }

  /** Bytes of memory held. */
  get memoryBytes(): number {
    let recent = 0;
    for (const k of this.recent.keys()) recent += 2 * k.length + 64;
    return this.buf.byteLength + this.head.byteLength + this.prev.byteLength + recent;
  }
}

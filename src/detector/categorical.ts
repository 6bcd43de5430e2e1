/**
 * Frequencies of a low-cardinality field (status, method, level), decayed so that the baseline follows
 * the recent past. A value never or rarely seen scores high: the score is its surprisal, -log2 of its
 * smoothed probability. A field whose distinct values exceed `maxDistinct` is not categorical: the caller
 * then treats it as free text.
 *
 * The chance that the next value is one never seen is the Good-Turing estimate: the share of the recent
 * values that are seen once (singletons), smoothed by one. It reads the counts as they are now, so a field
 * whose three values all came in its first events is sure of them after a hundred more (a running average
 * of "was it new" would still say 3 in 100), and a field that keeps bringing values seen once stays open.
 */
import { boundedKey } from './strings.js';

/**
 * A value's lifetime record, apart from its decayed count: when it was first seen in event time and on how
 * many separate occasions since (an occasion begins with a sighting at least the caller's gap after the
 * previous one began). `first` is NaN for a value seen only on events without time.
 */
export interface ValueHistory {
  first: number;
  occasion: number;
  occasions: number;
}

/** A decayed count that stands for one sighting (a 1 halved once is still one recent sighting). */
function isSingleton(count: number): boolean {
  return count < 1.5;
}

export class CategoricalBaseline {
  /**
   * Each counted value's slot in `slotCounts`, in the order the values were first counted (the order
   * `top()` breaks ties in and snapshots list them). A count lives in a typed array rather than as the
   * map's value: counting a known value is one lookup and an add, where `set` would allocate a heap number
   * for every fractional count (all of them after the first halving).
   */
  private readonly slots = new Map<string, number>();
  /**
   * The key looked up last and its slot (undefined: not counted), until `slots` changes: a field's value is
   * looked up three times an event (its share, whether it is known, then counted), each a map lookup.
   */
  private lastKey: string | undefined;
  private lastSlot: number | undefined;
  private slotCounts: Float64Array;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  total = 0;
  overflow = false;
  /** Values whose (decayed) count rounds to 1: seen once, recently. */
  private singletons = 0;
  private readonly maxDistinct: number;
  private readonly decayEvery: number;
  private sinceDecay = 0;
  /**
   * Lifetime records (see `ValueHistory`) of the counted values, by slot, beside their counts: a halving
   * forgets a count, not that the value was seen. A value whose count a halving dropped keeps its record in
   * `forgotten`, at most `2 * maxDistinct` of them (the longest forgotten go first), and gets it back when
   * it comes again: a nightly job is not "never seen" on its second night, and a health check that came
   * every few minutes all week is not news in a busy hour where its share is small.
   */
  private slotFirst: Float64Array;
  private slotOccasion: Float64Array;
  private slotOccasions: Float64Array;
  private readonly forgotten = new Map<string, ValueHistory>();

  constructor(maxDistinct = 32, decayEvery = 4096) {
    this.maxDistinct = maxDistinct;
    this.decayEvery = decayEvery;
    // At least one slot, whatever a snapshot says: a limit of 0, below 1 or not a number gave an array of
    // none (that doubling never grows, so restored counts read as undefined), a negative one a RangeError.
    this.slotCounts = new Float64Array(maxDistinct >= 1 && maxDistinct < 8 ? Math.ceil(maxDistinct) : 8);
    this.slotFirst = new Float64Array(this.slotCounts.length);
    this.slotOccasion = new Float64Array(this.slotCounts.length);
    this.slotOccasions = new Float64Array(this.slotCounts.length);
  }

  private static grow(a: Float64Array, length: number): Float64Array {
    const grown = new Float64Array(length);
    grown.set(a);
    return grown;
  }

  /** A slot for a value counted anew (0 counts): one freed by a halving, or the next, growing the array. */
  private newSlot(key: string): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.nextSlot++;
      if (slot >= this.slotCounts.length) {
        const length = this.slotCounts.length * 2;
        this.slotCounts = CategoricalBaseline.grow(this.slotCounts, length);
        this.slotFirst = CategoricalBaseline.grow(this.slotFirst, length);
        this.slotOccasion = CategoricalBaseline.grow(this.slotOccasion, length);
        this.slotOccasions = CategoricalBaseline.grow(this.slotOccasions, length);
      }
    }
    this.slots.set(key, slot);
    this.lastKey = undefined;
    this.slotCounts[slot] = 0;
    // A value forgotten by a halving takes its record back; a new one has none yet (no occasion).
    const h = this.forgotten.get(key);
    if (h !== undefined) this.forgotten.delete(key);
    this.slotFirst[slot] = h ? h.first : NaN;
    this.slotOccasion[slot] = h ? h.occasion : NaN;
    this.slotOccasions[slot] = h ? h.occasions : 0;
    return slot;
  }

  /** Keeps the record of a value whose count a halving dropped (see `forgotten`). */
  private forget(key: string, slot: number): void {
    this.forgotten.set(key, { first: this.slotFirst[slot]!, occasion: this.slotOccasion[slot]!, occasions: this.slotOccasions[slot]! });
    this.trimForgotten();
  }

  /** At most `2 * maxDistinct` forgotten records (2 for a limit below 1, as a snapshot may say), the longest forgotten go first. */
  private trimForgotten(): void {
    const max = this.maxDistinct >= 1 ? 2 * this.maxDistinct : 2;
    for (const k of this.forgotten.keys()) {
      if (this.forgotten.size <= max) break;
      this.forgotten.delete(k);
    }
  }

  /**
   * The value's lifetime record (see `ValueHistory`): undefined for a value never counted, nor remembered
   * after a halving dropped it.
   */
  history(value: string): ValueHistory | undefined {
    const key = boundedKey(value);
    const slot = this.slotOf(key);
    if (slot === undefined) return this.forgotten.get(key);
    return { first: this.slotFirst[slot]!, occasion: this.slotOccasion[slot]!, occasions: this.slotOccasions[slot]! };
  }

  /** The slot of a key (undefined when it is not counted). */
  private slotOf(key: string): number | undefined {
    if (key === this.lastKey) return this.lastSlot;
    const slot = this.slots.get(key);
    this.lastKey = key;
    this.lastSlot = slot;
    return slot;
  }

  /** How many distinct values are counted. */
  get distinct(): number {
    return this.slots.size;
  }

  /** The counted values and their (decayed) counts, in the order they were first counted. */
  *counts(): IterableIterator<[string, number]> {
    for (const [k, slot] of this.slots) yield [k, this.slotCounts[slot]!];
  }

  private countOf(key: string): number {
    const slot = this.slotOf(key);
    return slot === undefined ? 0 : this.slotCounts[slot]!;
  }

  /** Whether the value is among the counted ones. */
  has(value: string): boolean {
    return this.slotOf(boundedKey(value)) !== undefined;
  }

  /**
   * Counts a value. `at`, the event's time (none for an event without one), and `gap` keep its lifetime
   * record: a sighting at least `gap` after its latest occasion began begins another.
   */
  add(given: string, at?: number, gap = 0): void {
    if (this.overflow) return;
    // A long value is counted under a short stand-in: 32 values of a kilobyte in each of 64 fields would
    // take megabytes per stream.
    const value = boundedKey(given);
    let slot = this.slotOf(value);
    let c: number | undefined;
    if (slot === undefined) {
      if (this.slots.size >= this.maxDistinct) {
        this.overflow = true;
        this.slots.clear();
        this.lastKey = undefined;
        this.freeSlots.length = 0;
        this.nextSlot = 0;
        this.singletons = 0;
        this.forgotten.clear();
        return;
      }
      slot = this.newSlot(value);
    } else c = this.slotCounts[slot]!;
    if (at !== undefined) {
      if (Number.isNaN(this.slotFirst[slot]!)) {
        this.slotFirst[slot] = this.slotOccasion[slot] = at;
        this.slotOccasions[slot] = 1;
      } else if (at - this.slotOccasion[slot]! >= gap) {
        this.slotOccasion[slot] = at;
        this.slotOccasions[slot] = this.slotOccasions[slot]! + 1;
      }
    }
    const n = (c ?? 0) + 1;
    this.singletons += (isSingleton(n) ? 1 : 0) - (c !== undefined && isSingleton(c) ? 1 : 0);
    this.slotCounts[slot] = n;
    this.total += 1;
    if (++this.sinceDecay >= this.decayEvery) {
      // Halve all counts: old habits fade, new ones can become normal.
      this.sinceDecay = 0;
      this.total = 0;
      this.lastKey = undefined;
      for (const [k, s] of this.slots) {
        const h = this.slotCounts[s]! / 2;
        if (h < 0.5) {
          this.slots.delete(k);
          this.freeSlots.push(s);
          this.forget(k, s);
        } else {
          this.slotCounts[s] = h;
          this.total += h;
        }
      }
      this.countSingletons();
    }
  }

  /** The probability that the next value is one not seen recently (Good-Turing, smoothed by one). */
  newProbability(): number {
    return (this.singletons + 1) / (this.total + 2);
  }

  private countSingletons(): void {
    this.singletons = 0;
    for (const s of this.slots.values()) if (isSingleton(this.slotCounts[s]!)) this.singletons += 1;
  }

  /** The value's share of the recent values: 0 for a value not seen (or forgotten). */
  share(value: string): number {
    return this.shareOfKey(boundedKey(value));
  }

  private shareOfKey(key: string): number {
    const seen = this.countOf(key);
    return seen > 0 && this.total > 0 ? seen / this.total : 0;
  }

  /**
   * Surprisal in bits of seeing `value`. A value never seen is as surprising as "something new" is now
   * likely (a field that often brings new values makes a new one unremarkable); a known value as its share.
   */
  surprisal(value: string): number {
    return this.surprisalOf(this.shareOfKey(boundedKey(value)));
  }

  private surprisalOf(share: number): number {
    return -Math.log2(Math.max(share > 0 ? share : this.newProbability(), 1e-4));
  }

  /** Surprisal, how often the value was seen, and its share, for a `why`. */
  score(value: string): { surprisal: number; seen: number; share: number } {
    const key = boundedKey(value);
    const share = this.shareOfKey(key);
    return { surprisal: this.surprisalOf(share), seen: this.countOf(key), share };
  }

  /** The most common values and their shares, for a `why`. */
  top(k = 3): Array<[string, number]> {
    return [...this.counts()].sort((a, b) => b[1] - a[1]).slice(0, k).map(([v, c]) => [v, this.total ? c / this.total : 0]);
  }

  toJSON(): { counts: Array<[string, number]>; total: number; overflow: boolean; maxDistinct: number; sinceDecay: number; history: Array<[string, number | null, number | null, number]> } {
    const history: Array<[string, number | null, number | null, number]> = [];
    const time = (t: number): number | null => (Number.isFinite(t) ? t : null);
    // Forgotten values first, longest forgotten first: restored in that order, they are forgotten in it.
    for (const [k, h] of this.forgotten) history.push([k, time(h.first), time(h.occasion), h.occasions]);
    for (const [k, slot] of this.slots) history.push([k, time(this.slotFirst[slot]!), time(this.slotOccasion[slot]!), this.slotOccasions[slot]!]);
    return { counts: [...this.counts()], total: this.total, overflow: this.overflow, maxDistinct: this.maxDistinct, sinceDecay: this.sinceDecay, history };
  }

  /** Restores a baseline (snapshots of older versions also carry `newRate`: the counts say it now). */
  static fromJSON(data: {
    counts: Array<[string, number]>; total: number; overflow: boolean; maxDistinct?: number; sinceDecay?: number;
    history?: Array<[string, number | null, number | null, number]>;
  }): CategoricalBaseline {
    const b = new CategoricalBaseline(data.maxDistinct ?? 32);
    // Lifetime records first (absent in older snapshots: their values have none yet); those of counted
    // values are taken back by their slots below.
    for (const entry of Array.isArray(data.history) ? data.history : []) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') continue;
      const [k, first, occasion, occasions] = entry;
      const time = (t: unknown): number => (typeof t === 'number' && Number.isFinite(t) ? t : NaN);
      const key = boundedKey(k);
      b.forgotten.delete(key);
      b.forgotten.set(key, { first: time(first), occasion: time(occasion), occasions: Number.isFinite(occasions) && occasions > 0 ? occasions : 0 });
    }
    // Keys as this version writes them: a snapshot of an older one holds long values whole.
    for (const [k, v] of data.counts) {
      const key = boundedKey(k);
      const slot = b.slots.get(key) ?? b.newSlot(key);
      b.slotCounts[slot] = b.slotCounts[slot]! + v;
    }
    b.trimForgotten();
    b.total = data.total;
    b.overflow = data.overflow;
    // Where the restored counts are in their halving cycle (absent in older snapshots: a new cycle).
    if (Number.isInteger(data.sinceDecay) && data.sinceDecay! >= 0) b.sinceDecay = Math.min(data.sinceDecay!, b.decayEvery - 1);
    b.countSingletons();
    return b;
  }
}

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

/** A decayed count that stands for one sighting (a 1 halved once is still one recent sighting). */
function isSingleton(count: number): boolean {
  return count < 1.5;
}

export class CategoricalBaseline {
  readonly counts = new Map<string, number>();
  total = 0;
  overflow = false;
  /** Values whose (decayed) count rounds to 1: seen once, recently. */
  private singletons = 0;
  private readonly maxDistinct: number;
  private readonly decayEvery: number;
  private sinceDecay = 0;

  constructor(maxDistinct = 32, decayEvery = 4096) {
    this.maxDistinct = maxDistinct;
    this.decayEvery = decayEvery;
  }

  /** Whether the value is among the counted ones. */
  has(value: string): boolean {
    return this.counts.has(boundedKey(value));
  }

  add(given: string): void {
    if (this.overflow) return;
    // A long value is counted under a short stand-in: 32 values of a kilobyte in each of 64 fields would
    // take megabytes per stream.
    const value = boundedKey(given);
    const c = this.counts.get(value);
    if (c === undefined && this.counts.size >= this.maxDistinct) {
      this.overflow = true;
      this.counts.clear();
      this.singletons = 0;
      return;
    }
    const n = (c ?? 0) + 1;
    this.singletons += (isSingleton(n) ? 1 : 0) - (c !== undefined && isSingleton(c) ? 1 : 0);
    this.counts.set(value, n);
    this.total += 1;
    if (++this.sinceDecay >= this.decayEvery) {
      // Halve all counts: old habits fade, new ones can become normal.
      this.sinceDecay = 0;
      this.total = 0;
      for (const [k, v] of this.counts) {
        const h = v / 2;
        if (h < 0.5) this.counts.delete(k);
        else {
          this.counts.set(k, h);
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
    for (const v of this.counts.values()) if (isSingleton(v)) this.singletons += 1;
  }

  /** The value's share of the recent values: 0 for a value not seen (or forgotten). */
  share(value: string): number {
    return this.shareOfKey(boundedKey(value));
  }

  private shareOfKey(key: string): number {
    const seen = this.counts.get(key) ?? 0;
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
    return { surprisal: this.surprisalOf(share), seen: this.counts.get(key) ?? 0, share };
  }

  /** The most common values and their shares, for a `why`. */
  top(k = 3): Array<[string, number]> {
    return [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, k).map(([v, c]) => [v, this.total ? c / this.total : 0]);
  }

  toJSON(): { counts: Array<[string, number]>; total: number; overflow: boolean; maxDistinct: number; sinceDecay: number } {
    return { counts: [...this.counts], total: this.total, overflow: this.overflow, maxDistinct: this.maxDistinct, sinceDecay: this.sinceDecay };
  }

  /** Restores a baseline (snapshots of older versions also carry `newRate`: the counts say it now). */
  static fromJSON(data: { counts: Array<[string, number]>; total: number; overflow: boolean; maxDistinct?: number; sinceDecay?: number }): CategoricalBaseline {
    const b = new CategoricalBaseline(data.maxDistinct ?? 32);
    // Keys as this version writes them: a snapshot of an older one holds long values whole.
    for (const [k, v] of data.counts) {
      const key = boundedKey(k);
      b.counts.set(key, (b.counts.get(key) ?? 0) + v);
    }
    b.total = data.total;
    b.overflow = data.overflow;
    // Where the restored counts are in their halving cycle (absent in older snapshots: a new cycle).
    if (Number.isInteger(data.sinceDecay) && data.sinceDecay! >= 0) b.sinceDecay = Math.min(data.sinceDecay!, b.decayEvery - 1);
    b.countSingletons();
    return b;
  }
}

/**
 * Frequencies of a low-cardinality field (status, method, level), decayed so that the baseline follows
 * the recent past. A value never or rarely seen scores high: the score is its surprisal, -log2 of its
 * smoothed probability. A field whose distinct values exceed `maxDistinct` is not categorical: the caller
 * then treats it as free text.
 */
export class CategoricalBaseline {
  readonly counts = new Map<string, number>();
  total = 0;
  overflow = false;
  /** Running share of recent values that were new: the probability that the next value is a new one. */
  newRate = 1;
  observations = 0;
  private readonly maxDistinct: number;
  private readonly decayEvery: number;
  private sinceDecay = 0;

  constructor(maxDistinct = 32, decayEvery = 4096) {
    this.maxDistinct = maxDistinct;
    this.decayEvery = decayEvery;
  }

  add(value: string): void {
    if (this.overflow) return;
    const c = this.counts.get(value);
    this.observations += 1;
    this.newRate += Math.max(1 / this.observations, 1 / 500) * ((c === undefined ? 1 : 0) - this.newRate);
    if (c === undefined && this.counts.size >= this.maxDistinct) {
      this.overflow = true;
      this.counts.clear();
      return;
    }
    this.counts.set(value, (c ?? 0) + 1);
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
    }
  }

  /** The value's share of the recent values: 0 for a value not seen (or forgotten). */
  share(value: string): number {
    const seen = this.counts.get(value) ?? 0;
    return seen > 0 && this.total > 0 ? seen / this.total : 0;
  }

  /**
   * Surprisal in bits of seeing `value`. A value never seen is as surprising as "something new" has recently
   * been (a field that often brings new values makes a new one unremarkable); a known value as its share.
   */
  surprisal(value: string): number {
    const share = this.share(value);
    return -Math.log2(Math.max(share > 0 ? share : this.newRate, 1e-4));
  }

  /** Surprisal, how often the value was seen, and its share, for a `why`. */
  score(value: string): { surprisal: number; seen: number; share: number } {
    return { surprisal: this.surprisal(value), seen: this.counts.get(value) ?? 0, share: this.share(value) };
  }

  /** The most common values and their shares, for a `why`. */
  top(k = 3): Array<[string, number]> {
    return [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, k).map(([v, c]) => [v, this.total ? c / this.total : 0]);
  }

  toJSON(): { counts: Array<[string, number]>; total: number; overflow: boolean; newRate: number; observations: number; maxDistinct: number } {
    return { counts: [...this.counts], total: this.total, overflow: this.overflow, newRate: this.newRate, observations: this.observations, maxDistinct: this.maxDistinct };
  }

  static fromJSON(data: { counts: Array<[string, number]>; total: number; overflow: boolean; newRate?: number; observations?: number; maxDistinct?: number }): CategoricalBaseline {
    const b = new CategoricalBaseline(data.maxDistinct ?? 32);
    for (const [k, v] of data.counts) b.counts.set(k, v);
    b.total = data.total;
    b.overflow = data.overflow;
    b.newRate = data.newRate ?? 1;
    b.observations = data.observations ?? data.total;
    return b;
  }
}

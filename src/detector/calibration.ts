/**
 * Turns a raw score into a calibrated confidence: the fraction of the stream's recent *normal* events that
 * scored lower. "0.99" means fewer than 1% of recent normal events scored as high. Scores above everything
 * seen get a confidence that approaches 1 as they exceed the maximum by more multiples of the upper spread
 * (an exponential tail), so that "far above anything normal" and "just above" are told apart.
 *
 * Kept as a ring of the last `capacity` normal scores; the sorted copy used for ranking is rebuilt lazily
 * (every `capacity / 16` insertions), so the cost per event is a binary search.
 */
export class ScoreCalibrator {
  private readonly ring: Float64Array;
  private count = 0;
  private next = 0;
  private sorted: Float64Array = new Float64Array(0);
  private dirty = 0;
  private readonly rebuildEvery: number;

  constructor(capacity = 1024) {
    this.ring = new Float64Array(capacity);
    this.rebuildEvery = Math.max(8, capacity >> 4);
  }

  get samples(): number {
    return this.count;
  }

  add(score: number): void {
    this.ring[this.next] = score;
    this.next = (this.next + 1) % this.ring.length;
    if (this.count < this.ring.length) this.count++;
    // Rebuild often while young (every sample matters), rarely once full.
    if (++this.dirty >= (this.count < 64 ? 1 : this.rebuildEvery)) this.rebuild();
  }

  private rebuild(): void {
    this.sorted = this.ring.slice(0, this.count).sort();
    this.dirty = 0;
  }

  quantile(q: number): number {
    if (this.dirty) this.rebuild();
    const s = this.sorted;
    if (s.length === 0) return 0;
    return s[Math.min(s.length - 1, Math.max(0, Math.floor(q * (s.length - 1))))]!;
  }

  /** Fraction of recent normal scores below `score`, with an exponential tail above the maximum. */
  confidence(score: number): number {
    if (this.dirty && this.count < 64) this.rebuild();
    const s = this.sorted;
    const n = s.length;
    if (n === 0) return 0;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! < score) lo = mid + 1;
      else hi = mid;
    }
    const base = lo / (n + 1);
    const max = s[n - 1]!;
    if (score <= max) return base;
    const spread = Math.max(max - s[Math.floor(0.5 * (n - 1))]!, 1e-3);
    return 1 - (1 - base) * Math.exp(-(score - max) / spread);
  }

  toJSON(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.ring[(this.next - this.count + i + this.ring.length) % this.ring.length]!);
    return out;
  }

  static fromJSON(values: number[], capacity = 1024): ScoreCalibrator {
    const c = new ScoreCalibrator(capacity);
    for (const v of values.slice(-capacity)) c.add(v);
    return c;
  }
}

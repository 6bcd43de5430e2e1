/**
 * A robust baseline for one numeric field: the median and the spread of its recent values, in log space
 * for positive quantities (latencies and sizes vary by orders of magnitude, and "100x" is what matters).
 * Statistics are recomputed from a ring of recent values every few updates, so scoring is O(1).
 */
export interface NumericVerdict {
  /** Robust z-score of the value against the baseline (0 when unremarkable). */
  score: number;
  /** value / median (for positive fields). */
  ratio: number;
  median: number;
  p99: number;
  p01: number;
}

export class NumericBaseline {
  private readonly ring: Float64Array;
  private count = 0;
  private next = 0;
  private sinceUpdate = 0;
  median = 0;
  p99 = 0;
  p01 = 0;
  private center = 0;
  private scale = 1;
  private positive = true;
  isInteger = true;

  constructor(capacity = 512) {
    this.ring = new Float64Array(capacity);
  }

  get samples(): number {
    return this.count;
  }

  add(value: number): void {
    this.ring[this.next] = value;
    this.next = (this.next + 1) % this.ring.length;
    if (this.count < this.ring.length) this.count++;
    if (value <= 0) this.positive = false;
    if (!Number.isInteger(value)) this.isInteger = false;
    if (++this.sinceUpdate >= (this.count < 64 ? 4 : 64)) this.update();
  }

  private transform(v: number): number {
    return this.positive ? Math.log(v + 1e-9) : v;
  }

  private update(): void {
    this.sinceUpdate = 0;
    const values = this.ring.slice(0, this.count).sort();
    const q = (p: number) => values[Math.min(values.length - 1, Math.floor(p * (values.length - 1)))]!;
    this.median = q(0.5);
    this.p99 = q(0.99);
    this.p01 = q(0.01);
    const t = Array.from(values, (v) => this.transform(v)).sort((a, b) => a - b);
    this.center = t[Math.floor((t.length - 1) / 2)]!;
    const deviations = t.map((x) => Math.abs(x - this.center)).sort((a, b) => a - b);
    const mad = deviations[Math.floor((deviations.length - 1) / 2)]!;
    // A floor on the spread: a constant field must not turn every tiny change into an outlier.
    this.scale = Math.max(1.4826 * mad, this.positive ? 0.1 : Math.max(1e-9, Math.abs(this.median) * 0.05, 1));
  }

  score(value: number): NumericVerdict {
    if (this.sinceUpdate > 0 && this.count < 64) this.update();
    const positive = this.positive && value > 0;
    const z = positive ? Math.abs(Math.log(value + 1e-9) - this.center) / this.scale : Math.abs(value - this.median) / this.scale;
    return { score: z, ratio: this.median !== 0 ? value / this.median : Infinity, median: this.median, p99: this.p99, p01: this.p01 };
  }

  toJSON(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.ring[(this.next - this.count + i + this.ring.length) % this.ring.length]!);
    return out;
  }

  static fromJSON(values: number[], capacity = 512): NumericBaseline {
    const b = new NumericBaseline(capacity);
    for (const v of values) b.add(v);
    return b;
  }
}

/**
 * A robust baseline for one numeric field: the median and the spread of its recent values, in log space
 * for positive quantities (latencies and sizes vary by orders of magnitude, and "100x" is what matters).
 * The recent values stay sorted as they arrive; the statistics are read from them every few updates (the
 * median absolute deviation by merging two sorted runs, no sort), so scoring is O(1).
 */
import { SortedWindow } from './sorted-window.js';

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
  private readonly window: SortedWindow;
  private sinceUpdate = 0;
  private updatesSinceSpread = 0;
  median = 0;
  p99 = 0;
  p01 = 0;
  private center = 0;
  private scale = 1;
  private positive = true;
  isInteger = true;

  constructor(capacity = 512) {
    this.window = new SortedWindow(capacity);
  }

  get samples(): number {
    return this.window.size;
  }

  /** The window holds as many values as it can: each new one replaces the oldest. */
  get full(): boolean {
    return this.window.size === this.window.capacity;
  }

  add(value: number): void {
    if (!Number.isInteger(value)) this.isInteger = false;
    this.window.add(value);
    if (value <= 0 && this.positive) {
      // Out of log space: the center and spread measured in it mean nothing now, so both are measured anew.
      this.positive = false;
      this.updatesSinceSpread = Infinity;
      this.update();
      return;
    }
    if (++this.sinceUpdate >= (this.window.size < 64 ? 4 : 32)) this.update();
  }

  private transform(v: number): number {
    return this.positive ? Math.log(v + 1e-9) : v;
  }

  private update(): void {
    this.sinceUpdate = 0;
    const w = this.window;
    const n = w.size;
    if (n === 0) return;
    this.median = w.quantile(0.5);
    this.p99 = w.quantile(0.99);
    this.p01 = w.quantile(0.01);
    // The spread costs a logarithm per value visited: once the window is full it moves slowly, and is
    // measured every fourth update (every 128 values) rather than every one.
    const m = Math.floor((n - 1) / 2);
    this.center = this.transform(w.at(m));
    if (n === w.capacity && ++this.updatesSinceSpread < 4) return;
    this.updatesSinceSpread = 0;
    // The values are sorted and the transform is monotonic, so the deviations from the center form two
    // sorted runs (leftwards and rightwards from the middle): merge them up to the median deviation.
    let left = m;
    let right = m + 1;
    let mad = 0;
    for (let k = 0; k <= m; k++) {
      const dl = left >= 0 ? this.center - this.transform(w.at(left)) : Infinity;
      const dr = right < n ? this.transform(w.at(right)) - this.center : Infinity;
      if (dl <= dr) {
        mad = dl;
        left--;
      } else {
        mad = dr;
        right++;
      }
    }
    // A floor on the spread: a constant field must not turn every tiny change into an outlier.
    this.scale = Math.max(1.4826 * mad, this.positive ? 0.1 : Math.max(1e-9, Math.abs(this.median) * 0.05, 1));
  }

  score(value: number): NumericVerdict {
    if (this.sinceUpdate > 0 && this.window.size < 64) this.update();
    let z: number;
    if (!this.positive) z = Math.abs(value - this.median) / this.scale;
    else {
      // 0 where every value was positive has no place in log space: it counts as half the field's step (1 for
      // whole numbers, 0.001 for values written to three decimals), whatever the unit; a sign the field never
      // showed (a -1 sentinel) as far below anything. Before, both were measured in linear units against the
      // log-space spread: a 0 in milliseconds of 1 to 49 scored 28 (an alert at 0.9999), the same 0 in
      // seconds of 0.001 to 0.049 scored 0.03 (never one), a -1 there 1.1.
      const v = value > 0 ? value : value === 0 ? this.step() / 2 : 0;
      z = Math.abs(Math.log(v + 1e-9) - this.center) / this.scale;
    }
    return { score: z, ratio: this.median !== 0 ? value / this.median : Infinity, median: this.median, p99: this.p99, p01: this.p01 };
  }

  /** The field's step: 1 for whole numbers, else the decimal place of its smallest value (at most 1e-9). */
  private step(): number {
    if (this.isInteger) return 1;
    const least = this.window.size > 0 ? this.window.at(0) : 0;
    for (let p = 1; p <= 1e9; p *= 10) if (Math.abs(Math.round(least * p) - least * p) < 1e-6) return 1 / p;
    return 1e-9;
  }

  toJSON(): { values: number[]; positive: boolean; integer: boolean } {
    return { values: this.window.values(), positive: this.positive, integer: this.isInteger };
  }

  /** Restores a baseline, including what its whole history said (a field once fractional stays so). */
  static fromJSON(data: number[] | { values: number[]; positive: boolean; integer: boolean }, capacity = 512): NumericBaseline {
    const b = new NumericBaseline(capacity);
    const d = Array.isArray(data) ? { values: data, positive: true, integer: true } : data;
    b.positive = d.positive;
    b.isInteger = d.integer;
    // Values are finite when kept; older snapshots may hold null where an Infinity was.
    for (const v of d.values) if (typeof v === 'number' && Number.isFinite(v)) b.add(v);
    return b;
  }
}

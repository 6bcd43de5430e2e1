/**
 * Turns a raw score into a calibrated confidence: the fraction of the stream's recent *normal* events that
 * scored lower. "0.99" means fewer than 1% of recent normal events scored as high. Scores above everything
 * seen get a confidence that approaches 1 as they exceed the maximum by more multiples of the upper spread
 * (an exponential tail), so that "far above anything normal" and "just above" are told apart.
 *
 * Kept as `capacity` recent normal scores (all of them until full, then one in eight), in a window that
 * stays sorted as scores arrive, so a kept score costs two binary searches and one block move.
 */
import { SortedWindow } from './sorted-window.js';

const FULL_STRIDE = 8;

export class ScoreCalibrator {
  private readonly window: SortedWindow;

  constructor(capacity = 1024) {
    this.window = new SortedWindow(capacity);
  }

  get samples(): number {
    return this.window.size;
  }

  private skipped = 0;

  /**
   * Adds a normal score. Once the window is full only every `FULL_STRIDE`-th score is kept: a sample of the
   * recent scores ranks as well as all of them, for an eighth of the upkeep.
   */
  add(score: number): void {
    if (this.takes()) this.window.add(score);
  }

  /**
   * Whether the next score offered would be kept, counting it as offered: when false, the caller need not
   * compute the score at all (most are dropped once the window is full). When true, pass it to `keep`.
   */
  takes(): boolean {
    if (this.window.size === this.window.capacity && ++this.skipped < FULL_STRIDE) return false;
    this.skipped = 0;
    return true;
  }

  /** Adds a score after `takes()` said yes. */
  keep(score: number): void {
    this.window.add(score);
  }

  quantile(q: number): number {
    return this.window.quantile(q);
  }

  /** Fraction of recent normal scores below `score`, with an exponential tail above the maximum. */
  confidence(score: number): number {
    const n = this.window.size;
    if (n === 0) return 0;
    const base = this.window.rank(score) / (n + 1);
    const max = this.window.max();
    if (score <= max) return base;
    const spread = Math.max(max - this.window.quantile(0.5), 1e-3);
    return 1 - (1 - base) * Math.exp(-(score - max) / spread);
  }

  toJSON(): number[] {
    return this.window.values();
  }

  static fromJSON(values: number[], capacity = 1024): ScoreCalibrator {
    const c = new ScoreCalibrator(capacity);
    for (const v of values.slice(-capacity)) c.add(v);
    return c;
  }
}

/**
 * Per-template event rates, in event time: how often each pattern shows up per second, against its own
 * recent rate. A pattern that usually appears a few times a minute and suddenly comes 50 times in a second
 * (an error that starts to flood) is news even when the stream's total volume hides it.
 *
 * Each template keeps a count for the current second, an exponentially weighted rate over the past (time
 * constant `horizonSeconds`, silent seconds folded in lazily as zeros, corrected for its young age) and the
 * busiest second of its recent past (decaying over an hour; judged only after 60 busy seconds). Real traffic is bursty (a page load fetches a
 * dozen assets of one pattern at once), so a second is a burst only when its count is `factor` times the
 * rate, more than twice the busiest normal second, and improbable under a Poisson law of that rate: the
 * confidence is one minus the Chernoff bound on P(X >= count), so 0.9999 means "less than 1 in 10,000".
 */
export interface TemplateBurst {
  count: number;
  typical: number;
  factor: number;
  confidence: number;
}

interface Rate {
  second: number;
  count: number;
  /** Exponentially weighted events per second, not yet corrected for age. */
  rate: number;
  /** The busiest normal second recently (decaying). */
  peak: number;
  /** Seconds with at least one event so far: the peak means little before there are many. */
  busy: number;
  since: number;
  flagged: number;
}

const PEAK_DECAY_SECONDS = 3600;
const MIN_BUSY_SECONDS = 60;

export class TemplateRates {
  private readonly rates = new Map<number, Rate>();

  constructor(
    private readonly horizonSeconds = 300,
    private readonly maxTemplates = 2048,
  ) {}

  /** Counts one event of `template` at `time` (ms); a verdict for the first event of a burst second. */
  observe(template: number, time: number, options: { minCount: number; factor: number; minAgeSeconds: number }): TemplateBurst | undefined {
    const second = Math.floor(time / 1000);
    let r = this.rates.get(template);
    if (!r) {
      if (this.rates.size >= this.maxTemplates) this.rates.delete(this.rates.keys().next().value!);
      r = { second, count: 0, rate: 0, peak: 0, busy: 0, since: second, flagged: -1 };
      this.rates.set(template, r);
    } else if (second > r.second) {
      // Fold the finished second in, then the silent seconds since.
      const alpha = 1 - Math.exp(-1 / this.horizonSeconds);
      r.rate += alpha * (r.count - r.rate);
      r.rate *= Math.exp(-(second - r.second - 1) / this.horizonSeconds);
      r.peak *= Math.exp(-(second - r.second) / PEAK_DECAY_SECONDS);
      // A flagged second counts half: a burst like it again is not news (twice the peak is needed), a
      // flood that keeps growing still is.
      r.peak = Math.max(r.peak, r.flagged === r.second ? r.count / 2 : r.count);
      r.busy += 1;
      r.second = second;
      r.count = 0;
    }
    if (second < r.second) {
      // A late event (logs written at completion carry their start time): it belongs to a second already
      // folded into the rate, not to the current one.
      r.rate += 1 - Math.exp(-1 / this.horizonSeconds);
      return undefined;
    }
    r.count += 1;
    if (r.flagged === second || second - r.since < options.minAgeSeconds || r.busy < MIN_BUSY_SECONDS || r.count < options.minCount) return undefined;
    // An EWMA that started at zero underestimates while young: divide by the weight it has gathered.
    const age = Math.max(1, second - r.since);
    const typical = Math.max(r.rate / (1 - Math.exp(-age / this.horizonSeconds)), 1 / this.horizonSeconds);
    if (r.count < options.factor * typical || r.count <= 2 * r.peak) return undefined;
    const confidence = 1 - poissonTailBound(typical, r.count);
    r.flagged = second;
    return { count: r.count, typical, factor: r.count / typical, confidence };
  }

  toJSON(): Array<[number, number, number, number, number]> {
    return [...this.rates].map(([id, r]) => [id, r.rate, r.since, r.peak, r.busy]);
  }

  restore(data: Array<[number, number, number, number, number]>, now: number): void {
    const second = Math.floor(now / 1000);
    for (const [id, rate, since, peak, busy] of data) this.rates.set(id, { second, count: 0, rate, peak: peak ?? 0, busy: busy ?? 0, since, flagged: -1 });
  }
}

/** Chernoff bound on P(X >= k) for X ~ Poisson(lambda), k > lambda: e^-lambda (e lambda / k)^k. */
export function poissonTailBound(lambda: number, k: number): number {
  if (k <= lambda) return 1;
  return Math.min(1, Math.exp(-lambda + k * (1 + Math.log(lambda / k))));
}

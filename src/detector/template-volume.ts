/**
 * Per-template event rates, in event time: how often each pattern shows up per second, against its own
 * recent rate. A pattern that usually appears a few times a minute and suddenly comes 50 times in a second
 * (an error that starts to flood) is news even when the stream's total volume hides it.
 *
 * Each template keeps a count for the current second, an exponentially weighted rate over the past (time
 * constant `horizonSeconds`, silent seconds folded in lazily as zeros, corrected for its young age) and the
 * busiest second of its past (judged only after 60 busy seconds). The busiest second fades over an hour
 * of seconds the pattern shows up in, or over a day of the clock, whichever is faster: a pattern that
 * comes in bursts hours apart (a client opening ten FTP connections at once, a few times a day) keeps the
 * memory of its bursts between them, while a flood like one of two days ago is news again. Real traffic
 * is bursty (a page load fetches a dozen assets of one pattern at once), so a second is a burst only when
 * its count is `factor` times the rate, more than twice the busiest normal second, and improbable under a
 * Poisson law of that rate: the confidence is one minus the Chernoff bound on P(X >= count), so 0.9999
 * means "less than 1 in 10,000".
 *
 * The opposite, a pattern that stops: `silent()` finds a pattern that came at regular intervals (a health
 * check, a heartbeat, a cron job's line: the spread of its gaps at most a quarter of their mean, over at
 * least 60 of them) and has now been missing for more than three of its intervals and twice its longest
 * gap (forgotten slowly), while the stream goes on. Gaps are counted in whole seconds: a pattern in most
 * seconds at random has gaps of 1, 2 and 3 s, a spread of about half their mean, and is not regular.
 * Irregular patterns (requests, errors) come and go with the workload: their absence is no news, and they
 * are never reported silent.
 */
export interface TemplateSilence {
  template: number;
  /** Seconds since the pattern's last event. */
  seconds: number;
  /** The mean gap between its events (seconds between the seconds it showed up in). */
  interval: number;
  /** Its longest gap before (slowly forgotten), seconds. */
  longestGap: number;
}

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
  /** The busiest normal second (fading by busy second, or by day of the clock if that is faster). */
  peak: number;
  /** Seconds with at least one event so far: the peak means little before there are many. */
  busy: number;
  since: number;
  flagged: number;
  /** Mean and variance of its gaps (seconds), exponentially weighted, and how many gaps so far. */
  gapMean: number;
  gapVar: number;
  gaps: number;
  /** Its longest gap, forgotten slowly (by 0.1% a gap). */
  gapMax: number;
  /** Whether its current silence was reported already. */
  silenced: boolean;
}

/** The busiest second fades by 1/e over this many seconds in which the pattern shows up... */
const PEAK_DECAY_BUSY_SECONDS = 3600;
/** ...or over this many seconds of the clock, whichever is faster. */
const PEAK_DECAY_CLOCK_SECONDS = 86_400;
const MIN_BUSY_SECONDS = 60;
/** A pattern is regular, and its silence news, after this many gaps whose spread is at most this share of their mean. */
const MIN_GAPS = 60;
const MAX_GAP_SPREAD = 0.25;
const GAP_WEIGHT = 1 / 100;
/** Silent for more than this many mean gaps (and twice the longest). */
const SILENT_INTERVALS = 3;
/** -ln(1e-9): a pattern in nearly every second must be missing this many of its mean events (see `silent`). */
const POISSON_SILENCE = 20.7;

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
      r = { second, count: 0, rate: 0, peak: 0, busy: 0, since: second, flagged: -1, gapMean: 0, gapVar: 0, gaps: 0, gapMax: 0, silenced: false };
      this.rates.set(template, r);
    } else if (second > r.second) {
      // Seen again in a new second: it moves to the back of the eviction order (once a second, not once an
      // event), so under a churn of new patterns the ones still coming, a heartbeat among them, stay.
      this.rates.delete(template);
      this.rates.set(template, r);
      // Fold the finished second in, then the silent seconds since.
      const alpha = 1 - Math.exp(-1 / this.horizonSeconds);
      r.rate += alpha * (r.count - r.rate);
      r.rate *= Math.exp(-(second - r.second - 1) / this.horizonSeconds);
      r.peak *= Math.exp(-Math.max(1 / PEAK_DECAY_BUSY_SECONDS, (second - r.second) / PEAK_DECAY_CLOCK_SECONDS));
      // A flagged second counts three quarters: a burst like it again is not news (one and a half times it
      // is needed), a flood that keeps growing still is.
      r.peak = Math.max(r.peak, r.flagged === r.second ? r.count * 0.75 : r.count);
      // A silence already reported is not a normal gap.
      if (!r.silenced) observeGap(r, second - r.second);
      r.silenced = false;
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

  /**
   * The regular pattern (among those `eligible`) overdue the most at `time` (ms), if any is overdue. It is
   * found again until `reported()` is told. One pass over the patterns: call it about once a second.
   */
  silent(time: number, minAgeSeconds: number, eligible: (template: number) => boolean): TemplateSilence | undefined {
    const now = Math.floor(time / 1000);
    let found: TemplateSilence | undefined;
    for (const [id, r] of this.rates) {
      if (r.silenced || r.gaps < MIN_GAPS || r.second - r.since < minAgeSeconds || !eligible(id)) continue;
      if (Math.sqrt(r.gapVar) > MAX_GAP_SPREAD * r.gapMean) continue;
      const missing = now - r.second;
      if (missing <= SILENT_INTERVALS * r.gapMean || missing <= 2 * r.gapMax) continue;
      // A pattern in nearly every second (gaps under 2 s on average) looks regular in whole seconds whatever
      // it is: at 3.6 events a second at random, 97% of its gaps are 1 s. Its silence must then also be
      // improbable for events at random at its rate (e^(-rate x missing) under one in a billion): a chance
      // gap of 4 s read "stopped" about once a day in a simulated service; a steady 1/s line is told after 21 s.
      if (r.gapMean < 2 && missing * r.rate < POISSON_SILENCE) continue;
      if (!found || missing / r.gapMean > found.seconds / found.interval) found = { template: id, seconds: missing, interval: r.gapMean, longestGap: r.gapMax };
    }
    return found;
  }

  /**
   * Continues at `time` (ms) after a restart whose last event was at `last`: the downtime between is cut
   * out of every pattern's clock, so that it is neither a silence nor a gap, nor decays a rate, while a
   * pattern already missing before the restart stays missing for as long as it was.
   */
  resume(time: number, last: number): void {
    const gap = Math.floor(time / 1000) - Math.floor(last / 1000);
    if (gap <= 0) return;
    for (const r of this.rates.values()) r.second += gap;
  }

  /** The silence of `template` was reported: not again until it comes back and stops again. */
  reported(template: number): void {
    const r = this.rates.get(template);
    if (r) r.silenced = true;
  }

  toJSON(): Array<[number, number, number, number, number, [number, number, number, number]?]> {
    return [...this.rates].map(([id, r]) => [id, r.rate, r.since, r.peak, r.busy, [r.gapMean, r.gapVar, r.gaps, r.gapMax]]);
  }

  /** Restores the rates as of `now`: every pattern counts as just seen (a restart is not a silence). */
  restore(data: Array<[number, number, number, number, number, [number, number, number, number]?]>, now: number): void {
    const second = Math.floor(now / 1000);
    for (const [id, rate, since, peak, busy, gaps] of data) {
      const [gapMean, gapVar, count, gapMax] = gaps ?? [0, 0, 0, 0];
      this.rates.set(id, { second, count: 0, rate, peak: peak ?? 0, busy: busy ?? 0, since, flagged: -1, gapMean, gapVar, gaps: count, gapMax, silenced: false });
    }
  }
}

/** Folds one gap (seconds) into a pattern's gap statistics (weights 1/n at first, then 1/100). */
function observeGap(r: Rate, gap: number): void {
  r.gaps += 1;
  const w = Math.max(1 / r.gaps, GAP_WEIGHT);
  const d = gap - r.gapMean;
  r.gapMean += w * d;
  r.gapVar = (1 - w) * (r.gapVar + w * d * d);
  r.gapMax = Math.max(r.gapMax * 0.999, gap);
}

/** Chernoff bound on P(X >= k) for X ~ Poisson(lambda), k > lambda: e^-lambda (e lambda / k)^k. */
export function poissonTailBound(lambda: number, k: number): number {
  if (k <= lambda) return 1;
  return Math.min(1, Math.exp(-lambda + k * (1 + Math.log(lambda / k))));
}

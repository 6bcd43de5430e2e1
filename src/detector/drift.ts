/**
 * The slow drift of a numeric field: its level over the last minutes against its level one to three hours
 * before, in event time. The field's own baseline (`NumericBaseline`, 512 recent values) follows the values
 * as they move, so a latency that creeps from 50 ms to 500 ms over an hour, or doubles every quarter of an
 * hour, never looks unusual against it; against the level of two hours ago it is ten times higher.
 *
 * Kept in O(1) memory per field: the minute being filled as a small log-scale histogram (8 buckets an
 * octave, 12 octaves either side of the previous minute's median), and a ring of the last
 * `RING_MINUTES` minutes, each its median, p99 and how many values it had. The cost per value is a bucket
 * increment: the bucket is read from the bits of the number (its exponent and the first three bits of its
 * mantissa; `bucketKey`), no logarithm. The rest runs once a minute, when the first value of a new minute
 * closes the previous one.
 *
 * The rule, judged when a minute closes:
 * - the recent level is the median of the last `RECENT_MINUTES` minutes' medians, of the minutes that had at
 *   least `MIN_MINUTE_VALUES` values (at least `SUSTAINED_MINUTES` of them);
 * - the reference is the median of the minute medians from `REFERENCE_FROM` to `REFERENCE_TO` minutes back
 *   (at least `REFERENCE_MIN_MINUTES` of them), or, for a while after a drift ended, the level it settled at;
 * - a drift is a recent level at least `factor` times the reference (or a `factor`-th of it), with at least
 *   `SUSTAINED_MINUTES` of the recent minutes each beyond that factor on the same side, and a calibrated
 *   confidence (below) of at least the threshold;
 * - it is said once. Once more if the level moves a further `factor` squared beyond the level said (a ×3
 *   drift said at 0.17 is said again at 1.5, not at 0.5); the reference stays the level before the drift;
 * - it ends when the level is back within the square root of `factor` of the reference (the reference is
 *   then that level until enough minutes after the return make one), or when it has lasted `settleMs`
 *   (`learn_after`): the new level is then the field's normal, and the reference until enough minutes make
 *   one of their own;
 * - after a drift that became the normal, a level back within the square root of `factor` of the level
 *   before it is the end of that incident, not a new drift: it is not said, and that level is the reference
 *   again (a latency that rose, stayed for hours and came back down is a recovery).
 *
 * Confidence, as the detector's other signals: the share of the field's recent minutes without a drift whose
 * recent level lay as far from their reference (|ln(level / reference)|), at least `CALIBRATION_MIN_MINUTES`
 * of them, kept in a `ScoreCalibrator` (every minute until 128, then one in eight), with its exponential tail
 * above the highest.
 *
 * Only values above 0 make the levels: a 0 is no size or duration but its absence (the empty body of a 304,
 * a request answered from a cache), and how many responses have one is a matter of the mix of requests, which
 * other signals judge (a median that flipped to 0 when 304s passed half of the responses would be no drift
 * of any size). A field that has had a negative value is not judged at all: ratios say nothing of it.
 */
import { ScoreCalibrator } from './calibration.js';

export const RING_MINUTES = 180;
export const RECENT_MINUTES = 10;
export const SUSTAINED_MINUTES = 7;
export const MIN_MINUTE_VALUES = 5;
export const REFERENCE_FROM = 60;
export const REFERENCE_TO = RING_MINUTES - 1;
export const REFERENCE_MIN_MINUTES = 30;
export const CALIBRATION_MIN_MINUTES = 30;
const CALIBRATION_CAPACITY = 128;
/** Minutes a normal minute's score waits before it joins the calibration (see `judge`). */
export const CALIBRATION_DELAY = 20;
const BUCKETS_PER_OCTAVE = 8;
const HALF_RANGE_OCTAVES = 12;
const BUCKETS = 2 * HALF_RANGE_OCTAVES * BUCKETS_PER_OCTAVE;
const MINUTE_MS = 60_000;

// A number's bits, for `bucketKey`: the high 32 bits of a double hold its sign, exponent and the first 20
// bits of its mantissa.
const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/**
 * The log-scale bucket of a positive number: its binary exponent times 8 plus the first three bits of its
 * mantissa, so that each octave has 8 buckets (linear within the octave: 6.7% to 12.5% wide). Keys grow
 * with the number.
 */
export function bucketKey(value: number): number {
  bits[0] = value;
  return words[HIGH_WORD]! >>> 17;
}

/** The number at a fraction `within` (0..1) of the way through the bucket of `key`. */
function keyValue(key: number, within: number): number {
  return 2 ** ((key >> 3) - 1023) * (1 + ((key & 7) + within) / BUCKETS_PER_OCTAVE);
}

/** The detector's options a tracker reads when a minute closes. */
export interface DriftOptions {
  driftFactor: number;
  threshold: number;
  /** How long a drift lasts before its level is the field's normal (`learn_after`). */
  learnAfterMs: number;
}

/** What a drift alert says. */
export interface DriftAlert {
  high: boolean;
  /** The median of the recent minutes' medians, and of their p99s. */
  level: number;
  p99: number;
  /** The level before the drift. */
  reference: number;
  /** How the reference was made: the minutes one to three hours back, or the level the field last settled at. */
  settled: boolean;
  /** level / reference above, reference / level below. */
  factor: number;
  /** Its score, |ln(level / reference)|, and calibrated confidence. */
  score: number;
  confidence: number;
  /** Event time (ms) of the first minute of the run of minutes beyond the square root of the factor. */
  since: number;
  /** The run began at least `RECENT_MINUTES` before the minute it was found in (a ramp, not one step). */
  gradual: boolean;
  /** A further alert of a drift already said, and the level that was said. */
  further: boolean;
  said?: number;
}

interface ActiveDrift {
  high: boolean;
  reference: number;
  settled: boolean;
  /** Event time of its first alert. */
  at: number;
  since: number;
  /** The level its latest alert said. */
  said: number;
}

export interface DriftSnapshot {
  /** Minutes with values, oldest first: minute number (since the epoch), median, p99, values (at most 255). */
  minutes: Array<[number, number, number, number]>;
  /** The latest closed minute. */
  last: number;
  /** The minute being filled, its histogram's anchor (the `bucketKey` of its middle) and its buckets as [index, count] pairs. */
  current: number;
  anchor: number;
  buckets: Array<[number, number]>;
  calibration: number[];
  /** Normal minutes' scores waiting to join it, oldest first; absent in snapshots before it. */
  delayed?: number[];
  floor?: number;
  settledLevel?: number;
  /** Absent in snapshots before it. */
  prior?: number;
  drift?: ActiveDrift;
  pending?: DriftAlert;
  off?: boolean;
}

// Scratch space for the once-a-minute judgement: the detector runs one event at a time.
const scratch = new Float64Array(RING_MINUTES);
const recentMedians = new Float64Array(RECENT_MINUTES);
const recentP99s = new Float64Array(RECENT_MINUTES);

function medianOf(values: Float64Array, n: number): number {
  const s = values.subarray(0, n).sort();
  return s[(n - 1) >> 1]!;
}

export class DriftTracker {
  private readonly medians = new Float32Array(RING_MINUTES);
  private readonly p99s = new Float32Array(RING_MINUTES);
  private readonly counts = new Uint8Array(RING_MINUTES);
  private readonly buckets = new Uint32Array(BUCKETS);
  private readonly calibration = new ScoreCalibrator(CALIBRATION_CAPACITY);
  /** The latest normal minutes' scores, waiting to join the calibration: a ring, `delayedAt` its next slot. */
  private readonly delayed = new Float64Array(CALIBRATION_DELAY);
  private delayedAt = 0;
  private delayedCount = 0;
  /** The latest minute closed into the ring (-Infinity before any). */
  private last = -Infinity;
  /** The minute being filled (-Infinity before the first value) and its value count. */
  private current = -Infinity;
  private filled = 0;
  /** The `bucketKey` of the level the histogram is centred on (-1 until a positive value sets it). */
  private anchor = -1;
  /** The reference is made only of minutes from this one on (after a drift ended). */
  private floor = -Infinity;
  /** ...and until there are enough of them, it is this level. */
  private settledLevel: number | undefined;
  /** The level before the last drift that became the normal: a return to it is said by no one (see `judge`). */
  private prior: number | undefined;
  private drift: ActiveDrift | undefined;
  /** An alert found and not reported yet: offered with every value until it is. */
  private pending: DriftAlert | undefined;
  /** A negative value came: the field is not judged. */
  private off = false;

  /** Bytes held (typed arrays and the calibrator). */
  static readonly memoryBytes = RING_MINUTES * 9 + BUCKETS * 4 + CALIBRATION_CAPACITY * 16 + CALIBRATION_DELAY * 8 + 300;

  /**
   * Counts a value of `minute` (event time, minutes since the epoch), closing the minute before when this
   * one is later, and returns the alert waiting to be reported, if any. `judge`: whether a closed minute may
   * raise an alert (the stream is warm, and this tracker is the one that speaks for the field); it is
   * bookkept either way. `o` is read only when a minute closes: the path of every value is kept short.
   */
  add(value: number, minute: number, now: number, judge: boolean, o: DriftOptions): DriftAlert | undefined {
    if (minute > this.current) this.next(minute, now, judge, o);
    if (value > 0 && !this.off) {
      // A late value (the stream's clock allows 5 minutes) counts in the minute being filled.
      const key = bucketKey(value);
      if (this.anchor < 0) this.anchor = key;
      const b = key - this.anchor + BUCKETS / 2;
      this.buckets[b < 0 ? 0 : b >= BUCKETS ? BUCKETS - 1 : b]! += 1;
      this.filled += 1;
    } else if (value < 0) {
      this.off = true;
      this.pending = undefined;
      this.drift = undefined;
    }
    return this.pending;
  }

  /** A value of a later minute came: the minute being filled closes (when it has values). */
  private next(minute: number, now: number, judge: boolean, o: DriftOptions): void {
    if (this.filled > 0 && !this.off) this.close(now, judge, o.driftFactor, o.threshold, o.learnAfterMs);
    this.current = minute;
  }

  /** The pending alert was reported. */
  reported(): void {
    this.pending = undefined;
  }

  /**
   * The value of rank `rank` (0-based) in the histogram: the values of a bucket are taken as spread evenly
   * over its range, so that a median is not stuck to the middles of the buckets.
   */
  private rankValue(rank: number): number {
    let seen = 0;
    for (let b = 0; b < this.buckets.length; b++) {
      const c = this.buckets[b]!;
      if (seen + c > rank) return keyValue(this.anchor + b - BUCKETS / 2, (rank - seen + 0.5) / c);
      seen += c;
    }
    return keyValue(this.anchor + BUCKETS / 2 - 1, 1);
  }

  /** Closes the minute being filled into the ring, then judges. */
  private close(now: number, judge: boolean, factor: number, threshold: number, settleMs: number): void {
    const m = this.current;
    const n = this.filled;
    const median = this.rankValue((n - 1) >> 1);
    const p99 = this.rankValue(Math.floor(0.99 * (n - 1)));
    // Minutes without values between the last closed one and this one are emptied.
    const from = Math.max(this.last + 1, m - RING_MINUTES + 1);
    for (let k = from; k < m; k++) this.counts[slot(k)] = 0;
    const s = slot(m);
    this.medians[s] = median;
    this.p99s[s] = p99;
    this.counts[s] = Math.min(n, 255);
    this.last = m;
    this.buckets.fill(0);
    this.filled = 0;
    if (median > 0) this.anchor = bucketKey(median);
    this.judge(m, now, judge, factor, threshold, settleMs);
  }

  /** Whether minute k is in the ring and had enough values to count. */
  private counted(k: number): boolean {
    return k > this.last - RING_MINUTES && k <= this.last && this.counts[slot(k)]! >= MIN_MINUTE_VALUES;
  }

  /** The reference level at minute m: see the class comment. */
  private reference(m: number): { level: number; settled: boolean } | undefined {
    let n = 0;
    for (let k = Math.max(m - REFERENCE_TO, this.floor); k <= m - REFERENCE_FROM; k++) {
      if (this.counted(k)) scratch[n++] = this.medians[slot(k)]!;
    }
    if (n >= REFERENCE_MIN_MINUTES) return { level: medianOf(scratch, n), settled: false };
    return this.settledLevel === undefined ? undefined : { level: this.settledLevel, settled: true };
  }

  private judge(m: number, now: number, judge: boolean, factor: number, threshold: number, settleMs: number): void {
    let n = 0;
    for (let k = m - RECENT_MINUTES + 1; k <= m; k++) {
      if (!this.counted(k)) continue;
      recentMedians[n] = this.medians[slot(k)]!;
      recentP99s[n] = this.p99s[slot(k)]!;
      n += 1;
    }
    if (n < SUSTAINED_MINUTES) return;
    // Counted before sorting: `beyond` reads the medians in place.
    const beyond = (limit: number, high: boolean): number => {
      let c = 0;
      for (let i = 0; i < n; i++) if (high ? recentMedians[i]! >= limit : recentMedians[i]! <= limit) c += 1;
      return c;
    };
    const drift = this.drift;
    if (drift !== undefined) {
      const level = medianOf(recentMedians.slice(0, n), n);
      const p99 = medianOf(recentP99s, n);
      const back = drift.high ? level <= drift.reference * Math.sqrt(factor) : level >= drift.reference / Math.sqrt(factor);
      if (back || now - drift.at >= settleMs) {
        // Back to where it was, or lasted long enough to be the field's level: a later drift is news again,
        // judged against this level until enough minutes from now on make a reference.
        this.drift = undefined;
        this.pending = undefined;
        this.floor = m - RECENT_MINUTES + 1;
        this.settledLevel = back ? drift.reference : level;
        this.prior = back ? undefined : drift.reference;
        this.delayedCount = 0;
        return;
      }
      // An alert not reported yet (another signal won, or the field's own alerts speak for now) says the
      // level as it is when it is reported, not as it was when found.
      const waiting = this.pending;
      if (waiting !== undefined && (waiting.high ? level > waiting.reference : level < waiting.reference)) {
        waiting.level = level;
        waiting.p99 = p99;
        waiting.factor = ratioOf(level, waiting.reference);
        waiting.score = Math.abs(Math.log(level / waiting.reference));
        drift.said = level;
        return;
      }
      const further = drift.high ? drift.said * factor * factor : drift.said / (factor * factor);
      if (judge && beyond(further, drift.high) >= SUSTAINED_MINUTES && (drift.high ? level >= further : level <= further)) {
        const score = Math.abs(Math.log(level / drift.reference));
        const confidence = this.calibration.confidence(score);
        if (confidence < threshold) return;
        this.pending = {
          high: drift.high, level, p99, reference: drift.reference, settled: drift.settled, factor: ratioOf(level, drift.reference), score,
          confidence, since: drift.since, gradual: true, further: true, said: drift.said,
        };
        drift.said = level;
      }
      return;
    }
    const ref = this.reference(m);
    if (ref === undefined || ref.level <= 0) return;
    const level = medianOf(recentMedians.slice(0, n), n);
    const score = Math.abs(Math.log(level / ref.level));
    const high = level > ref.level;
    const limit = high ? ref.level * factor : ref.level / factor;
    if (judge && (high ? level >= limit : level <= limit) && beyond(limit, high) >= SUSTAINED_MINUTES && this.calibration.samples >= CALIBRATION_MIN_MINUTES) {
      const confidence = this.calibration.confidence(score);
      const prior = this.prior;
      if (confidence >= threshold && prior !== undefined && high === prior > ref.level && Math.abs(Math.log(level / prior)) <= Math.log(factor) / 2) {
        // Back to the level before the drift that became the normal: a recovery, judged from now on against it.
        this.floor = m - RECENT_MINUTES + 1;
        this.settledLevel = prior;
        this.prior = undefined;
        this.delayedCount = 0;
        return;
      }
      if (confidence >= threshold) {
        this.prior = undefined;
        const since = this.runStart(m, high ? ref.level * Math.sqrt(factor) : ref.level / Math.sqrt(factor), high);
        this.drift = { high, reference: ref.level, settled: ref.settled, at: now, since, said: level };
        this.pending = {
          high, level, p99: medianOf(recentP99s, n), reference: ref.level, settled: ref.settled, factor: ratioOf(level, ref.level), score, confidence, since,
          gradual: m * MINUTE_MS - since >= RECENT_MINUTES * MINUTE_MS, further: false,
        };
        // The minutes that led up to it were not normal after all.
        this.delayedCount = 0;
        return;
      }
    }
    // A minute without a drift: its score is a normal one once `CALIBRATION_DELAY` minutes have passed
    // without a drift being found (the first minutes of a drift are not taken for normal ones).
    if (this.delayedCount === CALIBRATION_DELAY) this.calibration.add(this.delayed[this.delayedAt]!);
    else this.delayedCount += 1;
    this.delayed[this.delayedAt] = score;
    this.delayedAt = (this.delayedAt + 1) % CALIBRATION_DELAY;
  }

  /**
   * The start (event time, ms) of the run of minutes up to m whose medians lie beyond `limit`: walked back
   * over minutes beyond it or without enough values, to the first counted one that is not.
   */
  private runStart(m: number, limit: number, high: boolean): number {
    let first = m;
    for (let k = m; k > this.last - RING_MINUTES; k--) {
      if (!this.counted(k)) continue;
      const v = this.medians[slot(k)]!;
      if (high ? v < limit : v > limit) break;
      first = k;
    }
    return first * MINUTE_MS;
  }

  get samples(): number {
    return this.calibration.samples;
  }

  toJSON(): DriftSnapshot {
    const minutes: Array<[number, number, number, number]> = [];
    if (Number.isFinite(this.last)) {
      for (let k = this.last - RING_MINUTES + 1; k <= this.last; k++) {
        const s = slot(k);
        // Held as 32-bit floats: 7 digits say all they hold.
        if (this.counts[s]! > 0) minutes.push([k, Number(this.medians[s]!.toPrecision(7)), Number(this.p99s[s]!.toPrecision(7)), this.counts[s]!]);
      }
    }
    const buckets: Array<[number, number]> = [];
    for (let b = 0; b < this.buckets.length; b++) if (this.buckets[b]! > 0) buckets.push([b, this.buckets[b]!]);
    return {
      minutes,
      last: Number.isFinite(this.last) ? this.last : -1,
      current: Number.isFinite(this.current) ? this.current : -1,
      anchor: this.anchor,
      buckets,
      calibration: this.calibration.toJSON(),
      delayed: Array.from({ length: this.delayedCount }, (_, i) => this.delayed[(this.delayedAt - this.delayedCount + i + CALIBRATION_DELAY) % CALIBRATION_DELAY]!),
      ...(Number.isFinite(this.floor) ? { floor: this.floor } : {}),
      ...(this.settledLevel !== undefined ? { settledLevel: this.settledLevel } : {}),
      ...(this.prior !== undefined ? { prior: this.prior } : {}),
      ...(this.drift ? { drift: { ...this.drift } } : {}),
      ...(this.pending ? { pending: { ...this.pending } } : {}),
      ...(this.off ? { off: true } : {}),
    };
  }

  /** A tracker from a snapshot; what does not read as one is left out (a new tracker starts). */
  static fromJSON(data: unknown): DriftTracker {
    const t = new DriftTracker();
    if (typeof data !== 'object' || data === null) return t;
    const d = data as Partial<DriftSnapshot>;
    const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
    if (d.off === true) t.off = true;
    if (num(d.last) && d.last >= 0 && Array.isArray(d.minutes)) {
      t.last = d.last;
      for (const row of d.minutes) {
        if (!Array.isArray(row) || row.length !== 4 || !row.every(num)) continue;
        const [k, median, p99, count] = row;
        if (k > t.last || k <= t.last - RING_MINUTES) continue;
        const s = slot(k);
        t.medians[s] = median;
        t.p99s[s] = p99;
        t.counts[s] = Math.max(0, Math.min(255, Math.round(count)));
      }
    }
    if (num(d.current) && d.current >= 0 && num(d.anchor) && Array.isArray(d.buckets)) {
      t.current = d.current;
      let filled = 0;
      for (const pair of d.buckets) {
        if (!Array.isArray(pair) || pair.length !== 2 || !pair.every(num)) continue;
        const [b, c] = pair;
        if (!Number.isInteger(b) || b < 0 || b >= t.buckets.length || c < 0) continue;
        t.buckets[b] = c;
        filled += c;
      }
      t.filled = filled;
      if (Number.isInteger(d.anchor) && d.anchor >= 0) t.anchor = d.anchor;
      else {
        // Buckets without the key they are counted from say nothing: the minute starts empty.
        t.buckets.fill(0);
        t.filled = 0;
      }
    }
    if (Array.isArray(d.calibration)) for (const v of d.calibration.slice(-CALIBRATION_CAPACITY)) if (num(v)) t.calibration.add(v);
    if (Array.isArray(d.delayed)) {
      for (const v of d.delayed.slice(-CALIBRATION_DELAY)) {
        if (!num(v)) continue;
        t.delayed[t.delayedAt] = v;
        t.delayedAt = (t.delayedAt + 1) % CALIBRATION_DELAY;
        t.delayedCount += 1;
      }
    }
    if (num(d.floor)) t.floor = d.floor;
    if (num(d.settledLevel)) t.settledLevel = d.settledLevel;
    if (num(d.prior) && d.prior > 0) t.prior = d.prior;
    const a = d.drift;
    if (a && typeof a.high === 'boolean' && typeof a.settled === 'boolean' && [a.reference, a.at, a.since, a.said].every(num)) {
      t.drift = { high: a.high, reference: a.reference, settled: a.settled, at: a.at, since: a.since, said: a.said };
    }
    const p = d.pending;
    if (t.drift && p && typeof p.high === 'boolean' && typeof p.further === 'boolean' && [p.level, p.p99, p.reference, p.score, p.confidence, p.since].every(num)) {
      t.pending = { ...p, factor: ratioOf(p.level, p.reference), settled: p.settled === true, gradual: p.gradual === true };
      if (p.said !== undefined && !num(p.said)) delete t.pending.said;
    }
    return t;
  }
}

function slot(minute: number): number {
  return ((minute % RING_MINUTES) + RING_MINUTES) % RING_MINUTES;
}

/** level / reference above it, reference / level below. */
function ratioOf(level: number, reference: number): number {
  return level >= reference ? level / reference : reference / level;
}

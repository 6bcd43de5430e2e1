/**
 * A stream's clock: event time, kept continuous when the timestamps are not.
 *
 * One event stamped ten years ahead (a device with a reset clock), a clock stepped back an hour (daylight
 * saving in local time), or a year that rolls over in a format that writes none (`Dec 31` then `Jan  1`,
 * read in the same year) would otherwise stop the volume, per-pattern rate and silence baselines: every
 * later event would look late, or the stream silent for years. So an event far from the clock (more than
 * `LATE_MS` behind, or more than `JUMP_MS` ahead) is held out, untimed, and only a second event close to
 * it confirms a new timeline: the clock then continues from where it was, shifted by a fixed offset. A
 * single bad timestamp moves nothing; a real step moves the offset once. Late events within `LATE_MS`
 * keep their time (the volume baseline counts them in the second they belong to). A silence shorter than
 * `JUMP_MS` is a silence, and is reported as one.
 */
export const LATE_MS = 5 * 60_000;
export const JUMP_MS = 24 * 3_600_000;

export class StreamClock {
  /** Added to event times: 0 until the source's clock stepped. */
  offset = 0;
  /** The latest time on the clock (ms), once any. */
  private last: number | undefined;
  /** The raw time of the event held out last, waiting for a second one near it. */
  private pending: number | undefined;

  /** The clock time of an event stamped `t`, or undefined when it is held out (treat it as untimed). */
  map(t: number): number | undefined {
    const c = t + this.offset;
    if (this.last === undefined || (c >= this.last - LATE_MS && c - this.last <= JUMP_MS)) {
      this.pending = undefined;
      if (this.last === undefined || c > this.last) this.last = c;
      return c;
    }
    if (this.pending !== undefined && Math.abs(t - this.pending) <= LATE_MS) {
      // Two in a row on another timeline: the source's clock stepped. Continue from where we were.
      this.offset = this.last - this.pending;
      this.pending = undefined;
      const m = t + this.offset;
      if (m > this.last) this.last = m;
      return m;
    }
    this.pending = t;
    return undefined;
  }

  /** A clock time as the source's time now (for a why's dates): the clock's time less its offset. */
  sourceTime(t: number): number {
    return t - this.offset;
  }

  restore(offset: number, last: number | undefined): void {
    this.offset = offset;
    this.last = last;
    this.pending = undefined;
  }
}

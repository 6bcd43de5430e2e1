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
 *
 * Old lines replayed between live ones (a forwarder's buffer sent hours late, after an outage) look like a
 * clock stepped back, and the next live line like a jump forward: a silence of hours, and every pattern
 * "stopped" (helper 52 measured 350 such alerts in seconds). So the timeline a step left is remembered, and
 * an event back on it, near the clock, returns to it without a gap: the source did not step, it replayed.
 * Events far behind are then held out without taking a step (they are the replay), until none has come for
 * `LATE_MS`, or `REPLAY_RUN` of them came with no live one between (then the source did step after all).
 */
export const LATE_MS = 5 * 60_000;
export const JUMP_MS = 24 * 3_600_000;
const REPLAY_RUN = 1000;

export class StreamClock {
  /** Added to event times: 0 until the source's clock stepped. */
  offset = 0;
  /** The latest time on the clock (ms), once any. */
  private last: number | undefined;
  /** The raw time of the event held out last, waiting for a second one near it. */
  private pending: number | undefined;
  /** The offset before the last step, and the clock time of that step (a return to it is a replay). */
  private previous: { offset: number; at: number } | undefined;
  /** A replay is under way: the clock time of the last event held out as part of it, and how many in a row. */
  private replay: { at: number; run: number } | undefined;

  /** The clock time of an event stamped `t`, or undefined when it is held out (treat it as untimed). */
  map(t: number): number | undefined {
    const c = t + this.offset;
    const last = this.last;
    if (last !== undefined && this.previous !== undefined && (c < last - LATE_MS || c - last > LATE_MS)) {
      // Far from the clock, but near it on the timeline the last step left: that timeline went on, so the
      // step was a replay. Back to it, with no gap; the replay's lines are held out from now on.
      const back = t + this.previous.offset;
      if (back >= last - LATE_MS && back - last <= LATE_MS && last - this.previous.at <= JUMP_MS) {
        // Stamped before the step: a late line of that timeline (written before the clock stepped, sent
        // after), which says nothing of whether it went on. Held out; taken for a return, it made every
        // event after it on the stepped clock a replay's, untimed, 1,000 of them.
        if (back < this.previous.at) return undefined;
        this.offset = this.previous.offset;
        this.previous = undefined;
        this.pending = undefined;
        this.replay = { at: last, run: 0 };
        if (back > last) this.last = back;
        return back;
      }
    }
    if (last === undefined || (c >= last - LATE_MS && c - last <= JUMP_MS)) {
      this.pending = undefined;
      if (this.replay) this.replay.run = 0;
      if (last === undefined || c > last) this.last = c;
      return c;
    }
    if (this.replay && last - this.replay.at <= LATE_MS && this.replay.run < REPLAY_RUN) {
      // The replay goes on: a late line, not a new timeline.
      this.replay.at = last;
      this.replay.run += 1;
      return undefined;
    }
    this.replay = undefined;
    if (this.pending !== undefined && Math.abs(t - this.pending) <= LATE_MS) {
      // Two in a row on another timeline: the source's clock stepped. Continue from where we were.
      this.previous = { offset: this.offset, at: last };
      this.offset = last - this.pending;
      this.pending = undefined;
      const m = t + this.offset;
      if (m > last) this.last = m;
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
    this.previous = undefined;
    this.replay = undefined;
  }
}

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

  /** The latest time on the clock (ms), once any. */
  get latest(): number | undefined {
    return this.last;
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

/**
 * Events stamped within this of the caller's clock (ms, either way) arrive in near real time: the stream is
 * live, and its silence can be told while it lasts.
 */
export const LIVE_LAG_MS = 60_000;
/**
 * ...or events whose lag held within `STEADY_TOLERANCE_MS` for `STEADY_MS` of the caller's clock: the
 * stream's time goes at the pace of the caller's, a fixed distance away (a source in another zone writing
 * local time with no zone, read as UTC; a clock off by minutes).
 */
export const STEADY_TOLERANCE_MS = 10_000;
export const STEADY_MS = 5 * 60_000;

/** A `WallLink` handed from one detector to the next within a process (a reload). */
export interface WallLinkState {
  receivedAt: number;
  clockAt: number;
  steadyLag: number;
  steadySince: number;
}

/**
 * How a stream's clock relates to the caller's (the wall clock of a live daemon), so that a silence can be
 * measured while it lasts, with no event to give the time: the stream's time now is the time of its latest
 * event plus the time the caller's clock went on since it received it.
 *
 * Only a live stream is given a time now. A file of last week read from its beginning, or a backlog read
 * in a catch-up burst, has its events far behind the caller's clock, and their lag shrinking as fast as the
 * reading goes: when such a file ends, its stream is not silent, it was read. So a stream is live when the
 * lag of its latest event (caller's clock less stream's time) is under `LIVE_LAG_MS` either way, or has held
 * within `STEADY_TOLERANCE_MS` of one value for `STEADY_MS` (a replay's lag does not hold still: read at
 * even 1.05 times the pace it was written, it moves by 10 s every 200 s).
 */
export class WallLink {
  /** The caller's time when the latest timed event was received, and the stream's latest time then. */
  private receivedAt: number | undefined;
  private clockAt = 0;
  /** The lag the current steady run holds to, and the caller's time it began. */
  private steadyLag = 0;
  private steadySince = 0;

  /** A timed event received at `receivedAt` (caller's clock); the stream's latest time is now `latest`. */
  observe(latest: number, receivedAt: number): void {
    const lag = receivedAt - latest;
    if (this.receivedAt === undefined || Math.abs(lag - this.steadyLag) > STEADY_TOLERANCE_MS) {
      this.steadyLag = lag;
      this.steadySince = receivedAt;
    }
    this.receivedAt = receivedAt;
    this.clockAt = latest;
  }

  /** The link as it is, for the same stream's detector in this process after a reload (`adopt`). */
  state(): WallLinkState | undefined {
    return this.receivedAt === undefined ? undefined : { receivedAt: this.receivedAt, clockAt: this.clockAt, steadyLag: this.steadyLag, steadySince: this.steadySince };
  }

  /** Takes the link of the detector a reload replaced (same process: same caller's clock). */
  adopt(state: WallLinkState): void {
    ({ receivedAt: this.receivedAt, clockAt: this.clockAt, steadyLag: this.steadyLag, steadySince: this.steadySince } = state);
  }

  /** The stream's time at `now` (caller's clock), when the stream is live; undefined otherwise. */
  clockTime(now: number): number | undefined {
    if (this.receivedAt === undefined) return undefined;
    const lag = this.receivedAt - this.clockAt;
    if (Math.abs(lag) > LIVE_LAG_MS && this.receivedAt - this.steadySince < STEADY_MS) return undefined;
    return this.clockAt + Math.max(0, now - this.receivedAt);
  }
}

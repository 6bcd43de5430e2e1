/**
 * The process's limit on open files, and what to say when it is hit. A file input holds a descriptor for each
 * file it reads; past the limit (`ulimit -n`) every open fails with EMFILE (ENFILE: the whole system's limit),
 * files, checkpoint saves, folder walks and the API's accepted connections alike. Whether an
 * error is that limit, and the limit itself, are in engine/descriptors.ts.
 */

/**
 * The default `max_open_files`: half the limit, leaving the other half to the rest of the process (outputs,
 * sockets, the API, checkpoint saves, other inputs); no cap where the limit cannot be read.
 */
export function defaultMaxOpenFiles(limit: number | undefined): number {
  return limit === undefined ? Infinity : Math.max(1, Math.floor(limit / 2));
}

/**
 * The `max_open_files` an input holds to: the configured one, unless it is not below the limit (it could never
 * be held: the process needs descriptors of its own), when it is `auto`'s (half the limit), with the warning
 * to log once. Clamped rather than refused: the limit belongs to where the daemon runs (a shell, a unit's
 * `LimitNOFILE=`, a container's default), not to the config, and the same config must not stop the daemon on
 * a host with a lower one. Before, the input took it as it was, ran out of descriptors (a spell: an error,
 * `/health` 503) and fell back to a cap it lowered itself.
 */
export function maxOpenFiles(configured: number | 'auto', limit: number | undefined): { max: number; warning?: string } {
  if (configured === 'auto') return { max: defaultMaxOpenFiles(limit) };
  if (limit === undefined || configured < limit) return { max: configured };
  const max = defaultMaxOpenFiles(limit);
  return {
    max,
    warning: `max_open_files (${configured}) is not below the process's open-files limit (${limit}, ulimit -n): at most ${max} files are held open (half the limit, as with auto). ` +
      'Raise the limit (ulimit -n, LimitNOFILE= in a systemd unit) to hold more',
  };
}

/** The error said when the limit is hit: what happened, how many files are open, the limit, what to do. */
export function descriptorLimitError(err: unknown, doing: string, open: number, limit: number | undefined): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const which = code === 'ENFILE' ? 'the system has too many open files (ENFILE)' : 'too many open files (EMFILE)';
  const limitText = limit === undefined ? 'its limit could not be read' : `the process may have ${limit} open (ulimit -n)`;
  const out = new Error(
    `cannot ${doing}: ${which}; this input holds ${open} files open and ${limitText}. ` +
      'Raise the limit (ulimit -n, LimitNOFILE= in a systemd unit), narrow include, or set max_open_files lower ' +
      '(close_inactive shorter). Meanwhile it holds fewer files open (max_open_files_now, raised back once opens work again), and files not opened wait ' +
      'and are read in turn',
  );
  (out as NodeJS.ErrnoException).code = code;
  return out;
}

/** Check intervals a raise past where the cap last ran out waits at most, after such raises ran out again. */
export const MAX_RAISE_BACKOFF = 64;

/**
 * The files an input holds open at most now, as TCP's congestion window (additive increase, multiplicative
 * decrease): `max_open_files` (`ceiling`), lowered when an open runs out of descriptors (to three quarters of
 * the files held open then), and raised back towards it once opens work again: a step (a sixteenth of the
 * ceiling) at each `check_interval` in which nothing ran out and files waited for the cap, so that it is
 * back within 16 intervals. Up to the files that were open when it ran out, that is all; a raise past them
 * is a probe: one that runs out within two intervals makes the next probe wait twice as many intervals (up
 * to `MAX_RAISE_BACKOFF`), and one that holds halves the wait and lets the raises go on. So something else
 * holding descriptors for good costs a failed open (retried, nothing lost) once in `MAX_RAISE_BACKOFF`
 * intervals or so, not a flap at every interval. Before, the cap was only ever lowered: after a short spell
 * out of descriptors (a burst of connections), the input held as few files open for the rest of the
 * process's life.
 */
export class OpenFilesCap {
  /** The cap now. */
  current: number;
  private readonly step: number;
  /** Files open when an open last ran out: a raise past them is a probe (see the class). */
  private ranOutAt = Infinity;
  /** Intervals a probe waits for, since the cap was last lowered or raised. */
  private backoff = 1;
  private quiet = 0;
  /** Intervals since the last raise, and whether it was a probe. */
  private sinceRaise = Infinity;
  private probing = false;

  constructor(readonly ceiling: number) {
    this.current = ceiling;
    // No ceiling (the limit could not be read): steps as for a limit of 2,048.
    this.step = Math.max(1, Math.ceil(Math.min(ceiling, 1024) / 16));
  }

  /** Whether it is below `max_open_files` now. */
  get lowered(): boolean {
    return this.current < this.ceiling;
  }

  /** An open ran out of descriptors with `open` files held: lowered to three quarters of them; the new cap if it went down. */
  ranOut(open: number): number | undefined {
    if (this.probing && this.sinceRaise < 2) this.backoff = Math.min(this.backoff * 2, MAX_RAISE_BACKOFF);
    this.probing = false;
    this.ranOutAt = open;
    this.quiet = 0;
    this.sinceRaise = Infinity;
    const to = Math.max(1, Math.floor((open * 3) / 4));
    if (to >= this.current) return undefined;
    this.current = to;
    return to;
  }

  /**
   * A `check_interval` passed; `wanted`: files waited for the cap meanwhile. The new cap if it was raised
   * (see the class).
   */
  interval(wanted: boolean): number | undefined {
    this.quiet += 1;
    this.sinceRaise += 1;
    if (this.probing && this.sinceRaise === 2) {
      // The probe held: past where it ran out, raised as below it from now on, and the next probe sooner.
      this.probing = false;
      this.ranOutAt = Infinity;
      this.backoff = Math.max(1, this.backoff / 2);
    }
    if (!this.lowered || !wanted) return undefined;
    const next = Math.min(this.ceiling, this.current + this.step);
    const probe = next > this.ranOutAt;
    if (this.quiet < (probe ? this.backoff : 1)) return undefined;
    this.current = next;
    this.quiet = 0;
    this.sinceRaise = 0;
    this.probing ||= probe;
    if (!this.lowered) {
      this.ranOutAt = Infinity;
      this.backoff = 1;
      this.probing = false;
    }
    return next;
  }
}

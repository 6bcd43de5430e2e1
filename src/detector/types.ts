/** What the detector reads and what it says. */
/** Every kind of anomaly the detector reports (`/metrics` counts each from the start). */
export const ANOMALY_KINDS = ['new_pattern', 'content', 'field_value', 'field_category', 'field_content', 'field_drift', 'new_field', 'volume_spike', 'volume_drop'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface DetectorInput {
  /**
   * Event time, epoch ms. Volume is measured in event time; without it (a text line with no timestamp read
   * from a file) volume is not scored and a new pattern is learned by its count alone.
   */
  time?: number;
  /** `time` is when the event arrived, not a time it carries: ignored once the stream has seen event times. */
  arrivalTime?: boolean;
  /** The event as text: the raw line, or the structured body rendered as JSON. */
  text: string;
  /** Structured fields, flattened with dotted keys, when the event is structured. */
  fields?: Record<string, unknown>;
  /** OpenTelemetry severity number, when known. */
  severity?: number;
  /**
   * When the caller received the event, on its (wall) clock, epoch ms. A live caller gives it so that
   * `tick()` can tell how far the stream's time has gone since; a scan of files does not.
   */
  receivedAt?: number;
}

export interface Anomaly {
  kind: AnomalyKind;
  /** The raw score of the signal that fired (its unit depends on the kind). */
  score: number;
  /** Calibrated: the share of the stream's recent normal events that scored lower. */
  confidence: number;
  /** Why, in words: names the field or the pattern, quotes what was new. */
  why: string;
  stream_id: string;
  /**
   * The event's template (variable parts as `<*>`, `<num>`, `<ip>`, ...); for a silence reported while it
   * lasts, the pattern that stopped, or none (`''` and -1) when the whole stream did.
   */
  template: string;
  template_id: number;
  field?: string;
  baseline?: Record<string, unknown>;
  /**
   * Not an anomaly but the end of one: a stream whose silence was reported while it lasted is back (kind
   * `volume_drop`, score 0, the silence's confidence). Outputs close the incident with it.
   */
  resolved?: true;
}

export type Profile = 'sensitive' | 'balanced' | 'strict';

export interface DetectorOptions {
  /** Events a stream learns from before anything is flagged. */
  warmup: number;
  /** Minimum calibrated confidence to flag. */
  threshold: number;
  /**
   * Minimum compression distance of a whole event for a content anomaly, after weighting by severity
   * (an unexplained ERROR counts 2.33x, FATAL 3x), whatever the calibration says.
   */
  contentFloor: number;
  /** Minimum compression distance of one free-text field (no severity weighting). */
  fieldContentFloor: number;
  /** A numeric value must be at least this many times (or this fraction of) its median. */
  numericRatioFloor: number;
  /** ...and lie beyond its p99 (or below its p01) by this many widths of the field's own tail. */
  tailFactor: number;
  /**
   * A numeric field's level over its last 10 minutes (event time) this many times its level one to three
   * hours before, or this fraction of it, is a slow drift (`field_drift`; see drift.ts).
   */
  driftFactor: number;
  /** Share under which a categorical value counts as rare. */
  rareShare: number;
  /** Events in one second above this multiple of the typical rate are a spike... */
  spikeFactor: number;
  /** ...and at least this many. */
  minSpikeRate: number;
  /**
   * Seconds without events (event time) after which a stream that usually has at least one a second is
   * reported silent (a volume drop): at its next event, or by `tick()` while the silence lasts.
   */
  minSilenceSeconds: number;
  /** A new pattern becomes normal once it has recurred for this long (event time)... */
  learnAfterMs: number;
  /** ...and at least this many times. */
  learnMinCount: number;
  /** Characters of recent normal text kept per stream (power of two). */
  windowChars: number;
  /** Characters kept per free-text field (power of two). */
  fieldWindowChars: number;
  /** Fields tracked per stream at most. */
  maxFields: number;
  /** Free-text fields (each with a `fieldWindowChars` window) per stream at most; more are not scored. */
  maxTextFields: number;
  /**
   * Watch fields named like a secret (`password`, `api_key`, `session_id`, see secret-names.ts) too. Without
   * it (the default) their values are neither kept (in the baseline, nor in a snapshot) nor quoted in a why:
   * such a field counts as carried, and a new one is told without its value.
   */
  watchSecretFields?: boolean;
}

export const PROFILES: Record<Profile, DetectorOptions> = {
  sensitive: {
    warmup: 50, threshold: 0.8, contentFloor: 0.7, fieldContentFloor: 0.8, numericRatioFloor: 3, tailFactor: 0.75, driftFactor: 2, rareShare: 0.005, spikeFactor: 3, minSpikeRate: 10, minSilenceSeconds: 30,
    learnAfterMs: 60 * 60_000, learnMinCount: 100, windowChars: 1 << 16, fieldWindowChars: 1 << 13, maxFields: 64, maxTextFields: 6,
  },
  balanced: {
    warmup: 100, threshold: 0.9, contentFloor: 0.9, fieldContentFloor: 2, numericRatioFloor: 5, tailFactor: 1.5, driftFactor: 3, rareShare: 0.002, spikeFactor: 5, minSpikeRate: 20, minSilenceSeconds: 30,
    learnAfterMs: 60 * 60_000, learnMinCount: 100, windowChars: 1 << 16, fieldWindowChars: 1 << 13, maxFields: 64, maxTextFields: 6,
  },
  strict: {
    warmup: 200, threshold: 0.95, contentFloor: 1.1, fieldContentFloor: 4, numericRatioFloor: 10, tailFactor: 3, driftFactor: 5, rareShare: 0.001, spikeFactor: 10, minSpikeRate: 50, minSilenceSeconds: 30,
    learnAfterMs: 60 * 60_000, learnMinCount: 100, windowChars: 1 << 16, fieldWindowChars: 1 << 13, maxFields: 64, maxTextFields: 6,
  },
};

/**
 * One stream's detector: its baselines (text window, templates, fields, volume), the calibrators that turn
 * raw scores into confidences, and the rule that decides what is flagged and what is learned.
 *
 * For every event each signal produces a raw score and a calibrated confidence (how rare such a score is
 * among the stream's recent normal events). The strongest signal that passes both its confidence threshold
 * and its absolute floor becomes the anomaly. Flagged events are not learned into the baselines; a pattern
 * that keeps recurring for `learnAfterMs` is then accepted as normal, and its last alert says so.
 */
import { dateable } from '../engine/event.js';
import { CategoricalBaseline, type ValueHistory } from './categorical.js';
import { ScoreCalibrator } from './calibration.js';
import { TemplateMiner, templateText, type Template } from './drain.js';
import { LzWindow } from './lz-window.js';
import { MASK, maskSecrets, maskVolatile, unmask } from './mask.js';
import { NumericBaseline } from './numeric.js';
import { DriftTracker, RECENT_MINUTES, type DriftAlert, type DriftSnapshot } from './drift.js';
import type { Anomaly, AnomalyKind, DetectorInput, DetectorOptions } from './types.js';
import { VolumeBaseline, type VolumeOptions } from './volume.js';
import { StreamClock, WallLink, type WallLinkState } from './stream-clock.js';
import { isSecretField } from '../secret-names.js';
import { headOf } from './strings.js';
import { TextFieldBaseline } from './text-field.js';
import { durationSeconds, levelOf, madeOfData, messageSignature, percentDecode, saysNothing, severityWeight } from './event-text.js';
import { clip, durationText, durationValue, fmt, isoTime, newText, percentText, quote, quotePattern, seenSince, severityName, spanText } from './wording.js';
import { TemplateRates, type TemplateSilence } from './template-volume.js';

interface FieldState {
  /** The field's place in MESSAGE_FIELDS (their length when it is none): a message field is the event's message. */
  messageRank: number;
  numeric?: NumericBaseline;
  numericCal?: ScoreCalibrator;
  categorical?: CategoricalBaseline;
  categoricalCal?: ScoreCalibrator;
  text?: TextFieldBaseline;
  textCal?: ScoreCalibrator;
  /** Fields whose values are timestamps or otherwise always unique after masking are not scored. */
  ignored?: boolean;
  /** Recent raw values and their masked forms: most values repeat (user agents, routes). */
  masks?: Map<string, MaskEntry>;
  /** Characters in `masks`, keys and masked values. */
  maskChars?: number;
  /**
   * The first `MASK_FRONT` values of `masks` and their entries; and the value looked up last with its
   * entry (see `maskEntry`).
   */
  maskFront?: string[];
  maskFrontEntries?: MaskEntry[];
  lastMaskKey?: string;
  lastMask?: MaskEntry;
  /** The stream's event counts when the field first and last came. */
  firstEvent: number;
  lastEvent: number;
  /** In a field of numbers: the running share (over about 256 values) of values that were not one. */
  otherShare?: number;
  /**
   * The field's numbers are durations written with their unit (`150ms`, `2.1s`, `1m30s`: Go's
   * time.Duration, as log/slog and logfmt loggers print it), held in seconds and shown with a unit.
   */
  duration?: boolean;
  /**
   * A field of numbers that several messages carry has a baseline per message template too: the same name
   * measures different things (`duration_ms` of "request completed", ~40, and of "slow upstream", ~600).
   */
  byTemplate?: Map<number, TemplateNumbers>;
  /** Event time of the last value its numeric window took (see `NUMBER_SPACING_MS`). */
  sampledAt?: number;
  /**
   * The runs of the field's numbers that alerted lately (see `NumericShift`): one a side of its baseline
   * for each message template they came in, at most `MAX_SHIFTS`.
   */
  shifts?: NumericShift[];
  /** The field's level over time, for slow drifts (see drift.ts); its numbers in event time only. */
  drift?: DriftTracker;
}

/**
 * An empty array made for objects (strings, states, candidates) from the start. V8 makes `[]` an array of
 * small integers, and changes its kind at the first object stored: each new stream's arrays did so after
 * the code reading them had been optimized for the arrays of streams before, and that code was thrown away
 * (a new stream's first candidate, thousands of events in, cost `observe` its optimized code for the next
 * 6,000 events, 2-3x slower).
 */
function objectArray<T>(): T[] {
  const array: unknown[] = [null];
  array.length = 0;
  return array as T[];
}

/**
 * A field's state with every property in place from the start, in one order: the states of all fields then
 * share one hidden class, whatever each came to hold. Added as needed (a number field's baselines, a string
 * field's mask cache), each field took its own path of shapes, and the code reading them went polymorphic,
 * then megamorphic, and was deoptimized by the shapes each new stream's fields pass through while they fill.
 */
function newFieldState(name: string, firstEvent: number, lastEvent: number): FieldState {
  return {
    messageRank: messageRankOf(name),
    numeric: undefined,
    numericCal: undefined,
    categorical: undefined,
    categoricalCal: undefined,
    text: undefined,
    textCal: undefined,
    ignored: undefined,
    masks: undefined,
    maskChars: undefined,
    maskFront: undefined,
    maskFrontEntries: undefined,
    lastMaskKey: undefined,
    lastMask: undefined,
    firstEvent,
    lastEvent,
    otherShare: undefined,
    duration: undefined,
    byTemplate: undefined,
    sampledAt: undefined,
    shifts: undefined,
    drift: undefined,
  };
}

/**
 * A run of a field's numbers that alerted, all above its baseline or all below (an incident of slow
 * responses). They are not learned while it lasts, so that a flood keeps alerting, however long, until it
 * has lasted `learnAfterMs` (in a stream without event time: `learnMinCount` alerts; in one with, numbers on
 * lines without a readable time never make it long by their count). Then it is accepted: the alert
 * that accepts it says so, and from then on the numbers within its range are learned and do not alert,
 * while the baseline moves to them. It ends when no number as far out on its side has come for half of
 * `learnAfterMs` (without event time: `SHIFT_GAP_EVENTS` events); a number beyond its range alerts. The
 * numbers going back to where they were before an accepted run (within the baseline's p01..p99 then) are
 * not news either: the end of an incident that lasted is not a new one.
 */
interface NumericShift {
  /**
   * The message template its numbers came in (-1 in a stream without such templates): the slow lines of one
   * message do not make another's far numbers normal, whichever baseline judges them (see `templateNumbers`).
   */
  template: number;
  /** Above the baseline (true) or below it. */
  high: boolean;
  /** Event times of its first and its latest number (0 without event time), and the stream's event count at the latest. */
  first: number;
  last: number;
  lastEvent: number;
  /** Numbers that alerted in it (before it was accepted) or that it let pass (after). */
  count: number;
  /** Its farthest number: the largest of a run above the baseline, the smallest of one below. */
  extreme: number;
  accepted: boolean;
  /** The baseline's p01 and p99 when it began. */
  before: [number, number];
}

/** One message template's numbers in a field, and when they last came (the stream's event count). */
interface TemplateNumbers {
  numbers: NumericBaseline;
  lastEvent: number;
  /** This message's level over time (see `trackDrift`). */
  drift?: DriftTracker;
}

/** Cached masks per field at most, and their characters at most (keys and values): 512 KB a stream at worst. */
const MASK_CACHE = 64;
const MASK_CACHE_CHARS = 4096;
/** A longer value is masked each time: such values seldom repeat, and would crowd out those that do. */
const MASK_CACHE_VALUE = 256;
/** A field's cache of at most this many values is searched by comparison (see `maskField`). */
const MASK_FRONT = 8;
/**
 * Per-template baselines of a numeric field: at most this many templates a field (the least recently seen
 * gives way), each of this many recent values, used once it holds `TEMPLATE_NUMBERS_MIN` of them.
 */
const TEMPLATE_NUMBERS = 8;
const TEMPLATE_NUMBERS_CAPACITY = 256;
const TEMPLATE_NUMBERS_MIN = 50;
/** Per-template baselines a stream keeps at most, over all its fields (some 140 KB). */
const STREAM_TEMPLATE_NUMBERS = 32;
/** A template gets its own numbers once it has come this often (one-off messages never do). */
const TEMPLATE_NUMBERS_FROM = 20;
/** Events after which a template that stopped coming gives its baseline in a field to another. */
const STALE_TEMPLATE_NUMBERS_EVENTS = 1000;
/** Events after which a field that stopped coming gives its slot to a new one (see evictStaleField). */
const STALE_FIELD_EVENTS = 1000;
const STALE_RARE_FIELD_EVENTS = 100;
/**
 * A field's window of recent numbers (512), once full, takes at most one value each this long in event time,
 * so that it spans at least 10 s of the stream: at 1,000 events/s it held half a second, and a slow second
 * was half of it. Slower streams keep every value, and every stream fills its window with every value (a
 * new stream's numbers are judged after 20 values, however close in time; in 2 ms at 10,000 events/s).
 */
const NUMBER_SPACING_MS = 20;
/**
 * Without event time, a run of numbers that alerted ends after this many events with none (see `NumericShift`).
 */
const SHIFT_GAP_EVENTS = 1000;
/** Runs of numbers a field keeps (see `NumericShift`): one a side for as many templates as it keeps baselines of. */
const MAX_SHIFTS = 2 * (TEMPLATE_NUMBERS + 1);
/** A drift waits while its field's numbers alert as `field_value`, the latest this recently (see `alertingRun`). */
const DRIFT_HOLD_MS = 2 * 60_000;
/** A categorical string field with this many distinct values gets a free-text model beside it. */
const TEXT_FROM_DISTINCT = 8;
/** Options of the per-pattern rate for a pattern not learned yet: counted, never flagged. */
const NO_BURSTS = { minCount: Infinity, factor: Infinity, minAgeSeconds: Infinity };
/** Characters of an event's text, and of one field's value, that the detector reads. */
const MAX_TEXT = 4096;
const MAX_FIELD_TEXT = 1024;
/** A value's masked form and, for a message field's value once asked, the level it states (`levelOf`). */
interface MaskEntry {
  masked: string;
  /** Null until asked. */
  level: number | undefined | null;
}

/**
 * The masked form of a field's value, cached per field, with room for the level a message states; undefined
 * for a value too long to cache.
 *
 * Values are strings fresh from the parser, each looked up for the first time: a map lookup hashes the
 * whole value first (a user agent, 70-130 characters: some 100 ns). A cache of a few values (a field's user
 * agents, levels, methods) is searched by comparison instead, which stops at the first length or character
 * that differs; and the value looked up last is compared first (a message field is looked up twice, as the
 * message and as a field). Both hold only values in the cache, which stays as with lookups alone.
 */
function maskEntry(f: FieldState, text: string): MaskEntry | undefined {
  if (text.length > MASK_CACHE_VALUE) return undefined;
  if (text === f.lastMaskKey) return f.lastMask!;
  let cache = f.masks;
  let front = f.maskFront;
  let entries = f.maskFrontEntries;
  if (!cache || !front || !entries) {
    cache = f.masks = new Map();
    front = f.maskFront = [];
    entries = f.maskFrontEntries = [];
    f.maskChars = 0;
  }
  let e: MaskEntry | undefined;
  if (cache.size <= MASK_FRONT) {
    // The front holds the whole cache: a value not in it is not cached.
    for (let k = 0; k < front.length; k++) {
      if (front[k] === text) {
        e = entries[k]!;
        break;
      }
    }
  } else e = cache.get(text);
  if (e === undefined) {
    const m = maskVolatile(text);
    const chars = text.length + m.length;
    if (cache.size >= MASK_CACHE || f.maskChars! + chars > MASK_CACHE_CHARS) {
      cache.clear();
      front.length = 0;
      entries.length = 0;
      f.maskChars = 0;
    }
    e = { masked: m, level: null };
    cache.set(text, e);
    f.maskChars! += chars;
    if (cache.size <= MASK_FRONT) {
      front.push(text);
      entries.push(e);
    }
  }
  f.lastMaskKey = text;
  f.lastMask = e;
  return e;
}

/**
 * A field's value as the detector reads it before masking: URL escapes undone (`percentDecode`), its secrets
 * masked before that (`maskSecrets`: an escaped `&` inside one, `%26`, must not end it) as well as after, by
 * `maskVolatile` (an escaped key, `password%3Dhunter2`).
 */
function fieldText(head: string): string {
  return head.includes('%') ? percentDecode(maskSecrets(head)) : head;
}

/** The masked form of a field's value (see `maskEntry`). */
function maskField(f: FieldState, text: string): string {
  return maskEntry(f, text)?.masked ?? maskVolatile(text);
}

interface Candidate {
  kind: AnomalyKind;
  score: number;
  confidence: number;
  why: string;
  field?: string;
  baseline?: Record<string, unknown>;
  /** The pattern the anomaly is about, when it is not the event's own (a pattern that went silent). */
  templateId?: number;
  /** A few words for the `also unusual:` note when another candidate is reported (`status "500"`). */
  brief?: string;
  /** A drift's tracker, told when its alert is reported (it is offered again until then). */
  drift?: DriftTracker;
}

interface PendingField {
  name: string;
  state: FieldState;
  value: string | number | boolean;
  /** The masked text of a string value; the category key of an integer one. */
  masked?: string;
  /** Its free-text score, when it was computed while scoring. */
  textScore?: number;
  /** Its text alerted: not learned (only its syntax, a little). */
  flagged: boolean;
  /** Its number alerted (`field_value`): not learned while its run lasts (see `NumericShift`). */
  outlier: boolean;
  /** The template of the run its number belongs to, if it alerted (see `NumericShift`). */
  template: number;
}

interface AlertedMessage {
  confidence: number;
  score: number;
  /** Alerts raised by the message so far, and the time of the first. */
  count: number;
  first: number;
  /** When the latest occasion began, and how many (see `VALUE_OCCASIONS`); absent in older snapshots. */
  occasion?: number;
  occasions?: number;
}

/**
 * A free-text field's value that alerted and was not learned since (a user agent, a referer, a query
 * string), remembered by its field and masked value: when it first alerted, and on how many separate
 * occasions since (see `VALUE_OCCASIONS`).
 */
interface AlertedValue {
  field: string;
  /** The masked value. */
  value: string;
  /** Event time of the first alert (0 when the stream had no time yet: then that of the first timed one). */
  first: number;
  /** Event time at which the latest occasion began: a repeat within half of `learnAfterMs` of it is part of it. */
  occasion: number;
  occasions: number;
  /** Alerts raised by the value so far. */
  count: number;
}

/** The why of the alert that makes a pattern normal: its "not normal yet" would contradict the note after it. */
function becomesNormal(why: string): string {
  return why.replace(/, not normal yet\b/g, '');
}

/** A run of numbers from a snapshot (see `NumericShift`), or undefined when it is not well formed. */
function restoreShift(x: unknown): NumericShift | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const r = x as Partial<Record<keyof NumericShift, unknown>>;
  const { template, high, accepted, before } = r;
  if (typeof high !== 'boolean' || typeof accepted !== 'boolean' || !Array.isArray(before) || before.length !== 2) return undefined;
  const numbers = [template, r.first, r.last, r.lastEvent, r.count, r.extreme, before[0], before[1]];
  if (!numbers.every((n) => typeof n === 'number' && Number.isFinite(n)) || !Number.isInteger(template)) return undefined;
  const [, first, last, lastEvent, count, extreme, lo, hi] = numbers as number[];
  return { template: template as number, high, first: first!, last: last!, lastEvent: lastEvent!, count: count!, extreme: extreme!, accepted, before: [lo!, hi!] };
}

/** What the last alert of a pattern (or a field's value, or a run of its numbers) that recurred long enough says. */
function recurringNote(timed: boolean, elapsedMs: number, count: number): string {
  return timed
    ? `; recurring for ${durationText(Math.round(elapsedMs / 1000))} (${count} times): now treated as normal`
    : `; recurring ${count} times: now treated as normal`;
}

/** The key of a field's value in `alertedValues`: a field name holds no NUL. */
function valueKey(field: string, value: string): string {
  return `${field}\u0000${value}`;
}

/** Messages remembered as alerted, at most (the least recently alerted are forgotten first). */
const MAX_ALERTED = 256;
/** Field values remembered as alerted, at most, over all fields of a stream (the least recently alerted go first). */
const MAX_ALERTED_VALUES = 256;
/** Field names a stream remembers having carried (see `fieldNames`). */
const MAX_FIELD_NAMES = 256;
/** How fast the share of events that bring a new field forgets: a running average over some 1,000 events. */
const NEW_FIELD_DECAY = 0.999;
/**
 * The weight (see `fieldWeight`) before which no field is news: some 700 events with fields. A field that is
 * news needs a stream that has kept to its fields for a while.
 */
const NEW_FIELD_MIN_WEIGHT = 0.5;
/**
 * A field's value that alerted becomes normal once it has come back on this many separate occasions, the
 * first and the last at least `learnAfterMs` apart. An occasion begins with an alert at least half of
 * `learnAfterMs` after the previous occasion began; the repeats in between belong to it, however many.
 *
 * Not `learnMinCount` alerts, as for a text message: a message that becomes normal is one that floods (an
 * error on every request), while a client with a new user agent comes back every few hours (the web eval's
 * feed reader, polling every 5 to 8 hours, alerted on every visit, and would have needed 100 of them, about
 * a month). What tells a client that keeps coming back from one attack going on is not how many requests
 * it makes but whether they are spread over time: a burst (a scanner sending the same payload 15 times in
 * a minute, or now and then for 40 minutes) is one occasion, or two, and keeps alerting. Three occasions,
 * half of `learnAfterMs` apart, are the fewest that show recurrence rather than one repeat, and they span
 * `learnAfterMs` by themselves; a client polling every minute gets its third at the end of that span. The
 * price: a payload that keeps coming for longer than `learnAfterMs` becomes normal too, as a flood of one
 * error message does.
 */
const VALUE_OCCASIONS = 3;
/** The OpenTelemetry severity number of ERROR. */
const ERROR_SEVERITY = 17;

const NUMBER_TEXT = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
const TIME_FIELD = /^(@?timestamp|time|ts|date|datetime|time_local|time_iso8601|@t)$/i;
const MESSAGE_FIELDS = ['message', 'msg', 'log', 'error', 'err', 'event', 'request', 'url', 'path'];
/**
 * Message fields before this rank say what happened (`msg: "request completed"`): their templates are kinds
 * of event, and numbers are also judged per template. Not a request line, URL or path: their templates are
 * resources (`GET /reset.css`), whose numbers (a file's size) hold still until a deploy changes them all.
 */
const KIND_MESSAGE_RANK = MESSAGE_FIELDS.indexOf('request');

function messageRankOf(name: string): number {
  const i = MESSAGE_FIELDS.indexOf(name);
  return i < 0 ? MESSAGE_FIELDS.length : i;
}
/**
 * How far a positive value lies beyond its field's tail, in units of the tail's own width (log space):
 * 1 means as far beyond the p99 as the p99 is beyond the median. A heavy-tailed field (response sizes)
 * has a wide tail and needs a far bigger jump than a tight one (latencies) to count.
 */
function tailDistance(value: number, v: { median: number; p99: number; p01: number }): number {
  const x = Math.log(value);
  const mid = Math.log(v.median);
  if (value >= v.median) return (x - Math.log(v.p99)) / Math.max(Math.log(v.p99) - mid, 0.1);
  return (Math.log(Math.max(v.p01, 1e-12)) - x) / Math.max(mid - Math.log(Math.max(v.p01, 1e-12)), 0.1);
}

/**
 * How far beyond the field's p99 (or below its p01) a value lies, in widths of that tail (median to p99),
 * on a linear scale: for fields that are not all positive (mostly 0, or negative), where ratios say nothing.
 */
function linearTailDistance(value: number, v: { median: number; p99: number; p01: number }): number {
  const floor = Math.max(Math.abs(v.median) * 0.05, 1e-9);
  if (value >= v.median) return (value - v.p99) / Math.max(v.p99 - v.median, floor);
  return (v.p01 - value) / Math.max(v.median - v.p01, floor);
}

/**
 * A silence's confidence: 1 - 1/(1 + the events it is missing), the seconds times the typical rate (at
 * least 1/s, the least a stream judged by its rate has). A stream of 1/s silent for 30 s: 0.968; nginx at
 * 20/s silent as long, 600 events missing: 0.998. Before, the seconds alone, whatever the rate: 0.968 for
 * both, under a Slack mention's 0.99, so a dead service never paged while a single 500 did.
 */
export function silenceConfidence(seconds: number, typicalPerSecond: number): number {
  return 1 - 1 / (1 + seconds * Math.max(1, typicalPerSecond));
}

/**
 * A regular pattern that stopped (see `TemplateRates.silent`) as a candidate. `since`: when it is told while
 * the stream is silent (`tick`), how long the whole stream has had no events.
 */
function stoppedPattern(silence: TemplateSilence, template: Template, since?: number): Candidate {
  return {
    kind: 'volume_drop',
    score: silence.seconds / silence.interval,
    // Regular gaps: missing for several of them is as good as certain news (the floor of the bar).
    confidence: 1 - Math.exp(-silence.seconds / silence.interval),
    why: `pattern ${quotePattern(templateText(template), 80)} stopped: not seen for ${spanText(silence.seconds)}, after coming every ${spanText(silence.interval)} (longest gap ${spanText(silence.longestGap)})` +
      (since === undefined ? '' : `; no events for ${durationText(since)} so far (still silent)`),
    baseline: { interval_seconds: silence.interval, longest_gap_seconds: silence.longestGap, ...(since === undefined ? {} : { silent_seconds: since }) },
    templateId: silence.template,
  };
}

/** A stream's live state, handed across a reload within one process (see `StreamDetector.liveState`). */
export interface LiveState {
  link: WallLinkState;
  silenceReported: boolean;
  /** The confidence the silence was told with, for the notice of its end (absent from older states). */
  silenceConfidence?: number;
  /** The silence was told in one alert with other streams' (see `markSilenceGrouped`). */
  silenceGrouped?: boolean;
  /** The pattern the silence was told of (a stopped pattern), absent when it was the stream's volume. */
  silenceTemplate?: string;
}

/** The end of a silence `tick()` reported while it lasted: the stream has an event again. */
export interface SilenceEnd {
  /** How long it was silent (its time from the last event before to the one after). */
  silentSeconds: number;
  /** The stream's time of its last event before the silence (epoch ms, as the source wrote it). */
  since: number;
  /** The confidence the silence was reported with. */
  confidence: number;
  /**
   * The pattern it was reported of (a stopped pattern), as the alert's `template`; absent when it was the
   * stream's volume. The notice of its end carries it, so that an output finds the incident it closes.
   */
  template?: string;
  /** The silence was told in one alert with other streams' (see `StreamDetector.markSilenceGrouped`). */
  grouped?: boolean;
}

export class StreamDetector {
  readonly id: string;
  private readonly o: DetectorOptions;
  /** Recent normal text of text events; made on first use (structured streams never need it). */
  private contentWindow: LzWindow | undefined;
  /** Free-text fields with a window of their own, at most `maxTextFields` (memory per stream is bounded). */
  private textFields = 0;
  /** Per-template numeric baselines, over all fields (at most `STREAM_TEMPLATE_NUMBERS`). */
  private templateNumbersKept = 0;
  /** No field can have gone stale before this event (see evictStaleField). */
  private noEvictionBefore = 0;
  private readonly contentCal = new ScoreCalibrator();
  private readonly templates = new TemplateMiner();
  private readonly learned = new Set<number>();
  /**
   * Text messages flagged for their text (new or unexplained) and not learned since, by signature: their
   * repeats keep alerting at the first alert's confidence, even when the text scores lower the next time (a
   * burst of the same new error is one incident still going on, not normal yet), until they have recurred
   * for `learnAfterMs` and `learnMinCount` times.
   */
  private readonly alerted = new Map<string, AlertedMessage>();
  /**
   * Signatures of text messages that alerted until they recurred long enough to be normal, at most
   * `MAX_ALERTED` (the least recently accepted are forgotten first): their text is not news again when the
   * content window has forgotten it (see the content candidate in `observe`).
   */
  private readonly normalSignatures = new Set<string>();
  /**
   * Free-text field values flagged and not learned since, by field and masked value (`valueKey`): each
   * keeps alerting until it has recurred on `VALUE_OCCASIONS` occasions over `learnAfterMs`, and is then
   * learned into its field's text baseline.
   */
  private readonly alertedValues = new Map<string, AlertedValue>();
  private readonly fields = new Map<string, FieldState>();
  /** Counts the changes of `fields` (a field added or evicted): what `seenNames` found is good until it moves. */
  private fieldsVersion = 0;
  /**
   * The names of the last structured events' fields by their place in the event, and what each was: its
   * state, or undefined for a time field (see `observe`). Events of a stream mostly carry the same fields in
   * the same order: a name found again in its place is found without a map lookup.
   */
  private readonly seenNames: string[] = objectArray();
  private readonly seenStates: Array<FieldState | undefined> = objectArray();
  private seenVersion = -1;
  /** Whether any event of the stream carried its own time (then arrival times are not used). */
  private eventTimed = false;
  /** Names of fields that hold the event's time (not scored), found once. */
  private readonly timeFields = new Set<string>();
  private volume = new VolumeBaseline();
  private readonly templateRates = new TemplateRates();
  /** The second of event time in which silent patterns were last looked for. */
  private silenceCheckedAt = -1;
  /**
   * The share of normal events that came with a template never seen before: a running average over about
   * 200 events from 0, divided by the running average of 1s (`seenWeight`), so that the first events count
   * for what they are. Structured events use it as it is. Text streams read it with a prior of 0.5 that
   * fades as the events come (`priorTemplateRate`): without the prior, BGL's early new FATAL templates
   * alert (F1 0.611 -> 0.565); with it, a structured stream of one message needed some 320 events before a
   * new error pattern reached a confidence of 0.9.
   */
  private newTemplateShare = 0;
  private seenWeight = 0;
  /**
   * Names of the fields the stream has carried, in the order it last carried them (see `carries`), the
   * least recently carried forgotten first past `MAX_FIELD_NAMES`: a field whose slot was freed for another
   * (see `evictStaleField`) is no new field when it comes back, nor is one that every event carries beyond
   * the fields the stream keeps (`maxFields`), however many names came and went since it was first seen.
   */
  private readonly fieldNames = new Set<string>();
  /**
   * The share of structured events that brought a field never seen before (an `exception` or `stack_trace`
   * that only errors carry), over about the last 1,000, and the weight of that average, as for templates: a
   * new field is news in a stream that keeps to its fields, not in one whose keys are made of data.
   */
  private newFieldShare = 0;
  private fieldWeight = 0;
  /** The event's fields that no event of the stream carried before (indexes into `scanNames`). */
  private readonly newFields: number[] = [];
  /** The event's fields without a state that the stream carried before (indexes into `scanNames`). */
  private readonly knownAgain: number[] = [];
  events = 0;
  anomalies = 0;
  lastSeen = 0;
  private readonly clock = new StreamClock();
  /** The stream's time against the caller's clock, for `tick()`: set by events that say when they were received. */
  private readonly link = new WallLink();
  /**
   * `tick()` reported the current silence while it lasted: the event that ends it does not report it again
   * (nor its patterns as stopped), and no tick reports it twice.
   */
  private silenceReported = false;
  private silenceConfidence = 0;
  /** The `template` of the told silence's alert: '' for the stream's volume. */
  private silenceTemplate = '';
  /** The told silence was one alert with other streams' (`markSilenceGrouped`): its end is told with theirs. */
  private silenceGrouped = false;
  /** Set by the event that ends a silence `tick()` reported, until `takeSilenceEnd()`. */
  private silenceEnd: SilenceEnd | undefined;
  /** Restored from a snapshot and not yet given a timed event (see `observe`). */
  private resumed = false;
  /**
   * Restored after a reload, with the live link of the detector the reload replaced (`adoptLive`): the
   * stream was live in this process, so its silence is told while resumed (a silence that began before the
   * reload is one).
   */
  private liveAcrossReload = false;
  // Scratch of the event being observed (observe runs to its end before the next one), kept between events
  // so that an ordinary event allocates almost nothing: its candidates, its fields to learn (`pendingCount`
  // of the reused `pending` entries), its template and that template's readable text once made.
  private readonly candidates: Candidate[] = objectArray();
  private readonly scanNames: string[] = objectArray();
  private readonly scanStates: Array<FieldState | undefined> = objectArray();
  private readonly scanValues: Array<string | number | boolean> = objectArray();
  private readonly pending: PendingField[] = objectArray();
  private pendingCount = 0;
  private template: Template | undefined;
  /** The event has no message (only fields): its template is its severity alone, not worth naming. */
  private messageless = false;
  /** The event's message says what happened (a `msg`, not a request line): its numbers are judged per template too. */
  private kindMessage = false;
  private templateName: string | undefined;
  /**
   * Whether the event has a time of its own (not its arrival): what slow drifts are measured in (see
   * `trackDrift`); then that time and its minute since the epoch. Kept as numbers always, not undefined
   * when there is none: a field that may hold undefined holds a number as an object, made anew each event.
   */
  private driftTimed = false;
  private driftNow = 0;
  private driftMinute = 0;
  private readonly volumeOptions: VolumeOptions;
  private readonly burstOptions: { minCount: number; factor: number; minAgeSeconds: number };

  constructor(id: string, options: DetectorOptions) {
    this.id = id;
    this.o = options;
    this.volumeOptions = { spikeFactor: options.spikeFactor, minRate: options.minSpikeRate, minHistory: 30, learnAfterMs: options.learnAfterMs, minSilence: options.minSilenceSeconds };
    this.burstOptions = { minCount: Math.ceil(options.minSpikeRate / 2), factor: options.spikeFactor, minAgeSeconds: 600 };
  }

  /** The event's template as people read it: only needed for a why, so made on first use. */
  private tmpl(): string {
    return (this.templateName ??= unmask(templateText(this.template!)));
  }

  /**
   * The event's pattern, quoted for a why. An event of several lines (a stack trace or a panic joined by a
   * multiline rule) is named by its first line, which says what happened (`<ts> ERROR [main] c.a.Orders -
   * Failed to persist order <num>`, `panic: runtime error: ...`), and how many lines follow: with the
   * middle of the whole template cut, the quote ended in the last frame read (`... <num> common frames
   * omitted`, `server.go:<num> +<num>x<num>cb`) and the message was what got cut.
   */
  private patternQuote(masked: string): string {
    const nl = masked.indexOf('\n');
    const first = nl < 0 ? 0 : TemplateMiner.tokenize(masked.slice(0, nl)).length;
    const tokens = this.template!.tokens;
    if (first === 0 || first >= tokens.length) return quotePattern(this.tmpl(), 100);
    let more = 0;
    for (const line of masked.slice(nl + 1).split('\n')) if (line.trim() !== '') more += 1;
    return `${quotePattern(tokens.slice(0, first).join(' '), 100)} and ${more} more line${more === 1 ? '' : 's'}`;
  }

  private get content(): LzWindow {
    return (this.contentWindow ??= new LzWindow(this.o.windowChars, 16, 512));
  }

  /** Gives a field a free-text baseline, unless the stream has as many as it may keep. */
  private makeText(f: FieldState, required = true): boolean {
    if (this.textFields >= this.o.maxTextFields) {
      // A field that is no category any more needs a text model to be scored at all: it takes the slot of
      // one kept beside a category that still stands (that field is still scored as a category).
      let freed = false;
      if (required) {
        for (const other of this.fields.values()) {
          if (other.text && other.categorical && !other.categorical.overflow) {
            other.text = undefined;
            other.textCal = undefined;
            this.textFields -= 1;
            freed = true;
            break;
          }
        }
      }
      if (!freed) {
        // Without one, a field that is no category any more cannot be scored; one that still is stays one.
        if (required) {
          f.ignored = true;
          f.categorical = undefined;
        }
        return false;
      }
    }
    this.textFields += 1;
    f.text = new TextFieldBaseline(this.o.fieldWindowChars);
    f.textCal = new ScoreCalibrator(512);
    return true;
  }

  /** Scores one event, learns from it unless it is flagged, and returns the anomaly if there is one. */
  observe(input: DetectorInput): Anomaly | undefined {
    // A blank line (spaces, tabs) says nothing: not scored, not learned, not counted.
    if (saysNothing(input)) return undefined;
    this.events += 1;
    // A stream whose events carry their own time must not mix in arrival times (a line whose timestamp
    // could not be read): the jump would look like a silence or a spike. Such an event is untimed.
    // A time no Date can hold (a nanosecond epoch read as one in ms, NaN) is no time at all.
    const time = dateable(input.time);
    if (time !== undefined && !input.arrivalTime) this.eventTimed = true;
    let timed = time !== undefined && !(input.arrivalTime && this.eventTimed);
    const previous = this.lastSeen;
    // The second of the last event before this one (a restore's resume below moves it to this event's).
    const lastSecond = this.volume.second;
    let now = this.lastSeen;
    if (timed) {
      // The stream's clock: a timestamp far off the stream's time is held out (untimed) unless the next
      // one confirms that the source's clock stepped (see stream-clock.ts).
      const c = this.clock.map(time!);
      if (c === undefined) timed = false;
      else now = c;
    }
    const resumedNow = this.resumed && timed;
    if (resumedNow) {
      // The first event after a restore: the time since the snapshot's last event was the daemon's.
      this.resumed = false;
      this.liveAcrossReload = false;
      this.volume.resume(now);
      this.templateRates.resume(now, this.lastSeen);
    }
    this.lastSeen = now;
    // A line with no time of its own in a stream that has event time (a stack frame, a "Caused by:" line
    // under a timed header) takes the time of the line before it, for what it makes normal: untimed, it
    // could never be (see `longEnough`), and once it alerted in an incident it alerted with every routine
    // trace after. Not a line whose time was held out as far off (see stream-clock.ts).
    const learnTimed = timed || (this.eventTimed && now !== 0 && (time === undefined || input.arrivalTime === true));
    if (timed && input.receivedAt !== undefined) this.link.observe(this.clock.latest ?? now, input.receivedAt);
    const warm = this.events > this.o.warmup;
    this.driftTimed = timed && !input.arrivalTime;
    if (this.driftTimed) {
      this.driftNow = now;
      this.driftMinute = Math.floor(now / 60_000);
    }
    const candidates = this.candidates;
    candidates.length = 0;
    this.pendingCount = 0;

    // The event that ends a silence `tick()` reported while it lasted: one alert per silence. Also the first
    // event after a restore when the silence was told before the stop (the snapshot keeps that it was): the
    // silence was said, and so is its end, however long the daemon was down in between.
    const reportedSilenceEnds = timed && this.silenceReported && Math.floor(now / 1000) > lastSecond;
    if (reportedSilenceEnds) {
      this.silenceReported = false;
      this.silenceEnd = { silentSeconds: Math.max(0, (now - previous) / 1000), since: this.clock.sourceTime(previous), confidence: this.silenceConfidence, ...(this.silenceTemplate ? { template: this.silenceTemplate } : {}), ...(this.silenceGrouped ? { grouped: true } : {}) };
      this.silenceGrouped = false;
    }
    // Volume, in event time.
    const volume = timed && this.volume.observe(now, this.volumeOptions);
    // The whole stream fell silent (reported as a volume drop): that silence is not each pattern's own, or
    // the first line after it would say a heartbeat stopped instead of that the stream did.
    // (After a restore the resume above has done so already: a second one would move each pattern twice.)
    if ((volume && volume.kind === 'volume_drop') || (reportedSilenceEnds && !resumedNow)) this.templateRates.resume(now, previous);
    if (volume && warm && !(reportedSilenceEnds && volume.kind === 'volume_drop')) {
      // A silence's factor is its seconds; a partial drop's how many times below the typical rate it fell.
      const confidence = volume.partial ? 1 - 1 / (1 + volume.factor * volume.factor) : volume.kind === 'volume_drop' ? silenceConfidence(volume.factor, volume.typical) : this.volume.confidence(volume.rate);
      candidates.push({
        kind: volume.kind,
        score: volume.factor,
        confidence,
        why: volume.sustained
          ? `volume up to ${fmt(volume.sustained.peak)} events a second for ${durationText(volume.sustained.seconds)} since ${isoTime(this.clock.sourceTime(volume.sustained.firstSecond * 1000))} vs typical ${fmt(volume.typical)}/s before: lasted long enough, now treated as normal`
          : (volume.kind === 'volume_spike'
          ? volume.typical >= 1
            ? `volume ${fmt(volume.rate)} events in one second so far vs typical ${fmt(volume.typical)}/s (${fmt(volume.factor)}x)`
            // A sparse stream: most seconds have no event, so the median says nothing; its busy seconds do.
            : `volume ${fmt(volume.rate)} events in one second so far; the stream usually has under 1/s, at most ${fmt(this.volume.busiest)} in its busiest seconds`
          : volume.partial
            ? `volume dropped to ${fmt(volume.rate)}/s over the last ${durationText(volume.seconds!)} vs typical ${fmt(volume.typical)}/s (${fmt(Math.round((1 - volume.rate / volume.typical) * 100))}% lower)`
            : `volume dropped: no events for ${durationText(volume.seconds!)} vs typical ${fmt(volume.typical)}/s`) +
          (volume.recurring
            ? `; a burst every ${durationText(volume.recurring.periodSeconds)} since ${isoTime(this.clock.sourceTime(volume.recurring.firstSecond * 1000))} (${volume.recurring.times} times): now treated as normal`
            : ''),
        baseline: { typical_per_second: volume.typical },
      });
    }

    // Template of the event's message.
    const fields = input.fields;
    // Only the head of a huge event is read: enough to tell its pattern, and it cannot flush the baseline.
    let message = headOf(input.text, MAX_TEXT);
    let messageField: FieldState | undefined;
    // One walk over the event's fields finds their states (and skips time fields) for scoring below, and
    // the message field: the first of MESSAGE_FIELDS, in that order, that holds text.
    let fieldCount = 0;
    if (fields) {
      let messageRank = MESSAGE_FIELDS.length;
      let messageIndex = -1;
      let unknown = 0;
      if (this.seenVersion !== this.fieldsVersion) {
        this.seenNames.length = 0;
        this.seenVersion = this.fieldsVersion;
      }
      let place = -1;
      for (const name in fields) {
        const value = fields[name];
        place += 1;
        if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
          // A field carried without a value (`"user_id": null` on an anonymous request) is carried all the
          // same: its first value is no new field.
          if (value === null && !this.fields.has(name)) this.carries(name);
          continue;
        }
        let f: FieldState | undefined;
        if (name === this.seenNames[place]) {
          f = this.seenStates[place];
          if (f === undefined) continue; // a time field
        } else {
          // A field with a state is no time field (those never get one): one lookup for most fields.
          f = this.fields.get(name);
          if (f === undefined) {
            if (this.timeFields.has(name) || TIME_FIELD.test(name)) {
              this.timeFields.add(name);
              this.seenNames[place] = name;
              this.seenStates[place] = undefined;
              continue;
            }
          } else {
            this.seenNames[place] = name;
            this.seenStates[place] = f;
          }
        }
        if (f === undefined) unknown += 1;
        else f.lastEvent = this.events;
        const rank = f ? f.messageRank : messageRankOf(name);
        if (rank < messageRank && typeof value === 'string' && value) {
          messageRank = rank;
          message = headOf(value, MAX_TEXT);
          messageIndex = fieldCount;
        }
        this.scanNames[fieldCount] = name;
        this.scanStates[fieldCount] = f;
        this.scanValues[fieldCount] = value;
        fieldCount += 1;
      }
      this.newFields.length = 0;
      this.knownAgain.length = 0;
      if (unknown > 0) {
        // Fields seen for the first time get their states now, the message field first: a wide event
        // (more fields than the stream keeps) must not crowd out its message.
        if (messageIndex >= 0 && this.scanStates[messageIndex] === undefined) this.scanStates[messageIndex] = this.firstSight(messageIndex);
        for (let k = 0; k < fieldCount; k++) if (this.scanStates[k] === undefined) this.scanStates[k] = this.firstSight(k);
        // The names it knew are the most recently carried once its new ones are in: an event that brought more
        // names than the stream remembers (a dump of settings, flattened) must not push out those that every
        // event carries beyond the fields kept.
        for (const k of this.knownAgain) this.carries(this.scanNames[k]!);
      }
      if (messageIndex >= 0) messageField = this.scanStates[messageIndex];
      this.kindMessage = messageRank < KIND_MESSAGE_RANK;
    } else this.kindMessage = false;
    // A message field's value keeps the level it states beside its mask: most messages repeat.
    const messageMask = messageField ? maskEntry(messageField, message) : undefined;
    const maskedMessage = messageMask ? messageMask.masked : maskVolatile(message);
    this.messageless = maskedMessage === '';
    if (this.messageless) this.kindMessage = false;
    let severity = input.severity;
    if (severity === undefined) {
      if (messageMask === undefined) severity = levelOf(message);
      else severity = messageMask.level === null ? (messageMask.level = levelOf(message)) : messageMask.level;
    }
    const sevName = severityName(severity);
    const { template, isNew } = this.templates.addMessage(maskedMessage, now, sevName, Boolean(fields));
    this.template = template;
    this.templateName = undefined;
    const known = this.learned.has(template.id);

    // The pattern's own rate: an existing pattern (an error that usually comes now and then) flooding.
    if (timed && warm && known) {
      const burst = this.templateRates.observe(template.id, now, this.burstOptions);
      if (burst) {
        candidates.push({
          kind: 'volume_spike',
          score: burst.factor,
          confidence: burst.confidence,
          why: `volume of pattern ${quotePattern(this.tmpl(), 80)}: ${fmt(burst.count)}/s vs typical ${fmt(burst.typical)}/s (${fmt(burst.factor)}x)`,
          baseline: { typical_per_second: burst.typical },
        });
      }
    } else if (timed) {
      this.templateRates.observe(template.id, now, NO_BURSTS);
    }

    // A steady pattern that stopped while the stream goes on: looked for once a second of event time, and
    // at every event while one is found but loses to another candidate (the errors that came instead).
    if (timed && warm && Math.floor(now / 1000) !== this.silenceCheckedAt) {
      // Only patterns learned as normal: an error that alerted and then stops is no news.
      const silence = this.templateRates.silent(now, 600, (id) => this.learned.has(id));
      const silent = silence && this.templates.get(silence.template);
      if (!silent) this.silenceCheckedAt = Math.floor(now / 1000);
      if (silence && silent) {
        candidates.push(stoppedPattern(silence, silent));
      }
    }

    // The message's signature (see `messageSignature`), made when needed: while some message is remembered
    // as alerted or accepted, or when this one alerts.
    let signature: string | undefined;
    // Whole-event content, for text events.
    let contentRatio = 0;
    let contentRuns: Array<[number, number]> | undefined;
    const maskedText = fields ? '' : maskedMessage;
    if (!fields) {
      const cost = this.content.cost(maskedText);
      contentRatio = cost.ratio * severityWeight(severity);
      contentRuns = cost.literalRuns;
      // A message that recurred long enough to be accepted as normal is no news for its text: unexplained
      // again only because the window has moved on since its last burst (a flapping error, an hourly job).
      // Its text joins the window as any normal event's. Not a new template with the same words.
      const accepted = known && this.normalSignatures.size > 0 &&
        this.normalSignatures.has((signature = messageSignature(TemplateMiner.messageTokens(maskedMessage))) ?? '');
      if (warm && contentRatio >= this.o.contentFloor && !accepted) {
        const confidence = this.contentCal.confidence(contentRatio);
        const novel = !known;
        const text = newText(maskedText, contentRuns);
        candidates.push({
          kind: novel ? 'new_pattern' : 'content',
          score: contentRatio,
          confidence,
          why: novel
            ? `new ${sevName ? sevName.toLowerCase() + ' ' : ''}pattern ${this.patternQuote(maskedMessage)}${isNew ? '' : seenSince(template, timed, this.clock)}${text ? `: unexplained text ${text}` : ''}`
            : `unusual text ${text || quote(maskedText)} (compression distance ${cost.ratio.toFixed(2)})`,
        });
      }
    }

    // A text message that alerted before and was not learned since keeps alerting while it recurs.
    // Only needed while some message is remembered as alerted, or when this one alerts.
    if (signature === undefined && !fields && this.alerted.size > 0) signature = messageSignature(TemplateMiner.messageTokens(maskedMessage));
    const alerted = signature !== undefined && warm ? this.alerted.get(signature) : undefined;
    let again: Candidate | undefined;
    if (alerted) {
      candidates.push(again = {
        kind: 'new_pattern',
        score: alerted.score,
        confidence: alerted.confidence,
        why: `${sevName ? sevName.toLowerCase() + ' ' : ''}message ${quote(signature!, 100)} again: ${alerted.count} alert${alerted.count === 1 ? '' : 's'} since ${learnTimed ? isoTime(this.clock.sourceTime(alerted.first)) : 'it first appeared'}, not normal yet`,
      });
    }

    // A never-seen template of an error is a pattern of its own, however well its words compress: a new
    // error on a route, or a Java logger's new ERROR line that shares its long prefix with the INFO lines.
    // Warnings are not: every new path that answers 404 would be one.
    // An event with no message at all (only watched fields: `fields: [response_time]`) has no pattern to
    // speak of: its template is its severity alone, and "new error pattern [ERROR]" would name nothing.
    if (warm && !known && (severity ?? 0) >= 17 && !this.messageless) {
      const rate = fields && this.seenWeight > 0 ? this.newTemplateShare / this.seenWeight : this.priorTemplateRate;
      const confidence = 1 - Math.max(rate, 1e-4);
      const text = contentRuns ? newText(maskedText, contentRuns) : '';
      candidates.push({
        kind: 'new_pattern',
        score: 1,
        confidence: isNew ? confidence : confidence * 0.999,
        why: `new ${sevName.toLowerCase()} pattern ${this.patternQuote(maskedMessage)}${isNew ? ' (first seen)' : seenSince(template, timed, this.clock)}${text ? `: unexplained text ${text}` : ''}`,
      });
    }

    // Fields of structured events.
    for (let k = 0; k < fieldCount; k++) {
      const state = this.scanStates[k];
      // No state: the stream keeps as many fields as it may (`maxFields`), and this one came too late.
      if (state === undefined) continue;
      const c = this.scoreField(this.scanNames[k]!, state, this.scanValues[k]!, warm, timed, now);
      if (c) candidates.push(c);
    }
    if (fields) {
      const fresh = this.newFields.length > 0;
      if (fresh && warm) {
        const c = this.newFieldCandidate();
        if (c) candidates.push(c);
      }
      this.newFieldShare = this.newFieldShare * NEW_FIELD_DECAY + (fresh ? 1 - NEW_FIELD_DECAY : 0);
      this.fieldWeight = this.fieldWeight * NEW_FIELD_DECAY + (1 - NEW_FIELD_DECAY);
    }

    // Decide.
    let best: Candidate | undefined;
    for (const c of candidates) {
      if (c.confidence >= this.o.threshold && (!best || c.confidence > best.confidence || (c.confidence === best.confidence && c.score > best.score))) best = c;
    }

    // A pattern that has recurred long enough becomes normal; its last alert says so.
    let accept = false;
    // By time in a stream that has event time, even on a line without one (its timestamp unreadable): by
    // count alone only in a stream that never had any.
    if (!known && template.count >= this.o.learnMinCount && this.longEnough(learnTimed, now, template.firstSeen, template.count)) {
      accept = true;
      this.learned.add(template.id);
      if (best && best.templateId === undefined) best.why = becomesNormal(best.why) + recurringNote(learnTimed, now - template.firstSeen, template.count);
    } else if (alerted && (alerted.count + 1 >= this.o.learnMinCount || ((severity ?? 0) < ERROR_SEVERITY && this.occasionsWith(alerted, learnTimed, now) >= VALUE_OCCASIONS)) &&
      this.longEnough(learnTimed, now, alerted.first || now, alerted.count + 1)) {
      accept = true;
      if (best && best.templateId === undefined) best.why = becomesNormal(best.why) + recurringNote(learnTimed, now - alerted.first, alerted.count + 1);
    }

    if (best && !accept) {
      this.anomalies += 1;
      // Warnings, errors and lines with no level: a DEBUG or INFO line keeps alerting only while its own
      // text does (flagged at night, a routine DEBUG line alerted by its signature until its 100th time).
      if (!fields && (best.kind === 'new_pattern' || best.kind === 'content') && (severity === undefined || severity >= 13)) {
        signature ??= messageSignature(TemplateMiner.messageTokens(maskedMessage));
        if (signature !== undefined) this.rememberAlert(signature, best, learnTimed, now);
      }
      // A repeat alerts by its signature, whatever its text scores. When nothing else in it would alert
      // (its text is explained by now), its text joins the window, so that the messages around it (the
      // same crash's other lines) are judged as they were before it repeated.
      if (best === again && !candidates.some((c) => c !== again && c.confidence >= this.o.threshold)) this.content.append(maskedText);
      // Field values are learned even from a flagged event: categories move the baseline only by their
      // share (a second status 500 is still rare), and the other fields of the event are ordinary. A number
      // that alerted is not learned while its run lasts (see `NumericShift`): a flood of slow responses keeps
      // alerting until it has lasted `learnAfterMs`, and the alert that accepts it says so. Free text that
      // was flagged is not learned, so a repeated injection keeps alerting; only its syntax counts, a tenth,
      // so that a new form of value that keeps coming back (some 20 times) becomes normal. That holds for
      // every text field that alerted, not only the one reported: a payload in the query string is in
      // `request` too, and learning it in one field while reporting the other would make it normal there. A
      // value that has alerted on `VALUE_OCCASIONS` occasions over `learnAfterMs` (a new client that keeps
      // coming back) is learned after all, and its alert says so.
      for (let k = 0; k < this.pendingCount; k++) {
        const p = this.pending[k]!;
        if (typeof p.value === 'number') {
          const c = candidates.find((x) => x.kind === 'field_value' && x.field === p.name && x.confidence >= this.o.threshold);
          p.outlier = c !== undefined && this.outlierRun(p.state, p.template, p.value, c, timed, now);
          continue;
        }
        const c = candidates.find((x) => x.kind === 'field_content' && x.field === p.name && x.confidence >= this.o.threshold);
        if (c === undefined) continue;
        const recurred = p.masked !== undefined ? this.rememberValueAlert(p.name, p.masked, timed, now) : undefined;
        if (recurred) {
          c.why += recurringNote(timed, now - recurred.first, recurred.count);
          if (c.brief) c.brief += ' (now normal)';
          continue;
        }
        p.flagged = true;
        if (p.masked !== undefined) p.state.text?.learnSyntax(p.masked, 0.1);
      }
      this.learnFields(timed, now);
      return this.report(best);
    }

    // Learn from a normal event.
    if (!warm || !best || accept) {
      this.learned.add(template.id);
      if (signature !== undefined) this.alerted.delete(signature);
      if (accept && !fields) {
        signature ??= messageSignature(TemplateMiner.messageTokens(maskedMessage));
        if (signature !== undefined) {
          this.normalSignatures.delete(signature);
          this.normalSignatures.add(signature);
          if (this.normalSignatures.size > MAX_ALERTED) this.normalSignatures.delete(this.normalSignatures.values().next().value!);
        }
      }
      this.newTemplateShare = this.newTemplateShare * 0.995 + (isNew ? 0.005 : 0);
      this.seenWeight = this.seenWeight * 0.995 + 0.005;
      if (!fields) {
        // The first events meet an empty baseline and all look new: they say nothing about normal scores.
        if (this.events > this.o.warmup / 2) this.contentCal.add(contentRatio);
        this.content.append(maskedText);
      }
      this.learnFields(timed, now);
    }
    if (best && accept) {
      this.anomalies += 1;
      return this.report(best);
    }
    return undefined;
  }

  /**
   * The stream's silence while it lasts, at `now` on the caller's clock (the clock that gave the events'
   * `receivedAt`): what the next event would report if it came now, the stream's time being its latest
   * event's plus the time gone by since it was received. A stream that usually has at least one event a
   * second is silent after `minSilenceSeconds` (a volume drop); a sparser one when a regular pattern
   * learned as normal (a heartbeat) is overdue by the rule of `TemplateRates.silent`. Reported once: the
   * event that ends the silence does not report it again.
   *
   * Nothing is said of a stream that is not warm, was restored from a snapshot and has had no event since
   * (the daemon's own downtime is no silence), or is not live: its events came far behind the caller's
   * clock (a file of last week, a catch-up), so its end is no silence (see `WallLink`).
   */
  tick(now: number): Anomaly | undefined {
    if (this.silenceReported || (this.resumed && !this.liveAcrossReload) || this.events <= this.o.warmup) return undefined;
    const t = this.link.clockTime(now);
    if (t === undefined) return undefined;
    const since = Math.floor(t / 1000) - this.volume.second - 1;
    let found: Candidate | undefined;
    let about: Template | undefined;
    const volume = this.volume.silence(t, this.volumeOptions);
    if (volume) {
      found = {
        kind: 'volume_drop',
        score: volume.factor,
        confidence: silenceConfidence(volume.factor, volume.typical),
        why: `volume dropped: no events for ${durationText(volume.seconds!)} so far vs typical ${fmt(volume.typical)}/s (still silent)`,
        baseline: { typical_per_second: volume.typical, silent_seconds: volume.seconds! },
      };
    } else if (this.volume.typical < 1 && since >= this.o.minSilenceSeconds) {
      // Too sparse for a typical rate: its regular patterns say when it should have spoken. Not before the
      // stream as a whole has been silent as long as a busy stream must be: a lull of a few seconds in a
      // stream whose typical rate went to 0 (it was silent for minutes before) is no silence yet.
      const silence = this.templateRates.silent(t, 600, (id) => this.learned.has(id));
      about = silence && this.templates.get(silence.template);
      if (silence && about) found = stoppedPattern(silence, about, since);
    }
    if (!found || found.confidence < this.o.threshold) return undefined;
    this.silenceReported = true;
    this.silenceGrouped = false;
    this.anomalies += 1;
    const told = this.anomalyOf(found, about ? unmask(templateText(about)) : '', about ? about.id : -1);
    this.silenceConfidence = told.confidence;
    this.silenceTemplate = told.template;
    return told;
  }

  /**
   * The end of a silence reported while it lasted, once: set by the event that ends it (`observe`), for the
   * caller to say that the stream is back.
   */
  takeSilenceEnd(): SilenceEnd | undefined {
    const end = this.silenceEnd;
    this.silenceEnd = undefined;
    return end;
  }

  /**
   * The silence just told was said in one alert with other streams' (many went silent at once): its end is
   * to be told with theirs, not alone (`SilenceEnd.grouped`).
   */
  markSilenceGrouped(): void {
    if (this.silenceReported) this.silenceGrouped = true;
  }

  /** The told silence's pattern, as state keeps it: nothing for the stream's volume. */
  private silencePattern(): { silenceTemplate?: string } {
    return this.silenceTemplate ? { silenceTemplate: this.silenceTemplate } : {};
  }

  /**
   * What a reload hands to this stream's next detector in the same process (`adoptLive`): its link to the
   * caller's clock and whether its current silence was told. Undefined for a stream never live.
   */
  liveState(): LiveState | undefined {
    const link = this.link.state();
    return link === undefined ? undefined : { link, silenceReported: this.silenceReported, silenceConfidence: this.silenceConfidence, ...this.silencePattern(), ...(this.silenceGrouped ? { silenceGrouped: true } : {}) };
  }

  /** Takes `liveState()` of the detector a reload replaced, for a stream restored from its snapshot. */
  adoptLive(state: LiveState): void {
    if (!this.resumed) return;
    this.link.adopt(state.link);
    this.silenceReported = state.silenceReported;
    this.silenceConfidence = state.silenceConfidence ?? this.o.threshold;
    this.silenceGrouped = state.silenceReported && state.silenceGrouped === true;
    this.silenceTemplate = (state.silenceReported && state.silenceTemplate) || '';
    this.liveAcrossReload = true;
  }

  /**
   * The stream's time (ms, as its source writes it) at `now` on the caller's clock, when it is live: in whole
   * milliseconds, as events' times are (the caller's clock has fractions of one).
   */
  sourceTimeAt(now: number): number | undefined {
    const t = this.link.clockTime(now);
    return t === undefined ? undefined : Math.floor(this.clock.sourceTime(t));
  }

  /** The anomaly for the winning candidate; a silent pattern's silence counts as reported. */
  private report(best: Candidate): Anomaly {
    best.drift?.reported();
    // Other fields of the same event that alerted too are named after the reported one: a first POST that
    // also answered 500 must not hide the 500.
    let also = '';
    for (const c of this.candidates) {
      if (c === best || !c.brief || c.field === best.field || c.confidence < this.o.threshold) continue;
      if (also.length > 80) break;
      also += `${also ? ', ' : '; also unusual: '}${c.brief}`;
    }
    if (also) best = { ...best, why: best.why + also };
    let about: Template | undefined;
    if (best.templateId !== undefined) {
      this.templateRates.reported(best.templateId);
      this.silenceCheckedAt = -1;
      about = this.templates.get(best.templateId);
    }
    return this.anomalyOf(best, about ? unmask(templateText(about)) : this.tmpl(), about ? about.id : this.template!.id);
  }

  /** A candidate as the anomaly reported: score and confidence to four decimals, a confidence never 1. */
  private anomalyOf(c: Candidate, template: string, templateId: number): Anomaly {
    return {
      kind: c.kind,
      score: Number(c.score.toFixed(4)),
      confidence: Number(Math.min(c.confidence, 0.9999).toFixed(4)),
      why: c.why,
      stream_id: this.id,
      template,
      template_id: templateId,
      ...(c.field !== undefined ? { field: c.field } : {}),
      ...(c.baseline ? { baseline: c.baseline } : {}),
    };
  }

  private rememberAlert(signature: string, c: Candidate, timed: boolean, now: number): void {
    const a = this.alerted.get(signature);
    // Re-inserted last: the map's order is the order of forgetting. A message first alerted before the
    // stream had any time of its own (first 0) starts its hour with the first timed repeat.
    this.alerted.delete(signature);
    // Alerting again, it is no longer taken as normal.
    this.normalSignatures.delete(signature);
    let occasion = a?.occasion ?? a?.first ?? now;
    let occasions = a?.occasions ?? 1;
    if (a && timed && this.occasionsWith(a, timed, now) > occasions) {
      occasion = now;
      occasions += 1;
    }
    this.alerted.set(signature, a
      ? { confidence: Math.max(a.confidence, c.confidence), score: Math.max(a.score, c.score), count: a.count + 1, first: a.first || now, occasion: a.first ? occasion : now, occasions }
      : { confidence: c.confidence, score: c.score, count: 1, first: now, occasion: now, occasions: 1 });
    if (this.alerted.size > MAX_ALERTED) this.alerted.delete(this.alerted.keys().next().value!);
  }

  /**
   * The separate occasions of an alerted message counting a repeat at `now`: one more when it comes at
   * least half of `learnAfterMs` after its latest occasion began (see `VALUE_OCCASIONS`). A message that
   * comes back on separate occasions over `learnAfterMs` (a warning with its trace every ten minutes, a
   * daily job's line) is normal by then, as a field's value is, however few its alerts: by a count of 100
   * it took 17 hours at one every ten minutes, and 100 days at one a day. A flood is normal after
   * `learnAfterMs` either way. Only on a timed event, of a message first alerted on one; and only for a
   * message below error (a warning, a line with no level is not one): the same error or fatal coming back
   * now and then over weeks is a fault that recurs, not a routine (BGL's recurring FATAL lines, each an
   * incident, were all taken as normal by their third occasion: F1 0.611 -> 0.346).
   */
  private occasionsWith(a: AlertedMessage, timed: boolean, now: number): number {
    const occasions = a.occasions ?? 1;
    if (!timed || !a.first) return occasions;
    return now - (a.occasion ?? a.first) >= this.o.learnAfterMs / 2 ? occasions + 1 : occasions;
  }

  /**
   * Counts a number that alerted in its field's run (see `NumericShift`), which it begins when there is
   * none going on on its side. Returns whether the number stays out of the baseline: all of a run's do
   * until it has lasted long enough, when the alert says that such numbers are now normal.
   */
  private outlierRun(f: FieldState, template: number, value: number, c: Candidate, timed: boolean, now: number): boolean {
    const high = value >= (c.baseline?.['median'] as number);
    const runs = (f.shifts ??= []);
    let at = runs.findIndex((r) => r.template === template && r.high === high);
    let run = at >= 0 ? runs[at] : undefined;
    if (run === undefined || !this.runGoesOn(run, timed, now)) {
      const before: [number, number] = [c.baseline?.['p01'] as number, c.baseline?.['p99'] as number];
      run = { template, high, first: timed ? now : 0, last: timed ? now : 0, lastEvent: this.events, count: 0, extreme: value, accepted: false, before };
      if (at < 0 && runs.length >= MAX_SHIFTS) {
        // The run that has gone longest without a number gives way.
        at = 0;
        for (let k = 1; k < runs.length; k++) if (runs[k]!.lastEvent < runs[at]!.lastEvent) at = k;
      }
      if (at >= 0) runs[at] = run;
      else runs.push(run);
    }
    // An accepted run lets the numbers within its range pass unscored (scoreField): this one lies beyond.
    if (run.accepted) return true;
    run.count += 1;
    run.lastEvent = this.events;
    if (high ? value > run.extreme : value < run.extreme) run.extreme = value;
    if (timed) {
      if (run.first === 0) run.first = now;
      run.last = now;
    }
    // A run that has had event time is judged by it, and so is one in a stream that has event time: an
    // event without one (a timestamp that could not be read) does not make it long by its count, as it makes
    // no pattern, message or value normal (a run whose numbers all came on such lines was accepted at its
    // 100th alert). By count only in a stream that never had event time.
    const long = (run.first !== 0 || !timed) && this.longEnough(timed, now, run.first, run.count);
    if (!long) return true;
    run.accepted = true;
    c.why += recurringNote(timed, now - run.first, run.count);
    if (c.brief) c.brief += ' (now normal)';
    return false;
  }

  /**
   * The rule shared by patterns, alerted messages, values and runs of numbers that keep alerting: they have
   * recurred long enough to be normal when, on a timed event, `learnAfterMs` has passed since the `first`;
   * on an untimed one, after `learnMinCount` alerts, and only in a stream that never had event time (there a
   * burst cannot be told from recurrence; in one that has it, an event without time makes nothing normal).
   * Each caller adds its own condition (a count, occasions, a run that began on a timed event).
   */
  private longEnough(timed: boolean, now: number, first: number, count: number): boolean {
    return timed ? now - first >= this.o.learnAfterMs : !this.eventTimed && count >= this.o.learnMinCount;
  }

  /** Whether a run of numbers is still going on: one as far out came within its gap (see `NumericShift`). */
  private runGoesOn(run: NumericShift, timed: boolean, now: number): boolean {
    return timed && run.last !== 0 ? now - run.last <= this.o.learnAfterMs / 2 : this.events - run.lastEvent <= SHIFT_GAP_EVENTS;
  }

  /**
   * Counts an alert of a free-text field's value. Returns its record, forgotten, when the value has now
   * recurred long enough to be normal: on `VALUE_OCCASIONS` occasions, the first alert `learnAfterMs` ago
   * or more; in a stream without event time, `learnMinCount` alerts (as a text message), since a burst
   * cannot be told from recurrence then. An event without time in a stream that has it makes nothing normal.
   */
  private rememberValueAlert(field: string, value: string, timed: boolean, now: number): AlertedValue | undefined {
    const key = valueKey(field, value);
    let a = this.alertedValues.get(key);
    if (a === undefined) {
      a = { field, value, first: timed ? now : 0, occasion: timed ? now : 0, occasions: 1, count: 1 };
    } else {
      // Re-inserted last: the map's order is the order of forgetting.
      this.alertedValues.delete(key);
      a.count += 1;
      if (timed) {
        if (a.first === 0) a.first = a.occasion = now;
        else if (now - a.occasion >= this.o.learnAfterMs / 2) {
          a.occasion = now;
          a.occasions += 1;
        }
      }
    }
    const normal = (!timed || a.occasions >= VALUE_OCCASIONS) && this.longEnough(timed, now, a.first, a.count);
    if (normal) return a;
    this.alertedValues.set(key, a);
    if (this.alertedValues.size > MAX_ALERTED_VALUES) this.alertedValues.delete(this.alertedValues.keys().next().value!);
    return undefined;
  }

  /**
   * The state of the event's field `k`, which has none yet: made now (when the stream has a slot for it),
   * and the field noted as new (`newFields`) if the stream never carried it. Not a name made of data
   * (`req_8213`, see `madeOfData`), which comes once each.
   */
  private firstSight(k: number): FieldState | undefined {
    const name = this.scanNames[k]!;
    if (this.fieldNames.has(name)) this.knownAgain.push(k);
    else if (this.carries(name)) this.newFields.push(k);
    const f = this.fieldState(name);
    if (f && this.secretField(name)) f.ignored = true;
    return f;
  }

  /** A field named like a secret, whose values the stream does not keep or show (see `watchSecretFields`). */
  private secretField(name: string): boolean {
    return !this.o.watchSecretFields && isSecretField(name);
  }

  /**
   * Notes that the stream carries the field `name` now: it becomes the most recently carried of the names
   * remembered (`fieldNames`), the least recently carried forgotten past `MAX_FIELD_NAMES`. Whether the
   * stream never carried it (as far as it remembers). A name made of data (`req_8213`, see `madeOfData`)
   * is never new, and not remembered: keys made of ids, one per event, would push out the names worth
   * remembering.
   */
  private carries(name: string): boolean {
    if (this.fieldNames.delete(name)) {
      this.fieldNames.add(name);
      return false;
    }
    if (madeOfData(name)) return false;
    if (this.fieldNames.size >= MAX_FIELD_NAMES) this.fieldNames.delete(this.fieldNames.values().next().value!);
    this.fieldNames.add(name);
    return true;
  }

  /**
   * A field never seen in the stream, in a stream that keeps to its fields: the first `exception` or
   * `stack_trace` in a service's JSON logs, whatever its level or message say. Its confidence is one less
   * the share of recent events that brought a new field.
   */
  private newFieldCandidate(): Candidate | undefined {
    if (this.fieldWeight < NEW_FIELD_MIN_WEIGHT) return undefined;
    const rate = this.newFieldShare / this.fieldWeight;
    // Rarer than a rare category value: a stream whose keys are made of data brings new ones far more often.
    if (rate >= this.o.rareShare) return undefined;
    const names = this.newFields.map((k) => this.scanNames[k]!);
    // The value shown: the first new field's that says something (text before numbers).
    // Not a secret's (a new `password` field is told by its name alone).
    const showable = this.newFields.filter((k) => !this.secretField(this.scanNames[k]!));
    const shown = showable.find((k) => typeof this.scanValues[k] === 'string' && this.scanValues[k] !== '') ?? showable[0];
    const raw = shown === undefined ? undefined : this.scanValues[shown]!;
    // A text value as it may be quoted: its head, secrets after their keys masked (`token=<secret>`).
    const value = typeof raw === 'string' ? maskSecrets(headOf(raw, MAX_FIELD_TEXT)) : raw;
    const several = names.length > 1;
    const listed = `new field${several ? 's' : ''} ${names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`}`;
    // With several new fields, the value shown says whose it is.
    const whose = several && shown !== undefined ? `${this.scanNames[shown]!} ` : '';
    const before = `${listed}, in none of this stream's ${fmt(this.events - 1)} events before`;
    return {
      kind: 'new_field',
      score: -Math.log2(Math.max(rate, 1e-4)),
      confidence: 1 - Math.max(rate, 1e-4),
      field: names[0]!,
      why: value === undefined ? before : `${before}: ${whose}${typeof value === 'string' ? quote(value, 100) : String(value)}`,
      brief: `${listed}${typeof value === 'string' ? ` (${whose}${quote(value, 48)})` : ''}`,
      baseline: { new_field_share: Number(rate.toFixed(6)) },
    };
  }

  private fieldState(name: string): FieldState | undefined {
    let f = this.fields.get(name);
    if (!f) {
      if (this.fields.size >= this.o.maxFields && !this.evictStaleField()) return undefined;
      f = newFieldState(name, this.events, this.events);
      this.fields.set(name, f);
      this.fieldsVersion += 1;
    }
    return f;
  }

  /**
   * Frees the slot of a field that stopped coming, for a new one: the one gone longest, if it has been
   * gone `STALE_FIELD_EVENTS` events, or `STALE_RARE_FIELD_EVENTS` when it came in one or two events in a row (keys
   * made of ids, `req_8213`, come once each). Without this, a stream's first 64 field names would be its
   * only ones for good, and a field that comes later would never be scored.
   */
  private evictStaleField(): boolean {
    // No field can be stale before then: events wider than the slots do not scan them for every field.
    if (this.events < this.noEvictionBefore) return false;
    let stalest: string | undefined;
    let stalestEvent = Infinity;
    let oldest = Infinity;
    for (const [name, f] of this.fields) {
      const gone = this.events - f.lastEvent;
      if ((gone >= STALE_FIELD_EVENTS || (f.lastEvent - f.firstEvent <= 1 && gone >= STALE_RARE_FIELD_EVENTS)) && f.lastEvent < stalestEvent) {
        stalest = name;
        stalestEvent = f.lastEvent;
      }
      if (f.lastEvent < oldest) oldest = f.lastEvent;
    }
    if (stalest === undefined) {
      this.noEvictionBefore = oldest + STALE_RARE_FIELD_EVENTS;
      return false;
    }
    const gone = this.fields.get(stalest)!;
    if (gone.text) this.textFields -= 1;
    this.templateNumbersKept -= gone.byTemplate?.size ?? 0;
    this.fields.delete(stalest);
    this.fieldsVersion += 1;
    // Remembered by name from now on, as the most recently carried: it is no new field when it comes back.
    this.carries(stalest);
    return true;
  }

  /** The next reused entry of the event's fields to learn. */
  private pendingField(name: string, state: FieldState, value: string | number | boolean): PendingField {
    // Not read past its end (a new stream's first fields): a read out of bounds throws away the code optimized
    // on streams before, whose array was long enough.
    let p = this.pendingCount < this.pending.length ? this.pending[this.pendingCount] : undefined;
    if (p) {
      p.name = name;
      p.state = state;
      p.value = value;
      p.masked = undefined;
      p.textScore = undefined;
      p.flagged = false;
      p.outlier = false;
      p.template = -1;
    } else {
      p = { name, state, value, masked: undefined, textScore: undefined, flagged: false, outlier: false, template: -1 };
      this.pending.push(p);
    }
    this.pendingCount += 1;
    return p;
  }

  /**
   * The baseline of the event's template in a numeric field, to judge by instead of the field's own when
   * the field's tail is another template's: this template's values, enough of them, lie well below the
   * field's p99 (`duration_ms` of "request completed", p99 70, beside "slow upstream" lines at 300-900, which
   * make the field's p99 850: there, 4,100 was no news). Otherwise the field's own baseline judges.
   */
  private templateNumbers(f: FieldState): NumericBaseline | undefined {
    const by = f.byTemplate;
    if (by === undefined || by.size < 2 || !this.kindMessage) return undefined;
    const own = by.get(this.template!.id)?.numbers;
    return own !== undefined && own.samples >= TEMPLATE_NUMBERS_MIN && own.p99 > 0 && own.p99 * 2 < f.numeric!.p99 ? own : undefined;
  }

  /** Learns a number into the baseline of the event's template in its field. */
  private learnTemplateNumber(f: FieldState, value: number): void {
    if (!this.kindMessage || this.template!.count < TEMPLATE_NUMBERS_FROM) return;
    const by = (f.byTemplate ??= new Map());
    const id = this.template!.id;
    let own = by.get(id);
    if (own === undefined) {
      if (by.size >= TEMPLATE_NUMBERS || (by.size > 0 && this.templateNumbersKept >= STREAM_TEMPLATE_NUMBERS)) {
        // The field's least recently seen template gives way, once it has stopped coming: with more kinds
        // of messages than there is room for, each taking the least recent one's place, none would keep its
        // baseline long enough to be used (and each would take a new one, 4 KB, every few events).
        let stalest: number | undefined;
        let last = Infinity;
        for (const [k, t] of by) if (t.lastEvent < last) [stalest, last] = [k, t.lastEvent];
        if (this.events - last < STALE_TEMPLATE_NUMBERS_EVENTS) return;
        by.delete(stalest!);
        this.templateNumbersKept -= 1;
      }
      if (this.templateNumbersKept >= STREAM_TEMPLATE_NUMBERS) return;
      own = { numbers: new NumericBaseline(TEMPLATE_NUMBERS_CAPACITY), lastEvent: this.events };
      by.set(id, own);
      this.templateNumbersKept += 1;
    }
    own.lastEvent = this.events;
    own.numbers.add(value);
  }

  /**
   * Counts a number of the event (in event time) in its field's drift tracker, and in its message's when the
   * field has numbers per message template; a drift found, or found and not reported yet, becomes a candidate.
   * A field that several kinds of message carry (two or more with baselines of their own) is judged per
   * message: its median moves when their mix does (more "slow upstream" lines beside the "request
   * completed" ones), while each message's level holds. Otherwise the field's own level is judged.
   */
  private trackDrift(name: string, f: FieldState, value: number, warm: boolean): void {
    const now = this.driftNow;
    const by = f.byTemplate;
    const perTemplate = by !== undefined && by.size >= 2;
    const tracker = (f.drift ??= new DriftTracker());
    const alert = tracker.add(value, this.driftMinute, now, warm && !perTemplate, this.o);
    if (alert !== undefined && !perTemplate && !this.alertingRun(f, alert.high, undefined, now)) this.candidates.push(this.driftCandidate(name, f, alert, tracker, false));
    if (by === undefined || !this.kindMessage) return;
    const id = this.template!.id;
    const own = by.get(id);
    if (own === undefined) return;
    const mine = (own.drift ??= new DriftTracker());
    const found = mine.add(value, this.driftMinute, now, warm && perTemplate, this.o);
    if (found !== undefined && perTemplate && !this.alertingRun(f, found.high, id, now)) this.candidates.push(this.driftCandidate(name, f, found, mine, true));
  }

  /**
   * Whether the field's numbers are alerting as `field_value` on that side now (a run not accepted yet, its
   * latest number within `DRIFT_HOLD_MS`; of that message template when one is given): a drift found
   * meanwhile waits, since those alerts say it (a latency that jumped 100x in ten minutes), and is said when
   * they stop, with the level as it is then.
   */
  private alertingRun(f: FieldState, high: boolean, template: number | undefined, now: number): boolean {
    const runs = f.shifts;
    if (runs === undefined) return false;
    for (const r of runs) {
      if (!r.accepted && r.high === high && (template === undefined || r.template === template) && r.last !== 0 && now - r.last <= DRIFT_HOLD_MS) return true;
    }
    return false;
  }

  /** A drift as a candidate: `response_time has risen gradually since ...: median 0.41 over the last 10 min vs 0.05 1-3 h before (8.2x); p99 now 0.9`. */
  private driftCandidate(name: string, f: FieldState, a: DriftAlert, tracker: DriftTracker, onTemplate: boolean): Candidate {
    const show = f.duration ? durationValue : fmt;
    const verb = `${a.high ? 'risen' : 'fallen'}${a.further ? ' further' : a.gradual ? ' gradually' : ''}`;
    const factor = a.high ? `${fmt(a.factor)}x` : `1/${fmt(a.factor)}`;
    const before = a.settled ? `${show(a.reference)} where it settled before` : `${show(a.reference)} 1-3 h before`;
    return {
      kind: 'field_drift',
      score: a.factor,
      confidence: a.confidence,
      field: name,
      why: `${name} has ${verb} since ${isoTime(this.clock.sourceTime(a.since))}: median ${show(a.level)} over the last ${RECENT_MINUTES} min vs ${before} ` +
        `(${factor}${a.further && a.said !== undefined ? `; said at ${show(a.said)}` : ''}); p99 now ${show(a.p99)}${onTemplate ? ` on ${quotePattern(this.tmpl(), 60)}` : ''}`,
      baseline: { median: a.level, p99: a.p99, reference_median: a.reference, factor: a.factor, since: isoTime(this.clock.sourceTime(a.since)) },
      drift: tracker,
    };
  }

  private scoreField(name: string, f: FieldState, given: string | number | boolean, warm: boolean, timed: boolean, now: number): Candidate | undefined {
    if (f.ignored) return undefined;
    // A number written as a string (logfmt has no other kind; JSON producers often quote numbers) is a
    // number, in a field that has held numbers or nothing yet. Not one with a leading zero (a zip code).
    // A duration with its unit is one too, in seconds, in a field that has held durations or nothing yet;
    // a field is one or the other (a bare 2100 in a field of durations says nothing of its unit).
    let converted: string | number | boolean = given;
    if (typeof given === 'string' && (f.numeric !== undefined || (f.text === undefined && f.categorical === undefined))) {
      if (!f.duration && given.length <= 24 && NUMBER_TEXT.test(given)) converted = Number(given);
      else if (f.duration || f.numeric === undefined) {
        const seconds = durationSeconds(given);
        if (seconds !== undefined) {
          converted = seconds;
          f.duration = true;
        }
      }
    }
    // 1e999 is Infinity to JSON.parse and Number: not a number a baseline can hold (nor a snapshot, where it
    // becomes null). It is judged as the text it was.
    const value = typeof converted === 'number' && !Number.isFinite(converted) ? String(given) : converted;
    const pending = this.pendingField(name, f, value);
    // A field of numbers that says something else (`"latency_ms": "timeout"`): news, until it keeps saying it.
    if (typeof value !== 'number' && f.numeric && warm && f.numeric.samples >= 20) {
      const share = f.otherShare ?? 0;
      if (share < this.o.rareShare * 5) {
        const shown = quote(String(value), 40);
        return {
          kind: 'field_value',
          score: -Math.log2(Math.max(share, 1e-4)),
          confidence: 1 - Math.max(share, 1 / (f.numeric.samples + 1)),
          field: name,
          why: f.duration
            ? `${name} is ${shown} where it has been a duration (typical ${durationValue(f.numeric.median)}, p99 ${durationValue(f.numeric.p99)})`
            : `${name} is ${shown} where it has been a number (typical ${fmt(f.numeric.median)}, p99 ${fmt(f.numeric.p99)})`,
          brief: `${name} ${shown}`,
          baseline: { median: f.numeric.median, p99: f.numeric.p99, not_a_number_share: share },
        };
      }
    }
    if (typeof value === 'number') {
      if (!f.numeric) {
        f.numeric = new NumericBaseline();
        f.numericCal = new ScoreCalibrator(512);
        // Integers may be codes (a status, a port): a category too, until they prove to be many. A duration
        // is a measure, whatever its digits.
        if (f.duration) f.numeric.isInteger = false;
        else {
          f.categorical = new CategoricalBaseline(24);
          f.categoricalCal = new ScoreCalibrator(512);
        }
      }
      const cat = f.categorical && !f.categorical.overflow && f.numeric.isInteger ? f.categorical : undefined;
      if (cat) return this.scoreCategory(name, (pending.masked = String(value)), f, warm, timed, now);
      if (this.driftTimed) this.trackDrift(name, f, value, warm);
      if (!warm || f.numeric.samples < 20) return undefined;
      const own = this.templateNumbers(f);
      const v = (own ?? f.numeric).score(value);
      const ratio = v.ratio;
      // Off the log scale (a field mostly 0, or negative), the value must still lie beyond the field's own
      // tail: a wait of 3,900 ms in a field that is 0 seven times in ten and up to 5,000 otherwise is not news.
      // A field on the log scale (a positive median) that gets 0 or a negative value (a -1 sentinel in a
      // latency) is judged by its score alone: no linear tail says how far below 0 lies from a 20-60 spread.
      const farEnough = v.median > 0 && value > 0
        ? Math.abs(Math.log(ratio)) >= Math.log(this.o.numericRatioFloor) && tailDistance(value, v) >= this.o.tailFactor
        : v.score >= 6 && (v.median > 0 || linearTailDistance(value, v) >= this.o.tailFactor);
      if (!farEnough) return undefined;
      // The runs of the event's template (see `NumericShift`): a message's numbers are not another's.
      const template = this.kindMessage ? this.template!.id : -1;
      pending.template = template;
      const high = value >= v.median;
      if (f.shifts !== undefined) {
        for (const run of f.shifts) {
          if (run.template !== template) continue;
          // A run of such numbers that lasted long enough is normal: those within its range are learned.
          if (run.accepted && run.high === high && (high ? value <= run.extreme : value >= run.extreme) && this.runGoesOn(run, timed, now)) {
            run.count += 1;
            run.lastEvent = this.events;
            if (timed) run.last = now;
            return undefined;
          }
          // Back to where it was before a run on the other side that became the field's level: one that
          // lasted long enough, or one that the baseline followed (its median now lies beyond the p01..p99 the
          // run began from: a latency that jumped and stayed, alerting until its values made the typical).
          // The end of an incident is not a new one.
          const followed = run.accepted || (run.high ? v.median > run.before[1] : v.median < run.before[0]);
          if (followed && run.high !== high && value !== v.median && value >= run.before[0] && value <= run.before[1]) return undefined;
        }
      }
      const confidence = f.numericCal!.confidence(v.score);
      const show = f.duration ? durationValue : fmt;
      const how = v.median > 0 && value > 0
        ? ratio >= 1
          ? ratio < 1e9 ? `${fmt(ratio)}x its typical ${show(v.median)}` : `over a billion times its typical ${show(v.median)}`
          : 1 / ratio < 1e9 ? `1/${fmt(1 / ratio)} of its typical ${show(v.median)}` : `under a billionth of its typical ${show(v.median)}`
        : `far from its typical ${show(v.median)}`;
      return {
        kind: 'field_value',
        score: v.score,
        confidence,
        field: name,
        why: `${name} ${show(value)} is ${how}${own ? ` on ${quotePattern(this.tmpl(), 60)}` : ''} (p99 ${show(v.p99)})`,
        brief: `${name} ${show(value)}`,
        baseline: { median: v.median, p99: v.p99, p01: v.p01 },
      };
    }
    const raw = typeof value === 'boolean' ? String(value) : value;
    const head = headOf(raw, MAX_FIELD_TEXT);
    const text = fieldText(head);
    const masked = maskField(f, text);
    pending.masked = masked;
    if (!f.categorical && !f.text) {
      // A value that is only a timestamp is not worth scoring.
      if (masked === '\uE000') {
        f.ignored = true;
        this.pendingCount -= 1;
        return undefined;
      }
      f.categorical = new CategoricalBaseline(32);
      f.categoricalCal = new ScoreCalibrator(512);
    }
    let category: Candidate | undefined;
    if (f.categorical && !f.categorical.overflow) {
      // The value as the event has it is quoted only when it holds no secret (`token=<secret>` is).
      category = this.scoreCategory(name, masked, f, warm, timed, now, masked.includes(MASK.secret) ? undefined : text);
      // A value the category knows, and does not find rare, is not news; a new or rare one is judged as
      // text too when the field has a text model beside its category: its why (the new text, quoted) says
      // more than "never seen", so it is preferred when both fire. A field with a text model has many
      // values (`TEXT_FROM_DISTINCT`): a new one is news only if its text is (a new word in the usual form
      // is not); in a field of a few values (a method, a level, three user agents) any new value is.
      const known = f.categorical.has(masked);
      if (!f.text || (!category && known)) return category;
      if (!known) category = undefined;
    }
    const content = this.scoreText(name, masked, f, warm, pending);
    return content && (!category || content.confidence >= this.o.threshold) ? content : category;
  }

  private scoreText(name: string, masked: string, f: FieldState, warm: boolean, pending: PendingField): Candidate | undefined {
    if (!f.text && !this.makeText(f)) return undefined;
    if (!warm || f.textCal!.samples < 20) return undefined;
    const v = f.text!.score(masked);
    pending.textScore = v.score;
    if (v.score < this.o.fieldContentFloor) return undefined;
    const confidence = f.textCal!.confidence(v.score);
    const quoted = newText(masked, v.literalRuns);
    const syntax = v.newSyntax.slice(0, 4).map((g) => JSON.stringify(g.replace(/[\^$]/g, ''))).join(' ');
    return {
      kind: 'field_content',
      score: v.score,
      confidence,
      field: name,
      why: `${quoted ? `new text ${quoted}` : `unusual value ${quote(masked)}`} in ${name}, in a form this field has not shown (${syntax})`,
      brief: `${name} text`,
      baseline: { compression_distance: Number(v.ratio.toFixed(3)), new_syntax: v.newSyntax.length },
    };
  }

  /** `raw`: the value as the event has it, quoted by the why when masking changed it (a pod name, a build id). */
  private scoreCategory(name: string, value: string, f: FieldState, warm: boolean, timed: boolean, now: number, raw?: string): Candidate | undefined {
    const cat = f.categorical!;
    if (!warm || cat.total < 20) return undefined;
    // Rare: a known value below `rareShare`, or a new value in a field that seldom brings new ones.
    const share = cat.share(value);
    if (share > 0 ? share >= this.o.rareShare : cat.newProbability() >= this.o.rareShare * 5) return undefined;
    // Rare but normal: a value seen on `VALUE_OCCASIONS` separate occasions over `learnAfterMs` or more (a
    // health check every few minutes, a nightly job on its third night, a warning now and then) is no news
    // for its small share, which the busy hours make smaller still; the rule of a free-text value that keeps
    // coming back. Its lifetime record, not its count: counts are halved every few thousand events, and a
    // value that comes once a day would be forgotten, and "never seen", each time it came.
    // This sighting counts: it may begin the occasion that makes the value normal.
    const history = cat.history(value);
    if (timed && history !== undefined && now - history.first >= this.o.learnAfterMs) {
      const occasions = history.occasions + (now - history.occasion >= this.o.learnAfterMs / 2 ? 1 : 0);
      if (occasions >= VALUE_OCCASIONS) return undefined;
    }
    const s = cat.score(value);
    const confidence = f.categoricalCal!.confidence(s.surprisal);
    const typical = cat.top(3).map(([v, share]) => `${clip(v, 40)} ${percentText(share)}`).join(', ');
    return {
      kind: 'field_category',
      score: s.surprisal,
      confidence,
      field: name,
      why: `${name} ${raw !== undefined && raw !== value ? `${quote(raw, 40)} (as ${quote(value, 40)})` : quote(value, 40)} ${s.seen > 0 ? `is rare (${(s.share * 100).toFixed(2)}%)` : history === undefined ? 'never seen before in this stream' : `not seen recently${this.seenBefore(history)}`} (typical: ${typical})${this.messageless ? '' : `, on ${quotePattern(this.tmpl(), 80)}`}`,
      brief: `${name} ${quote(value, 24)}`,
      baseline: { top: cat.top(5).map(([v, share]) => [clip(v, 200), share]) },
    };
  }

  /** What a why says of a value seen before and forgotten since: on how many occasions, since when. */
  private seenBefore(h: ValueHistory): string {
    if (!Number.isFinite(h.first) || h.occasions < 1) return '';
    return ` (seen on ${h.occasions} occasion${h.occasions === 1 ? '' : 's'} since ${isoTime(this.clock.sourceTime(h.first))})`;
  }

  /** Learns the event's fields, but not the text fields that alerted (marked `flagged`) nor the numbers (`outlier`); none in a normal event. */
  private learnFields(timed: boolean, now: number): void {
    for (let k = 0; k < this.pendingCount; k++) {
      const p = this.pending[k]!;
      const { value } = p;
      if (p.flagged) continue;
      const f = p.state;
      if (f.numeric) f.otherShare = (f.otherShare ?? 0) + ((typeof value === 'number' ? 0 : 1) - (f.otherShare ?? 0)) / 256;
      if (typeof value === 'number') {
        if (p.outlier) continue;
        const cat = f.categorical;
        if (cat && !cat.overflow && f.numeric!.isInteger) {
          const key = p.masked ?? String(value);
          if (f.categoricalCal!.takes()) f.categoricalCal!.keep(cat.surprisal(key));
          cat.add(key, timed ? now : undefined, this.o.learnAfterMs / 2);
        }
        if (f.numeric!.samples >= 20 && f.numericCal!.takes()) f.numericCal!.keep((this.templateNumbers(f) ?? f.numeric!).score(value).score);
        // Once the window is full, at most one value each NUMBER_SPACING_MS of event time enters it (see there).
        if (!timed || !f.numeric!.full || f.sampledAt === undefined || now - f.sampledAt >= NUMBER_SPACING_MS || now < f.sampledAt) {
          f.numeric!.add(value);
          if (timed) f.sampledAt = now;
        }
        // Codes (a category of integers) are judged as categories, not by template.
        if (!cat || cat.overflow || !f.numeric!.isInteger) this.learnTemplateNumber(f, value);
        continue;
      }
      const masked = p.masked ?? maskField(f, fieldText(String(value)));
      if (f.categorical && !f.categorical.overflow) {
        if (f.categoricalCal!.takes()) f.categoricalCal!.keep(f.categorical.surprisal(masked));
        f.categorical.add(masked, timed ? now : undefined, this.o.learnAfterMs / 2);
        if (f.categorical.overflow) {
          f.categorical = undefined;
          if (!f.text && !this.makeText(f)) continue;
        } else {
          // A category with many values gets a text model beside it early, learning the same values, so
          // that its new values are judged as text (and it is ready when the category gives way).
          if (!f.text && f.categorical.distinct >= TEXT_FROM_DISTINCT) this.makeText(f, false);
          if (!f.text) continue;
        }
      }
      if (f.text) {
        if (f.textCal!.takes()) f.textCal!.keep(p.textScore ?? f.text.score(masked).score);
        f.text.learn(masked);
      }
    }
  }

  /** The share of new templates with a prior of 0.5 whose weight fades as normal events come. */
  private get priorTemplateRate(): number {
    return this.newTemplateShare + 0.5 * (1 - this.seenWeight);
  }

  /** Approximate bytes held by this stream's state. */
  get memoryBytes(): number {
    let bytes = (this.contentWindow?.memoryBytes ?? 0) + 200 * this.templates.size + this.templates.cacheBytes + 16 * 1024;
    for (const a of this.alertedValues.values()) bytes += 2 * (a.field.length + a.value.length) + 120;
    // A name of a field kept shares its string with the field's key; one not kept any more holds its own.
    bytes += 48 * this.fieldNames.size;
    for (const f of this.fields.values()) {
      bytes += (f.text?.memoryBytes ?? 0) + 2 * (f.maskChars ?? 0) + 8 * 1024 + (f.byTemplate?.size ?? 0) * (16 * TEMPLATE_NUMBERS_CAPACITY + 200);
      if (f.drift) bytes += DriftTracker.memoryBytes;
      if (f.byTemplate) for (const t of f.byTemplate.values()) if (t.drift) bytes += DriftTracker.memoryBytes;
    }
    return bytes;
  }

  templateOf(id: number): Template | undefined {
    return this.templates.get(id);
  }

  toJSON(): StreamSnapshot {
    return {
      id: this.id,
      events: this.events,
      anomalies: this.anomalies,
      lastSeen: this.lastSeen,
      clockOffset: this.clock.offset,
      newTemplateRate: this.priorTemplateRate,
      newTemplateShare: this.newTemplateShare,
      seenWeight: this.seenWeight,
      fieldNames: [...this.fieldNames],
      newFieldShare: this.newFieldShare,
      fieldWeight: this.fieldWeight,
      content: this.contentWindow?.text() ?? '',
      contentCal: this.contentCal.toJSON(),
      templates: this.templates.templates(),
      learned: [...this.learned],
      volume: this.volume.toJSON(),
      templateRates: this.templateRates.toJSON(),
      alerted: [...this.alerted],
      normalSignatures: [...this.normalSignatures],
      alertedValues: [...this.alertedValues.values()],
      ...(this.silenceReported ? { silenceReported: true, silenceConfidence: this.silenceConfidence, ...this.silencePattern(), ...(this.silenceGrouped ? { silenceGrouped: true } : {}) } : {}),
      fields: [...this.fields].map(([name, f]) => ({
        name,
        firstEvent: f.firstEvent,
        lastEvent: f.lastEvent,
        ...(f.ignored ? { ignored: true } : {}),
        ...(f.numeric ? { numeric: f.numeric.toJSON(), numericCal: f.numericCal!.toJSON() } : {}),
        ...(f.otherShare !== undefined ? { otherShare: f.otherShare } : {}),
        ...(f.duration ? { duration: true } : {}),
        ...(f.shifts?.length ? { shifts: f.shifts.map((r) => ({ ...r, before: [r.before[0], r.before[1]] as [number, number] })) } : {}),
        ...(f.byTemplate?.size ? { byTemplate: [...f.byTemplate].map(([id, t]): TemplateNumbersSnapshot => t.drift ? [id, t.numbers.toJSON().values, t.lastEvent, t.drift.toJSON()] : [id, t.numbers.toJSON().values, t.lastEvent]) } : {}),
        ...(f.drift ? { drift: f.drift.toJSON() } : {}),
        ...(f.categorical ? { categorical: f.categorical.toJSON(), categoricalCal: f.categoricalCal!.toJSON() } : {}),
        ...(f.text ? { text: f.text.toJSON(), textCal: f.textCal!.toJSON() } : {}),
      })),
    };
  }

  static fromJSON(data: StreamSnapshot, options: DetectorOptions): StreamDetector {
    const s = new StreamDetector(data.id, options);
    s.events = data.events;
    s.anomalies = data.anomalies;
    s.lastSeen = data.lastSeen;
    s.clock.restore(data.clockOffset ?? 0, data.lastSeen > 0 ? data.lastSeen : undefined);
    // Older snapshots have only the rate with its prior: it stands for both until the share has its own.
    const weighted = typeof data.seenWeight === 'number' && data.seenWeight > 0 && typeof data.newTemplateShare === 'number';
    s.newTemplateShare = weighted ? data.newTemplateShare! : data.newTemplateRate;
    s.seenWeight = weighted ? data.seenWeight! : 1;
    // Older snapshots have no field names: those of the fields kept stand for them, and no field is news
    // until the share of new ones has its weight again (`NEW_FIELD_MIN_WEIGHT`).
    for (const name of Array.isArray(data.fieldNames) ? data.fieldNames.slice(-MAX_FIELD_NAMES) : data.fields.map((f) => f.name)) {
      if (typeof name === 'string') s.fieldNames.add(name);
    }
    if (Number.isFinite(data.newFieldShare) && Number.isFinite(data.fieldWeight) && data.fieldWeight! > 0 && data.fieldWeight! <= 1) {
      s.newFieldShare = Math.min(Math.max(data.newFieldShare!, 0), data.fieldWeight!);
      s.fieldWeight = data.fieldWeight!;
    }
    if (data.content) s.content.restore(data.content);
    for (const v of data.contentCal) s.contentCal.add(v);
    s.templates.restore(data.templates);
    for (const id of data.learned) s.learned.add(id);
    s.volume = VolumeBaseline.fromJSON(data.volume);
    s.resumed = true;
    // A silence told before the stop: its end is told at the stream's next event (absent in older snapshots).
    if (data.silenceReported === true) {
      s.silenceReported = true;
      s.silenceConfidence = Number.isFinite(data.silenceConfidence) ? data.silenceConfidence! : options.threshold;
      s.silenceGrouped = data.silenceGrouped === true;
      s.silenceTemplate = typeof data.silenceTemplate === 'string' ? data.silenceTemplate : '';
    }
    if (data.templateRates) s.templateRates.restore(data.templateRates, data.lastSeen);
    for (const [signature, a] of data.alerted ?? []) s.alerted.set(signature, a);
    // Older snapshots have none: an accepted message is accepted again when it next alerts long enough.
    for (const signature of Array.isArray(data.normalSignatures) ? data.normalSignatures.slice(-MAX_ALERTED) : []) {
      if (typeof signature === 'string') s.normalSignatures.add(signature);
    }
    // Older snapshots have none: their flagged field values start counting again.
    for (const a of data.alertedValues ?? []) {
      if (typeof a?.field !== 'string' || typeof a.value !== 'string' || s.secretField(a.field)) continue;
      const { field, value } = a;
      const count = Number.isFinite(a.count) ? a.count : 1;
      const first = Number.isFinite(a.first) ? a.first : 0;
      const occasion = Number.isFinite(a.occasion) ? a.occasion : first;
      const occasions = Number.isFinite(a.occasions) ? a.occasions : 1;
      s.alertedValues.set(valueKey(field, value), { field, value, first, occasion, occasions, count });
    }
    while (s.alertedValues.size > MAX_ALERTED_VALUES) s.alertedValues.delete(s.alertedValues.keys().next().value!);
    for (const f of data.fields) {
      // Older snapshots have no sightings: such a field counts as one that comes (not a one-off).
      const lastEvent = Number.isFinite(f.lastEvent) ? f.lastEvent! : s.events;
      const state = newFieldState(f.name, Number.isFinite(f.firstEvent) ? f.firstEvent! : lastEvent - 2, lastEvent);
      if (f.ignored) state.ignored = true;
      if (s.secretField(f.name)) {
        // Kept by a detector that watched it (an older driftlock, or `fields:` naming it): its values go.
        state.ignored = true;
        s.fields.set(f.name, state);
        s.fieldsVersion += 1;
        continue;
      }
      if (f.otherShare !== undefined) state.otherShare = f.otherShare;
      if (f.duration === true) state.duration = true;
      // Older snapshots have none: a run of numbers going on at the stop starts again. A malformed one is left out.
      for (const run of Array.isArray(f.shifts) ? (f.shifts as unknown[]).slice(-MAX_SHIFTS) : []) {
        const r = restoreShift(run);
        if (r && !state.shifts?.some((o) => o.template === r.template && o.high === r.high)) (state.shifts ??= []).push(r);
      }
      if (Array.isArray(f.byTemplate)) {
        state.byTemplate = new Map();
        for (const [id, values, last, drift] of f.byTemplate.slice(-TEMPLATE_NUMBERS)) {
          if (s.templateNumbersKept >= STREAM_TEMPLATE_NUMBERS) break;
          const numbers = NumericBaseline.fromJSON({ values, positive: true, integer: false }, TEMPLATE_NUMBERS_CAPACITY);
          // Older snapshots have no drift tracker: it starts anew (two hours before it judges).
          state.byTemplate.set(id, { numbers, lastEvent: Number.isFinite(last) ? last : lastEvent, ...(drift !== undefined ? { drift: DriftTracker.fromJSON(drift) } : {}) });
          s.templateNumbersKept += 1;
        }
      }
      if (f.drift !== undefined) state.drift = DriftTracker.fromJSON(f.drift);
      if (f.numeric) {
        state.numeric = NumericBaseline.fromJSON(f.numeric);
        state.numericCal = ScoreCalibrator.fromJSON(f.numericCal ?? [], 512);
      }
      if (f.categorical) {
        state.categorical = CategoricalBaseline.fromJSON(f.categorical);
        state.categoricalCal = ScoreCalibrator.fromJSON(f.categoricalCal ?? [], 512);
      }
      if (f.text !== undefined) {
        state.text = TextFieldBaseline.fromJSON(f.text, options.fieldWindowChars);
        s.textFields += 1;
        state.textCal = ScoreCalibrator.fromJSON(f.textCal ?? [], 512);
      }
      s.fields.set(f.name, state);
      s.fieldsVersion += 1;
    }
    return s;
  }
}

/** A message template's numbers in a field, in a snapshot: see `StreamSnapshot`. */
type TemplateNumbersSnapshot = [number, number[], number] | [number, number[], number, DriftSnapshot];

export interface StreamSnapshot {
  id: string;
  events: number;
  anomalies: number;
  lastSeen: number;
  /** The stream clock's offset (ms) after its source's clock stepped; absent in older snapshots (0). */
  clockOffset?: number;
  newTemplateRate: number;
  newTemplateShare?: number;
  seenWeight?: number;
  /** Absent in older snapshots (see `fromJSON`). */
  fieldNames?: string[];
  newFieldShare?: number;
  fieldWeight?: number;
  content: string;
  contentCal: number[];
  templates: Template[];
  learned: number[];
  volume: ReturnType<VolumeBaseline['toJSON']>;
  templateRates?: ReturnType<TemplateRates['toJSON']>;
  alerted?: Array<[string, AlertedMessage]>;
  /** Signatures of text messages accepted as normal after alerting, least recently accepted first; absent in older snapshots. */
  normalSignatures?: string[];
  /** Free-text field values that alerted and were not learned since, least recently alerted first; absent in older snapshots. */
  alertedValues?: AlertedValue[];
  /** A silence was told while it lasted and the stream has had no event since, with its confidence; absent in older snapshots and when not. */
  silenceReported?: boolean;
  silenceConfidence?: number;
  /** That silence was told in one alert with other streams'. */
  silenceGrouped?: boolean;
  /** The pattern that silence was told of; absent for the stream's volume and in older snapshots. */
  silenceTemplate?: string;
  fields: Array<{
    name: string;
    firstEvent?: number;
    lastEvent?: number;
    ignored?: boolean;
    numeric?: ReturnType<NumericBaseline['toJSON']> | number[];
    numericCal?: number[];
    otherShare?: number;
    duration?: boolean;
    /** The runs of numbers that alerted (see `NumericShift`); absent in older snapshots. */
    shifts?: NumericShift[];
    /**
     * Per template: its id, its recent numbers (oldest first), the event count when it last came and its
     * drift tracker (absent in older snapshots).
     */
    byTemplate?: TemplateNumbersSnapshot[];
    /** The field's drift tracker (see drift.ts); absent in older snapshots. */
    drift?: DriftSnapshot;
    categorical?: ReturnType<CategoricalBaseline['toJSON']>;
    categoricalCal?: number[];
    text?: ReturnType<TextFieldBaseline['toJSON']> | string;
    textCal?: number[];
  }>;
}

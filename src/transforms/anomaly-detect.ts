/**
 * `anomaly_detect`: the thin transform around the detector library (`src/detector`). It turns events into
 * detector inputs (parsing raw lines first when `format` says how), keys them by stream id, and marks
 * flagged events with `attributes.anomaly`. State is snapshotted to `data_dir` and restored at start, so a
 * restart does not begin a new warm-up.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { closest } from 'fastest-levenshtein';
import { z } from 'zod';
import { defineTransform, type TransformStage } from '../engine/component.js';
import { releaseAll, type Batch } from '../engine/acknowledgement.js';
import { carriedBytes } from '../engine/buffer.js';
import { MAX_NESTING, setOwn, severityFloor, type AttributeValue, type Attributes, type LogEvent } from '../engine/event.js';
import { duration } from '../config/schema.js';
import { DOTTED_ROOTS, eventPart, FIELD_ROOTS, fieldPathMeant, isFieldPath, lookupField } from '../engine/field-path.js';
import { ANOMALY_KINDS, Detector, type Anomaly, type DetectorInput, type DetectorOptions } from '../detector/index.js';
import { checkSnapshotHeader, describeRestore, isSnapshotHeader, restoreDetector, restoreStream, snapshotLines, type DetectorSnapshot, type RestoreResult } from '../detector/snapshot.js';
import { type LiveState, type SilenceEnd, type StreamSnapshot } from '../detector/stream.js';
import { durationText } from '../detector/wording.js';
import { parseTransform } from './parse.js';
import { writeFileAtomic } from '../atomic-write.js';
import { FailureReport } from '../engine/failure-report.js';
import { leadingTimestamp } from '../formats/leading-timestamp.js';
import { ellipsize } from '../detector/strings.js';

/**
 * A name in `fields`: `attributes` or `attributes.` alone, or a name with an empty part (`a..b`, `.x`),
 * watches nothing, silently; refused when the file loads.
 */
const watchedName = z.string().min(1).superRefine((name, ctx) => {
  if (name === 'attributes' || name === 'attributes.') {
    ctx.addIssue({ code: 'custom', message: `"${name}" names no field: an attribute of the event is watched by its name, attributes.NAME (attributes.exception.type); a field of the body called attributes by body.attributes.NAME` });
  } else if (name === 'body.') {
    ctx.addIssue({ code: 'custom', message: `"${name}" names no field: a field of the body is watched by its name, or body.NAME (body.status)` });
  } else if (name.split('.').includes('')) {
    ctx.addIssue({ code: 'custom', message: `"${name}" has an empty part: nested fields are named with one dot between names (kubernetes.labels.app)` });
  }
});

export const anomalyDetectConfig = z.object({
  stream_id: z.string().min(1).default('{source.input}').superRefine((value, ctx) => {
    const problem = streamIdProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).describe(
    'Which baseline an event is compared with: a fixed name (`nginx-logs`), or a field in braces: `{source.file}`, `{attributes.syslog.appname}`, `{resource.service.name}`, `{body.service}`. Literal text and several fields may be mixed. An event without the field goes to the stream `-` (warned once per field, counted in `stream_id_unresolved_events_total`).',
  ),
  format: z.enum(['auto', 'json', 'nginx', 'logfmt', 'syslog', 'text']).default('auto').describe(
    'How to read events whose body is still a raw line: `auto` tries JSON for lines that start with `{` and treats the rest as text; `text` never parses. Events parsed upstream (object bodies) are used as they are.',
  ),
  profile: z.enum(['sensitive', 'balanced', 'strict']).default('balanced').describe(
    'Preset thresholds: `sensitive` flags more (and sooner), `strict` fewer.',
  ),
  fields: z.union([z.literal('auto'), z.array(watchedName).min(1)]).default('auto').describe(
    'Fields of structured events to watch: `auto` (a body\'s own fields and those up to three objects down: `http.response.status_code`; not those named like a secret, `password`, `api_key`, `token`, `authorization`, `cookie`, `session_id`, whose values would be kept in the baseline and in `data_dir`, and quoted in alerts), or a list of names, dotted for nested fields at any depth (`kubernetes.labels.app`). A name `attributes.NAME` watches the event\'s attribute NAME as its input set it (an OTLP record\'s `exception.type`, `http.response.status_code`): an event whose body is text is then judged as a structured one, its body the `message` field beside the attributes watched. A name `body.NAME` is the body\'s field NAME, as in `stream_id` (`body.attributes.user` for a body that has an `attributes` object of its own, as OpenTelemetry\'s JSON file exporter writes). A name that watches nothing (`attributes` alone, an empty part: `http..status`) is refused.',
  ),
  emit: z.enum(['anomalies', 'all']).default('anomalies').describe(
    '`anomalies` passes on only flagged events; `all` passes every event, flagged ones with `attributes.anomaly`.',
  ),
  threshold: z.number().min(0).max(0.9999).optional().describe('Minimum calibrated confidence to flag; overrides the profile. At most 0.9999: confidences are reported to four decimals and never reach 1.'),
  warmup: z.number().int().min(0).optional().describe('Events per stream to learn from before flagging; overrides the profile.'),
  learn_after: duration().optional().describe(
    'How long a new pattern, a flagged value of a free-text field, or a run of a field\'s numbers that alert (slow responses), must keep recurring before it becomes normal (default 1h; the last alert says so); and how long a slow drift of a field\'s level (`field_drift`) lasts, after it is said, before the new level is the field\'s normal.',
  ),
  min_silence: duration().refine((ms) => ms >= 1000, 'expected at least 1s').optional().describe(
    'How long a stream that usually has at least one event a second must be silent (in its event time) to be reported as a `volume_drop` (default 30s). The silence of a live stream is reported while it lasts, looked for every second while the transform waits for input (not while it scores a batch or waits for a blocked output: then at its next idle second); a stream whose events come far behind the clock (a file read from its beginning, a catch-up) is told at its next event only.',
  ),
  max_streams: z.number().int().min(1).default(1000).describe('Streams kept at most; the least recently seen is evicted.'),
  snapshot_interval: duration().prefault('60s').describe('How often detector state is saved to `data_dir` when events came since the last save (also at shutdown). `0` disables snapshots: state is neither saved nor restored.'),
});

export type AnomalyDetectConfig = z.output<typeof anomalyDetectConfig>;

const STREAM_REF = /\{([^}]+)\}/g;
/**
 * What is wrong with a `stream_id` setting that no event could resolve, or undefined: a brace without its
 * pair, or a reference that does not start with one of the event's parts (`{service}` for `{body.service}`).
 */
export function streamIdProblem(template: string): string | undefined {
  const rest = template.replace(STREAM_REF, '');
  if (rest.includes('{') || rest.includes('}')) return `"${template}" has a brace without its pair: a field is written in braces, as {body.service}`;
  for (const m of template.matchAll(STREAM_REF)) {
    const ref = m[1]!.trim();
    if (!isFieldPath(ref)) {
      return `{${ref}} names no field of an event: a field starts with ${FIELD_ROOTS.map((r) => `${r}.`).join(', ')} (e.g. {${fieldPathMeant(ref)}})`;
    }
  }
  return undefined;
}

/**
 * Why `ref` is missing on `event`, for a warning: the first part of it the event does not have, and the
 * closest name it has there (`{body.servce}`: did you mean {body.service}?).
 */
export function missingFieldHint(ref: string, event: LogEvent): string {
  const [root, ...rest] = ref.split('.');
  const top = eventPart(event, root);
  // Attribute and resource names hold dots themselves (`syslog.appname`): the whole name is the key.
  const parts = DOTTED_ROOTS.has(root!) && top && typeof top === 'object' && !(rest[0]! in top) ? [root!, rest.join('.')] : [root!, ...rest];
  let v = top;
  for (let i = 1; i < parts.length; i++) {
    const there = parts.slice(0, i).join('.');
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      return `${there} is ${v === undefined ? 'missing' : typeof v === 'string' ? 'text, not an object (parse it first)' : Array.isArray(v) ? 'a list' : `a ${typeof v}`}`;
    }
    if (!(parts[i]! in v)) {
      const keys = Object.keys(v);
      return keys.length ? `${there} has no ${parts[i]}; did you mean {${there}.${closest(parts[i]!, keys)}}?` : `${there} has no fields`;
    }
    v = (v as Record<string, unknown>)[parts[i]!];
  }
  return v === null || v === undefined ? `${ref} is ${String(v)}` : `${ref} is an object, not a value`;
}

/**
 * Resolves a `stream_id` setting for one event; unresolvable references become `-`, and are told to
 * `missed` (the reference, trimmed, and the event).
 */
export function resolveStreamId(template: string, event: LogEvent, missed?: (ref: string, event: LogEvent) => void): string {
  if (!template.includes('{')) return template;
  return template.replace(STREAM_REF, (_, ref: string) => {
    const v = lookupField(event, ref.trim());
    if (v === undefined || v === null || typeof v === 'object') {
      missed?.(ref.trim(), event);
      return '-';
    }
    return String(v);
  });
}

/** The fields an `anomaly_detect` watches (`fields: [...]`), and the objects on the way to them. */
export interface WatchedFields {
  /** Fields of the body. */
  names: Set<string>;
  /** Every dotted prefix of a watched name (`kubernetes`, `kubernetes.labels` for `kubernetes.labels.app`). */
  prefixes: Set<string>;
  /** Attributes of the event (`attributes.exception.type` watches `exception.type`), keys as the input set them. */
  attributes: string[];
}

const ATTRIBUTES_PREFIX = 'attributes.';
const BODY_PREFIX = 'body.';

export function watchedFields(names: readonly string[]): WatchedFields {
  const prefixes = new Set<string>();
  const body: string[] = [];
  const attributes: string[] = [];
  for (const name of names) {
    if (name.startsWith(ATTRIBUTES_PREFIX) && name.length > ATTRIBUTES_PREFIX.length) {
      attributes.push(name.slice(ATTRIBUTES_PREFIX.length));
      continue;
    }
    // `body.NAME`, as in stream_id: the body's NAME (a body with an `attributes` object of its own).
    const field = name.startsWith(BODY_PREFIX) && name.length > BODY_PREFIX.length ? name.slice(BODY_PREFIX.length) : name;
    body.push(field);
    for (let i = field.indexOf('.'); i > 0; i = field.indexOf('.', i + 1)) prefixes.add(field.slice(0, i));
  }
  return { names: new Set(body), prefixes, attributes };
}

/**
 * The fields the detector sees of an event with watched attributes: the body's (a text body is the field
 * `message`) and, named `attributes.NAME`, the watched attributes the event has that hold a value (not an
 * object or a list). Every event of such a stream is structured, whether it has them or not: an OTLP stream
 * whose errors alone carry `exception.type` is not judged two ways.
 */
function withAttributes(event: LogEvent, watch: WatchedFields): Record<string, unknown> {
  const body = event.body;
  const out: Record<string, unknown> = typeof body === 'string' ? { message: body } : flattenFields(body, watch);
  const attributes = event.attributes;
  for (const key of watch.attributes) {
    if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
    const value = attributes[key];
    if (value === null || value === undefined || typeof value === 'object') continue;
    setOwn(out, ATTRIBUTES_PREFIX + key, value);
  }
  return out;
}

/**
 * Objects followed down from the body without a watch list: ECS and OpenTelemetry names are dotted two or
 * three deep (`http.response.status_code`, `kubernetes.labels.app`, `http.request.headers.user-agent`). With
 * one level only, a Kubernetes service failing 40% of its requests with 503 for 10 minutes was never
 * scored on its status code.
 */
const AUTO_DEPTH = 3;

/**
 * Flattens a structured body to dotted keys, skipping arrays. Without a watch list `AUTO_DEPTH` objects
 * down are read; with one, objects are followed only on the way to a watched name, to any depth.
 */
export function flattenFields(body: Attributes, watch: WatchedFields | null, prefix = '', out: Record<string, unknown> = {}, depth = 0): Record<string, unknown> {
  for (const key in body) {
    const value: AttributeValue = body[key]!;
    const name = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === 'object') {
      if (Array.isArray(value)) continue;
      if (watch ? watch.prefixes.has(name) && depth < MAX_NESTING : depth < AUTO_DEPTH) flattenFields(value, watch, name, out, depth + 1);
      continue;
    }
    if (!watch || watch.names.has(name)) setOwn(out, name, value);
  }
  return out;
}

/** Whether a body has no nested objects or arrays: then it is its own flattening, no copy needed. */
function isFlat(body: Attributes): boolean {
  for (const key in body) {
    const v = body[key];
    if (v !== null && typeof v === 'object') return false;
  }
  return true;
}

/**
 * What the detector sees of an event. Built field by field rather than with object spreads: this runs once
 * per event, and conditional spreads cost more than the rest of it together.
 */
export function toDetectorInput(event: LogEvent, watch: WatchedFields | null, arrivalTime = true): DetectorInput {
  const body = event.body;
  let time = event.timestamp;
  if (time === undefined && typeof body === 'string') time = leadingTimestamp(body);
  const arrived = time === undefined && arrivalTime;
  if (arrived) time = event.observedTimestamp;
  const input: DetectorInput = watch !== null && watch.attributes.length > 0
    ? { text: '', fields: withAttributes(event, watch) }
    : typeof body === 'string'
      ? { text: body }
      : { text: '', fields: !watch && isFlat(body) ? body : flattenFields(body, watch) };
  if (time !== undefined) input.time = time;
  if (arrived) input.arrivalTime = true;
  if (event.severityNumber !== undefined) input.severity = event.severityNumber;
  return input;
}

export function detectorOptions(config: AnomalyDetectConfig): Partial<DetectorOptions> {
  const o: Partial<DetectorOptions> = {};
  if (config.threshold !== undefined) o.threshold = config.threshold;
  if (config.warmup !== undefined) o.warmup = config.warmup;
  if (config.learn_after !== undefined) o.learnAfterMs = config.learn_after;
  if (config.min_silence !== undefined) o.minSilenceSeconds = Math.ceil(config.min_silence / 1000);
  // Fields named in the config are watched whatever their names; `auto` leaves out those named like a secret.
  if (config.fields !== 'auto') o.watchSecretFields = true;
  return o;
}

/** Builds the raw-line parser for a `format`, reusing the `parse` transform so both read lines alike. */
export async function lineParser(format: AnomalyDetectConfig['format']): Promise<(events: LogEvent[]) => LogEvent[] | Promise<LogEvent[]>> {
  if (format === 'text') return (events) => events;
  if (format === 'auto') {
    const json = await lineParser('json');
    return async (events) => {
      const jsonish = events.filter((e) => typeof e.body === 'string' && e.body.trimStart().startsWith('{'));
      // A line that only looks like JSON stays text, unmarked by this guess; a mark an upstream `parse` put
      // there stays.
      const had = jsonish.map((e) => e.attributes['parse.error']);
      if (jsonish.length) await json(jsonish);
      jsonish.forEach((e, i) => {
        if (typeof e.body !== 'string') return;
        if (had[i] === undefined) delete e.attributes['parse.error'];
        else e.attributes['parse.error'] = had[i];
      });
      return events;
    };
  }
  const logger = (await import('pino')).pino({ level: 'silent' });
  const stage = (await parseTransform.build(parseTransform.config.parse({ format }), { id: 'anomaly_detect.parse', logger, dataDir: '', configDir: '' })) as TransformStage;
  return (events) => stage.map!(events);
}

/** A state file whose first line is no detector state's (a log, another program's file): not ours to replace. */
export class NotDetectorState extends Error {
  constructor(file: string, why: string) {
    super(`${file} is not a detector state (${why})`);
    this.name = 'NotDetectorState';
  }
}

/**
 * Restores a detector from a state file; what was restored, or undefined when there is no file yet. A file
 * whose first line is not a detector state's throws `NotDetectorState`.
 */
export async function loadDetectorState(detector: Detector, file: string): Promise<RestoreResult | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // Read line by line: the state of thousands of streams is longer than one string can hold.
  const lines = createInterface({ input: handle.createReadStream({ encoding: 'utf8', autoClose: false }), crlfDelay: Infinity });
  try {
    let result: RestoreResult | undefined;
    for await (const line of lines) {
      if (result === undefined) {
        let first: unknown;
        try {
          first = JSON.parse(line);
        } catch {
          throw new NotDetectorState(file, 'its first line is not JSON');
        }
        // A snapshot written before they were lines: one JSON text, on one line.
        if (!isSnapshotHeader(first)) {
          if (typeof first !== 'object' || first === null || !('streams' in first)) throw new NotDetectorState(file, 'its first line is not a detector state header');
          return restoreDetector(detector, first as DetectorSnapshot);
        }
        checkSnapshotHeader(first);
        result = { streams: 0, failed: [] };
        continue;
      }
      if (line === '') continue;
      let data: StreamSnapshot;
      try {
        data = JSON.parse(line) as StreamSnapshot;
      } catch (err) {
        result.failed.push({ id: '?', error: `not JSON: ${(err as Error).message}` });
        continue;
      }
      restoreStream(detector, data, result);
    }
    if (result === undefined) throw new Error('the state file is empty');
    return result;
  } finally {
    lines.close();
    await handle.close();
  }
}

/**
 * Saves a detector's state to a file, atomically, one stream at a time; fsynced before the rename, so that a
 * power cut leaves the old state or the new one, not an empty file (ext4 without auto_da_alloc, xfs).
 */
export function saveDetectorState(detector: Detector, file: string): Promise<void> {
  return writeFileAtomic(file, snapshotLines(detector), { fsync: true });
}

export function anomalyAttribute(a: Anomaly): Attributes {
  const out: Attributes = {
    kind: a.kind,
    score: a.score,
    confidence: a.confidence,
    why: a.why,
    stream_id: a.stream_id,
    template: a.template,
  };
  if (a.field !== undefined) out.field = a.field;
  if (a.baseline) out.baseline = JSON.parse(JSON.stringify(a.baseline)) as Attributes;
  if (a.resolved) out.resolved = true;
  return out;
}

/** The `stream_id` of the alert for many streams silent at once. */
export const MANY_STREAMS = 'many streams';

/** More streams than this silent at the same check are one alert: what feeds them has stopped. */
export const MAX_SILENCE_ALERTS = 5;

/**
 * The silences found at one check, as alerts: each stream's own, or, when more than `MAX_SILENCE_ALERTS`
 * went silent at once, one for all of them. A forwarder or input that stops silences every stream behind
 * it: one check found a thousand, and a thousand Slack messages (one a second) would have taken 17 minutes
 * to say one thing.
 */
export function groupSilences(found: Anomaly[]): Anomaly[] {
  if (found.length <= MAX_SILENCE_ALERTS) return found;
  const seconds = found.map((a) => a.baseline?.silent_seconds).filter((s): s is number => typeof s === 'number');
  const least = seconds.length ? Math.min(...seconds) : undefined;
  const most = seconds.length ? Math.max(...seconds) : undefined;
  const names = streamList(found.map((a) => a.stream_id), found.length);
  const how = least === undefined ? '' : least === most ? `: no events for ${durationText(least)} so far` : `: no events for ${durationText(least)} to ${durationText(most!)} so far`;
  return [{
    kind: 'volume_drop',
    score: Math.max(...found.map((a) => a.score)),
    confidence: Math.max(...found.map((a) => a.confidence)),
    why: `${found.length} streams went silent at once (${names})${how}; what feeds them (an input, a forwarder) may have stopped`,
    // One name whatever the count, so that Slack's grouping (by stream, kind and field) takes the next such
    // alert as a repeat: "12 streams" and "13 streams" were two incidents.
    stream_id: MANY_STREAMS,
    template: '',
    template_id: -1,
    baseline: { streams: found.length, stream_ids: found.slice(0, 100).map((a) => a.stream_id), ...(most !== undefined ? { silent_seconds: most } : {}) },
  }];
}

/**
 * The silences of live streams at `now` (see `Detector.checkSilence`), as alerts (see `groupSilences`);
 * streams told in one alert for many are marked so, and their ends are told together (`BackGatherer`).
 */
export function tellSilences(detector: Detector, now: number): Anomaly[] {
  const found = detector.checkSilence(now);
  if (found.length > MAX_SILENCE_ALERTS) detector.markSilenceGrouped(found.map((a) => a.stream_id));
  return groupSilences(found);
}

/** `a, b, c, d, e and 995 more`: the first five of `total` stream ids, each cut to 60 characters. */
function streamList(ids: string[], total: number): string {
  const shown = ids.slice(0, 5).map((id) => ellipsize(id, 60));
  return shown.join(', ') + (total > shown.length ? ` and ${total - shown.length} more` : '');
}

/**
 * The live state of each stream (see `StreamDetector.liveState`) that a stage stopped gracefully left for
 * the stage built next from the same snapshot file in this process: after a reload, the next pipeline's.
 */
const liveAcrossReload = new Map<string, Map<string, LiveState>>();

/** How often the silences of live streams are looked for (ms of the wall clock). */
export const SILENCE_CHECK_MS = 1000;

/**
 * The clock events are received by and silences measured on: the wall clock as it was when the process
 * started, moved on by a monotonic clock, so that the system clock stepped forward (NTP, a VM's clock
 * fixed at boot) does not make every live stream look silent for the length of the step.
 */
export function receiverClock(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The event that carries a silence reported while it lasts (no event of the stream carries it: there is
 * none): a line that says so, stamped with the stream's time now, from this transform (`source.input` is its
 * id), with the anomaly in `attributes.anomaly` as any other.
 */
export function silenceEvent(anomaly: Anomaly, streamTime: number | undefined, transformId: string, observed = Date.now()): LogEvent {
  return noticeEvent(anomaly, silenceText(anomaly), 'WARN', streamTime, transformId, observed);
}

/** An event of this transform's own (no event of the stream carries it) with `anomaly` in `attributes.anomaly`. */
function noticeEvent(anomaly: Anomaly, body: string, severity: 'WARN' | 'INFO', time: number | undefined, transformId: string, observed: number): LogEvent {
  const event: LogEvent = {
    observedTimestamp: observed,
    severityText: severity,
    severityNumber: severityFloor(severity),
    body,
    attributes: { anomaly: anomalyAttribute(anomaly) },
    source: { input: transformId },
  };
  if (time !== undefined) event.timestamp = time;
  return event;
}

/** The line that says a stream (or many) is silent: the body of `silenceEvent`, the entry `driftlock stream` prints. */
export function silenceText(anomaly: Anomaly): string {
  const seconds = anomaly.baseline?.silent_seconds;
  const typical = anomaly.baseline?.typical_per_second;
  const streams = anomaly.baseline?.streams;
  return typeof streams === 'number'
    ? `${streams} streams silent at once: ${streamList(anomaly.baseline?.stream_ids as string[] | undefined ?? [], streams)}`
    : `stream ${anomaly.stream_id} silent: no events for ${typeof seconds === 'number' ? durationText(seconds) : 'a while'}` +
      (typeof typical === 'number' ? ` vs typical ${typical}/s` : anomaly.template ? ` (pattern ${JSON.stringify(ellipsize(anomaly.template, 80))} stopped)` : '');
}

/**
 * The notice that streams whose silence was told while it lasted are back (their first events since): an
 * anomaly as the silence's (`volume_drop`, its confidence) with `resolved: true` and score 0, so that an
 * output can close the incident (Slack says so with a check mark). More than `MAX_SILENCE_ALERTS` back at
 * once are one notice, as their silence was one alert.
 */
export function backAnomaly(ends: ReadonlyArray<{ streamId: string; end: SilenceEnd }>, grouped = false): Anomaly {
  const most = Math.round(Math.max(...ends.map((e) => e.end.silentSeconds)));
  // The streams of a silence told in one alert for many: their notice closes that alert, whose stream is
  // `MANY_STREAMS`, however few are back yet.
  const one = ends.length === 1 && !grouped ? ends[0]! : undefined;
  return {
    kind: 'volume_drop',
    resolved: true,
    score: 0,
    confidence: Math.max(...ends.map((e) => e.end.confidence)),
    why: one
      ? `stream ${one.streamId} back: events again after ${durationText(Math.round(one.end.silentSeconds))} of silence (its last event before was at ${new Date(one.end.since).toISOString()})`
      : `${ends.length} stream${ends.length === 1 ? '' : 's'} back${grouped ? ' (of those that went silent at once)' : ''}: events again after ${ends.length === 1 ? '' : 'up to '}${durationText(most)} of silence (${streamList(ends.map((e) => e.streamId), ends.length)})`,
    stream_id: one ? one.streamId : MANY_STREAMS,
    // The silence's own pattern (a stopped pattern's), so that an output finds the incident this closes: the
    // alerts of one stream, kind and pattern are one incident (Slack's group, a webhook's `{group}`).
    template: one?.end.template ?? '',
    template_id: -1,
    baseline: { silent_seconds: most, ...(one ? {} : { streams: ends.length, stream_ids: ends.slice(0, 100).map((e) => e.streamId) }) },
  };
}

/** The notices of streams back (see `backAnomaly`): one per stream, or one for all when more than `MAX_SILENCE_ALERTS`. */
export function backAnomalies(ends: ReadonlyArray<{ streamId: string; end: SilenceEnd }>): Anomaly[] {
  if (ends.length === 0) return [];
  return ends.length > MAX_SILENCE_ALERTS ? [backAnomaly(ends)] : ends.map((e) => backAnomaly([e]));
}

/** How long the ends of a silence told for many streams at once are gathered into one notice (ms). */
export const BACK_GATHER_MS = 10_000;

/**
 * The ends of silences told in one alert for many streams (`SilenceEnd.grouped`): a forwarder that comes back
 * brings its streams back over some seconds, a few in each batch, and each stream's own notice made one
 * Slack message a second for what one alert had said (12 streams silent at once: 12 "Log Stream Back"
 * messages). The ends are gathered from the first for `BACK_GATHER_MS` (on the caller's clock) and told as
 * one notice for all of them (`backAnomaly`, grouped); those that come later make the next one.
 */
export class BackGatherer {
  private pending: Array<{ streamId: string; end: SilenceEnd }> = [];
  private due = Infinity;
  /** The event time of the first end gathered, for the notice. */
  private time: number | undefined;

  constructor(private readonly gatherMs = BACK_GATHER_MS) {}

  add(streamId: string, end: SilenceEnd, now: number, time: number | undefined): void {
    if (this.pending.length === 0) {
      this.due = now + this.gatherMs;
      this.time = time;
    }
    this.pending.push({ streamId, end });
  }

  /** Whether ends are gathered for a notice not told yet. */
  get gathering(): boolean {
    return this.pending.length > 0;
  }

  /** The notice of the ends gathered, when their time has come at `now` (or at once with `force`). */
  take(now: number, force = false): { anomaly: Anomaly; time: number | undefined } | undefined {
    if (this.pending.length === 0 || (!force && now < this.due)) return undefined;
    const anomaly = backAnomaly(this.pending, true);
    const time = this.time;
    this.pending = [];
    this.due = Infinity;
    this.time = undefined;
    return { anomaly, time };
  }
}

/** The event that carries a notice of streams back: the why as its body, INFO, from this transform. */
export function backEvent(anomaly: Anomaly, transformId: string, time: number | undefined, observed = Date.now()): LogEvent {
  return noticeEvent(anomaly, anomaly.why, 'INFO', time, transformId, observed);
}

export const anomalyDetectTransform = defineTransform({
  type: 'anomaly_detect',
  description:
    'Flags events that look unlike their stream\'s recent baseline: new patterns, text the baseline cannot explain (compression distance), unusual field values, slow drifts of a field\'s level (in event time), volume spikes and drops. Flagged events carry `attributes.anomaly` with `kind`, `score`, `confidence`, `why`, `stream_id`, `template` and `field`.',
  config: anomalyDetectConfig,
  example: { type: 'anomaly_detect', inputs: ['parse_access'], stream_id: 'nginx-logs', profile: 'balanced' },
  async build(config, ctx) {
    const detector = new Detector({ profile: config.profile, overrides: detectorOptions(config), maxStreams: config.max_streams });
    const watch = config.fields === 'auto' ? null : watchedFields(config.fields);
    const parse = await lineParser(config.format);
    const snapshotFile = path.join(ctx.dataDir, 'detector.json');
    ctx.metrics?.gauge('detector_streams', () => detector.streamCount);
    ctx.metrics?.counter('detector_evicted_streams_total', () => detector.evictedStreams);
    ctx.metrics?.counter('detector_evicted_cold_streams_total', () => detector.evictedColdStreams);
    // Streams evicted before their warm-up ended are never scored: said at the first, then at most hourly.
    let coldTold = 0;
    let coldToldAt = 0;
    const tellCold = () => {
      const cold = detector.evictedColdStreams;
      if (cold === coldTold || (coldTold > 0 && Date.now() - coldToldAt < 3_600_000)) return;
      ctx.logger.warn({ max_streams: config.max_streams, evicted_before_warmup: cold, stream_id: config.stream_id },
        `${cold} stream(s) were evicted before their warm-up ended, so they are never scored: more streams take turns than max_streams (${config.max_streams}) keeps; raise max_streams or use a coarser stream_id (detector_evicted_cold_streams_total)`);
      coldTold = cold;
      coldToldAt = Date.now();
    };
    // By kind: a dashboard tells a flood of new patterns from slow responses; sum() is the total.
    ctx.metrics?.declareEach('anomalies_total', 'kind', ANOMALY_KINDS);
    if (config.stream_id.includes('{')) ctx.metrics?.declare('stream_id_unresolved_events_total');
    // A field of stream_id that an event lacks (a typo, a format that does not give it): the event goes to
    // the stream `-`, counted, and said once per field with what the event has instead.
    const toldMissing = new Set<string>();
    // Counted once per event, however many of its fields are missing.
    let lastMissed: LogEvent | undefined;
    const missed = (ref: string, event: LogEvent) => {
      if (event !== lastMissed) {
        lastMissed = event;
        ctx.metrics?.add('stream_id_unresolved_events_total');
      }
      if (toldMissing.has(ref) || toldMissing.size >= 100) return;
      toldMissing.add(ref);
      ctx.logger.warn({ stream_id: config.stream_id, field: ref, hint: missingFieldHint(ref, event) }, `stream_id: an event has no {${ref}}; such events share the stream "-" (told once per field, counted in stream_id_unresolved_events_total)`);
    };
    const snapshots = config.snapshot_interval > 0;
    if (snapshots) {
      try {
        const restored = await loadDetectorState(detector, snapshotFile);
        if (restored !== undefined && restored.failed.length === 0) ctx.logger.info({ streams: restored.streams, file: snapshotFile }, 'detector state restored: no new warm-up');
        // Some streams' state could not be read: those start a new warm-up, the others do not.
        else if (restored !== undefined) ctx.logger.warn({ streams: restored.streams, failed: restored.failed.slice(0, 10), file: snapshotFile }, `detector state partly restored: ${describeRestore(restored)}`);
      } catch (err) {
        ctx.logger.warn({ err, file: snapshotFile }, 'cannot restore detector state; starting a new warm-up');
      }
    }
    // A reload in this process: the streams the replaced detector had live go on being live here, so that a
    // silence that began before the reload is still told (restored streams are otherwise judged only after
    // their next event: a process's own downtime is no silence). Not before `min_silence` has gone by since
    // this build, so that the inputs, started anew, have handed on what came during the reload.
    const handedOver = liveAcrossReload.get(snapshotFile);
    liveAcrossReload.delete(snapshotFile);
    let adoptedLive = false;
    if (handedOver) {
      for (const [id, live] of handedOver) {
        const stream = detector.peek(id);
        if (stream) {
          stream.adoptLive(live);
          adoptedLive = true;
        }
      }
    }
    let saving: Promise<void> | null = null;
    let dirty = false;
    const save = () => saveDetectorState(detector, snapshotFile);
    // A save that fails (a full data_dir) is said once, counted, on /health, and tried again at the next
    // interval. Before, it was a warning at each interval, not counted, /health ok.
    const saveFailure = new FailureReport(ctx, { what: 'cannot save detector state', recovered: 'detector state can be saved again', fields: { file: snapshotFile } });
    // On a timer, not on the next batch: a burst followed by silence must be saved too (the file input has
    // checkpointed those lines; after a SIGKILL they would not be read again, and the baseline would be lost).
    const timer = snapshots
      ? setInterval(() => {
        if (!dirty || saving) return;
        dirty = false;
        saving = save()
          .then(
            () => saveFailure.succeeded(),
            (err: unknown) => {
              dirty = true;
              saveFailure.failed(err);
            },
          )
          .finally(() => (saving = null));
      }, config.snapshot_interval)
      : undefined;
    timer?.unref();
    const failOpen = (batch: Batch, err: unknown): Batch => {
      ctx.metrics?.add('errors_total');
      ctx.logger.error({ err, events: batch.events.length }, 'transform failed on a batch; passing its events on as it left them');
      return batch;
    };
    let lastErrorLog = -Infinity;
    let lastSilenceErrorLog = -Infinity;
    let unlogged = 0;
    /** Silences of live streams now, as events to pass on. */
    // Never throws: a failure of stream() would make the engine build the stage anew, beside this one's
    // snapshot timer, which only flush() stops.
    // When a component upstream was last seen held up (waiting for room in a full buffer: a sibling output
    // that cannot write, a backlog): the input is quiet because the pipeline is. No stream is judged silent
    // then, nor until a silence's length has gone by since, so that the events it held have come through.
    let heldUpAt = adoptedLive ? receiverClock() : -Infinity;
    const minSilenceMs = detector.options.minSilenceSeconds * 1000;
    // Streams back from a silence told for many at once: one notice for those back within BACK_GATHER_MS.
    const gathered = new BackGatherer();
    const gatheredDue = (now: number, force = false): LogEvent[] => {
      const due = gathered.take(now, force);
      return due ? [backEvent(due.anomaly, ctx.id, due.time)] : [];
    };
    const silences = (): LogEvent[] => {
      try {
        const now = receiverClock();
        // Stopping (or reloading): the inputs stop, and the quiet that follows is the daemon's own.
        if (ctx.stopping?.aborted || now - heldUpAt < minSilenceMs) return gatheredDue(now);
        const found = tellSilences(detector, now);
        for (const a of found) ctx.metrics?.add('anomalies_total', 1, { kind: a.kind });
        // Streams back that are gathered are told before a new silence (of them, or of others).
        return [...gatheredDue(now, found.length > 0), ...found.map((a) => silenceEvent(a, detector.peek(a.stream_id)?.sourceTimeAt(now), ctx.id))];
      } catch (err) {
        ctx.metrics?.add('errors_total');
        const now = Date.now();
        if (now - lastSilenceErrorLog >= 60_000) {
          ctx.logger.error({ err }, 'the detector failed looking for silent streams (errors_total counts it)');
          lastSilenceErrorLog = now;
        }
        return [];
      }
    };
    const stage = {
      async map(events: LogEvent[]): Promise<LogEvent[]> {
        await parse(events);
        const out: LogEvent[] = config.emit === 'all' ? events : [];
        const receivedAt = receiverClock();
        // Streams whose silence was told while it lasted, back with this batch: said before its events.
        const back: Array<{ streamId: string; end: SilenceEnd }> = [];
        let backAt: number | undefined;
        for (const event of events) {
          let anomaly;
          try {
            const input = toDetectorInput(event, watch);
            input.receivedAt = receivedAt;
            const streamId = resolveStreamId(config.stream_id, event, missed);
            anomaly = detector.observe(streamId, input);
            const end = detector.takeSilenceEnd(streamId);
            if (end?.grouped) gathered.add(streamId, end, receivedAt, event.timestamp ?? event.observedTimestamp);
            else if (end) {
              back.push({ streamId, end });
              backAt ??= event.timestamp ?? event.observedTimestamp;
            }
          } catch (err) {
            // A bug the event brought out: the event goes on unscored (with emit: all), the rest of the
            // batch is still scored, and the error is counted and said.
            ctx.metrics?.add('errors_total');
            const now = Date.now();
            if (now - lastErrorLog >= 60_000) {
              // At most one log line a minute: a bug that every event hits must not flood the log.
              ctx.logger.error({ err, since_last_logged: unlogged }, 'the detector failed on an event; it passes on unscored (errors_total counts them)');
              lastErrorLog = now;
              unlogged = 0;
            } else unlogged += 1;
            continue;
          }
          if (!anomaly) continue;
          event.attributes.anomaly = anomalyAttribute(anomaly);
          ctx.metrics?.add('anomalies_total', 1, { kind: anomaly.kind });
          if (config.emit === 'anomalies') out.push(event);
        }
        dirty = true;
        tellCold();
        const due = gatheredDue(receivedAt);
        if (back.length === 0 && due.length === 0) return out;
        return [...due, ...backAnomalies(back).map((a) => backEvent(a, ctx.id, backAt)), ...out];
      },
      /**
       * The batches, scored by `map`, and the silences of live streams while they last: looked for every
       * `SILENCE_CHECK_MS`, but only while this stage waits for input. Then everything received so far is
       * scored, and a stream's quiet is its own; while a batch is scored or handed on (a blocked output, a
       * backlog in the buffer in front), no stream is judged silent for the stage's own delay. Nor while a
       * component upstream waits for room (the input also feeds an output that cannot write), and for
       * `min_silence` after: the input was held, not its sources quiet.
       */
      async *stream(batches: AsyncIterable<Batch>): AsyncIterable<Batch> {
        const source = batches[Symbol.asyncIterator]();
        let wake: (() => void) | undefined;
        const ticker = setInterval(() => {
          if (ctx.upstreamBlocked?.()) heldUpAt = receiverClock();
          wake?.();
        }, SILENCE_CHECK_MS);
        ticker.unref();
        try {
          let next = source.next();
          for (;;) {
            const tick = new Promise<'tick'>((resolve) => (wake = () => resolve('tick')));
            const got = await Promise.race([next, tick]);
            wake = undefined;
            if (got === 'tick') {
              const found = silences();
              if (found.length) yield { events: found, finalizers: [] };
              continue;
            }
            if (got.done) return;
            const batch = got.value;
            let out: LogEvent[];
            try {
              out = await stage.map(batch.events);
            } catch (err) {
              // Its `on_error`, applied by the engine as to a map()'s batch; thrown, it would restart the
              // transform, and the batch be fed again. Outside a pipeline it fails open.
              const passed = ctx.failedBatch ? ctx.failedBatch(batch, err) : failOpen(batch, err);
              if (passed) yield passed;
              next = source.next();
              continue;
            }
            if (out.length) yield { events: out, finalizers: batch.finalizers, bytes: carriedBytes(batch, out) };
            else releaseAll(batch.finalizers);
            next = source.next();
          }
        } finally {
          clearInterval(ticker);
        }
      },
      /**
       * What its flush() would pass on, for the engine to count if that fails (the shutdown timeout passes while
       * it saves the state to a data_dir that hangs): the notice of streams back still gathering, one event, or
       * none. It holds back no event of its input: each batch is scored and passed on (or released) as it comes.
       */
      pending(): number {
        return gathered.gathering ? 1 : 0;
      },
      async flush() {
        clearInterval(timer);
        // Streams back whose notice was still gathering: told now (their silence is over in the state saved).
        const rest = gatheredDue(receiverClock(), true);
        if (saving) await saving;
        if (snapshots) {
          try {
            await save();
            // For this stage's successor if this stop is a reload (see `liveAcrossReload`).
            const live = new Map<string, LiveState>();
            for (const id of detector.streamIds()) {
              const state = detector.peek(id)?.liveState();
              if (state) live.set(id, state);
            }
            liveAcrossReload.set(snapshotFile, live);
            saveFailure.succeeded();
          } catch (err) {
            const before = saveFailure.failing;
            saveFailure.failed(err);
            // Said whatever the reminder's pace: what was learned since the last save is lost at this stop.
            if (before) ctx.logger.error({ err, file: snapshotFile }, 'cannot save detector state at the stop either: the next start restores the last state saved, or starts a new warm-up');
          }
        }
        return rest;
      },
    };
    return stage;
  },
});

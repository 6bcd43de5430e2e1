/**
 * OTLP log records onto driftlock's event model (which follows the OpenTelemetry log data model, so the
 * mapping is mostly direct):
 *
 * - `time_unix_nano` (or, when unset, `observed_time_unix_nano`) -> `timestamp` in epoch ms;
 *   `severity_number`/`severity_text` -> `severityNumber`/`severityText`; `trace_id`/`span_id` -> hex.
 * - body: a string stays a string; a key-value list becomes an object body. Other kinds (int, double, bool,
 *   array, bytes) become text (JSON for arrays, base64 for bytes) and `attributes["otlp.body_type"]` names
 *   the kind, so nothing about the value is lost.
 * - record attributes -> `attributes`; resource attributes -> `resource`; the scope's name and version ->
 *   `attributes["otlp.scope.name"]`, `["otlp.scope.version"]`, the scope's attributes ->
 *   `["otlp.scope.attributes"]`; `event_name` -> `["otlp.event_name"]`;
 *   non-zero `flags` -> `["otlp.flags"]`.
 * - attribute values: int64 becomes a number when it is a safe integer, else a decimal string; bytes become
 *   base64; arrays and key-value lists nest.
 */
import { MAX_NESTING, setOwn, TOO_DEEP, type AttributeValue, type Attributes, type LogEvent } from '../../engine/event.js';
import type { ExportLogsServiceRequest, Int64, OtlpAnyValue, OtlpKeyValue } from './proto.js';

const TWO_32 = 4_294_967_296;

/** An unsigned 64-bit integer from its 32-bit halves, as a JS number (exact up to 2^53). */
export function uint64Number(low: number, high: number): number {
  return (high >>> 0) * TWO_32 + (low >>> 0);
}

/** A 64-bit integer from its 32-bit halves: a number when it is a safe integer, else its exact decimal text. */
export function int64FromBits(low: number, high: number, unsigned: boolean): number | string {
  const n = unsigned ? uint64Number(low, high) : (high | 0) * TWO_32 + (low >>> 0);
  if (Number.isSafeInteger(n)) return n;
  // Beyond 2^53: exact decimal text via BigInt.
  const big = (BigInt(high | 0) << 32n) | BigInt(low >>> 0);
  return (unsigned ? BigInt.asUintN(64, big) : BigInt.asIntN(64, big)).toString();
}

/** A 64-bit integer as protobufjs decodes it, as a JS number (exact up to 2^53). */
function int64ToNumber(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  return v.unsigned ? uint64Number(v.low, v.high) : (v.high | 0) * TWO_32 + (v.low >>> 0);
}

function int64Value(v: Int64): number | string {
  return typeof v === 'number' ? v : int64FromBits(v.low, v.high, v.unsigned);
}

/** `bytes[start, end)` in hex; undefined when empty or all zero ("no trace" in OTLP). */
export function hexId(bytes: SlicingBuffer, start: number, end: number): string | undefined {
  let i = start;
  while (i < end && bytes[i] === 0) i++;
  // hexSlice: a flat string, which JSON.stringify writes out faster than one built two digits at a time.
  return i === end ? undefined : bytes.hexSlice(start, end);
}

/** A trace or span id as protobufjs decodes it, in hex (hexId). */
function idOf(bytes: Uint8Array | undefined): string | undefined {
  return bytes?.length ? hexId(asBuffer(bytes), 0, bytes.length) : undefined;
}

/**
 * Node's Buffer methods that slice without normalising their arguments again, as toString does (protobufjs
 * uses them too): a quarter of the cost of a short string's toString.
 */
export type SlicingBuffer = Buffer & {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
  base64Slice(start: number, end: number): string;
};

/** The bytes as a Buffer, without copying them. */
export function asBuffer(bytes: Uint8Array): SlicingBuffer {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as SlicingBuffer;
}

function base64(bytes: Uint8Array): string {
  return asBuffer(bytes).base64Slice(0, bytes.length);
}

export function anyValue(v: OtlpAnyValue | null | undefined, depth = 0): AttributeValue {
  if (!v) return null;
  switch (v.value) {
    case 'stringValue': return v.stringValue!;
    case 'boolValue': return v.boolValue!;
    case 'intValue': return int64Value(v.intValue!);
    case 'doubleValue': return v.doubleValue!;
    case 'arrayValue': return depth >= MAX_NESTING ? TOO_DEEP : (v.arrayValue?.values ?? []).map((x) => anyValue(x, depth + 1));
    case 'kvlistValue': return depth >= MAX_NESTING ? TOO_DEEP : keyValues(v.kvlistValue?.values, {}, depth + 1);
    case 'bytesValue': return base64(v.bytesValue!);
    default: return null;
  }
}

export function keyValues(list: OtlpKeyValue[] | undefined, into: Attributes = {}, depth = 0): Attributes {
  if (!list) return into;
  for (let i = 0; i < list.length; i++) {
    const kv = list[i]!;
    setOwn(into, kv.key, anyValue(kv.value, depth));
  }
  return into;
}

/** `attributes["otlp.body_type"]` of a body that is neither a string nor a key-value list, by its AnyValue member. */
export const BODY_TYPE: Readonly<Record<string, string>> = {
  boolValue: 'bool', intValue: 'int', doubleValue: 'double', arrayValue: 'array', bytesValue: 'bytes',
};

/** What the records of one scope of one resource share. */
export interface RecordContext {
  input: string;
  peer: string | undefined;
  /** `observedTimestamp` of every event of the request. */
  now: number;
  /** The resource's attributes, when it has any (one object for all its records). */
  resource: Attributes | undefined;
  scopeName: string | undefined;
  scopeVersion: string | undefined;
  scopeAttributes: Attributes | undefined;
}

/** The scope's part of a record's attributes (after the record's own, before the body type). */
export function addScopeAttributes(attributes: Attributes, c: RecordContext, eventName: string, flags: number): void {
  if (c.scopeName !== undefined) attributes['otlp.scope.name'] = c.scopeName;
  if (c.scopeVersion !== undefined) attributes['otlp.scope.version'] = c.scopeVersion;
  if (c.scopeAttributes) attributes['otlp.scope.attributes'] = c.scopeAttributes;
  if (eventName) attributes['otlp.event_name'] = eventName;
  if (flags) attributes['otlp.flags'] = flags;
}

/** The body of a record whose AnyValue is neither a string nor a key-value list: its value as text. */
export function otherBody(value: AttributeValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * One record's event. `time` is `time_unix_nano`, or when zero `observed_time_unix_nano` (epoch ns as a
 * double); `attributes` are complete (addScopeAttributes and the body type included).
 */
export function recordEvent(
  c: RecordContext,
  body: string | Attributes,
  attributes: Attributes,
  time: number,
  severityNumber: number,
  severityText: string,
  traceId: string | undefined,
  spanId: string | undefined,
): LogEvent {
  const event: LogEvent = { observedTimestamp: c.now, body, attributes, source: c.peer === undefined ? { input: c.input } : { input: c.input, peer: c.peer } };
  // Rounded to the microsecond: a double cannot hold epoch nanoseconds exactly, but holds microseconds.
  if (time) event.timestamp = Math.round(time / 1e3) / 1e3;
  if (severityNumber) event.severityNumber = severityNumber;
  if (severityText) event.severityText = severityText;
  if (traceId) event.traceId = traceId;
  if (spanId) event.spanId = spanId;
  if (c.resource) event.resource = c.resource;
  return event;
}

/** Converts one Export request, as protobufjs decodes it, into events; `peer` and `input` fill `source`. */
export function requestToEvents(request: ExportLogsServiceRequest, input: string, peer: string | undefined, now = Date.now()): LogEvent[] {
  const events: LogEvent[] = [];
  for (const rl of request.resourceLogs) {
    const resource = rl.resource?.attributes?.length ? keyValues(rl.resource.attributes) : undefined;
    for (const sl of rl.scopeLogs) {
      const c: RecordContext = {
        input,
        peer,
        now,
        resource,
        scopeName: sl.scope?.name || undefined,
        scopeVersion: sl.scope?.version || undefined,
        scopeAttributes: sl.scope?.attributes?.length ? keyValues(sl.scope.attributes) : undefined,
      };
      for (const r of sl.logRecords) {
        const attributes = keyValues(r.attributes);
        addScopeAttributes(attributes, c, r.eventName, r.flags);
        let body: string | Attributes;
        const b = r.body;
        if (!b || b.value === undefined) {
          body = '';
        } else if (b.value === 'stringValue') {
          body = b.stringValue!;
        } else if (b.value === 'kvlistValue') {
          body = keyValues(b.kvlistValue?.values);
        } else {
          body = otherBody(anyValue(b));
          attributes['otlp.body_type'] = BODY_TYPE[b.value]!;
        }
        const time = int64ToNumber(r.timeUnixNano) || int64ToNumber(r.observedTimeUnixNano);
        events.push(recordEvent(c, body, attributes, time, r.severityNumber, r.severityText, idOf(r.traceId), idOf(r.spanId)));
      }
    }
  }
  return events;
}

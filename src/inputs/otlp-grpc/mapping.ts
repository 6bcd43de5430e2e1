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

/** A 64-bit integer as a JS number (exact up to 2^53). */
function int64ToNumber(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  return v.unsigned ? (v.high >>> 0) * TWO_32 + (v.low >>> 0) : v.high * TWO_32 + (v.low >>> 0);
}

function int64Value(v: Int64): number | string {
  if (typeof v === 'number') return v;
  const n = int64ToNumber(v);
  if (Number.isSafeInteger(n)) return n;
  // Beyond 2^53: exact decimal text via BigInt.
  const big = (BigInt(v.high) << 32n) | BigInt(v.low >>> 0);
  return (v.unsigned ? BigInt.asUintN(64, big) : BigInt.asIntN(64, big)).toString();
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hexId(bytes: Uint8Array | undefined): string | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  let s = '';
  let zero = true;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b !== 0) zero = false;
    s += HEX[b];
  }
  return zero ? undefined : s; // all-zero ids mean "no trace" in OTLP
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
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

const BODY_TYPE: Record<string, string> = {
  boolValue: 'bool', intValue: 'int', doubleValue: 'double', arrayValue: 'array', bytesValue: 'bytes',
};

/** Converts one Export request into events; `peer` and `input` fill `source`. */
export function requestToEvents(request: ExportLogsServiceRequest, input: string, peer: string | undefined, now = Date.now()): LogEvent[] {
  const events: LogEvent[] = [];
  for (const rl of request.resourceLogs) {
    const resource = rl.resource?.attributes?.length ? keyValues(rl.resource.attributes) : undefined;
    for (const sl of rl.scopeLogs) {
      const scopeName = sl.scope?.name || undefined;
      const scopeVersion = sl.scope?.version || undefined;
      const scopeAttributes = sl.scope?.attributes?.length ? keyValues(sl.scope.attributes) : undefined;
      for (const r of sl.logRecords) {
        const attributes = keyValues(r.attributes);
        if (scopeName !== undefined) attributes['otlp.scope.name'] = scopeName;
        if (scopeVersion !== undefined) attributes['otlp.scope.version'] = scopeVersion;
        if (scopeAttributes) attributes['otlp.scope.attributes'] = scopeAttributes;
        if (r.eventName) attributes['otlp.event_name'] = r.eventName;
        if (r.flags) attributes['otlp.flags'] = r.flags;
        let body: string | Attributes;
        const b = r.body;
        if (!b || b.value === undefined) {
          body = '';
        } else if (b.value === 'stringValue') {
          body = b.stringValue!;
        } else if (b.value === 'kvlistValue') {
          body = keyValues(b.kvlistValue?.values);
        } else {
          const value = anyValue(b);
          body = typeof value === 'string' ? value : JSON.stringify(value);
          attributes['otlp.body_type'] = BODY_TYPE[b.value]!;
        }
        const event: LogEvent = { observedTimestamp: now, body, attributes, source: peer === undefined ? { input } : { input, peer } };
        const time = int64ToNumber(r.timeUnixNano) || int64ToNumber(r.observedTimeUnixNano);
        // Rounded to the microsecond: a double cannot hold epoch nanoseconds exactly, but holds microseconds.
        if (time) event.timestamp = Math.round(time / 1e3) / 1e3;
        if (r.severityNumber) event.severityNumber = r.severityNumber;
        if (r.severityText) event.severityText = r.severityText;
        const traceId = hexId(r.traceId);
        if (traceId) event.traceId = traceId;
        const spanId = hexId(r.spanId);
        if (spanId) event.spanId = spanId;
        if (resource) event.resource = resource;
        events.push(event);
      }
    }
  }
  return events;
}


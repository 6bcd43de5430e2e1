/**
 * Forward entries onto driftlock's event model: the record (a map) becomes the body as it is; the tag goes to
 * `attributes["fluent.tag"]`, Fluent Bit's per-record metadata (when not empty) to `["fluent.metadata"]`.
 * Severity is taken from a string `level`, `severity` or `log_level` field of the record, when there is one.
 * Strings arrive as bytes (see `decoderOptions`) and become text; bytes that are not valid UTF-8, in a value
 * or a key, are replaced with U+FFFD and the event is marked `log.invalid_utf8`, as the other inputs do.
 * EventTimes in records become epoch ms.
 */
import { isUtf8 } from 'node:buffer';
import type { AttributeValue, Attributes, LogEvent } from '../../engine/event.js';
import { MAX_NESTING, setOwn, severityNumberFromText, TOO_DEEP } from '../../engine/event.js';
import { EventTime } from './event-time.js';
import { INVALID_KEY, PROTO_KEY, type ForwardEntry, type ForwardMessage } from './protocol.js';

const SEVERITY_FIELDS = ['level', 'severity', 'log_level'];

/** Set when a conversion met bytes that are not valid UTF-8 (reset by the caller, per event). */
let invalidUtf8 = false;

export function toAttributeValue(v: unknown, depth = 0): AttributeValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    case 'object':
      break;
    default:
      return String(v);
  }
  if (depth >= MAX_NESTING && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof EventTime)) return TOO_DEEP;
  if (Array.isArray(v)) return v.map((x) => toAttributeValue(x, depth + 1));
  if (v instanceof Uint8Array) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (!isUtf8(b)) invalidUtf8 = true;
    return b.toString('utf8');
  }
  if (v instanceof EventTime) return v.toMillis();
  if (v instanceof Date) return v.toISOString();
  return toAttributes(v as Record<string, unknown>, depth + 1);
}

function toAttributes(record: Record<string, unknown>, depth: number): Attributes {
  const out: Attributes = {};
  for (const sent of Object.keys(record)) {
    const value = toAttributeValue(record[sent], depth);
    let key = sent;
    if (key.startsWith(INVALID_KEY)) {
      key = key.slice(INVALID_KEY.length);
      invalidUtf8 = true;
    } else if (key === PROTO_KEY) key = '__proto__';
    setOwn(out, key, value);
  }
  return out;
}

/** The events of `entries`, taken from `message`. */
export function forwardEvents(message: ForwardMessage, entries: ForwardEntry[], input: string, peer: string | undefined, now: number): LogEvent[] {
  const events: LogEvent[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    invalidUtf8 = false;
    const value = toAttributeValue(e.record);
    const body: string | Attributes = typeof value === 'object' && value !== null && !Array.isArray(value) ? value : typeof value === 'string' ? value : JSON.stringify(value);
    const attributes: Attributes = { 'fluent.tag': message.tag };
    if (e.metadata && typeof e.metadata === 'object' && Object.keys(e.metadata).length > 0) attributes['fluent.metadata'] = toAttributeValue(e.metadata);
    if (invalidUtf8 || message.invalidTag) attributes['log.invalid_utf8'] = true;
    const event: LogEvent = { observedTimestamp: now, body, attributes, source: peer === undefined ? { input } : { input, peer } };
    if (e.time !== undefined) event.timestamp = e.time;
    if (typeof body === 'object') {
      for (const field of SEVERITY_FIELDS) {
        const level = body[field];
        if (typeof level === 'string') {
          event.severityText = level;
          const number = severityNumberFromText(level);
          if (number !== undefined) event.severityNumber = number;
          break;
        }
      }
    }
    events[i] = event;
  }
  return events;
}

/**
 * ExportLogsServiceRequest bytes straight to events, in one walk of the protobuf wire format: no protobufjs
 * message objects (one per record, key-value, AnyValue and Long), no second pass to map them. It gives what
 * protobufjs's decoder followed by mapping.ts gives: the same events, field for field, key order included.
 *
 * It takes only what it can map exactly and leaves the rest to that path (decodeEvents answers undefined):
 * bytes that are not a valid request (protobufjs then says why), invalid UTF-8 in a string (decoded again
 * with replacement and marked), values nested MAX_NESTING deep (cut), and what valid protobuf allows but
 * no exporter sends (a singular message field or AnyValue member given twice, which protobufjs merges;
 * groups). Unknown fields are skipped as protobufjs skips them, known fields with another wire type too.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_NESTING, setOwn, type AttributeValue, type Attributes, type LogEvent } from '../../engine/event.js';
import { addScopeAttributes, asBuffer, BODY_TYPE, hexId, int64FromBits, otherBody, recordEvent, uint64Number, type RecordContext, type SlicingBuffer } from './mapping.js';

/** Thrown inside the decoder: the request goes to protobufjs instead. */
const UNSUPPORTED = new Error('not decoded here');

function unsupported(): never {
  throw UNSUPPORTED;
}

/** A tag: field number and wire type (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
const tag = (field: number, wireType: number) => (field << 3) | wireType;

// ResourceLogs, ScopeLogs
const RESOURCE = tag(1, 2), SCOPE = tag(1, 2), SCOPE_LOGS = tag(2, 2), LOG_RECORDS = tag(2, 2), SCHEMA_URL = tag(3, 2);
// Resource
const ATTRIBUTES = tag(1, 2), DROPPED = tag(2, 0), ENTITY_REFS = tag(3, 2);
// InstrumentationScope
const NAME = tag(1, 2), VERSION = tag(2, 2), SCOPE_ATTRIBUTES = tag(3, 2), SCOPE_DROPPED = tag(4, 0);
// LogRecord
const TIME = tag(1, 1), OBSERVED_TIME = tag(11, 1), SEVERITY_NUMBER = tag(2, 0), SEVERITY_TEXT = tag(3, 2), BODY = tag(5, 2),
  RECORD_ATTRIBUTES = tag(6, 2), RECORD_DROPPED = tag(7, 0), FLAGS = tag(8, 5), TRACE_ID = tag(9, 2), SPAN_ID = tag(10, 2), EVENT_NAME = tag(12, 2);
// KeyValue, ArrayValue and KeyValueList (values = 1)
const KEY = tag(1, 2), VALUE = tag(2, 2), VALUES = tag(1, 2);
// AnyValue's members, by field number: the names protobufjs gives them (mapping.ts's BODY_TYPE keys).
const STRING = 1, BOOL = 2, INT = 3, DOUBLE = 4, ARRAY = 5, KVLIST = 6, BYTES = 7;
const MEMBER = ['', 'stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] as const;
const MEMBER_WIRE_TYPE = [-1, 2, 0, 0, 1, 2, 2, 2];

/**
 * Attribute keys and severity texts seen before, by a hash of their bytes: the few a client sends again and
 * again are decoded once, not at every record, and are then the same string, which V8 need not look up in
 * its string table again at every object they key. ASCII strings of up to KEY_CACHE_CHARS only; one string a
 * slot, the newest.
 */
const KEY_CACHE_SLOTS = 1024;
const KEY_CACHE_CHARS = 64;
const keyCache: string[] = new Array<string>(KEY_CACHE_SLOTS).fill('');

class Decoder {
  private readonly buf: SlicingBuffer;
  private pos = 0;
  /** The AnyValue member that anyValue read last (its field number, 0 for none). */
  private kind = 0;
  /** The halves of the 64-bit integer that int64 read last. */
  private lo = 0;
  private hi = 0;
  readonly events: LogEvent[] = [];

  constructor(
    buf: SlicingBuffer,
    private readonly input: string,
    private readonly peer: string | undefined,
    private readonly now: number,
  ) {
    this.buf = buf;
  }

  request(): void {
    const end = this.buf.length;
    while (this.pos < end) {
      const t = this.varint32(end);
      if (t === tag(1, 2)) this.resourceLogs(this.delimited(end));
      else this.skip(t, end);
    }
  }

  /**
   * A ResourceLogs. Its resource applies to every record wherever it is among the fields, so it is read
   * first; the scope logs on a second walk.
   */
  private resourceLogs(end: number): void {
    const start = this.pos;
    const attributes: Attributes = {};
    let count = 0;
    while (this.pos < end) {
      const t = this.varint32(end);
      if (t === RESOURCE) count += this.resource(this.delimited(end), attributes);
      else if (t === SCHEMA_URL) this.checkString(this.delimited(end));
      else this.skip(t, end);
    }
    const resource = count > 0 ? attributes : undefined;
    this.pos = start;
    while (this.pos < end) {
      const t = this.varint32(end);
      if (t === SCOPE_LOGS) this.scopeLogs(this.delimited(end), resource);
      else this.skip(t, end);
    }
  }

  /** A Resource (merged into what came before it, as protobufjs merges a message field given twice); answers its attributes' number. */
  private resource(end: number, into: Attributes): number {
    let count = 0;
    while (this.pos < end) {
      const t = this.varint32(end);
      if (t === ATTRIBUTES) {
        this.keyValue(this.delimited(end), into, 0);
        count++;
      } else if (t === DROPPED) this.uint32(end);
      else if (t === ENTITY_REFS) this.entityRef(this.delimited(end));
      else this.skip(t, end);
    }
    return count;
  }

  /** An EntityRef: nothing of it is mapped, but protobufjs reads (and checks) its strings, fields 1 to 4. */
  private entityRef(end: number): void {
    while (this.pos < end) {
      const t = this.varint32(end);
      if ((t & 7) === 2 && t >>> 3 >= 1 && t >>> 3 <= 4) this.checkString(this.delimited(end));
      else this.skip(t, end);
    }
  }

  /** A ScopeLogs: its scope first (wherever it is), then its records. */
  private scopeLogs(end: number, resource: Attributes | undefined): void {
    const start = this.pos;
    let name = '';
    let version = '';
    const attributes: Attributes = {};
    let count = 0;
    while (this.pos < end) {
      const t = this.varint32(end);
      if (t === SCOPE) {
        const scopeEnd = this.delimited(end);
        while (this.pos < scopeEnd) {
          const st = this.varint32(scopeEnd);
          if (st === NAME) name = this.string(this.delimited(scopeEnd));
          else if (st === VERSION) version = this.string(this.delimited(scopeEnd));
          else if (st === SCOPE_ATTRIBUTES) {
            this.keyValue(this.delimited(scopeEnd), attributes, 0);
            count++;
          } else if (st === SCOPE_DROPPED) this.uint32(scopeEnd);
          else this.skip(st, scopeEnd);
        }
      } else if (t === SCHEMA_URL) this.checkString(this.delimited(end));
      else this.skip(t, end);
    }
    const c: RecordContext = {
      input: this.input,
      peer: this.peer,
      now: this.now,
      resource,
      scopeName: name || undefined,
      scopeVersion: version || undefined,
      scopeAttributes: count > 0 ? attributes : undefined,
    };
    this.pos = start;
    while (this.pos < end) {
      const t = this.varint32(end);
      if (t === LOG_RECORDS) this.events.push(this.logRecord(this.delimited(end), c));
      else this.skip(t, end);
    }
  }

  private logRecord(end: number, c: RecordContext): LogEvent {
    const attributes: Attributes = {};
    let timeLo = 0, timeHi = 0, observedLo = 0, observedHi = 0;
    let severityNumber = 0;
    let severityText = '';
    let eventName = '';
    let flags = 0;
    let traceId: string | undefined;
    let spanId: string | undefined;
    let bodyEnd = -1;
    let bodyStart = 0;
    while (this.pos < end) {
      const t = this.varint32(end);
      switch (t) {
        case TIME:
          timeLo = this.fixed32(end);
          timeHi = this.fixed32(end);
          break;
        case OBSERVED_TIME:
          observedLo = this.fixed32(end);
          observedHi = this.fixed32(end);
          break;
        case SEVERITY_NUMBER:
          severityNumber = this.uint32(end) | 0;
          break;
        case SEVERITY_TEXT:
          severityText = this.key(this.delimited(end));
          break;
        case BODY:
          if (bodyEnd >= 0) unsupported(); // merged by protobufjs
          bodyEnd = this.delimited(end);
          bodyStart = this.pos;
          this.pos = bodyEnd; // read after the attributes, which come first among the event's attributes
          break;
        case RECORD_ATTRIBUTES:
          this.keyValue(this.delimited(end), attributes, 0);
          break;
        case RECORD_DROPPED:
          this.uint32(end);
          break;
        case FLAGS:
          flags = this.fixed32(end);
          break;
        case TRACE_ID: {
          const idEnd = this.delimited(end);
          traceId = hexId(this.buf, this.pos, idEnd);
          this.pos = idEnd;
          break;
        }
        case SPAN_ID: {
          const idEnd = this.delimited(end);
          spanId = hexId(this.buf, this.pos, idEnd);
          this.pos = idEnd;
          break;
        }
        case EVENT_NAME:
          eventName = this.string(this.delimited(end));
          break;
        default:
          this.skip(t, end);
      }
    }
    addScopeAttributes(attributes, c, eventName, flags);
    let body: string | Attributes = '';
    if (bodyEnd >= 0) {
      this.pos = bodyStart;
      // A key-value list body's entries are at depth 0, as attributes are.
      const value = this.anyValue(bodyEnd, 0, 0);
      if (this.kind === STRING || this.kind === KVLIST) body = value as string | Attributes;
      else if (this.kind !== 0) {
        body = otherBody(value);
        attributes['otlp.body_type'] = BODY_TYPE[MEMBER[this.kind]!]!;
      }
      this.pos = end;
    }
    const time = uint64Number(timeLo, timeHi) || uint64Number(observedLo, observedHi);
    return recordEvent(c, body, attributes, time, severityNumber, severityText, traceId, spanId);
  }

  /** A KeyValue, stored in `into` as mapping.ts's keyValues stores it. */
  private keyValue(end: number, into: Attributes, depth: number): void {
    let key = '';
    let value: AttributeValue = null;
    let values = 0;
    while (this.pos < end) {
      const t = this.varint32(end);
      if (t === KEY) key = this.key(this.delimited(end));
      else if (t === VALUE) {
        if (values++) unsupported(); // merged by protobufjs
        value = this.anyValue(this.delimited(end), depth, depth + 1);
      } else this.skip(t, end);
    }
    setOwn(into, key, value);
  }

  /**
   * An AnyValue as mapping.ts's anyValue maps it at `depth` (a key-value list's entries at `entriesDepth`);
   * sets `kind` to the member's field number.
   */
  private anyValue(end: number, depth: number, entriesDepth: number): AttributeValue {
    let kind = 0;
    let value: AttributeValue = null;
    while (this.pos < end) {
      const t = this.varint32(end);
      const field = t >>> 3;
      if (field < STRING || field > BYTES || (t & 7) !== MEMBER_WIRE_TYPE[field]) {
        this.skip(t, end);
        continue;
      }
      // A second member (protobufjs keeps the last), or the same one again (merged when a message).
      if (kind !== 0) unsupported();
      kind = field;
      switch (field) {
        case STRING:
          value = this.string(this.delimited(end));
          break;
        case BOOL:
          value = this.bool(end);
          break;
        case INT:
          this.int64(end);
          value = int64FromBits(this.lo, this.hi, false);
          break;
        case DOUBLE:
          if (this.pos + 8 > end) unsupported();
          value = this.buf.readDoubleLE(this.pos);
          this.pos += 8;
          break;
        case ARRAY: {
          const arrayEnd = this.delimited(end);
          if (depth >= MAX_NESTING) unsupported(); // cut by the mapping
          const array: AttributeValue[] = [];
          while (this.pos < arrayEnd) {
            const at = this.varint32(arrayEnd);
            if (at === VALUES) array.push(this.anyValue(this.delimited(arrayEnd), depth + 1, depth + 2));
            else this.skip(at, arrayEnd);
          }
          value = array;
          break;
        }
        case KVLIST: {
          const listEnd = this.delimited(end);
          if (depth >= MAX_NESTING) unsupported(); // cut by the mapping
          const object: Attributes = {};
          while (this.pos < listEnd) {
            const lt = this.varint32(listEnd);
            if (lt === VALUES) this.keyValue(this.delimited(listEnd), object, entriesDepth);
            else this.skip(lt, listEnd);
          }
          value = object;
          break;
        }
        case BYTES: {
          const bytesEnd = this.delimited(end);
          value = this.buf.base64Slice(this.pos, bytesEnd);
          this.pos = bytesEnd;
          break;
        }
      }
    }
    this.kind = kind;
    return value;
  }

  /** A tag or length: a varint of at most five bytes and 32 bits (what protobufjs reads, or stricter). */
  private varint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) unsupported();
      const b = buf[pos++]!;
      value |= (b & 127) << shift;
      if (b < 128) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    if (pos >= end) unsupported();
    const b = buf[pos++]!;
    if (b > 15) unsupported();
    this.pos = pos;
    return (value | (b << 28)) >>> 0;
  }

  /** A length-delimited field's length: answers where it ends (the reader is at its start). */
  private delimited(end: number): number {
    const length = this.varint32(end);
    if (length > end - this.pos) unsupported();
    return this.pos + length;
  }

  /** protobufjs's Reader.uint32: up to ten bytes, the bits past 32 dropped. */
  private uint32(end: number): number {
    const buf = this.buf;
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) unsupported();
      const b = buf[this.pos++]!;
      if (i < 4) value |= (b & 127) << (7 * i);
      else if (i === 4) value |= (b & 15) << 28;
      if (b < 128) return value >>> 0;
    }
    return unsupported();
  }

  /** protobufjs's int64 varint: the halves into `lo` and `hi`. */
  private int64(end: number): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) unsupported();
      const b = buf[this.pos++]!;
      if (i < 4) lo |= (b & 127) << (7 * i);
      else if (i === 4) {
        lo |= (b & 127) << 28;
        hi |= (b & 127) >> 4;
      } else hi |= (b & 127) << (7 * (i - 5) + 3);
      if (b < 128) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    unsupported();
  }

  /** protobufjs's Reader.bool: true when any of its (up to ten) bytes has a bit set. */
  private bool(end: number): boolean {
    let value = false;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) unsupported();
      const b = this.buf[this.pos++]!;
      if (b & 127) value = true;
      if (b < 128) return value;
    }
    return unsupported();
  }

  private fixed32(end: number): number {
    const buf = this.buf;
    const pos = this.pos;
    if (pos + 4 > end) unsupported();
    this.pos = pos + 4;
    return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
  }

  /** The string from the reader's position to `end` (valid UTF-8 only: protobufjs refuses the rest). */
  private string(end: number): string {
    const start = this.pos;
    this.pos = end;
    if (end === start) return '';
    const s = this.buf.utf8Slice(start, end);
    // Invalid UTF-8 always decodes to U+FFFD; a U+FFFD that was sent as such is valid.
    if (s.includes('\uFFFD') && !isUtf8(this.buf.subarray(start, end))) unsupported();
    return s;
  }

  /** `string`, through the key cache. */
  private key(end: number): string {
    const buf = this.buf;
    const start = this.pos;
    const n = end - start;
    if (n === 0 || n > KEY_CACHE_CHARS) return this.string(end);
    let hash = n;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b >= 128) return this.string(end);
      hash = Math.imul(hash ^ b, 16777619);
    }
    const slot = (hash ^ (hash >>> 15)) & (KEY_CACHE_SLOTS - 1);
    const seen = keyCache[slot]!;
    this.pos = end;
    if (seen.length === n) {
      let i = 0;
      while (i < n && seen.charCodeAt(i) === buf[start + i]) i++;
      if (i === n) return seen;
    }
    // ASCII: valid UTF-8.
    const s = buf.utf8Slice(start, end);
    keyCache[slot] = s;
    return s;
  }

  /** A string that is not mapped, checked as protobufjs checks it. */
  private checkString(end: number): void {
    if (!isUtf8(this.buf.subarray(this.pos, end))) unsupported();
    this.pos = end;
  }

  /** Skips a field that is not mapped, as protobufjs's skipType does (groups are left to protobufjs). */
  private skip(t: number, end: number): void {
    if (t >>> 3 === 0) unsupported();
    switch (t & 7) {
      case 0:
        do {
          if (this.pos >= end) unsupported();
        } while (this.buf[this.pos++]! & 128);
        return;
      case 1:
        if (this.pos + 8 > end) unsupported();
        this.pos += 8;
        return;
      case 2:
        this.pos = this.delimited(end);
        return;
      case 5:
        if (this.pos + 4 > end) unsupported();
        this.pos += 4;
        return;
      default:
        unsupported();
    }
  }
}

/**
 * The events of an ExportLogsServiceRequest (`bytes`), as `requestToEvents(codec.decodeRequest(bytes))` gives
 * them; undefined when this decoder leaves the request to that path (see above).
 */
export function decodeEvents(bytes: Uint8Array, input: string, peer: string | undefined, now = Date.now()): LogEvent[] | undefined {
  const decoder = new Decoder(asBuffer(bytes), input, peer, now);
  try {
    decoder.request();
  } catch (err) {
    if (err === UNSUPPORTED) return undefined;
    throw err;
  }
  return decoder.events;
}

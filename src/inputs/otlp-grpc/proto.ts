/**
 * The OTLP logs service messages, loaded with protobufjs from the `.proto` files in `proto/` (written from the
 * OpenTelemetry specification; shipped with the package). Export requests are decoded by wire.ts first; this
 * codec decodes those it leaves (see there), and encodes OTLP/JSON requests and the responses.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { shapeOf } from '../../formats/json.js';

export const EXPORT_LOGS_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

/** The folder holding `proto/`, whether running from `src/` (tests) or `dist/src/`. */
function protoDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'proto', 'opentelemetry'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the proto/ folder of driftlock');
    dir = parent;
  }
  return path.join(dir, 'proto');
}

/** A 64-bit integer as protobufjs decodes it: a `Long` (when the long package is present) or a number. */
export type Int64 = number | { low: number; high: number; unsigned: boolean };

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Int64;
  doubleValue?: number;
  arrayValue?: { values: OtlpAnyValue[] };
  kvlistValue?: { values: OtlpKeyValue[] };
  bytesValue?: Uint8Array;
  /** The name of the oneof member that is set (protobufjs virtual oneof property). */
  value?: string;
}

export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue | null;
}

export interface OtlpLogRecord {
  timeUnixNano: Int64;
  observedTimeUnixNano: Int64;
  severityNumber: number;
  severityText: string;
  body?: OtlpAnyValue | null;
  attributes: OtlpKeyValue[];
  flags: number;
  traceId: Uint8Array;
  spanId: Uint8Array;
  eventName: string;
}

export interface OtlpScopeLogs {
  scope?: { name: string; version: string; attributes: OtlpKeyValue[] } | null;
  logRecords: OtlpLogRecord[];
}

export interface OtlpResourceLogs {
  resource?: { attributes: OtlpKeyValue[] } | null;
  scopeLogs: OtlpScopeLogs[];
}

export interface ExportLogsServiceRequest {
  resourceLogs: OtlpResourceLogs[];
}

export interface ExportLogsServiceResponse {
  partialSuccess?: { rejectedLogRecords: number; errorMessage: string };
}

export interface LogsServiceCodec {
  /** Throws on bytes that are not a valid ExportLogsServiceRequest. */
  decodeRequest(bytes: Uint8Array): ExportLogsServiceRequest;
  /**
   * Decodes with invalid UTF-8 in strings replaced by U+FFFD, where `decodeRequest` throws (proto3 strings
   * must be UTF-8): one bad record then costs itself, not the whole request.
   */
  decodeRequestLenient(bytes: Uint8Array): ExportLogsServiceRequest;
  /**
   * Log records in a request, counted on the wire without decoding anything (skipping every payload), so
   * that a request with millions of tiny records is refused before they are objects in memory.
   */
  countRecords(bytes: Uint8Array): number;
  encodeRequest(request: unknown): Uint8Array;
  /**
   * An OTLP/JSON request (the protobuf JSON mapping, with trace and span ids in hex, not base64) as
   * protobuf bytes, so that it takes the same path as a binary one. Throws on what does not fit the schema.
   */
  encodeJsonRequest(json: unknown): Uint8Array;
  encodeResponse(response: ExportLogsServiceResponse): Uint8Array;
  decodeResponse(bytes: Uint8Array): ExportLogsServiceResponse;
}

let codec: LogsServiceCodec | undefined;

/**
 * Nested messages the decoder follows before it refuses a request. protobufjs's default, 100 (protoc's), is
 * reached by a key-value list 33 levels deep (three messages a level), so a request was refused whole,
 * every other record with it, for a value the mapping would have cut at MAX_NESTING (64) levels. 512 holds
 * 64 such levels with room; far below where the decoder's recursion overflows the stack (some 3,000 levels).
 */
const RECURSION_LIMIT = 512;

/** Wire type 2 (length-delimited) of field `field`. */
const delimited = (field: number) => (field << 3) | 2;

/**
 * ExportLogsServiceRequest.resource_logs (1) -> ResourceLogs.scope_logs (2) -> ScopeLogs.log_records (2):
 * walks those three levels of the wire format and counts the last. Throws on malformed bytes.
 */
function countRecords(bytes: Uint8Array): number {
  const r = protobuf.Reader.create(bytes);
  const each = (end: number, field: number, inside: (end: number) => void) => {
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === delimited(field)) {
        const length = r.uint32();
        if (r.pos + length > end) throw new Error('length past the end of its message');
        inside(r.pos + length);
      } else {
        r.skipType(tag & 7);
      }
    }
    if (r.pos !== end) throw new Error('a field runs past the end of its message');
  };
  let records = 0;
  each(r.len, 1, (end) => each(end, 2, (inner) => each(inner, 2, (record) => {
    records += 1;
    r.pos = record;
  })));
  return records;
}

/**
 * OTLP/JSON writes `traceId` and `spanId` in hex (the specification's one departure from the protobuf JSON
 * mapping, where bytes are base64): converted in place so that protobufjs's `fromObject` reads them.
 */
function hexIdsToBase64(json: Record<string, unknown>): Record<string, unknown> {
  const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => x !== null && typeof x === 'object') : []);
  for (const rl of list(json.resourceLogs)) {
    for (const sl of list(rl.scopeLogs)) {
      for (const record of list(sl.logRecords)) {
        for (const key of ['traceId', 'spanId'] as const) {
          const id = record[key];
          if (typeof id !== 'string' || id === '') continue;
          if (!/^(?:[0-9a-fA-F]{2})+$/.test(id)) throw new Error(`${key} is not hex (${shapeOf(id)})`);
          record[key] = Buffer.from(id, 'hex').toString('base64');
        }
      }
    }
  }
  return json;
}

/** Loads the `.proto` files once per process. */
export function logsServiceCodec(): LogsServiceCodec {
  if (codec) return codec;
  if (protobuf.Reader.recursionLimit < RECURSION_LIMIT) protobuf.Reader.recursionLimit = RECURSION_LIMIT;
  const dir = protoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(dir, target);
  root.loadSync('opentelemetry/proto/collector/logs/v1/logs_service.proto');
  const request = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  const response = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');
  codec = {
    decodeRequest: (bytes) => request.decode(bytes) as unknown as ExportLogsServiceRequest,
    decodeRequestLenient: (bytes) => {
      // The generated decoder reads proto3 strings with stringVerify (strict UTF-8); this reader answers
      // it with the plain string read, which replaces bad bytes.
      const reader = protobuf.Reader.create(bytes);
      reader.stringVerify = reader.string;
      return request.decode(reader) as unknown as ExportLogsServiceRequest;
    },
    countRecords,
    encodeRequest: (message) => request.encode(request.fromObject(message as Record<string, unknown>)).finish(),
    encodeJsonRequest: (json) => {
      if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('expected a JSON object');
      return request.encode(request.fromObject(hexIdsToBase64(json as Record<string, unknown>))).finish();
    },
    encodeResponse: (message) => response.encode(response.fromObject(message as Record<string, unknown>)).finish(),
    decodeResponse: (bytes) => response.toObject(response.decode(bytes), { longs: Number }) as ExportLogsServiceResponse,
  };
  return codec;
}

/**
 * The OTLP input's own wire decoder (src/inputs/otlp-grpc/wire.ts) against protobufjs + mapping.ts, the path
 * it stands in for: on requests from the OpenTelemetry SDK's exporters, on requests written field by field
 * (every AnyValue kind, edge values, unknown fields, fields out of order or given twice), and on broken
 * ones. Where it decodes a request, its events must be those of protobufjs, key order included; where
 * protobufjs refuses one, it must leave the request to protobufjs (undefined), never decode it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/engine/event.js';
import { requestToEvents } from '../../src/inputs/otlp-grpc/mapping.js';
import { logsServiceCodec } from '../../src/inputs/otlp-grpc/proto.js';
import { decodeEvents } from '../../src/inputs/otlp-grpc/wire.js';
import { simpleRequest } from '../helpers/otlp-client.js';

const codec = logsServiceCodec();
const NOW = 1_767_323_045_000;
const PEER = '127.0.0.1:40000';

/** What the input made of these bytes before: protobufjs's decoder (strict UTF-8), then mapping.ts. */
function viaProtobufjs(bytes: Uint8Array): { events: LogEvent[] } | { error: string } {
  try {
    return { events: requestToEvents(codec.decodeRequest(bytes), 'otlp', PEER, NOW) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const viaWire = (bytes: Uint8Array) => decodeEvents(bytes, 'otlp', PEER, NOW);

/** The wire decoder takes these bytes and gives exactly protobufjs's events (JSON text compared too: key order). */
function expectSame(bytes: Uint8Array): LogEvent[] {
  const expected = viaProtobufjs(bytes);
  if ('error' in expected) throw new Error(`protobufjs refused the request: ${expected.error}`);
  const events = viaWire(bytes);
  expect(events, 'decoded by the wire decoder').toBeDefined();
  expect(events).toStrictEqual(expected.events);
  expect(JSON.stringify(events)).toBe(JSON.stringify(expected.events));
  return events!;
}

/** Either decoded the same as protobufjs, or left to it; never decoded when protobufjs refuses the bytes. */
function expectSameOrLeft(bytes: Uint8Array): 'same' | 'left' {
  const expected = viaProtobufjs(bytes);
  const events = viaWire(bytes);
  if (events === undefined) return 'left';
  if ('error' in expected) throw new Error(`decoded bytes that protobufjs refuses (${expected.error})`);
  expect(events).toStrictEqual(expected.events);
  expect(JSON.stringify(events)).toBe(JSON.stringify(expected.events));
  return 'same';
}

const encode = (request: unknown) => Buffer.from(codec.encodeRequest(request));

// Hand-written wire format, for what protobufjs's encoder does not write (unknown fields, odd orders, repeats).
const W = { VARINT: 0, I64: 1, LEN: 2, GROUP: 3, END_GROUP: 4, I32: 5 };
function varint(v: number | bigint): Buffer {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  for (; n > 127n; n >>= 7n) out.push(Number(n & 127n) | 128);
  out.push(Number(n));
  return Buffer.from(out);
}
const key = (field: number, wireType: number) => varint(field * 8 + wireType);
const len = (field: number, ...parts: Array<Buffer | string>) => {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  return Buffer.concat([key(field, W.LEN), varint(body.length), body]);
};
const vint = (field: number, v: number | bigint) => Buffer.concat([key(field, W.VARINT), varint(v)]);
const fixed64 = (field: number, v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return Buffer.concat([key(field, W.I64), b]);
};
const fixed32 = (field: number, v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return Buffer.concat([key(field, W.I32), b]);
};
/** One unknown field of each wire type the decoders skip. */
const unknownFields = (field: number) => Buffer.concat([vint(field, 300), fixed64(field + 1, 5n), len(field + 2, 'ignored'), fixed32(field + 3, 7)]);
/** A request of one resource (fields `resource`), one scope (fields `scope`) and these records' bytes. */
const request = (records: Buffer[], resource: Buffer[] = [], scope: Buffer[] = []) =>
  len(1, ...resource, len(2, ...scope, ...records.map((r) => len(2, r))));
const kv = (k: string, value?: Buffer) => len(6, len(1, k), ...(value ? [len(2, value)] : []));
const str = (s: string | Buffer) => len(1, s);

/** Records that OpenTelemetry's JS exporters send (http/protobuf as it is, http/json as the input encodes it). */
async function exporterRequests(): Promise<Buffer[]> {
  const bodies: Array<{ type: string; body: Buffer }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ type: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    for (const Exporter of [ProtoLogExporter, JsonLogExporter]) {
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': 'checkout', 'host.name': 'web-1', 'process.pid': 4242, 'deployment.ratio': 0.25 }),
        processors: [new BatchLogRecordProcessor({ exporter: new Exporter({ url: `http://127.0.0.1:${port}/v1/logs` }) })],
      });
      const logger = provider.getLogger('shop.payments', '1.2.3', { attributes: { team: 'payments' } });
      const context = trace.setSpanContext(ROOT_CONTEXT, { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: 1 });
      logger.emit({ timestamp: Date.parse('2026-01-02T03:04:05.678Z'), severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: 'payment failed for order 42', attributes: { 'order.id': 42, retry: true, ratio: 0.5, tags: ['a', 'b'] }, context });
      logger.emit({ severityNumber: SeverityNumber.INFO, body: { user: 'ada', nested: { ok: true, list: [1, 'two', null] } } });
      logger.emit({ body: 'ünïcödé ✓ 🚀 and a longer text, past the 64 bytes below which protobufjs decodes strings itself' });
      logger.emit({ body: 12345, attributes: { big: 2 ** 60, neg: -7, empty: '' } });
      logger.emit({ body: [1, 2, 3], eventName: 'checkout.done' } as never);
      logger.emit({ body: new Uint8Array([0, 1, 2, 250]) });
      logger.emit({ body: true });
      logger.emit({});
      await provider.forceFlush();
      await provider.shutdown();
    }
  } finally {
    server.close();
  }
  return bodies.map(({ type, body }) => (type.includes('json') ? Buffer.from(codec.encodeJsonRequest(JSON.parse(body.toString('utf8')))) : body));
}

describe('OTLP wire decoder (wire.ts) against protobufjs + mapping.ts', () => {
  it('decodes what the OpenTelemetry JS exporters send (http/protobuf and http/json) as protobufjs does', async () => {
    const requests = await exporterRequests();
    expect(requests).toHaveLength(2);
    for (const bytes of requests) expect(expectSame(bytes)).toHaveLength(8);
  });

  it('decodes the bench request (1,000 records) and the tests\' simple requests as protobufjs does', () => {
    const events = expectSame(encode(simpleRequest(1000)));
    expect(events).toHaveLength(1000);
    expect(events[999]).toMatchObject({ body: 'record 999', attributes: { i: 999, 'otlp.scope.name': 'load', 'otlp.scope.version': '1' }, resource: { 'service.name': 'bench' } });
    expect(expectSame(encode({}))).toEqual([]);
    expect(expectSame(Buffer.alloc(0))).toEqual([]);
  });

  it('maps every AnyValue kind, as a body and as an attribute, with edge values', () => {
    const values = [
      { stringValue: '' },
      { stringValue: 'text' },
      { stringValue: '\uFEFFwith a BOM, a real \uFFFD, and ünïcödé ✓ 🚀' },
      { stringValue: 'x'.repeat(70) + 'é' },
      { boolValue: true },
      { boolValue: false },
      { intValue: 0 },
      { intValue: 7 },
      { intValue: -1 },
      { intValue: '9007199254740991' },
      { intValue: '9007199254740993' },
      { intValue: '-9007199254740993' },
      { intValue: '9223372036854775807' },
      { intValue: '-9223372036854775808' },
      { doubleValue: 2.5 },
      { doubleValue: -0 },
      { doubleValue: Number.NaN },
      { doubleValue: Number.POSITIVE_INFINITY },
      { doubleValue: 1e308 },
      { arrayValue: { values: [] } },
      { arrayValue: { values: [{ stringValue: 'x' }, { intValue: 1 }, {}, { arrayValue: { values: [{ boolValue: true }] } }, { kvlistValue: { values: [{ key: 'in', value: { doubleValue: 1.5 } }] } }] } },
      { kvlistValue: { values: [] } },
      { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }, { key: 'n', value: { kvlistValue: { values: [{ key: 'deep', value: { arrayValue: { values: [{ bytesValue: Buffer.from([9]) }] } } }] } } }, { key: '' }, { key: 'k', value: { intValue: 2 } }, { key: '__proto__', value: { stringValue: 'own' } }] } },
      { bytesValue: Buffer.alloc(0) },
      { bytesValue: Buffer.from([0, 1, 2, 3, 255]) },
      {},
    ];
    const events = expectSame(encode({
      resourceLogs: [{
        resource: { attributes: values.map((value, i) => ({ key: `r${i}`, value })) },
        scopeLogs: [{
          scope: { name: 'scope', version: '2.0', attributes: [{ key: 's', value: { kvlistValue: { values: [{ key: 'x', value: { intValue: 1 } }] } } }] },
          logRecords: [
            ...values.map((body, i) => ({ body, attributes: [{ key: `a${i}`, value: body }, { key: '__proto__', value: body }] })),
            { attributes: [{ key: 'no value' }] },
          ],
        }],
      }],
    }));
    expect(events.map((e) => e.attributes['otlp.body_type'])).toContain('bytes');
    expect(events[22]!.body).toMatchObject({ k: 2, '': null });
  });

  it('keys through its cache of short strings: thousands of keys of one length (slots shared), non-ASCII and long ones', () => {
    const keys = [
      ...Array.from({ length: 5000 }, (_, i) => `k${String(i).padStart(4, '0')}`),
      'ключ', 'clé', 'k'.repeat(64), 'k'.repeat(65), 'k'.repeat(300), '', 'http.route', 'http.route',
    ];
    const attributes = keys.map((key, i) => ({ key, value: { intValue: i } }));
    const record = { severityText: 'INFO', attributes, body: { kvlistValue: { values: attributes.slice().reverse() } } };
    const requestOf = () => encode({ resourceLogs: [{ resource: { attributes }, scopeLogs: [{ scope: { attributes }, logRecords: [record, { ...record, severityText: 'INFÖ' }, record] }] }] });
    for (const events of [expectSame(requestOf()), expectSame(requestOf())]) {
      expect(Object.keys(events[0]!.attributes).slice(0, keys.length - 1)).toEqual(keys.slice(0, -1));
      expect(events[0]!.attributes['k4999']).toBe(4999);
      expect(events.map((e) => e.severityText)).toEqual(['INFO', 'INFÖ', 'INFO']);
    }
  });

  it('maps timestamps (int64 beyond 2^53 too), severity, trace and span ids, flags and event names', () => {
    const records = [
      { timeUnixNano: '1767323045678901234', observedTimeUnixNano: '1767323045000000000' },
      { observedTimeUnixNano: '1767323045000000001' },
      { timeUnixNano: '18446744073709551615' },
      { timeUnixNano: '9007199254740993' },
      { timeUnixNano: '1' },
      {},
      { severityNumber: 17, severityText: 'ERROR' },
      { severityNumber: -5, severityText: 'weird' },
      { severityNumber: 1000 },
      { traceId: Buffer.from('5b8efff798038103d269b633813fc60c', 'hex'), spanId: Buffer.from('eee19b7ec3c1b174', 'hex') },
      { traceId: Buffer.alloc(16), spanId: Buffer.alloc(8) },
      { traceId: Buffer.from([0, 0, 1]), spanId: Buffer.from([0xff]) },
      { flags: 1, eventName: 'checkout.done' },
      { flags: 0xffffffff },
    ];
    const events = expectSame(encode({ resourceLogs: [{ scopeLogs: [{ logRecords: records.map((r) => ({ ...r, body: { stringValue: 'b' } })) }] }] }));
    expect(events[2]!.timestamp).toBe(Math.round(Number(2n ** 64n - 1n) / 1e3) / 1e3);
    expect(events[7]!.severityNumber).toBe(-5);
  });

  it('maps resources and scopes: several of each, empty ones, none', () => {
    expectSame(encode({
      resourceLogs: [
        { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'a' } }], droppedAttributesCount: 3, entityRefs: [{ schemaUrl: 'https://x', type: 'service', idKeys: ['service.name'], descriptionKeys: ['d'] }] }, schemaUrl: 'https://opentelemetry.io/schemas/1.21.0', scopeLogs: [{ logRecords: [{ body: { stringValue: '1' } }] }, { scope: { name: 'only name' }, schemaUrl: 'https://s', logRecords: [{ body: { stringValue: '2' } }, { body: { stringValue: '3' } }] }] },
        { resource: { attributes: [] }, scopeLogs: [{ scope: { version: 'only version', droppedAttributesCount: 1 }, logRecords: [{ body: { stringValue: '4' }, droppedAttributesCount: 2 }] }] },
        { scopeLogs: [] },
        {},
        { resource: {}, scopeLogs: [{ scope: {}, logRecords: [{}] }, {}] },
      ],
    }));
  });

  it('skips unknown fields of every wire type at every level, and known fields with another wire type', () => {
    const body = len(5, str('hello'), unknownFields(20), vint(1, 5) /* string_value as a varint: skipped */);
    const record = Buffer.concat([
      unknownFields(100), fixed64(1, 1767323045678901234n), body, kv('k', Buffer.concat([len(1, 'v'), unknownFields(30)])),
      len(6, len(1, 'x'), len(2, vint(3, 5)), unknownFields(9)), vint(2, 9), len(3, 'INFO'), len(4, 'reserved field 4'),
      fixed32(9, 1) /* trace_id as fixed32: skipped */, vint(7, 3), len(12, 'evt'), vint(536870911, 1), unknownFields(1000),
    ]);
    const resource = [len(1, len(1, len(1, 'service.name'), len(2, str('svc'))), vint(2, 1), unknownFields(40)), unknownFields(50)];
    const scope = [len(1, len(1, 'scope'), len(2, '1.0'), unknownFields(60)), unknownFields(70)];
    const bytes = Buffer.concat([unknownFields(5), request([record], resource, scope), unknownFields(200)]);
    const [event] = expectSame(bytes);
    expect(event).toMatchObject({ body: 'hello', severityNumber: 9, severityText: 'INFO', attributes: { k: 'v', x: 5, 'otlp.event_name': 'evt' }, resource: { 'service.name': 'svc' } });
  });

  it('takes fields in any order, and repeated ones as protobufjs does (last scalar wins, resources and scopes merged)', () => {
    const record = Buffer.concat([
      len(5, len(6, len(1, len(1, 'a'), len(2, vint(3, 1))))), // the body before the attributes
      kv('z', str('last')), len(3, 'WARN'), vint(2, 13), fixed64(11, 5n), kv('a', str('first')), kv('z', str('again')),
      fixed64(1, 1767323045678901234n), fixed64(1, 0n), // given twice, zero last: unset
      len(3, 'ERROR'), len(9, Buffer.alloc(16, 1)), len(9, Buffer.alloc(0)), len(10, Buffer.alloc(8, 2)),
    ]);
    const resourceLogs = len(1,
      len(2, len(1, len(1, 'late scope')), len(2, record), len(1, len(2, 'v2'), len(3, len(1, 'sa'), len(2, str('x'))))), // scope around its records
      len(1, len(1, len(1, 'service.name'), len(2, str('svc')))), // the resource after its scope logs
      len(1, len(1, len(1, 'host.name'), len(2, str('h'))), len(1, len(1, 'service.name'), len(2, str('svc2')))), // and again: merged
    );
    const [event] = expectSame(resourceLogs);
    expect(event).toMatchObject({ body: { a: 1 }, severityNumber: 13, severityText: 'ERROR', resource: { 'service.name': 'svc2', 'host.name': 'h' }, spanId: '0202020202020202' });
    expect(event!.traceId).toBeUndefined();
    expect(event!.attributes).toMatchObject({ z: 'again', a: 'first', 'otlp.scope.name': 'late scope', 'otlp.scope.version': 'v2', 'otlp.scope.attributes': { sa: 'x' } });
  });

  it('takes padded varints (tags, lengths, numbers) as protobufjs reads them', () => {
    const padded = (v: number, extra: number) => {
      const b = [...varint(v)];
      b[b.length - 1]! |= 128;
      for (let i = 1; i < extra; i++) b.push(128);
      b.push(0);
      return Buffer.from(b);
    };
    // A tag in 3 bytes, a length in 4, a severity number in 10 (bits past 32 dropped), an int in 10.
    const record = Buffer.concat([padded((3 << 3) | 2, 2), padded(4, 3), Buffer.from('INFO'), key(2, 0), Buffer.from([0x89, 0x80, 0x80, 0x80, 0xf0, 0x81, 0x80, 0x80, 0x80, 0x00]), kv('n', Buffer.concat([key(3, 0), padded(5, 4)]))]);
    const [event] = expectSame(request([record]));
    expect(event).toMatchObject({ severityText: 'INFO', severityNumber: 9, attributes: { n: 5 } });
  });

  it('leaves to protobufjs what it does not map itself: invalid UTF-8, values nested 64 levels deep, repeated message fields, groups', () => {
    const bad = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
    const cases: Array<[string, Buffer]> = [
      ['invalid UTF-8 in a body', request([len(5, str(bad))])],
      ['invalid UTF-8 in an attribute key', request([len(6, len(1, bad), len(2, str('v')))])],
      ['invalid UTF-8 in a long string', request([len(5, str(Buffer.concat([Buffer.alloc(80, 0x61), bad])))])],
      ['invalid UTF-8 in severity text', request([len(3, bad)])],
      ['invalid UTF-8 in a scope name', request([len(5, str('ok'))], [], [len(1, len(1, bad))])],
      ['invalid UTF-8 in a schema URL', Buffer.concat([len(1, len(3, bad))])],
      ['invalid UTF-8 in an entity ref', Buffer.concat([len(1, len(1, len(3, len(3, bad))))])],
      ['a surrogate encoded in UTF-8', request([len(5, str(Buffer.from([0xed, 0xa0, 0x80])))])],
      ['a body given twice (merged)', request([Buffer.concat([len(5, str('a')), len(5, vint(3, 1))])])],
      ['two AnyValue members', request([len(5, Buffer.concat([str('a'), vint(3, 1)]))])],
      ['a key-value\'s value given twice', request([len(6, len(1, 'k'), len(2, str('a')), len(2, str('b')))])],
      ['a group', request([Buffer.concat([key(50, W.GROUP), vint(1, 1), key(50, W.END_GROUP)])])],
    ];
    for (const [what, bytes] of cases) {
      expect(viaWire(bytes), what).toBeUndefined();
      const old = viaProtobufjs(bytes);
      if (what.includes('UTF-8') || what.includes('surrogate')) expect(old, what).toMatchObject({ error: expect.stringMatching(/utf-?8|encoded data/i) });
      else expect(old, what).toHaveProperty('events');
    }
    let deep = str('bottom');
    for (let i = 0; i < 70; i++) deep = len(6, len(1, len(1, 'k'), len(2, deep)));
    expect(viaWire(request([len(5, deep)]))).toBeUndefined();
    let deepArray = str('bottom');
    for (let i = 0; i < 70; i++) deepArray = len(5, len(1, deepArray));
    expect(viaWire(request([kv('a', deepArray)]))).toBeUndefined();
    // 63 levels are mapped whole: decoded here.
    let shallow = str('bottom');
    for (let i = 0; i < 63; i++) shallow = len(6, len(1, len(1, 'k'), len(2, shallow)));
    expectSame(request([len(5, shallow)]));
  });

  it('never decodes what protobufjs refuses: every truncation of a request, bad wire types, field 0, lengths past the end', () => {
    const full = Buffer.concat([
      encode({
        resourceLogs: [{
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
          scopeLogs: [{
            scope: { name: 's', version: '1' },
            logRecords: [
              { timeUnixNano: '1767323045678901234', severityNumber: 9, severityText: 'INFO', body: { stringValue: 'héllo' }, attributes: [{ key: 'i', value: { intValue: '-9007199254740993' } }, { key: 'd', value: { doubleValue: 0.5 } }], traceId: Buffer.alloc(16, 7), spanId: Buffer.alloc(8, 3), flags: 1 },
              { body: { kvlistValue: { values: [{ key: 'a', value: { arrayValue: { values: [{ boolValue: true }, { bytesValue: Buffer.from('xy') }] } } }] } } },
            ],
          }],
        }],
      }),
      unknownFields(9),
    ]);
    const outcomes = { same: 0, left: 0 };
    for (let n = 0; n < full.length; n++) outcomes[expectSameOrLeft(full.subarray(0, n))]++;
    expect(outcomes.same).toBeGreaterThan(0); // prefixes that end between top-level fields are requests too
    expect(outcomes.left).toBeGreaterThan(full.length / 2);
    for (const bytes of [
      Buffer.from([0x0a, 0x05, 0x12, 0x03]), // a length past its message's end
      Buffer.from([0x02, 0x00]), // field 0
      Buffer.from([0x0c]), // an end-group tag alone
      Buffer.from([0x0e, 0x00]), // wire type 6
      Buffer.from([0x0f, 0x00]), // wire type 7
      Buffer.from([0xf8, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]), // a tag of 6 bytes
    ]) {
      expect(viaProtobufjs(bytes)).toHaveProperty('error');
      expect(viaWire(bytes)).toBeUndefined();
    }
    // An unknown varint field is skipped to its last byte, however long (protobufjs's skip has no limit).
    expectSame(Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]));
  });

  it('agrees with protobufjs on thousands of corrupted requests (bytes changed at random)', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const base = encode({
      resourceLogs: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }, { key: 'n', value: { intValue: 5 } }] },
        scopeLogs: [{
          scope: { name: 'scope', version: '1', attributes: [{ key: 'team', value: { stringValue: 'a' } }] },
          logRecords: [
            { timeUnixNano: '1767323045678901234', severityNumber: 9, severityText: 'INFO', body: { stringValue: 'GET /api 200' }, attributes: [{ key: 'http.status_code', value: { intValue: 200 } }], traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 1), flags: 1 },
            { body: { kvlistValue: { values: [{ key: 'a', value: { arrayValue: { values: [{ doubleValue: 1.5 }, { boolValue: true }, { bytesValue: Buffer.from('xy') }] } } }] } }, eventName: 'e' },
          ],
        }],
      }],
    });
    const outcomes = { same: 0, left: 0 };
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(base);
      const changes = 1 + Math.floor(random() * 3);
      for (let c = 0; c < changes; c++) bytes[Math.floor(random() * bytes.length)] = random() < 0.5 ? Math.floor(random() * 256) : bytes[Math.floor(random() * bytes.length)]!;
      outcomes[expectSameOrLeft(bytes)]++;
    }
    // Most changes land in a string, a number or an id, which both decode; the rest break the structure.
    expect(outcomes.same).toBeGreaterThan(1000);
    expect(outcomes.left).toBeGreaterThan(100);
  });
});

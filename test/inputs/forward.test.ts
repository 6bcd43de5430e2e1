import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { encode, ExtData } from '@msgpack/msgpack';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventTime } from '../../src/inputs/fluent-forward/event-time.js';
import { createRegistry } from '../../src/components.js';
import { parseConfig, redactOptions } from '../../src/config/load.js';
import { countByteWork } from '../helpers/byte-work.js';
import { ForwardClient, packEntries } from '../helpers/forward-client.js';
import { startForward, type InputHarness } from '../helpers/network-input.js';

const running: InputHarness[] = [];
const clients: ForwardClient[] = [];


async function client(port: number): Promise<ForwardClient> {
  const c = await ForwardClient.connect(port);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(running.splice(0).map((h) => h.stop()));
});

const T = Date.parse('2026-03-04T05:06:07.089Z');

describe('fluent_forward input', () => {
  it('Message mode with an EventTime: record as body, tag and time kept', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    c.send(['app.web', EventTime.fromMillis(T), { log: 'GET / 200', level: 'error', n: 3, bin: Buffer.from('bytes'), nested: { a: [1, 'x'] } }]);
    const [e] = await h.waitForEvents(1);
    expect(e).toMatchObject({
      timestamp: T,
      body: { log: 'GET / 200', level: 'error', n: 3, bin: 'bytes', nested: { a: [1, 'x'] } },
      severityText: 'error',
      severityNumber: 17,
      attributes: { 'fluent.tag': 'app.web' },
      source: { input: 'fwd' },
    });
    expect(e!.source.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('Forward mode with integer times, acknowledged after delivery when option.chunk is set', async () => {
    const { h, port } = await startForward(running);
    h.ackWith = 'manual';
    const c = await client(port);
    c.send(['app.batch', [[1_700_000_000, { msg: 'a' }], [1_700_000_001, { msg: 'b' }]], { chunk: 'c1', size: 2 }]);
    await h.waitForEvents(2);
    expect(h.events.map((e) => [e.timestamp, e.body])).toEqual([[1_700_000_000_000, { msg: 'a' }], [1_700_000_001_000, { msg: 'b' }]]);
    // No ack comes before the delivery (one sent at once would be here within milliseconds).
    await new Promise((r) => setTimeout(r, 100));
    expect(c.acks).toEqual([]);
    h.batches[0]!.ack!('delivered');
    await c.waitForAck('c1');
  });

  it('acknowledge: queued acks as soon as the events are queued', async () => {
    const { h, port } = await startForward(running, { acknowledge: 'queued' });
    h.ackWith = 'manual';
    const c = await client(port);
    c.send(['t', [[1, { x: 1 }]], { chunk: 'q1' }]);
    await c.waitForAck('q1');
    expect(h.events).toHaveLength(1);
  });

  it('PackedForward and CompressedPackedForward (gzip), with Fluent Bit\'s [[time, metadata], record] entries', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    const entries = Array.from({ length: 100 }, (_, i) => [EventTime.fromMillis(T + i), { i, msg: `packed ${i}` }]);
    c.send(['packed', packEntries(entries), { chunk: 'p1', size: 100 }]);
    const withMeta = Array.from({ length: 50 }, (_, i) => [[EventTime.fromMillis(T + i), i === 0 ? { otlp: { trace: 'x' } } : {}], { i, msg: `zipped ${i}` }]);
    c.send(['zipped', gzipSync(packEntries(withMeta)), { chunk: 'z1', size: 50, compressed: 'gzip' }]);
    await c.waitForAck('p1');
    await c.waitForAck('z1');
    const events = await h.waitForEvents(150);
    expect(events[99]).toMatchObject({ timestamp: T + 99, body: { i: 99, msg: 'packed 99' }, attributes: { 'fluent.tag': 'packed' } });
    expect(events[100]).toMatchObject({ timestamp: T, body: { i: 0, msg: 'zipped 0' }, attributes: { 'fluent.tag': 'zipped', 'fluent.metadata': { otlp: { trace: 'x' } } } });
    expect(events[101]!.attributes['fluent.metadata']).toBeUndefined();
  });

  it('a chunk of many entries is handed on 10,000 events at a time, as the pipeline takes them, and acked once all are delivered', async () => {
    const { h, port } = await startForward(running);
    h.ackWith = 'manual';
    const c = await client(port);
    // 25,000 entries of 3 bytes ([0, {}]): 75 KB, 285 bytes gzipped. 16 MiB of them (or a 16 KB gzip) are 5.6
    // million events: decoded and handed on at once they took the daemon to 2.6 GB of RSS, and its event loop
    // (the API's /livez included) answered nothing for more than 120 s.
    const packed = Buffer.alloc(25_000 * 3);
    for (let i = 0; i < 25_000; i++) packed.set([0x92, 0x00, 0x80], i * 3);
    c.send(['tiny', gzipSync(packed), { chunk: 'many', compressed: 'gzip' }]);
    await h.waitForEvents(25_000);
    expect(h.batches.map((b) => b.events.length)).toEqual([10_000, 10_000, 5_000]);
    expect(h.metrics.get('received_events_total')).toBe(25_000);
    // One ack for the chunk, once the last of its batches is delivered.
    h.batches[2]!.ack!('delivered');
    h.batches[0]!.ack!('delivered');
    // No ack comes while a batch of the chunk is not delivered.
    await new Promise((r) => setTimeout(r, 200));
    expect(c.acks).toEqual([]);
    h.batches[1]!.ack!('delivered');
    await c.waitForAck('many');
    expect(c.acks).toEqual(['many']);
  });

  it('a gzip bomb of millions of tiny entries: the first max_records_per_message are taken, the rest refused and counted; the chunk is acked and the connection read on', async () => {
    const { h, port } = await startForward(running, { max_records_per_message: 25_000 });
    const c = await client(port);
    // 16 MiB of 3-byte entries ([0, {}]) gzipped to 16 KB: 5,592,405 entries. Before, every one became an
    // event (17 s of CPU for the daemon with a file output).
    const entries = Math.floor((16 * 1024 * 1024) / 3);
    const packed = Buffer.alloc(entries * 3);
    for (let i = 0; i < entries; i++) packed.set([0x92, 0x00, 0x80], i * 3);
    const bomb = gzipSync(packed);
    expect(bomb.length).toBeLessThan(20_000);
    c.send(['bomb', bomb, { chunk: 'bomb', compressed: 'gzip' }]);
    await c.waitForAck('bomb');
    expect(h.metrics.get('received_events_total')).toBe(25_000);
    expect(h.batches.map((b) => b.events.length)).toEqual([10_000, 10_000, 5_000]);
    expect(h.metrics.get('rejected_events_total')).toBe(entries - 25_000);
    expect(h.metrics.get('errors_total')).toBe(1);
    expect(h.logs.find((l) => l.problem === 'too_many_records')).toMatchObject({ tag: 'bomb', kept: 25_000, refused: entries - 25_000, max_records_per_message: 25_000 });
    // The same connection is read on: the next chunk is taken and acked.
    c.send(['after', [[1, { after: 'bomb' }]], { chunk: 'after' }]);
    await c.waitForAck('after');
    expect(h.events.at(-1)!.body).toEqual({ after: 'bomb' });
    expect(h.metrics.get('received_events_total')).toBe(25_001);
  });

  it('max_records_per_message counts every entry read, those skipped as malformed too, in every mode', async () => {
    const { h, port } = await startForward(running, { max_records_per_message: 2 });
    const c = await client(port);
    c.send(['fwd', [[1, { n: 1 }], 'bad', [1, { n: 3 }], [1, { n: 4 }]], { chunk: 'f' }]);
    await c.waitForAck('f');
    c.send(['packed', packEntries([[1, { n: 5 }], [1, { n: 6 }], [1, { n: 7 }]]), { chunk: 'p' }]);
    await c.waitForAck('p');
    // A chunk of exactly the limit refuses nothing.
    c.send(['exact', packEntries([[1, { n: 8 }], [1, { n: 9 }]]), { chunk: 'e' }]);
    c.send(['message', 1, { n: 10 }, { chunk: 'm' }]);
    await c.waitForAck('m');
    expect(h.events.map((e) => (e.body as { n: number }).n)).toEqual([1, 5, 6, 8, 9, 10]);
    expect(h.metrics.get('rejected_events_total')).toBe(1 + 2 + 1);
    expect(h.metrics.get('errors_total')).toBe(3);
    // Skipped (1) and refused (2 + 1): rejected_events_total; errors_total once for each chunk.
    expect(h.logs.find((l) => l.problem === 'too_many_records')).toMatchObject({ tag: 'fwd', kept: 1, refused: 2 });
  });

  it('a chunk handed on in batches is not acked when one of them was abandoned (the daemon stopped first): the sender resends it', async () => {
    const { h, port } = await startForward(running);
    h.ackWith = 'manual';
    const c = await client(port);
    c.send(['app', packEntries(Array.from({ length: 15_000 }, (_, i) => [1, { i }])), { chunk: 'half' }]);
    await h.waitForEvents(15_000);
    h.batches[0]!.ack!('delivered');
    h.batches[1]!.ack!('abandoned');
    c.send(['app', [[1, { after: true }]], { chunk: 'next' }]);
    await h.waitForEvents(15_001);
    h.batches[2]!.ack!('delivered');
    await c.waitForAck('next');
    expect(c.acks).toEqual(['next']);
  });

  it('reads Fluentd out_forward chunks marked compressed: "text" as uncompressed, and acks them', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    const entries = Array.from({ length: 10 }, (_, i) => [EventTime.fromMillis(T + i), { i }]);
    c.send(['fluentd', packEntries(entries), { chunk: 't1', size: 10, compressed: 'text' }]);
    await c.waitForAck('t1');
    const events = await h.waitForEvents(10);
    expect(events.map((e) => (e.body as { i: number }).i)).toEqual([...Array(10).keys()]);
  });

  it("reads PackedForward entries framed as Fluentd's out_forward writes them: a str32 of raw msgpack bytes", async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    // out_forward: array of 3, the tag, then 0xdb + 32-bit length + the chunk's bytes, then the option map.
    // The entries hold EventTimes and ints, bytes that are not UTF-8: a decoder reading a str as text breaks them.
    const entries = packEntries(Array.from({ length: 5 }, (_, i) => [EventTime.fromMillis(T + i), { i, big: 70_000 + i, msg: `line ${i}` }]));
    const header = Buffer.alloc(5);
    header[0] = 0xdb;
    header.writeUInt32BE(entries.length, 1);
    c.socket.write(Buffer.concat([Buffer.from([0x93]), encode('fluentd.app'), header, entries, encode({ size: 5, chunk: 'f1', compressed: 'text' })]));
    await c.waitForAck('f1');
    const events = await h.waitForEvents(5);
    expect(events.map((e) => [e.timestamp, e.body])).toEqual(Array.from({ length: 5 }, (_, i) => [T + i, { i, big: 70_000 + i, msg: `line ${i}` }]));
    expect(events[0]!.attributes['fluent.tag']).toBe('fluentd.app');
  });

  it('a problem\'s log line quotes the tag cut to 100 characters, control characters and line ends shown', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    // The tag is the sender's routing label: kept whole on the event, not in the daemon's log.
    const tag = `app\x1b[2J\x9b2J\nFAKE LINE ${'t'.repeat(60_000)} hunter2`;
    c.send([tag, [[1_700_000_000, { log: 'good' }], 'not-an-entry'], { chunk: 'tag1' }]);
    await c.waitForAck('tag1');
    expect(h.events[0]!.attributes['fluent.tag']).toBe(tag);
    const logged = h.logs.find((l) => l.problem === 'bad_entries');
    expect(logged).toMatchObject({ tag: expect.stringMatching(/^app\\x1b\[2J\\x9b2J\\x0aFAKE LINE t+… \(59,9\d\d more characters\)$/) });
    expect(JSON.stringify(logged).length).toBeLessThan(500);
    expect(JSON.stringify(logged)).not.toContain('hunter2');
    // eslint-disable-next-line no-control-regex
    expect(String(logged!.tag)).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  it('a chunk with a malformed entry keeps its good entries and is acked; the bad one is counted', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    c.send(['app.mixed', [[1_700_000_000, { log: 'good A' }], 'not-an-entry', [1_700_000_001, { log: 'good B' }]], { chunk: 'mixed1' }]);
    // Before, the whole chunk was dropped and never acked: the sender would resend it for ever.
    await c.waitForAck('mixed1');
    expect(h.events.map((e) => e.body)).toEqual([{ log: 'good A' }, { log: 'good B' }]);
    expect(h.metrics.get('rejected_events_total')).toBe(1);
    expect(h.logs.find((l) => l.problem === 'bad_entries')).toMatchObject({ skipped: 1, kept: 2 });
    // A chunk that cannot be read at all (bad gzip) is acked too, and counted.
    c.send(['app.gz', Buffer.from('not gzip at all'), { chunk: 'gz1', compressed: 'gzip' }]);
    await c.waitForAck('gz1');
    expect(h.logs.some((l) => l.problem === 'bad_message')).toBe(true);
  });

  it('an EventTime of the wrong length costs its own entry at most: the chunk is acked, its other entries kept, the connection read on', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    // ext type 0 with 4 bytes instead of 8. Before, the decoder threw on it: the connection was closed as
    // "not msgpack", the good entry beside it lost and the chunk never acked, so the sender resent it for ever.
    const shortTime = new ExtData(0, new Uint8Array([0x65, 0, 0, 0]));
    c.send(['app.time', [[new EventTime(1_700_000_000, 0), { log: 'good' }], [shortTime, { log: 'short time' }]], { chunk: 'time1' }]);
    await c.waitForAck('time1');
    // Message mode: its one entry has no time to read; the message is skipped, counted, and acked all the same.
    c.send(['app.time', shortTime, { log: 'message with a short time' }, { chunk: 'time2' }]);
    await c.waitForAck('time2');
    c.send(['app.time', 1_700_000_002, { log: 'after' }]);
    await h.waitForEvents(3);
    expect(h.events.map((e) => e.body)).toEqual([{ log: 'good' }, { log: 'short time' }, { log: 'after' }]);
    expect(h.events[0]!.timestamp).toBe(1_700_000_000_000);
    expect(h.events[1]!.timestamp).toBeUndefined();
    expect(h.logs.some((l) => l.problem === 'not_msgpack')).toBe(false);
    expect(h.logs.find((l) => l.problem === 'bad_message')).toMatchObject({ error: expect.stringMatching(/time of a Message/) });
  });

  it('a record nested deeper than 64 levels is cut there, not passed on to overflow a later stage', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    // Packed by hand ({a: {a: ... {leaf: true}}}, 200 levels): the encoder refuses more than 100.
    const record = Buffer.concat([...Array.from({ length: 200 }, () => Buffer.concat([Buffer.from([0x81]), encode('a')])), encode({ leaf: true })]);
    c.socket.write(Buffer.concat([Buffer.from([0x93]), encode('deep'), encode(1_700_000_000), record]));
    const [e] = await h.waitForEvents(1);
    let node = e!.body as unknown;
    let depth = 0;
    while (typeof node === 'object' && node !== null && 'a' in node) {
      node = (node as { a: unknown }).a;
      depth += 1;
    }
    expect(depth).toBe(64);
    expect(node).toBe('[nested deeper than 64 levels: cut]');
  });

  it('a record string that is not valid UTF-8 is replaced with U+FFFD and its event marked and counted; the rest pass', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    // Message mode, packed by hand: {"log": <str of the bytes 'caf' 0xe9>} (latin-1, as an old app writes it).
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
    const record = Buffer.concat([Buffer.from([0x81]), encode('log'), Buffer.from([0xa0 | latin1.length]), latin1]);
    c.socket.write(Buffer.concat([Buffer.from([0x93]), encode('app'), encode(1_700_000_000), record]));
    c.send(['app', 1_700_000_001, { log: 'café' }]);
    const events = await h.waitForEvents(2);
    expect(events.map((e) => [e.body, e.attributes['log.invalid_utf8']])).toEqual([[{ log: 'caf\uFFFD' }, true], [{ log: 'café' }, undefined]]);
    expect(h.metrics.get('malformed_events_total')).toBe(1);
    // A tag that is not valid UTF-8 marks its events too.
    c.socket.write(Buffer.concat([Buffer.from([0x93, 0xa5, 0x61, 0x70, 0xff, 0x2e, 0x74]), encode(1_700_000_002), encode({ log: 'x' })]));
    const [, , tagged] = await h.waitForEvents(3);
    expect([tagged!.attributes['fluent.tag'], tagged!.attributes['log.invalid_utf8']]).toEqual(['ap\uFFFD.t', true]);
    expect(h.metrics.get('malformed_events_total')).toBe(2);
  });

  it('a record key that is not valid UTF-8 has its bad bytes written \\xHH and its event marked and counted, at any depth', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0xd9, b.length]), b]);
    // Message mode, packed by hand: {'caf' 0xe9: 'v'} (a short key), then {'outer': {'a-longer-key-' 0xff 'than-16': 1}}.
    const short = Buffer.concat([Buffer.from([0x81]), str(Buffer.from([0x63, 0x61, 0x66, 0xe9])), encode('v')]);
    const long = Buffer.concat([Buffer.from([0x81]), encode('outer'), Buffer.from([0x81]), str(Buffer.from('a-longer-key-\xff-than-16', 'latin1')), encode(1)]);
    for (const record of [short, long]) c.socket.write(Buffer.concat([Buffer.from([0x93]), encode('app'), encode(1_700_000_000), record]));
    c.send(['app', 1_700_000_001, { café: 'fine' }]);
    const events = await h.waitForEvents(3);
    expect(events.map((e) => [e.body, e.attributes['log.invalid_utf8']])).toEqual([
      [{ 'caf\\xe9': 'v' }, true],
      [{ outer: { 'a-longer-key-\\xff-than-16': 1 } }, true],
      [{ café: 'fine' }, undefined],
    ]);
    expect(h.metrics.get('malformed_events_total')).toBe(2);
    expect(h.logs.find((l) => l.problem === 'invalid_utf8')).toMatchObject({ records: 1 });
  });

  it('keys that differ only in bytes that are not UTF-8 stay apart: no value is lost', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0xa0 | b.length]), b]);
    // {'a' 0xff: '1', 'a' 0xfe: '2', 'a\uFFFD': '3', 'é' 0xe9 0x80: '4'}: with U+FFFD for bad bytes the first three were one key.
    const record = Buffer.concat([
      Buffer.from([0x84]),
      str(Buffer.from([0x61, 0xff])), encode('1'),
      str(Buffer.from([0x61, 0xfe])), encode('2'),
      str(Buffer.from('a\uFFFD')), encode('3'),
      str(Buffer.from([0xc3, 0xa9, 0xe9, 0x80])), encode('4'),
    ]);
    c.socket.write(Buffer.concat([Buffer.from([0x93]), encode('app'), encode(1_700_000_000), record]));
    const [event] = await h.waitForEvents(1);
    expect(event!.body).toEqual({ 'a\\xff': '1', 'a\\xfe': '2', 'a\uFFFD': '3', 'é\\xe9\\x80': '4' });
    expect(event!.attributes['log.invalid_utf8']).toBe(true);
  });

  it('array and map headers announcing millions of elements cannot exhaust memory: refused, others served', async () => {
    const { h, port } = await startForward(running);
    // 0xdd = array32, 0xdf = map32, each announcing 16 million elements in 5 bytes. Decoding them whole
    // would allocate about 128 MB per header; 100 connections would take the daemon down.
    const headers = [Buffer.from([0xdd, 0x00, 0xf4, 0x24, 0x00, 0xdd, 0x00, 0xf4, 0x24, 0x00]), Buffer.from([0x93, 0xa1, 0x74, 0x01, 0xdf, 0x00, 0xf4, 0x24, 0x00])];
    const before = process.memoryUsage().heapUsed;
    await Promise.all(Array.from({ length: 100 }, (_, i) => new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(headers[i % 2]!));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    })));
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(512 * 2 ** 20);
    expect(h.metrics.get('errors_total')).toBeGreaterThanOrEqual(100);
    const c = await client(port);
    c.send(['after', 1, { still: 'serving' }, { chunk: 'm1' }]);
    await c.waitForAck('m1');
  });

  it('skips a msgpack value that is not a forward message, and keeps reading the connection', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    c.send({ not: 'a forward message' });
    c.send(['tag', 'not a time', { x: 1 }]);
    c.send(['ok', 1, { fine: true }]);
    const [e] = await h.waitForEvents(1);
    expect(e!.body).toEqual({ fine: true });
    expect(h.metrics.get('errors_total')).toBe(2);
    expect(h.logs.some((l) => l.problem === 'bad_message')).toBe(true);
  });

  it('closes a connection that sends bytes that are not msgpack, counts it, and serves others', async () => {
    const { h, port } = await startForward(running);
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.from([0xc1, 0xc1, 0xc1, 0xff, 0x00])));
      s.on('close', () => resolve(true));
      s.on('error', () => undefined);
    });
    expect(closed).toBe(true);
    expect(h.metrics.get('errors_total')).toBe(1);
    const c = await client(port);
    c.send(['after', 1, { still: 'serving' }, { chunk: 'a1' }]);
    await c.waitForAck('a1');
  });

  it('a message larger than max_message_bytes closes the connection; a half-sent message is counted', async () => {
    const { h, port } = await startForward(running, { max_message_bytes: '64KiB' });
    const big = encode(['big', 1, { log: 'x'.repeat(200_000) }]);
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(big));
      s.on('close', () => resolve());
      s.on('error', () => undefined);
    });
    expect(h.logs.some((l) => l.problem === 'message_too_large' || l.problem === 'not_msgpack')).toBe(true);
    const half = encode(['half', 1, { log: 'y'.repeat(1000) }]);
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(half.subarray(0, 500)));
      s.on('close', () => resolve());
    });
    await vi.waitFor(() => expect(h.logs.some((l) => l.problem === 'incomplete_message')).toBe(true), { timeout: 10_000, interval: 10 });
    expect(h.events).toHaveLength(0);
  });

  it('a large message arriving in many reads is copied a bounded number of times, not once per read', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    // 4 MiB in 1 KiB writes, which loopback hands over in reads of up to 64 KiB. The decoder's stream mode
    // joined all the bytes it had not decoded yet with each read: about 130 MiB copied for this message
    // (the count is the same on any machine; 8 MB in 1 KiB writes took the daemon 5.9 s of CPU).
    const size = 4 * 2 ** 20;
    const big = encode(['big', 1, { log: 'x'.repeat(size) }, { chunk: 'big1' }]);
    const work = countByteWork();
    try {
      for (let at = 0; at < big.length; at += 1024) c.socket.write(big.subarray(at, at + 1024));
      await c.waitForAck('big1');
    } finally {
      work.stop();
    }
    expect(h.events).toHaveLength(1);
    expect((h.events[0]!.body as { log: string }).log).toBe('x'.repeat(size));
    expect(work.copied).toBeLessThanOrEqual(3 * big.length);
  });

  it('a header announcing more than max_message_bytes closes the connection at once; the message before it is read', async () => {
    const { h, port } = await startForward(running, { max_message_bytes: '64KiB' });
    const c = await client(port);
    // ['t', 1, str32 of 1 MiB]: refused at its header, as the decoder did, not after 64 KiB more have come.
    const announced = Buffer.from([0x93, 0xa1, 0x74, 0x01, 0xdb, 0x00, 0x10, 0x00, 0x00, 0x78]);
    c.socket.write(Buffer.concat([encode(['before', 1, { log: 'kept' }, { chunk: 'p1' }]), announced]));
    await c.closed;
    expect(c.acks).toEqual(['p1']);
    expect(h.events.map((e) => e.body)).toEqual([{ log: 'kept' }]);
    expect(h.logs.filter((l) => l.problem === 'message_too_large')).toHaveLength(1);
  });

  it('a message cut by the end of the connection is reported also when it came in the same read as a complete one', async () => {
    const { h, port } = await startForward(running);
    const c = await client(port);
    const whole = encode(['whole', 1, { log: 'kept' }, { chunk: 'w1' }]);
    const cut = encode(['cut', 2, { log: 'y'.repeat(1000) }]).subarray(0, 500);
    // One small write: loopback hands it to the input as one read, the complete message and the cut one together.
    c.socket.write(Buffer.concat([whole, cut]));
    await c.waitForAck('w1');
    await c.close();
    // A stop waits for every connection's reader to finish: what it reports about the closed one is in by then.
    await h.stop();
    expect(h.events.map((e) => e.body)).toEqual([{ log: 'kept' }]);
    expect(h.metrics.get('errors_total')).toBe(1);
    expect(h.logs.filter((l) => l.problem === 'incomplete_message').map((l) => l.bytes)).toEqual([500]);
  });
});

describe('fluent_forward input: max_pending_bytes', () => {
  /** Waits `ms`; what the input took by then is what it holds while the pipeline is held. */
  const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Every chunk was acked once, and every record arrived once. */
  async function allArrivedOnce(h: InputHarness, senders: ForwardClient[], chunks: number, records: number): Promise<void> {
    await Promise.all(senders.flatMap((c, n) => Array.from({ length: chunks }, (_, k) => c.waitForAck(`c${n}.${k}`, 30_000))));
    for (const [n, c] of senders.entries()) expect([...c.acks].sort()).toEqual(Array.from({ length: chunks }, (_, k) => `c${n}.${k}`));
    const ids = h.events.map((e) => (e.body as { log: string }).log.split(' ')[0]);
    expect(ids).toHaveLength(senders.length * chunks * records);
    expect(new Set(ids).size).toBe(ids.length);
  }

  it('while the pipeline is held, connections stop being read once max_pending_bytes is held (their senders stall); once it takes events again every chunk arrives once and is acked', async () => {
    const { h, port } = await startForward(running, { max_pending_bytes: '1MiB' });
    h.block();
    // 4 senders of 2 chunks of 12 MB each (120 records of 100 KB): more than the kernel's socket buffers take
    // unread, so a chunk the input does not read stays (in part) in its sender's buffer.
    const senders = await Promise.all([0, 1, 2, 3].map(() => client(port)));
    const chunk = (n: number, k: number) => ['big', Array.from({ length: 120 }, (_, i) => [1, { log: `${n}.${k}.${i} ${'x'.repeat(100_000)}` }]), { chunk: `c${n}.${k}` }];
    const chunkBytes = encode(chunk(0, 0)).length;
    senders.forEach((c, n) => [0, 1].forEach((k) => c.send(chunk(n, k))));
    await settle(1500);
    // One chunk was taken (past the budget, alone: nothing else was being handed on) and waits in the held
    // pipeline; the others were not read. Before, each connection read its first chunk: 4 of them waited.
    expect(h.metrics.get('received_events_total')).toBe(120);
    const unsent = () => senders.reduce((sum, c) => sum + c.socket.writableLength, 0);
    const stalled = unsent();
    expect(stalled).toBeGreaterThanOrEqual(6 * chunkBytes);
    await settle(500);
    expect(unsent()).toBe(stalled);
    h.unblock();
    await allArrivedOnce(h, senders, 2, 120);
    expect(unsent()).toBe(0);
  }, 60_000);

  it('a connection that always has more to send does not keep one that waits from its turn', async () => {
    const { h, port } = await startForward(running, { max_pending_bytes: '64KiB' });
    // A slow pipeline: it takes events for 2 ms every 20 ms.
    h.block();
    let reblock: NodeJS.Timeout | undefined;
    const slow = setInterval(() => {
      h.unblock();
      reblock = setTimeout(() => h.block(), 2);
    }, 20);
    try {
      const hog = await client(port);
      for (let k = 0; k < 60; k++) hog.send(['hog', [[1, { log: `hog.${k} ${'h'.repeat(100_000)}` }]], { chunk: `h${k}` }]);
      await hog.waitForAck('h2');
      const other = await client(port);
      other.send(['other', [[1, { log: 'other.0 waits its turn' }]], { chunk: 'o0' }]);
      await other.waitForAck('o0');
      // Served while the hog still had most of its chunks to send, not after them.
      expect(hog.acks.length).toBeLessThan(30);
      // And the hog goes on to its end while the other, served, stays open with nothing more to send (the
      // budget once let that one read past it, and it waited for its sender for ever: the hog stopped here).
      await hog.waitForAck('h59', 20_000);
    } finally {
      clearInterval(slow);
      clearTimeout(reblock);
      h.unblock();
    }
  });

  it('a gzipped chunk counts as what it inflates to: while that waits for the pipeline, the other chunks are not unpacked', async () => {
    const { h, port } = await startForward(running, { max_pending_bytes: '1MiB' });
    h.block();
    // A few KB on the wire each, 2 MB once inflated.
    const senders = await Promise.all([0, 1, 2].map(() => client(port)));
    senders.forEach((c, n) => c.send(['zip', gzipSync(packEntries(Array.from({ length: 20 }, (_, i) => [1, { log: `${n}.0.${i} ${'z'.repeat(100_000)}` }]))), { chunk: `c${n}.0`, compressed: 'gzip' }]));
    await settle(1000);
    // Before, all three were inflated and their 60 events waited in front of the pipeline.
    expect(h.metrics.get('received_events_total')).toBe(20);
    h.unblock();
    await allArrivedOnce(h, senders, 1, 20);
  }, 30_000);
  it('a sender that stops in the middle of a chunk while half chunks hold the budget does not keep another from finishing its own', async () => {
    const { h, port } = await startForward(running, { max_pending_bytes: '64KiB' });
    const whole = encode(['whole', [[1, { log: `whole ${'w'.repeat(1_000_000)}` }]], { chunk: 'w' }]);
    const stalled = encode(['stalled', [[1, { log: `stalled ${'s'.repeat(100_000)}` }]], { chunk: 's' }]);
    const a = await client(port);
    a.socket.write(whole.subarray(0, 50_000));
    await settle(200);
    // Half of this one spends the budget; its connection gets the turn past it, and its sender stops.
    const b = await client(port);
    b.socket.write(stalled.subarray(0, 50_000));
    await settle(300);
    // Before, `whole` waited for the stalled sender to go on, or for idle_timeout (5 minutes).
    a.socket.write(whole.subarray(50_000));
    await a.waitForAck('w', 5000);
    expect(h.events.map((e) => e.attributes['fluent.tag'])).toEqual(['whole']);
    b.socket.write(stalled.subarray(50_000));
    await b.waitForAck('s', 5000);
    expect(h.events.map((e) => e.attributes['fluent.tag'])).toEqual(['whole', 'stalled']);
  }, 30_000);
});

describe('fluent_forward input: shared-key handshake (security)', () => {
  const security = { shared_key: 'k3y-only-we-know', self_hostname: 'driftlock-test' };

  it('a client that proves the shared key gets a PONG it can verify, then its messages are read', async () => {
    const { h, port } = await startForward(running, { security });
    const c = await client(port);
    // A salt that is not valid UTF-8, as Fluent Bit's random salt usually is: the digest is over its bytes.
    const salt = Buffer.from([0xff, 0xfe, 0x80, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0x01]);
    const pong = await c.login({ sharedKey: security.shared_key, salt });
    const nonce = (c.handshake[0]![1] as { nonce: Uint8Array }).nonce;
    expect(nonce.length).toBe(16);
    expect(pong).toEqual(['PONG', true, '', 'driftlock-test', ForwardClient.pongDigest('driftlock-test', salt, nonce, security.shared_key)]);
    c.send(['app', 1_700_000_000, { log: 'hello' }, { chunk: 'h1' }]);
    await c.waitForAck('h1');
    expect(h.events.map((e) => e.body)).toEqual([{ log: 'hello' }]);
  });

  it('a wrong shared key is refused with a short reason, the connection closed, nothing read, and it is counted', async () => {
    const { h, port } = await startForward(running, { security });
    const c = await client(port);
    const pong = await c.login({ sharedKey: 'not-the-key' });
    expect(pong).toEqual(['PONG', false, 'shared_key mismatch', '', '']);
    // Fluent Bit before 5.0.8 copies the reason into a 32-byte buffer.
    expect(String(pong[2]).length).toBeLessThan(32);
    c.send(['app', 1_700_000_000, { log: 'sneaked in' }]);
    await c.closed;
    await vi.waitFor(() => expect(h.metrics.get('errors_total')).toBe(1), { timeout: 10_000, interval: 10 });
    expect(h.events).toHaveLength(0);
    expect(h.logs.find((l) => l.problem === 'handshake_failed')).toMatchObject({ reason: 'shared_key mismatch', hostname: 'client-host' });
  });

  it('a client that skips the handshake and sends a forward message at once is refused', async () => {
    const { h, port } = await startForward(running, { security });
    const c = await client(port);
    c.send(['app', 1_700_000_000, { log: 'no handshake' }, { chunk: 'x1' }]);
    await c.closed;
    expect(c.handshake.map((m) => m.slice(0, 3))).toEqual([['HELO', expect.anything()], ['PONG', false, 'invalid ping message']]);
    expect(c.acks).toEqual([]);
    expect(h.events).toHaveLength(0);
  });

  it('with users, the client must also log in: the right password passes, a wrong one is refused', async () => {
    const { h, port } = await startForward(running, { security: { ...security, users: [{ username: 'fluent-bit', password: 's3cret' }] } });
    const good = await client(port);
    expect((await good.login({ sharedKey: security.shared_key, username: 'fluent-bit', password: 's3cret' }))[1]).toBe(true);
    const helo = good.handshake[0]![1] as { auth: Uint8Array };
    expect(helo.auth.length).toBe(16);
    good.send(['app', 1_700_000_000, { log: 'logged in' }, { chunk: 'u1' }]);
    await good.waitForAck('u1');
    const bad = await client(port);
    expect(await bad.login({ sharedKey: security.shared_key, username: 'fluent-bit', password: 'guess' })).toEqual(['PONG', false, 'username/password mismatch', '', '']);
    await bad.closed;
    expect(h.events.map((e) => e.body)).toEqual([{ log: 'logged in' }]);
  });

  it('the shared key and the passwords are secrets: masked in the logs, redacted from the logged options', async () => {
    const yaml = `inputs:
  fwd:
    type: fluent_forward
    security:
      shared_key: \${FORWARD_KEY}
      users:
        - { username: fluent-bit, password: "\${FB_PASS}" }
outputs:
  out: { type: console, inputs: [fwd] }
`;
    const cfg = await parseConfig(yaml, 'pipeline.yaml', createRegistry(), { env: { FORWARD_KEY: 'k3y', FB_PASS: 'pw' } });
    expect(cfg.secretsFromEnv.sort()).toEqual(['FB_PASS', 'FORWARD_KEY']);
    expect(redactOptions(cfg.components[0]!)).toMatchObject({ security: { shared_key: '<redacted>', users: [{ username: 'fluent-bit', password: '<redacted>' }] } });
  });
});

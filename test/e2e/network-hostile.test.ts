/**
 * Hostile clients against the network inputs of the real daemon: what a fuzz run found (each case once made
 * the daemon exit, lose a valid request, or not count a rejection). The daemon must go on, count what it
 * refused, and serve the next client.
 */
import { readFile, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { encode } from '@msgpack/msgpack';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterEach, describe, expect, it } from 'vitest';
import { logsServiceCodec } from '../../src/inputs/otlp-grpc/proto.js';
import { listeningPort, startCli, type RunningCli } from '../helpers/cli.js';
import { ForwardClient } from '../helpers/forward-client.js';
import { freePort, scrape } from '../helpers/metrics.js';
import { RawOtlpClient, simpleRequest } from '../helpers/otlp-client.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

/** Bytes of one field: its key and, for wire type 2, its length. */
const field = (n: number, wire: number, value: Uint8Array | number): Buffer => {
  const w = protobuf.Writer.create().uint32((n << 3) | wire);
  return Buffer.from((typeof value !== 'number' ? w.bytes(value) : wire === 1 ? w.fixed64(value) : w.uint64(value)).finish());
};
/** An ExportLogsServiceRequest of one record made of `record`'s bytes. */
const requestOf = (record: Buffer): Buffer => field(1, 2, field(2, 2, field(2, 2, record)));

const running: RunningCli[] = [];

afterEach(() => {
  for (const cli of running.splice(0)) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
});

/** The daemon with these inputs (id: YAML flow map) writing to a file (and `outputs`, more YAML lines), and its API; the ports they listen on. */
async function startPipeline(inputs: Record<string, string>, outputs = ''): Promise<{ cli: RunningCli; ports: Record<string, number>; api: number; out: string }> {
  const dir = await tempDir('dl-e2e-hostile-');
  const out = path.join(dir, 'events.jsonl');
  const config = path.join(dir, 'pipeline.yaml');
  const api = await freePort();
  await writeFile(config, `data_dir: ${dir}/data
api: { enabled: true, address: 127.0.0.1:${api} }
inputs:
${Object.entries(inputs).map(([id, yaml]) => `  ${id}: ${yaml}`).join('\n')}
outputs:
  out: { type: file, inputs: [${Object.keys(inputs).join(', ')}], path: ${out} }
${outputs}`);
  const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
  running.push(cli);
  const ports: Record<string, number> = {};
  for (const id of Object.keys(inputs)) {
    await cli.waitFor(new RegExp(`"component":"${id}".*"port":\\d+`));
    ports[id] = listeningPort(cli.stderr(), id);
  }
  return { cli, ports, api, out };
}

/** The daemon with an otlp_grpc input writing to a file, and its API; the ports it listens on. */
async function startDaemon(): Promise<{ cli: RunningCli; otlp: number; api: number; out: string }> {
  const { cli, ports, api, out } = await startPipeline({ otlp: '{ type: otlp_grpc, address: 127.0.0.1:0 }' });
  return { cli, otlp: ports.otlp!, api, out };
}

/** The events the daemon wrote to its output file. */
async function written(out: string): Promise<Array<{ body: unknown; attributes: Record<string, unknown> }>> {
  return (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { body: unknown; attributes: Record<string, unknown> });
}

/** Sends one OTLP record over gRPC and waits for it in the output file. */
async function stillServes(port: number, out: string, text: string): Promise<void> {
  const client = new RawOtlpClient(port);
  try {
    expect((await client.export(simpleRequest(1, () => text))).error).toBeNull();
  } finally {
    client.close();
  }
  expect(await readFile(out, 'utf8')).toContain(text);
}

/** An HTTP/2 session to the port, once connected (or closed: the daemon may refuse it). */
async function h2Session(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    session.once('connect', () => resolve());
    session.once('close', () => resolve());
  });
  return session;
}

/** Resolves once the daemon answers a PING on the session: it has read every frame sent before (in order). */
async function pinged(session: http2.ClientHttp2Session): Promise<void> {
  if (session.destroyed || session.closed) return;
  await new Promise<void>((resolve) => session.ping(() => resolve()));
}

describe('network inputs against hostile clients (real daemon)', () => {
  it('OTLP/HTTP over HTTP/2: a stream refused before its body ended, then reset by its client with NO_ERROR, does not stop the daemon', async () => {
    const { cli, otlp, api, out } = await startDaemon();
    // Refused (404: another path; 415: another content type) while the body still comes: the refusal waits
    // for the body's end, which a reset with NO_ERROR (the default of stream.close()) brings while the
    // stream is already closed. Answering it there threw ERR_HTTP2_INVALID_STREAM: the daemon exited 70.
    for (const headers of [{ ':path': '/v1/traces', 'content-type': 'application/x-protobuf' }, { ':path': '/v1/logs', 'content-type': 'text/plain' }]) {
      for (let i = 0; i < 5; i++) {
        const session = await h2Session(otlp);
        expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
        const req = session.request({ ':method': 'POST', ...headers });
        req.on('error', () => undefined);
        req.resume();
        req.write(Buffer.alloc(100));
        req.close();
        await pinged(session);
        session.destroy();
      }
    }
    // A request served after them: the daemon is still there.
    await stillServes(otlp, out, 'after the resets');
    expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
    expect((await scrape(api)).get('errors_total/otlp')).toBe(10);
  });

  it('gRPC: a call to a method that is not served, reset by its client in the same breath, does not stop the daemon; such calls are counted', async () => {
    const { cli, otlp, api, out } = await startDaemon();
    // grpc-js answers a path it does not serve with UNIMPLEMENTED when the stream's 'stream' event comes,
    // a tick after its HEADERS were read: a RST_STREAM read with them has closed the stream by then, and
    // grpc-js's respond() threw ERR_HTTP2_INVALID_STREAM, uncaught: the daemon exited 70.
    for (let i = 0; i < 10; i++) {
      const session = await h2Session(otlp);
      expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
      const req = session.request({ ':method': 'POST', ':path': '/unknown.Service/Method', 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => undefined);
      req.close(i % 2 ? http2.constants.NGHTTP2_CANCEL : http2.constants.NGHTTP2_NO_ERROR);
      // Counted where the daemon answers it: past the point where the answer threw.
      await until(async () => (await scrape(api)).get('errors_total/otlp') === i + 1, `call ${i + 1} counted in errors_total/otlp`, { detail: () => `daemon exit code: ${cli.child.exitCode}\n${cli.stderr().slice(-2000)}` });
      session.destroy();
    }
    // A request served after them: the daemon is still there.
    await stillServes(otlp, out, 'after the unserved calls');
    expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
    // Counted and logged (grpc-js's UNIMPLEMENTED was neither).
    expect((await scrape(api)).get('errors_total/otlp')).toBe(10);
    await cli.waitFor(/"problem":"grpc_unimplemented"/);
  });
  it('fluent_forward: a record with a "__proto__" key is kept, its chunk acked, and the connection read on (was: closed, unacked, resent for ever)', async () => {
    const { cli, ports, api, out } = await startPipeline({ fwd: '{ type: fluent_forward, address: 127.0.0.1:0 }' });
    const client = await ForwardClient.connect(ports.fwd!);
    try {
      // A log line's JSON can hold any key: Fluent Bit's json parser packs {"__proto__": ...} as it is. The
      // decoder refused it ("The key __proto__ is not allowed"): the connection was closed without an ack, so
      // the sender sent the chunk again on its next connection, and again, and the chunks after it waited.
      const hostile = JSON.parse('{"__proto__":{"admin":true},"msg":"hostile"}') as Record<string, unknown>;
      client.send(['app', [[1_700_000_000, { msg: 'before' }], [1_700_000_001, hostile]], { chunk: 'c1' }]);
      client.send(['app', [[1_700_000_002, { msg: 'after' }]], { chunk: 'c2' }]);
      await client.waitForAck('c2');
      expect(client.acks).toEqual(['c1', 'c2']);
      const events = await written(out);
      expect(events.map((e) => JSON.stringify(e.body))).toEqual(['{"msg":"before"}', '{"__proto__":{"admin":true},"msg":"hostile"}', '{"msg":"after"}']);
      // Kept as data: an own key, no prototype set.
      expect(Object.getPrototypeOf(events[1]!.body)).toBe(Object.prototype);
      expect((await scrape(api)).get('errors_total/fwd')).toBe(0);
      expect(cli.child.exitCode).toBeNull();
    } finally {
      await client.close();
    }
  });
  it('fluent_forward: a whole message the decoder refuses (a key that is not a string, an ext over 64 bytes) is skipped, counted and acked; the connection is read on', async () => {
    const { cli, ports, api, out } = await startPipeline({ fwd: '{ type: fluent_forward, address: 127.0.0.1:0 }' });
    const client = await ForwardClient.connect(ports.fwd!);
    try {
      const str = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
      const option = (chunk: string) => Buffer.concat([Buffer.from([0x81]), str('chunk'), str(chunk)]);
      // Packed by hand, the encoder writes neither. [tag, [[time, {bin "k": 1}]], {chunk: c2}]: a map key that is a bin.
      const binKey = Buffer.concat([Buffer.from([0x93]), str('app'), Buffer.from([0x91, 0x92, 0x01, 0x81, 0xc4, 0x01, 0x6b, 0x01]), option('c2')]);
      // [tag, time, {e: ext8 of 100 bytes}, {chunk: c3}]: Message mode, an ext the decoder refuses (over 64 bytes).
      const bigExt = Buffer.concat([Buffer.from([0x94]), str('app'), Buffer.from([0x01, 0x81]), str('e'), Buffer.from([0xc7, 100, 0x05]), Buffer.alloc(100, 1), option('c3')]);
      // [tag, [[time, {a: 1}]], {nil: 1}]: the option's own key is nil, so its chunk cannot be read: not acked.
      const nilKey = Buffer.concat([Buffer.from([0x93]), str('app'), Buffer.from([0x91, 0x92, 0x01, 0x81]), str('a'), Buffer.from([0x01, 0x81, 0xc0, 0x01])]);
      client.send(['app', [[1_700_000_000, { msg: 'first' }]], { chunk: 'c1' }]);
      // One write: the refused messages come in the same read as the good ones around them.
      client.socket.write(Buffer.concat([binKey, bigExt, nilKey]));
      client.send(['app', [[1_700_000_001, { msg: 'last' }]], { chunk: 'c5' }]);
      await client.waitForAck('c5');
      // Before: the connection was closed at the first of them ("The type of key must be string or number"),
      // c1 alone acked; the sender resent c2 on every new connection, and it closed that one too.
      expect([...client.acks].sort()).toEqual(['c1', 'c2', 'c3', 'c5']);
      expect((await written(out)).map((e) => e.body)).toEqual([{ msg: 'first' }, { msg: 'last' }]);
      expect((await scrape(api)).get('errors_total/fwd')).toBe(3);
      // Logged before c5 was acked; the log comes through a pipe of its own.
      await cli.waitFor(/"problem":"bad_message".*The type of key must be string or number/);
      expect(client.socket.destroyed).toBe(false);
    } finally {
      await client.close();
    }
  });
  it('fluent_forward: a time no Date can hold (1e20 s) leaves its record untimed; an output that writes dates does not crash on it (was: in a loop, the chunk and those after it never acked)', async () => {
    const { cli, ports, out } = await startPipeline({ fwd: '{ type: fluent_forward, address: 127.0.0.1:0 }' }, '  con: { type: console, inputs: [fwd], encoding: pretty }\n');
    const client = await ForwardClient.connect(ports.fwd!);
    try {
      client.send(['app', [[1e20, { msg: 'far future' }]], { chunk: 'c1' }]);
      client.send(['app', 1e300, { msg: 'a Message too' }, { chunk: 'c2' }]);
      client.send(['app', [[1_700_000_000, { msg: 'after' }]], { chunk: 'c3' }]);
      await client.waitForAck('c3');
      expect(client.acks).toEqual(['c1', 'c2', 'c3']);
      const events = await written(out);
      expect(events.map((e) => [e.body, (e as { timestamp?: number }).timestamp])).toEqual([[{ msg: 'far future' }, undefined], [{ msg: 'a Message too' }, undefined], [{ msg: 'after' }, 1_700_000_000_000]]);
      await cli.waitFor(/"msg":"after"/, 'stdout');
      expect(cli.stderr()).not.toContain('Invalid time value');
    } finally {
      await client.close();
    }
  });
  it('fluent_forward: a client that does not read its acks is not read on either until they have gone out (they were buffered without bound)', async () => {
    const { ports, api } = await startPipeline({ fwd: '{ type: fluent_forward, address: 127.0.0.1:0 }' });
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(ports.fwd!, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    try {
      socket.pause();
      // Messages asking for the ack of a 1 MiB chunk id each: a MiB of acks apiece for a client that reads none.
      const message = encode(['app', 1, { msg: 'x' }, { chunk: 'c'.repeat(2 ** 20) }]);
      const ack = encode({ ack: 'c'.repeat(2 ** 20) }).length;
      let written = 0;
      let stalled = false;
      // Until all are written, or the daemon stops reading (a write does not drain within a second).
      while (written < 100 && !stalled) {
        written += 1;
        if (!socket.write(message)) stalled = !(await new Promise((r) => { socket.once('drain', () => r(true)); setTimeout(() => r(false), 1000); }));
      }
      // Before: all 100 read and their acks held in the daemon's memory (400 such took it from 78 to 577 MB
      // of RSS in 6 s, growing as fast as the client sent). Now the acks the kernel's buffers hold, and as
      // many messages.
      const taken = (await scrape(api)).get('received_events_total/fwd') ?? 0;
      expect(taken).toBeLessThan(60);
      // Read, the acks go out and the rest of the messages are read.
      let received = 0;
      socket.on('data', (d: Buffer) => (received += d.length));
      socket.resume();
      while (written < 100) {
        written += 1;
        if (!socket.write(message)) await new Promise((r) => socket.once('drain', r));
      }
      await until(() => received >= 100 * ack, `the acks of all 100 messages (${100 * ack} bytes)`, { detail: () => `received ${received} bytes` });
      expect(received).toBe(100 * ack);
    } finally {
      socket.destroy();
    }
  });

  it('OTLP requests that are not what they should be (bad protobuf, wrong wire types, invalid UTF-8, values nested thousands deep, 150,000 attributes, OTLP/JSON of the wrong shape) are refused or taken as documented, counted; the daemon serves the next', async () => {
    const { cli, otlp, api, out } = await startDaemon();
    const client = new RawOtlpClient(otlp);
    const post = async (body: string | Buffer, type: string) => {
      const res = await fetch(`http://127.0.0.1:${otlp}/v1/logs`, { method: 'POST', headers: { 'content-type': type }, body });
      return { status: res.status, text: await res.text() };
    };
    const json = (body: string) => post(body, 'application/json');
    try {
      const code = async (bytes: Buffer) => (await client.exportBytes(bytes)).error?.code ?? grpc.status.OK;
      // A value nested 5,000 levels (AnyValue.array_value -> ArrayValue.values): past protobufjs's 100.
      let deep = field(1, 2, Buffer.from('leaf'));
      for (let i = 0; i < 5000; i++) deep = field(5, 2, field(1, 2, deep));
      const bad = requestOf(field(5, 2, field(1, 2, Buffer.from([0x61, 0xff, 0xfe]))));
      const many = Buffer.from(logsServiceCodec().encodeRequest({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'many' }, attributes: Array.from({ length: 150_000 }, (_, i) => ({ key: `k${i}`, value: { intValue: i } })) }] }] }] }));
      expect(await code(Buffer.from('not protobuf \xff\xff'))).toBe(grpc.status.INVALID_ARGUMENT);
      expect((await post(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'application/x-protobuf')).status).toBe(400);
      // A known field in another wire type is skipped as an unknown one (as protobufjs and Go do): taken, empty.
      expect(await code(field(1, 0, 5))).toBe(grpc.status.OK);
      expect(await code(requestOf(field(5, 1, 7)))).toBe(grpc.status.OK);
      expect(await code(bad)).toBe(grpc.status.OK);
      expect(await code(requestOf(field(5, 2, deep)))).toBe(grpc.status.INVALID_ARGUMENT);
      expect(await post(requestOf(field(5, 2, deep)), 'application/x-protobuf')).toMatchObject({ status: 400, text: expect.stringContaining('max depth exceeded') });
      expect(await code(many)).toBe(grpc.status.OK);
      const deepJson = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${'{"arrayValue":{"values":['.repeat(5000)}{"stringValue":"x"}${']}}'.repeat(5000)}}]}]}]}`;
      for (const body of ['{"resourceLogs":', 'null', '[1,2]', '{"resourceLogs":{"a":1}}', '{"resourceLogs":[{"scopeLogs":[{"logRecords":"nope"}]}]}', '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":42}]}]}]}', '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}', '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":{"a":1}}]}]}]}', deepJson]) {
        const answer = await json(body);
        expect(answer.status, body.slice(0, 80)).toBe(400);
        expect(answer.text, body.slice(0, 80)).toMatch(/not a valid OTLP\/JSON ExportLogsServiceRequest: \S/);
      }
      // Values of the wrong kind where protobufjs converts them: taken (a time that is not a number: none).
      expect((await json('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"abc","severityNumber":"LOUD","attributes":[{"key":"n","value":{"intValue":"xyz"}}],"body":{"stringValue":"lenient"}}]}]}]}')).status).toBe(200);
      await stillServes(otlp, out, 'after the hostile requests');
      expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
      const metrics = await scrape(api);
      // 2 bad protobuf, 2 too deep, 9 bad JSON.
      expect(metrics.get('errors_total/otlp')).toBe(13);
      expect(metrics.get('malformed_events_total/otlp')).toBe(1);
      for (const problem of ['invalid_protobuf', 'invalid_json', 'invalid_utf8']) await cli.waitFor(new RegExp(`"problem":"${problem}"`));
      const events = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { body: unknown; attributes: Record<string, unknown>; timestamp?: number });
      expect(events.find((e) => e.body === 'many')?.attributes.k149999).toBe(149_999);
      expect(events.find((e) => e.attributes['log.invalid_utf8'] === true)?.body).toBe('a\uFFFD\uFFFD');
      const lenient = events.find((e) => e.body === 'lenient');
      expect(lenient?.timestamp).toBeUndefined();
      expect(lenient?.attributes.n).toBe(0);
    } finally {
      client.close();
    }
  });
});

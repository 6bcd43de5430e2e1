/**
 * `otlp_grpc`: receives OTLP logs over gRPC (`opentelemetry.proto.collector.logs.v1.LogsService/Export`),
 * from OpenTelemetry SDKs, the OpenTelemetry Collector, or Fluent Bit's `opentelemetry` output with `grpc on`;
 * and on the same port OTLP/HTTP (`POST /v1/logs` over HTTP/1.1 or HTTP/2, binary protobuf or JSON, optionally gzip),
 * which Fluent Bit's `opentelemetry` output sends by default, taking the same path (server.ts).
 *
 * Acknowledgement (`acknowledge`): by default the response is sent once every output has finished with the
 * request's events (`delivered`); `queued` answers as soon as the events are in the pipeline's buffers. Events
 * that a `drop_newest` buffer discarded or an output rejected for good are reported in `partial_success`
 * (the client logs them and does not retry). When the pipeline is full (this input already has
 * `max_pending_events`, or `max_pending_bytes` of requests, waiting for buffer space) a request is refused with `UNAVAILABLE` before anything of it
 * is taken, so the client retries later: nothing is accepted and then dropped. Requests being received count
 * in `max_pending_bytes` too: past it, a new one is refused before its body is read (server.ts, admitGrpc). So is a request this input
 * expects not to answer before its deadline; one whose client gives up while it waits for the pipeline is
 * not taken (its retry would be a duplicate). A request that is not a valid
 * protobuf gets `INVALID_ARGUMENT` (invalid UTF-8 in a string does not: it is replaced and the record marked); a
 * missing or wrong bearer token `UNAUTHENTICATED`.
 *
 * grpc-js does not require the `te: trailers` header that gRPC's HTTP/2 mapping asks for, which Fluent Bit
 * does not send; gzip request compression (`grpc-encoding: gzip`, or deflate) is decompressed by driftlock
 * (server.ts, inflateGrpc), which counts what it makes in max_pending_bytes, and `max_receive_message_bytes`
 * caps the decompressed size too (`RESOURCE_EXHAUSTED` beyond it).
 */
import { z } from 'zod';
import { byteSize, duration, secret } from '../../config/schema.js';
import { defineInput } from '../../engine/component.js';
import { listenAddress } from '../net/address.js';
import { loadTls, tlsConfig } from '../net/tls.js';

export type { OtlpGrpcInput } from './server.js';

export const otlpGrpcConfig = z.object({
  address: listenAddress('127.0.0.1:4317').describe('`host:port` to listen on (`0.0.0.0:4317` for every interface; port 0 picks a free port and logs it).'),
  acknowledge: z
    .enum(['delivered', 'queued'])
    .default('delivered')
    .describe('When to answer an Export call: `delivered` once every output has written its events (at-least-once end to end); `queued` once they are in the pipeline\'s buffers (lower latency; events in memory are lost if the daemon crashes).'),
  max_pending_events: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe('Events of accepted requests that may wait for room in a full pipeline; beyond that, requests are refused with `UNAVAILABLE` (the client retries).'),
  max_pending_bytes: byteSize().prefault('32MiB').describe('Bytes of requests being received (a gRPC message\'s announced length, an HTTP Content-Length, or what has arrived; and what a compressed one inflates to) and of accepted requests waiting for room in a full pipeline (as received, decompressed; the one being handed to it included), together; beyond that, new requests are refused with `UNAVAILABLE` (HTTP 503, the client retries) before their bodies are read. A request larger than this is still taken when nothing else is held. Each call being received counts 8 KiB more (what it costs before any of its request comes), so this bounds how many are open too. Bounded by events alone, 300 clients each sending one record of 1 MB held 990 MB of RSS behind a held-up output; counting only waiting requests, 570 MB (grpc-js gathered every request whole first); now about 200 MB.'),
  max_records_per_request: z
    .number()
    .int()
    .min(1)
    .default(100_000)
    .describe('An Export request with more log records is refused with INVALID_ARGUMENT (a small request can hold millions of empty records; each would become an event in memory). They are counted on the wire, before anything is decoded.'),
  max_receive_message_bytes: byteSize().prefault('4MiB').describe('Largest request, after decompression; larger ones get `RESOURCE_EXHAUSTED`.'),
  max_concurrent_streams: z
    .number()
    .int()
    .min(1)
    .default(100)
    .describe('Calls (HTTP/2 streams, gRPC or OTLP/HTTP) one connection may have open at once, announced to clients in HTTP/2\'s SETTINGS_MAX_CONCURRENT_STREAMS (clients queue the others); 100 is the least HTTP/2 recommends. Unlimited before: one connection holding 50,000 streams that sent only headers took the daemon to 446 MB of RSS.'),
  max_connections: z.number().int().min(1).default(1000).describe('Connections open at once; more are refused (counted in `errors_total`). grpc-js has no such limit of its own: driftlock accepts the connections and hands them to it.'),
  idle_timeout: duration().prefault('5m').describe('Close a connection that has had no call running for this long (gRPC\'s `max_connection_idle`: a GOAWAY, after which clients reconnect when they next export); also a connection that never sent a request. `0` never closes idle connections. A TLS handshake must finish within 10 s, or this when shorter.'),
  bearer_token: secret(z.string().min(1)).optional().describe('When set, requests must carry `authorization: Bearer <token>`; others get `UNAUTHENTICATED`.'),
  keepalive_interval: duration().prefault('5m').describe('How often each connection is sent an HTTP/2 PING. A connection that does not answer within 20 s (or within `keepalive_interval`, if shorter) is closed: a client gone without closing it (a crash, a network partition), or one that never spoke HTTP/2, would otherwise hold a descriptor and memory for ever. `0` never pings.'),
  tls: tlsConfig.optional(),
  shutdown_grace: duration().prefault('35s').describe('At shutdown, how long calls whose request has arrived may take to be answered before connections are closed (their clients then see `CANCELLED`); a stream whose request never arrived whole is not waited for. Keep it above the daemon\'s `shutdown_timeout` (30s by default): a call still waiting for delivery is then answered `OK` when its records are written, or `UNAVAILABLE` when the shutdown timeout abandons them.'),
});

export type OtlpGrpcConfig = z.output<typeof otlpGrpcConfig>;

export const otlpGrpcInput = defineInput({
  type: 'otlp_grpc',
  description:
    'Receives OTLP logs over gRPC (`LogsService/Export`) from OpenTelemetry SDKs and collectors, or Fluent Bit\'s ' +
    '`opentelemetry` output with `grpc on`; on the same port, OTLP/HTTP (`POST /v1/logs` over HTTP/1.1 or HTTP/2, protobuf or JSON), ' +
    'Fluent Bit\'s default. Answers `UNAVAILABLE` (HTTP 503) while the pipeline is full, so clients retry.',
  config: otlpGrpcConfig,
  example: { type: 'otlp_grpc', address: '127.0.0.1:4317' },
  listens: (config) => [{ protocol: 'tcp', ...config.address, key: 'address' }],
  // Not kept running through a reload: an Export call held while the pipelines change over outlives its
  // client's deadline (exporters use 1-10 s), the client sends it again, and both copies were delivered.
  // Stopped and built anew, it answers UNAVAILABLE (GOAWAY) and the client retries, once.
  keepOnReload: false,
  async build(config) {
    const tls = config.tls ? await loadTls(config.tls) : undefined;
    // grpc-js and protobufjs load only for a pipeline that has this input: they are about a sixth of the
    // daemon's start-up, paid by every `driftlock` command otherwise.
    const { OtlpGrpcInput } = await import('./server.js');
    return new OtlpGrpcInput(config, tls);
  },
});

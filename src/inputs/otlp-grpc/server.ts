/** The gRPC server of the `otlp_grpc` input (see index.ts): loaded when a pipeline has one. */
import { timingSafeEqual } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { InputContext, InputStage } from '../../engine/component.js';
import type { AckStatus } from '../../engine/acknowledgement.js';
import { withoutSource } from '../../formats/json.js';
import { ByteBudget } from '../byte-budget.js';
import { formatAddress, peerOf, type ListenAddress } from '../net/address.js';
import { handshakeTimeout, listenWithLimit } from '../net/stream-server.js';
import { Listening } from '../net/listening.js';
import { ProblemLog, shownClientText } from '../net/problems.js';
import type { TlsMaterial } from '../net/tls.js';
import type { OtlpGrpcConfig } from './index.js';
import { requestToEvents } from './mapping.js';
import { decodeEvents } from './wire.js';
import { EXPORT_LOGS_PATH, logsServiceCodec, type ExportLogsServiceResponse, type LogsServiceCodec } from './proto.js';

type Raw = Buffer;
/**
 * An Export request's bytes, in a box that export empties once they are decoded (to events, which copy what
 * they keep). grpc-js keeps the request it handed to the handler (in its call, and in its unary handler's
 * closure), and an OTLP/HTTP exchange its request, until the answer: with `acknowledge: delivered`, until
 * the outputs wrote the records, while max_pending_bytes no longer counts them. Those bytes were held all
 * that time: 100 requests of 1 MB waiting for a slow webhook held 100 MB beside their events.
 */
interface RequestBody {
  bytes: Buffer;
}
const NO_BYTES = Buffer.alloc(0);
/** At a stop, how long answered calls' responses may take to reach their clients before connections are cut. */
const ANSWER_FLUSH_MS = 1000;
const identity = (b: Raw) => b;
/** The answers to a request refused for want of room: the pipeline is full, or max_pending_bytes are being received and wait. */
const PIPELINE_FULL_MESSAGE = 'driftlock pipeline is full; retry later';
const BUSY_MESSAGE = 'driftlock is receiving or holding as many request bytes as it takes (max_pending_bytes); retry later';

/** The LogsService with raw bytes in and out: decoding happens in the handler so that bad bytes get INVALID_ARGUMENT. */
const LOGS_SERVICE: grpc.ServiceDefinition = {
  Export: {
    path: EXPORT_LOGS_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: (bytes: Buffer): RequestBody => ({ bytes }),
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

function grpcError(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details, metadata: new grpc.Metadata() };
}

/**
 * An Export request's share of `max_pending_bytes` while its body is being received (grpc-js gathers a
 * gRPC message whole before its handler runs; OTLP/HTTP bodies are read whole): what it announced (the gRPC
 * message's length prefix, an HTTP Content-Length) or what has arrived, whichever is more. Given back when the
 * request is handed to `export` (which counts it among the waiting ones if it waits) or its stream ends.
 */
interface Receipt {
  bytes: number;
  released: boolean;
  /** A gRPC stream's: its key in `receipts`. */
  id?: string;
  /** A gRPC stream's `grpc-encoding`, when driftlock inflates its message itself (see admitGrpc). */
  encoding?: Compression;
  /** Its message came compressed (the flag in its length prefix). */
  compressed?: boolean;
}

/**
 * The metadata key under which a gRPC Export call finds its stream's receipt: the handler gets the call, not
 * its HTTP/2 stream, and grpc-js builds the call's metadata from the stream's headers, where it is written.
 * Whatever a client sends under this name is overwritten.
 */
const RECEIPT_KEY = 'x-driftlock-receipt';

/**
 * What an open call costs before any of its request comes (grpc-js's call and Node's HTTP/2 stream: about
 * 7 KB each, measured with 50,000 streams that sent only headers), reserved for each one being received: so
 * max_pending_bytes bounds how many are open across connections (4,096 in 32 MiB), not only their bytes.
 */
const CALL_BYTES = 8 * 1024;

/** Answers a gRPC stream itself (trailers only) and resets it (NO_ERROR): the client stops sending its request (RFC 9113, 8.1). */
function refuseGrpcStream(stream: http2.ServerHttp2Stream, code: grpc.status, details: string): void {
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': String(code), 'grpc-message': encodeURI(details) }, { endStream: true });
  stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** Why an Export request was refused, in gRPC's terms (OTLP/HTTP maps each to a status code). */
type Refusal = 'UNAUTHENTICATED' | 'UNAVAILABLE' | 'INVALID_ARGUMENT' | 'RESOURCE_EXHAUSTED' | 'INTERNAL';

/** How an Export request is answered: its response, or a refusal and why. */
type ExportAnswer = { response: ExportLogsServiceResponse } | { refusal: Refusal; message: string };

/** One Export request, whichever transport brought it (gRPC, or OTLP/HTTP). */
interface ExportRequest {
  peer: string | undefined;
  /** The `authorization` header or metadata. */
  authorization: string | undefined;
  /** The request as protobuf bytes (an OTLP/JSON one is encoded first); emptied once decoded (see RequestBody). */
  body: RequestBody;
  /** Its JSON held invalid UTF-8 (replaced when it was read): records with U+FFFD are marked. */
  invalidUtf8?: boolean;
  /** When the client gives up on it (ms since the epoch), Infinity without a deadline. */
  deadline: number;
  /** The client is gone (cancelled, or its connection closed) before it was answered. */
  cancelled(): boolean;
  /** Calls `listener` once if the client goes; returns a function that stops listening. */
  onCancel(listener: () => void): () => void;
  answer(answer: ExportAnswer): void;
}

/** An Export call of grpc-js as an ExportRequest. */
function grpcRequest(call: grpc.ServerUnaryCall<RequestBody, Raw>, callback: grpc.sendUnaryData<Raw>, codec: LogsServiceCodec, emptyResponse: Buffer): ExportRequest {
  const authorization = call.metadata.get('authorization')[0];
  return {
    peer: peerName(call),
    authorization: typeof authorization === 'string' ? authorization : undefined,
    body: call.request,
    deadline: deadlineOf(call),
    cancelled: () => call.cancelled,
    onCancel: (listener) => {
      call.once('cancelled', listener);
      return () => call.off('cancelled', listener);
    },
    answer: (a) => {
      if ('refusal' in a) callback(grpcError(grpc.status[a.refusal], a.message));
      else callback(null, a.response.partialSuccess ? Buffer.from(codec.encodeResponse(a.response)) : emptyResponse);
    },
  };
}

/**
 * grpc-js's message decoder keeps the frames of the last message it read (slices of them: as many bytes as
 * the request) until its next message, which a unary call never gets: until the call is answered, which
 * with `acknowledge: delivered` is when the outputs wrote its records (see RequestBody). The request was
 * joined from them before the handler ran, so they are dropped here. Internal (`call.decoder`, as in
 * serveHttp2): should a grpc-js release rename it, those bytes are held until the answer again, and nothing
 * else changes.
 */
function forgetReceivedFrames(call: grpc.ServerUnaryCall<RequestBody, Raw>): void {
  const decoder = (call as unknown as { call?: { decoder?: { readPartialMessage?: unknown; readCompressFlag?: unknown } } }).call?.decoder;
  if (!decoder || !Array.isArray(decoder.readPartialMessage)) return;
  decoder.readPartialMessage = [];
  // A one-byte slice of a frame, which holds the whole frame.
  if (Buffer.isBuffer(decoder.readCompressFlag)) decoder.readCompressFlag = Buffer.from(decoder.readCompressFlag);
}

/** `ip:port`, `[ipv6]:port` as the other network inputs write it (grpc-js gives `::1:51508`). */
function peerName(call: grpc.ServerUnaryCall<RequestBody, Raw>): string | undefined {
  let peer: string;
  try {
    peer = call.getPeer().replace(/^ipv[46]:/, '');
  } catch {
    return undefined;
  }
  if (peer.startsWith('[')) return peer;
  const colon = peer.lastIndexOf(':');
  const port = Number(peer.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) return peer === 'unknown' ? undefined : peer;
  return peerOf(peer.slice(0, colon), port);
}

/** When the client gives up on the call (ms since the epoch), Infinity without a deadline. */
function deadlineOf(call: grpc.ServerUnaryCall<RequestBody, Raw>): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : Infinity;
}

/** One OTLP/HTTP request and its answer, over HTTP/1.1 or HTTP/2. */
interface HttpExchange {
  peer: string | undefined;
  method: string;
  /** The request's path, without its query. */
  path: string;
  header(name: 'content-type' | 'content-encoding' | 'content-length' | 'authorization' | 'user-agent'): string | undefined;
  /** The request body's chunks as they come. */
  body: AsyncIterable<Buffer>;
  /** The body was read to its end. */
  complete(): boolean;
  /** Reads the rest of the body and drops it, then calls `then`. */
  discardBody(then: () => void): void;
  /** Sends the answer; nothing once one was sent. With `close`, the body is not read further: the connection (HTTP/1.1) is closed after the answer; an HTTP/2 stream's is read and dropped (the connection is shared). Called once the body's reading stopped. */
  respond(status: number, headers: Record<string, string>, body: string | Buffer, close?: boolean): void;
  /**
   * Answers now, before the body was read whole, and reads the rest of it only to drop it: the connection
   * stays usable. (An HTTP/2 stream reset while its body still came in left that data counted against the
   * connection's flow-control window for good: ten such on one connection, and its next request hung.)
   */
  respondDiscarding(status: number, headers: Record<string, string>, body: string | Buffer): void;
  answered(): boolean;
  /** Calls `listener` once if the client goes before its answer is sent. */
  onGone(listener: () => void): void;
}

function http1Exchange(req: http.IncomingMessage, res: http.ServerResponse): HttpExchange {
  return {
    peer: peerOf(req.socket.remoteAddress, req.socket.remotePort),
    method: req.method ?? '',
    path: (req.url ?? '').split('?')[0]!,
    header: (name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    },
    // Not destroyed when the reading stops early (a refusal for room): the connection carries the answer.
    body: { [Symbol.asyncIterator]: () => req.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer> },
    complete: () => req.complete,
    discardBody: (then) => {
      req.on('end', then);
      req.resume();
    },
    respond: (status, headers, body, close) => {
      if (res.headersSent) return;
      res.writeHead(status, close ? { ...headers, connection: 'close' } : headers).end(body);
      if (close) req.socket.destroySoon();
    },
    respondDiscarding(status, headers, body) {
      this.respond(status, headers, body);
      req.resume();
    },
    answered: () => res.headersSent,
    onGone: (listener) => res.on('close', () => {
      if (!res.writableFinished) listener();
    }),
  };
}

/**
 * An HTTP/2 stream that grpc-js did not take (its content type is not gRPC's): OTLP/HTTP over HTTP/2, as Go
 * clients send it over TLS (the OpenTelemetry Collector's `otlphttp` exporter, Go SDKs; Fluent Bit's
 * `http2 force`), which negotiate HTTP/2 by ALPN.
 */
function http2Exchange(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): HttpExchange {
  const socket = stream.session?.socket;
  return {
    peer: socket ? peerOf(socket.remoteAddress, socket.remotePort) : undefined,
    method: String(headers[':method'] ?? ''),
    path: String(headers[':path'] ?? '').split('?')[0]!,
    header: (name) => {
      const v = headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    },
    // Not destroyed when the reading stops early (a body past the size limit): the stream carries the answer.
    body: { [Symbol.asyncIterator]: () => stream.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer> },
    complete: () => stream.readableEnded,
    discardBody: (then) => {
      stream.on('end', then);
      stream.resume();
    },
    respond: (status, responseHeaders, body, close) => {
      // Closed: its client reset it (RST_STREAM, NO_ERROR too), and Node destroys it only after its 'end';
      // respond() on it throws, which in an event listener (discardBody's) exited the daemon.
      if (stream.headersSent || stream.destroyed || stream.closed) return;
      stream.respond({ ':status': status, ...responseHeaders });
      stream.end(body);
      // The client may still be sending: what comes is read and dropped. It was reset (RST_STREAM NO_ERROR,
      // RFC 9113 8.1) once the answer was out: each such stream left the data it had in flight counted
      // against the connection's flow-control window for good (Node 20), and after ten 413s on one
      // connection its next request hung. (Clients that see the answer stop sending: Go's among them.)
      if (close) stream.resume();
    },
    respondDiscarding(status, headers, body) {
      this.respond(status, headers, body, true);
    },
    answered: () => stream.headersSent,
    // 'aborted': the stream ended (RST_STREAM from the client, its connection lost) before the answer did.
    // Not writableFinished at 'close', as for HTTP/1.1: an HTTP/2 stream reset by its client says true there,
    // and one answered in full says false (Node 20), so a client that gave up was never seen as gone.
    onGone: (listener) => {
      if (stream.aborted) queueMicrotask(listener);
      else stream.once('aborted', listener);
    },
  };
}

export class OtlpGrpcInput implements InputStage {
  private readonly config: OtlpGrpcConfig;
  private readonly tls: TlsMaterial | undefined;
  private readonly codec: LogsServiceCodec;
  private readonly expectedAuth: Buffer | undefined;
  private readonly emptyResponse: Buffer;
  private pendingEvents = 0;
  /** Bytes of the requests of `pendingEvents`, as received (max_pending_bytes, with `receivingBytes`). */
  private readonly pendingBytes: ByteBudget;
  /** Bytes of the requests being received (see Receipt): with pendingBytes, bounded by max_pending_bytes. */
  private receivingBytes = 0;
  /** The receipts of gRPC streams being received, by the id written in their headers (RECEIPT_KEY). */
  private readonly receipts = new Map<string, Receipt>();
  private lastReceipt = 0;
  private readonly inflight = new Set<Promise<void>>();
  /**
   * Accepted requests waiting for their turn to emit, first come first served: one request at a time waits
   * in the pipeline's emit (which cannot be called off), the others here, where a call whose client gave up
   * (cancelled, or its deadline passed) leaves the line without its records entering the pipeline.
   */
  private readonly line: Array<{ go: (turn: boolean) => void }> = [];
  private emitting = false;
  /** Requests accepted and not answered yet (oldest first), to judge whether a new one can be answered in time. */
  private readonly unanswered = new Map<object, { start: number; n: number }>();
  private unansweredEvents = 0;
  /** Smoothed time the pipeline took per record of this input, from the answered requests (ms). */
  private msPerRecord = 0;
  private lastAnswered = 0;
  /** How long the request answered last waited for its answer (ms). */
  private lastLatency = 0;
  private readonly bound = new Listening();

  /** Resolves with the bound address (the real port when configured with port 0). */
  get listening(): Promise<ListenAddress> {
    return this.bound.address;
  }

  /** The pipeline's start waits for this: a port that cannot be bound stops the daemon at start. */
  get ready(): Promise<ListenAddress> {
    return this.bound.address;
  }

  constructor(config: OtlpGrpcConfig, tls: TlsMaterial | undefined) {
    this.config = config;
    this.tls = tls;
    this.pendingBytes = new ByteBudget(config.max_pending_bytes);
    this.codec = logsServiceCodec();
    this.expectedAuth = config.bearer_token === undefined ? undefined : Buffer.from(config.bearer_token);
    this.emptyResponse = Buffer.from(this.codec.encodeResponse({}));
  }

  async run(ctx: InputContext): Promise<void> {
    ctx.metrics.declare('refused_requests_total');
    const problems = new ProblemLog(ctx.logger, ctx.signal);
    const server = new grpc.Server({
      'grpc.max_receive_message_length': this.config.max_receive_message_bytes,
      'grpc.max_send_message_length': 1024 * 1024,
      // Each open stream costs a call of grpc-js's (some 7 KB) before any of its request comes, and Node's
      // HTTP/2 server sets no limit of its own: one connection's streams are bounded here, max_connections
      // bounds the connections, max_pending_bytes what their requests hold.
      'grpc.max_concurrent_streams': this.config.max_concurrent_streams,
      // grpc-js closes no connection by itself: 5,000 silent TCP connections held 5,000 file descriptors and
      // some 100 MB (measured), never closed, counted or logged. An idle connection is asked to close after
      // idle_timeout (a GOAWAY: a client that honours it reconnects at its next export); one whose peer is
      // gone, or never answers, is destroyed when it misses a keepalive ping (keepalive is off by default).
      ...(this.config.idle_timeout > 0 ? { 'grpc.max_connection_idle_ms': this.config.idle_timeout } : {}),
      ...(this.config.keepalive_interval > 0 ? { 'grpc.keepalive_time_ms': this.config.keepalive_interval, 'grpc.keepalive_timeout_ms': Math.min(20_000, this.config.keepalive_interval) } : {}),
    });
    server.addService(LOGS_SERVICE, {
      Export: (call: grpc.ServerUnaryCall<RequestBody, Raw>, callback: grpc.sendUnaryData<Raw>) => {
        // Its bytes are export's to count from here (in the same turn: none goes uncounted between).
        const id = call.metadata.get(RECEIPT_KEY)[0];
        const receipt = typeof id === 'string' ? this.receipts.get(id) : undefined;
        forgetReceivedFrames(call);
        const request = grpcRequest(call, callback, this.codec, this.emptyResponse);
        if (receipt?.encoding && receipt.compressed) {
          void this.inflateGrpc(request, receipt, receipt.encoding, ctx, problems);
          return;
        }
        if (receipt) this.release(receipt);
        this.handle(request, ctx, problems);
      },
    });
    const credentials = this.tls
      ? grpc.ServerCredentials.createSsl(this.tls.ca ?? null, [{ private_key: this.tls.key, cert_chain: this.tls.cert }], this.tls.ca !== undefined)
      : grpc.ServerCredentials.createInsecure();
    // A connection still in its TLS handshake is no HTTP/2 session yet, so idle_timeout (grpc's
    // max_connection_idle) does not reach it: Node's own handshake limit (120 s) did. grpc-js builds its TLS
    // server from these options (it has no setting of its own for it); same limit as the syslog input's.
    const secureOptions = credentials._getConstructorOptions();
    if (secureOptions) secureOptions.handshakeTimeout = handshakeTimeout(this.config.idle_timeout);
    const { host } = this.config.address;
    // driftlock's own listener hands each connection to grpc-js (its connection injector), so that
    // max_connections can hold: grpc-js has no such limit, and every connection costs a descriptor and
    // HTTP/2 session memory. TLS, when on, is done by grpc-js on the connection it is handed.
    const injector = server.createConnectionInjector(credentials);
    const http1 = this.http1Server(ctx, problems);
    this.serveHttp2(server, ctx, problems);
    this.watchSessionErrors(server, ctx, problems);
    if (this.tls) this.watchTlsFailures(server, ctx, problems, http1);
    const sockets = new Set<net.Socket>();
    const listener = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      if (this.tls) injector.injectConnection(socket);
      else sniffHttp1(socket, handshakeTimeout(this.config.idle_timeout), (s) => injector.injectConnection(s), (s) => http1.emit('connection', s));
    });
    let boundPort: number;
    try {
      boundPort = await listenWithLimit(listener, { name: 'otlp_grpc', address: this.config.address, maxConnections: this.config.max_connections }, ctx, problems);
    } catch (err) {
      injector.destroy();
      server.forceShutdown();
      this.bound.reject(err as Error);
      throw err;
    }
    ctx.logger.info({ address: host, port: boundPort, tls: this.tls !== undefined }, `OTLP gRPC listening on ${formatAddress(host, boundPort)}`);
    this.bound.resolve({ host, port: boundPort });

    if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    // No new connections, and a GOAWAY on those open (tryShutdown): their clients send no new calls, and
    // each closes once its calls are answered. One that never sent a byte has no call: closed at once.
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
    const sessionsClosed = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    // Waited for: the calls whose request arrived whole (their handler runs; those still in line for the
    // pipeline were answered UNAVAILABLE at the abort), for shutdown_grace at most. Not waited for: a stream
    // whose request never arrived whole. tryShutdown alone waited for it too, until shutdown_grace (35 s,
    // past the daemon's 30 s shutdown timeout): one client that sent half a request made every stop and
    // reload take the whole shutdown timeout and end "drained: false".
    const handlersDone = (async () => {
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    })();
    await raceTimeout(handlersDone, this.config.shutdown_grace);
    // The answers just written get a moment to reach their clients; what is still open then (a stream with
    // half a request, a client that does not read) is cancelled.
    await raceTimeout(sessionsClosed, Math.min(ANSWER_FLUSH_MS, this.config.shutdown_grace));
    server.forceShutdown();
    injector.destroy();
    // What grpc-js did not close (a connection still in its TLS handshake is no session of its own yet).
    for (const socket of sockets) socket.destroy();
    await closed;
    // Calls that were answered still hold their emit; the input ends only after them.
    await Promise.allSettled([...this.inflight]);
  }

  /**
   * A connection that does not speak HTTP/2 once it is grpc-js's (bytes that are not the HTTP/2 preface, or
   * frames that are not HTTP/2) is closed by Node's HTTP/2 server with a GOAWAY; before, it was neither
   * counted nor logged. Counted in `errors_total` and logged now; a client that resets its connection is not
   * (it went away, as one that closes its connection in the middle of a request). grpc-js's HTTP/2 servers
   * are found as in watchTlsFailures.
   */
  private watchSessionErrors(server: grpc.Server, ctx: InputContext, problems: ProblemLog): void {
    for (const http2Server of grpcHttp2Servers(server)) {
      if (!(http2Server instanceof net.Server)) continue;
      // The peer is read at the start: at the error, the socket is closed and no longer says.
      const peers = new WeakMap<http2.ServerHttp2Session, string | undefined>();
      http2Server.on('session', (session: http2.ServerHttp2Session) => peers.set(session, peerOf(session.socket.remoteAddress, session.socket.remotePort)));
      http2Server.on('sessionError', (err: NodeJS.ErrnoException, session: http2.ServerHttp2Session) => {
        if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
        // The client ended its session with an error code in its GOAWAY (Node's client does when it is
        // destroyed with an error, its streams still open): it spoke HTTP/2 and went away, as one that resets
        // its connection. It was logged as not_http2 and counted.
        if (err.code === 'ERR_HTTP2_SESSION_ERROR') {
          ctx.logger.debug({ peer: peers.get(session), error: err.message }, 'an OTLP client closed its HTTP/2 connection with an error code');
          return;
        }
        ctx.metrics.add('errors_total');
        problems.report('not_http2', 'closing an OTLP connection that does not speak HTTP/2 (gRPC) or HTTP/1.1', { peer: peers.get(session), error: err.message });
      });
    }
  }

  /**
   * Failed TLS handshakes (plain text to a TLS port, no or a wrong client certificate with `ca_file`, a
   * handshake timeout) are counted in `errors_total` and logged, as the syslog input does. grpc-js keeps the
   * HTTP/2 server it made for the connection injector to itself: it is found among its `http2Servers`
   * (internal, as `_getConstructorOptions` above). Node's http2 server still closes the socket. Should a
   * grpc-js release rename that field, they go uncounted again, as before, and nothing else changes.
   */
  private watchTlsFailures(server: grpc.Server, ctx: InputContext, problems: ProblemLog, http1: http.Server): void {
    for (const http2Server of grpcHttp2Servers(server)) {
      if (!(http2Server instanceof tls.Server)) continue;
      // A TLS client that offered no protocol (ALPN) at all: Node's HTTP/2 server answered it 403 Forbidden,
      // with no word in the log; it is answered as an HTTP/1.1 client on the plain port is, and counted.
      http2Server.on('unknownProtocol', (socket: tls.TLSSocket) => http1.emit('connection', socket));
      http2Server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
        ctx.metrics.add('errors_total');
        const peer = peerOf(socket.remoteAddress, socket.remotePort);
        // One that offered protocols, none of them HTTP/2 (`http/1.1`): the handshake itself fails.
        if (/no application protocol/i.test(err.message)) problems.report('tls_no_http2', 'a TLS client that offers HTTP/1.1 and not HTTP/2 (ALPN) was refused: over TLS, OTLP/HTTP is served to clients that offer HTTP/2 or no ALPN protocol at all; use gRPC (Fluent Bit: `grpc on`), HTTP/2, or plain text', { peer });
        else problems.report('tls_handshake_failed', 'otlp_grpc TLS handshake failed', { peer, error: err.message });
      });
    }
  }

  /**
   * OTLP over HTTP/1.1 (`POST /v1/logs`, binary protobuf or JSON, optionally gzip), on the same port as gRPC,
   * as Fluent Bit's own `opentelemetry` input serves both: what Fluent Bit's `opentelemetry` output sends
   * without `grpc on` (its default), and OpenTelemetry SDKs and collectors set to `http/protobuf` or
   * `http/json`. A request takes the same path as a gRPC call (bearer token, limits, backpressure,
   * acknowledgement); refusals become the HTTP statuses the OTLP specification gives (503 with
   * `Retry-After` to retry, 400 not to), with a `google.rpc.Status` body.
   */
  private http1Server(ctx: InputContext, problems: ProblemLog): http.Server {
    // A keep-alive connection between requests is idle as a gRPC one is: closed after idle_timeout (0:
    // never), not Node's 5 s, which closed Fluent Bit's pooled connections under it between flushes.
    const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: this.config.idle_timeout }, (req, res) => {
      this.serveHttpExchange(http1Exchange(req, res), ctx, problems);
    });
    // A request Node's parser refuses (not HTTP/1.1, headers too large, too slow) is answered with a status
    // line when nothing was sent on the connection yet, as Node does without this listener, and counted and
    // logged (it was neither); a client that reset its connection is not.
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
        ctx.metrics.add('errors_total');
        problems.report('http_bad_request', `OTLP/HTTP request refused (${status}): not a request Node's HTTP/1.1 parser takes`, { peer: peerOf(socket.remoteAddress, socket.remotePort), error: err.code ?? err.message });
        if (socket.writable && socket.bytesWritten === 0) socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      }
      socket.destroy();
    });
    return server;
  }

  /**
   * OTLP/HTTP over HTTP/2, on grpc-js's own HTTP/2 sessions: a stream whose content type is not gRPC's is
   * answered by grpc-js with a bare 415; it is served here instead. grpc-js checks the content type in an
   * internal method (`_verifyContentType`, after it counted the stream for the idle timeout), which is
   * wrapped: should a grpc-js release rename it, such streams get grpc-js's 415 again, and nothing else changes.
   * So is the one that answers calls to other methods (`_respondWithError`); renamed, those calls go uncounted
   * and a client that resets one at once can stop the daemon again. `_verifyContentType` is also where gRPC
   * Export calls are admitted (admitGrpc): renamed, requests being received would go uncounted again.
   */
  private serveHttp2(server: grpc.Server, ctx: InputContext, problems: ProblemLog): void {
    type Verify = (this: unknown, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
    type RespondWithError = (this: unknown, err: Partial<grpc.StatusObject>, stream: http2.ServerHttp2Stream, ...rest: unknown[]) => void;
    const internal = server as unknown as { _verifyContentType?: Verify; _respondWithError?: RespondWithError };
    // A gRPC call to a method not served here (any path but LogsService/Export) is answered UNIMPLEMENTED by
    // grpc-js, in an internal method, a tick after its HEADERS were read. A RST_STREAM read with them has
    // closed the stream by then, and its respond() threw ERR_HTTP2_INVALID_STREAM, uncaught: one such call
    // made the daemon exit 70. A closed stream is not answered now; each such call is counted and logged.
    const respondWithError = internal._respondWithError;
    if (typeof respondWithError === 'function') {
      internal._respondWithError = function (err, stream, ...rest) {
        ctx.metrics.add('errors_total');
        const socket = stream.session?.socket;
        problems.report('grpc_unimplemented', `gRPC call refused: ${(err.details ?? 'not served').slice(0, 200)} (driftlock serves ${EXPORT_LOGS_PATH})`, { peer: socket ? peerOf(socket.remoteAddress, socket.remotePort) : undefined });
        if (stream.destroyed || stream.closed) return;
        respondWithError.call(this, err, stream, ...rest);
      };
    }
    const verify = internal._verifyContentType;
    if (typeof verify !== 'function') return;
    const serve = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.serveHttpExchange(http2Exchange(stream, headers), ctx, problems);
    const admit = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.admitGrpc(stream, headers, ctx, problems);
    internal._verifyContentType = function (stream, headers) {
      const type = headers['content-type'];
      if (typeof type === 'string' && type.startsWith('application/grpc')) return verify.call(this, stream, headers) && admit(stream, headers);
      serve(stream, headers);
      return false;
    };
  }

  /**
   * A gRPC Export call is admitted before grpc-js reads its request, which it gathers whole in memory before
   * the handler runs (and export can count it): refused at once with `UNAVAILABLE` when the budget is spent,
   * and when its message's length prefix arrives (the first 5 bytes), if that does not fit beside the bytes
   * being received and waiting. Refused, the stream is answered and reset, so its client stops sending and
   * nothing of it is kept. Before, every request was received whole first: 300 clients sending 1 MB each,
   * over and over, held 390 MB of request bytes in grpc-js and an RSS of 570 MB, whatever max_pending_bytes.
   * Calls to other methods are left to grpc-js (UNIMPLEMENTED, their bodies not read).
   */
  private admitGrpc(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ctx: InputContext, problems: ProblemLog): boolean {
    if (headers[':path'] !== EXPORT_LOGS_PATH) return true;
    const peer = () => peerOf(stream.session?.socket?.remoteAddress, stream.session?.socket?.remotePort);
    if (this.full()) {
      refuseGrpcStream(stream, grpc.status.UNAVAILABLE, this.refusedForRoom(ctx, problems, peer()));
      return false;
    }
    const receipt: Receipt = { bytes: 0, released: false, id: String(++this.lastReceipt) };
    if (!this.reserve(receipt, CALL_BYTES)) {
      refuseGrpcStream(stream, grpc.status.UNAVAILABLE, this.refusedForRoom(ctx, problems, peer()));
      return false;
    }
    this.receipts.set(receipt.id!, receipt);
    headers[RECEIPT_KEY] = receipt.id;
    // A compressed message is inflated by the handler (inflateGrpc), each byte it makes counted: grpc-js
    // inflates it out of sight, so a request counted at its compressed size (its length prefix) could make
    // up to max_receive_message_bytes once inflated. Without its grpc-encoding, grpc-js hands it on as it came.
    const encoding = String(headers['grpc-encoding'] ?? '').toLowerCase();
    if (encoding === 'gzip' || encoding === 'deflate') {
      receipt.encoding = encoding;
      delete headers['grpc-encoding'];
    }
    const prefix = Buffer.alloc(5);
    let received = 0;
    const onData = (chunk: Buffer) => {
      if (received < 5) chunk.copy(prefix, received, 0, 5 - received);
      received += chunk.length;
      if (received < 5) return;
      stream.off('data', onData);
      receipt.compressed = prefix[0] === 1;
      if (this.reserve(receipt, CALL_BYTES + 5 + prefix.readUInt32BE(1))) return;
      this.release(receipt);
      refuseGrpcStream(stream, grpc.status.UNAVAILABLE, this.refusedForRoom(ctx, problems, peer()));
    };
    // Before grpc-js's own listener (it is added after this returns), which pauses the stream until it reads.
    stream.on('data', onData);
    stream.once('close', () => this.release(receipt));
    return true;
  }

  /** The pipeline is full: max_pending_events, or max_pending_bytes, wait for it. */
  private pipelineFull(): boolean {
    return this.pendingEvents >= this.config.max_pending_events || this.pendingBytes.spent;
  }

  /** Nothing more may be taken now: max_pending_events wait, or max_pending_bytes are being received or wait. */
  private full(): boolean {
    return this.pendingEvents >= this.config.max_pending_events || this.receivingBytes + this.pendingBytes.used >= this.pendingBytes.max;
  }

  /**
   * Reserves bytes for a request being received, up to `total` in all; false, with nothing more reserved,
   * when they do not fit in max_pending_bytes beside the bytes of the other requests being received and
   * waiting. When nothing else is held, a request is taken whatever its size (max_receive_message_bytes
   * bounds it).
   */
  private reserve(receipt: Receipt, total: number): boolean {
    const more = total - receipt.bytes;
    if (more <= 0) return true;
    const others = this.receivingBytes + this.pendingBytes.used - receipt.bytes;
    if (others > 0 && others + total > this.pendingBytes.max) return false;
    this.receivingBytes += more;
    receipt.bytes = total;
    return true;
  }

  /**
   * Inflates a gRPC request its client compressed (see admitGrpc), then hands it to export. What it makes is
   * counted as it comes, beside its compressed bytes: past max_pending_bytes (beside the other requests) it
   * is refused UNAVAILABLE, past max_receive_message_bytes RESOURCE_EXHAUSTED (as grpc-js did), and bytes
   * that do not inflate get INTERNAL (as grpc-js did); the last two are counted in errors_total and logged.
   */
  private async inflateGrpc(request: ExportRequest, receipt: Receipt, encoding: Compression, ctx: InputContext, problems: ProblemLog): Promise<void> {
    const limit = this.config.max_receive_message_bytes;
    const received = receipt.bytes;
    try {
      const inflated = await inflate(request.body.bytes, encoding, limit, (bytes) => this.reserve(receipt, received + bytes));
      if ('bytes' in inflated) {
        request.body.bytes = inflated.bytes;
        this.release(receipt);
        this.handle(request, ctx, problems);
      } else if ('invalid' in inflated) {
        ctx.metrics.add('errors_total');
        problems.report('bad_compression', `OTLP request refused: its ${encoding} bytes do not inflate`, { peer: request.peer, error: inflated.invalid });
        request.answer({ refusal: 'INTERNAL', message: 'Failed to decompress message' });
      } else if (inflated.refused === 'no_room') {
        request.answer({ refusal: 'UNAVAILABLE', message: this.refusedForRoom(ctx, problems, request.peer) });
      } else {
        ctx.metrics.add('errors_total');
        problems.report('too_large', 'OTLP request refused: larger than max_receive_message_bytes once inflated', { peer: request.peer, limit });
        request.answer({ refusal: 'RESOURCE_EXHAUSTED', message: `Received message that decompresses to a size larger than ${limit}` });
      }
    } finally {
      this.release(receipt);
    }
  }

  /** Gives back what a request being received reserved (once). */
  private release(receipt: Receipt): void {
    if (receipt.released) return;
    receipt.released = true;
    this.receivingBytes -= receipt.bytes;
    if (receipt.id !== undefined) this.receipts.delete(receipt.id);
  }

  /**
   * Counts and logs a request refused for want of room: the pipeline is full (max_pending_events or
   * max_pending_bytes wait), or the requests being received and waiting leave none. Returns what to tell its client.
   */
  private refusedForRoom(ctx: InputContext, problems: ProblemLog, peer: string | undefined): string {
    ctx.metrics.add('refused_requests_total');
    const fields = { peer, pending_events: this.pendingEvents, pending_bytes: this.pendingBytes.used, receiving_bytes: this.receivingBytes };
    if (this.pipelineFull()) {
      problems.report('pipeline_full', 'pipeline is full: refusing OTLP requests with UNAVAILABLE until it drains', fields);
      return PIPELINE_FULL_MESSAGE;
    }
    problems.report('too_many_bytes', 'OTLP requests being received and waiting reached max_pending_bytes: refusing new ones with UNAVAILABLE before reading them', fields);
    return BUSY_MESSAGE;
  }

  private serveHttpExchange(x: HttpExchange, ctx: InputContext, problems: ProblemLog): void {
    this.serveHttp(x, ctx, problems).catch((err: unknown) => {
      ctx.metrics.add('errors_total');
      ctx.logger.error({ err }, 'OTLP/HTTP request failed');
      x.respond(500, {}, '');
    });
  }

  private async serveHttp(x: HttpExchange, ctx: InputContext, problems: ProblemLog): Promise<void> {
    const { peer, path } = x;
    // An answer before the body was read: the rest is read and dropped first (`drain`), so that the client
    // is not cut off (a reset) while it still sends; a body past the size limit is not, and its connection
    // (HTTP/2: its stream) is closed.
    const refuseHttp = (status: number, problem: string, message: string, headers: Record<string, string> = {}, drain = true) => {
      ctx.metrics.add('errors_total');
      problems.report(problem, `OTLP/HTTP request refused (${status}): ${message}`, { peer, method: shownClientText(x.method, 20), path: shownClientText(path), content_type: shownClientText(x.header('content-type')), user_agent: shownClientText(x.header('user-agent')) });
      const reply = () => x.respond(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }, `driftlock: ${message}\n`, !drain);
      if (x.complete() || !drain) reply();
      else x.discardBody(reply);
    };
    if (path !== OTLP_HTTP_LOGS_PATH) {
      return refuseHttp(404, 'http_not_found', `OTLP/HTTP logs are received at POST ${OTLP_HTTP_LOGS_PATH}; ${shownClientText(path)} is not served (driftlock takes logs, not traces or metrics; Fluent Bit before 5.0 posts to / unless its opentelemetry output sets \`logs_uri /v1/logs\`)`);
    }
    if (x.method !== 'POST') return refuseHttp(405, 'http_bad_method', `send logs with POST, not ${shownClientText(x.method, 20)}`, { allow: 'POST' });
    const type = String(x.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== PROTOBUF_TYPE && type !== JSON_TYPE) {
      return refuseHttp(415, 'http_bad_content_type', `Content-Type must be ${PROTOBUF_TYPE} or ${JSON_TYPE}, not "${shownClientText(type)}"`);
    }
    const encoding = String(x.header('content-encoding') ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') return refuseHttp(415, 'http_bad_content_encoding', `Content-Encoding ${shownClientText(encoding, 40)} is not supported (gzip is)`);

    const json = type === JSON_TYPE;
    /** A refusal in the request's own encoding: a google.rpc.Status, 503 with Retry-After to retry. */
    const refusal = (why: Refusal, message: string) => {
      const code = grpc.status[why];
      const body = json ? JSON.stringify({ code, message }) : encodeRpcStatus(code, message);
      return { status: HTTP_STATUS[why], headers: { 'content-type': type, ...(why === 'UNAVAILABLE' ? { 'retry-after': '1' } : {}) }, body };
    };
    // No room (see admitGrpc): refused as export refuses when the pipeline is full, before the body is read,
    // or once one without a Content-Length outgrows the room; what still comes of it is dropped.
    const busy = () => {
      const { status, headers, body } = refusal('UNAVAILABLE', this.refusedForRoom(ctx, problems, peer));
      x.respondDiscarding(status, headers, body);
    };
    if (this.full()) return busy();
    const receipt: Receipt = { bytes: 0, released: false };
    try {
      const declared = Number(x.header('content-length'));
      if (!this.reserve(receipt, CALL_BYTES + (declared > 0 ? declared : 0))) return busy();
      const limit = this.config.max_receive_message_bytes;
      const tooLarge = () => refuseHttp(413, 'http_too_large', `request larger than ${limit} bytes (max_receive_message_bytes)`, {}, false);
      const chunks: Buffer[] = [];
      let size = 0;
      let refused: (() => void) | undefined;
      try {
        for await (const chunk of x.body) {
          size += chunk.length;
          if (size > limit) refused = tooLarge;
          else if (!this.reserve(receipt, CALL_BYTES + size)) refused = busy;
          if (refused) break;
          chunks.push(chunk);
        }
      } catch {
        return; // the client went away while it sent its request: nothing was taken
      }
      // Answered once the reading has stopped: an HTTP/2 stream's rest can be read (and dropped) only then.
      if (refused) return refused();
      let body: Buffer = Buffer.concat(chunks, size);
      if (encoding === 'gzip') {
        // What it inflates to is counted as it comes, beside its compressed bytes (see inflateGrpc).
        const inflated = await inflate(body, 'gzip', limit, (bytes) => this.reserve(receipt, CALL_BYTES + size + bytes));
        if ('invalid' in inflated) return refuseHttp(400, 'http_bad_gzip', `the body is not valid gzip: ${inflated.invalid}`);
        if ('refused' in inflated) return inflated.refused === 'too_large' ? tooLarge() : busy();
        body = inflated.bytes;
      }
      let bytes = body;
      let invalidUtf8 = false;
      if (json) {
        invalidUtf8 = !isUtf8(body);
        try {
          bytes = Buffer.from(this.codec.encodeJsonRequest(JSON.parse(body.toString('utf8'))));
        } catch (err) {
          return refuseHttp(400, 'invalid_json', `not a valid OTLP/JSON ExportLogsServiceRequest: ${withoutSource((err as Error).message).slice(0, 200)}`);
        }
      }

      let gone = false;
      const onGone = new Set<() => void>();
      x.onGone(() => {
        gone = true;
        for (const listener of onGone) listener();
      });
      // Its bytes are export's to count from here (in the same turn: none goes uncounted between).
      this.release(receipt);
      this.handle({
        peer,
        authorization: x.header('authorization'),
        body: { bytes },
        invalidUtf8,
        deadline: Infinity,
        cancelled: () => gone,
        onCancel: (listener) => {
          onGone.add(listener);
          return () => onGone.delete(listener);
        },
        // Answered in the request's own encoding.
        answer: (a) => {
          if (gone) return;
          if ('refusal' in a) {
            const { status, headers, body: reason } = refusal(a.refusal, a.message);
            x.respond(status, headers, reason);
            return;
          }
          const answer = json ? JSON.stringify(responseJson(a.response)) : Buffer.from(this.codec.encodeResponse(a.response));
          x.respond(200, { 'content-type': type }, answer);
        },
      }, ctx, problems);
    } finally {
      this.release(receipt);
    }
  }

  /** Runs one Export request; what goes wrong unexpectedly is answered INTERNAL, counted and logged. */
  private handle(request: ExportRequest, ctx: InputContext, problems: ProblemLog): void {
    const done = this.export(request, ctx, problems).catch((err: unknown) => {
      ctx.metrics.add('errors_total');
      ctx.logger.error({ err }, 'OTLP export failed');
      request.answer({ refusal: 'INTERNAL', message: 'internal error' });
    });
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  private authorized(request: ExportRequest): boolean {
    if (!this.expectedAuth) return true;
    const value = request.authorization;
    if (value === undefined) return false;
    // The scheme is case-insensitive (RFC 9110: `bearer`, `BEARER`), the token compared in constant time.
    const m = /^bearer +(.*)$/i.exec(value);
    if (!m) return false;
    const given = Buffer.from(m[1]!);
    return given.length === this.expectedAuth.length && timingSafeEqual(given, this.expectedAuth);
  }

  private async export(request: ExportRequest, ctx: InputContext, problems: ProblemLog): Promise<void> {
    const { peer } = request;
    const refuse = (refusal: Refusal, message: string) => request.answer({ refusal, message });
    if (!this.authorized(request)) {
      ctx.metrics.add('errors_total');
      problems.report('unauthenticated', 'OTLP request without the expected bearer token', { peer });
      refuse('UNAUTHENTICATED', 'missing or wrong bearer token');
      return;
    }
    if (ctx.signal.aborted) {
      refuse('UNAVAILABLE', 'driftlock is shutting down; retry later');
      return;
    }
    // Full already: answer before decoding anything (decoding is where a request costs memory).
    if (this.pipelineFull()) {
      refuse('UNAVAILABLE', this.refusedForRoom(ctx, problems, peer));
      return;
    }
    let events;
    let invalidUtf8 = request.invalidUtf8 === true;
    try {
      // Counted on the wire first: decoded, 4 MiB of empty records are two million objects (hundreds of MB).
      const counted = this.codec.countRecords(request.body.bytes);
      if (counted > this.config.max_records_per_request) {
        ctx.metrics.add('rejected_events_total', counted);
        problems.report('too_many_records', 'OTLP request refused: more log records than max_records_per_request', { peer, records: counted });
        refuse('INVALID_ARGUMENT', `${counted} log records in one request; at most ${this.config.max_records_per_request} are accepted`);
        return;
      }
      // A request that cannot be answered before its deadline is refused now: taken, it would be written
      // after its client gave up and sent it again (duplicates, and more load on a pipeline already behind).
      const expected = this.expectedWait(counted);
      const left = request.deadline - Date.now();
      if (expected > left) {
        ctx.metrics.add('refused_requests_total');
        problems.report('too_slow', 'pipeline too slow to answer OTLP requests before their deadline: refusing them with UNAVAILABLE until it catches up', { peer, expected_ms: Math.round(expected), deadline_ms: Math.round(left) });
        refuse('UNAVAILABLE', `driftlock cannot answer within this call's deadline (${Math.round(left)} ms; about ${Math.round(expected)} ms needed); retry later`);
        return;
      }
      // Straight from the wire to events (wire.ts); what that decoder leaves (bytes that are not a valid
      // request, invalid UTF-8, values nested too deep...) goes through protobufjs and mapping.ts.
      events = decodeEvents(request.body.bytes, ctx.id, peer);
      if (!events) {
        let decoded;
        try {
          decoded = this.codec.decodeRequest(request.body.bytes);
        } catch (err) {
          // Invalid UTF-8 in a string: decoded again with the bad bytes replaced, and the records that hold
          // them marked (as the line inputs mark theirs), rather than refusing every record of the request.
          if (!/utf-?8/i.test((err as Error).message)) throw err;
          decoded = this.codec.decodeRequestLenient(request.body.bytes);
          invalidUtf8 = true;
        }
        events = requestToEvents(decoded, ctx.id, peer);
      }
      const records = events.length;
      if (records > this.config.max_records_per_request) {
        ctx.metrics.add('rejected_events_total', records);
        problems.report('too_many_records', 'OTLP request refused: more log records than max_records_per_request', { peer, records });
        refuse('INVALID_ARGUMENT', `${records} log records in one request; at most ${this.config.max_records_per_request} are accepted`);
        return;
      }
      if (invalidUtf8) {
        let marked = 0;
        for (const e of events) {
          // Every string of the record counts: its resource (service.name...) and severity text too.
          if (hasReplacement(e.body) || hasReplacement(e.attributes) || hasReplacement(e.resource) || hasReplacement(e.severityText)) {
            e.attributes['log.invalid_utf8'] = true;
            marked += 1;
          }
        }
        ctx.metrics.add('malformed_events_total', marked);
        problems.report('invalid_utf8', 'OTLP request with invalid UTF-8 in strings: replaced with U+FFFD, records marked log.invalid_utf8', { peer, records: marked });
      }
    } catch (err) {
      ctx.metrics.add('errors_total');
      problems.report('invalid_protobuf', 'OTLP request is not a valid ExportLogsServiceRequest', { peer, bytes: request.body.bytes.length, error: (err as Error).message });
      refuse('INVALID_ARGUMENT', `not a valid ExportLogsServiceRequest: ${(err as Error).message}`);
      return;
    }
    // Counted as received (max_pending_bytes) while the request waits for the pipeline; not held after that.
    const bytes = request.body.bytes.length;
    request.body.bytes = NO_BYTES;
    const n = events.length;
    if (n === 0) {
      request.answer({ response: {} });
      return;
    }
    if (this.pendingEvents > 0 && (this.pendingEvents + n > this.config.max_pending_events || !this.pendingBytes.fits(bytes))) {
      ctx.metrics.add('refused_requests_total');
      problems.report('pipeline_full', 'pipeline is full: refusing OTLP requests with UNAVAILABLE until it drains', { peer, pending_events: this.pendingEvents, pending_bytes: this.pendingBytes.used, receiving_bytes: this.receivingBytes });
      refuse('UNAVAILABLE', PIPELINE_FULL_MESSAGE);
      return;
    }
    this.pendingEvents += n;
    this.pendingBytes.take(bytes);
    const key = {};
    this.unanswered.set(key, { start: Date.now(), n });
    this.unansweredEvents += n;
    const turn = await this.waitForTurn(request, ctx);
    if (!turn || request.cancelled() || Date.now() >= request.deadline) {
      // The client is gone (or will not read the answer): its records never entered the pipeline, so its
      // retry is no duplicate. At a stop, requests still in line are answered UNAVAILABLE instead.
      this.pendingEvents -= n;
      this.pendingBytes.give(bytes);
      if (turn) this.nextTurn();
      this.answered(key, false);
      ctx.metrics.add('refused_requests_total');
      if (ctx.signal.aborted && !request.cancelled()) refuse('UNAVAILABLE', 'driftlock is shutting down; retry later');
      else problems.report('client_gave_up', 'OTLP client gave up (cancelled, or its deadline passed) while its request waited for a full pipeline: its records were not taken', { peer, records: n });
      return;
    }
    ctx.metrics.add('received_events_total', n);
    let ackStatus: AckStatus | undefined;
    let onAcked: ((status: AckStatus) => void) | undefined;
    const acked = new Promise<AckStatus>((resolve) => (onAcked = resolve));
    let status: AckStatus;
    try {
      try {
        await ctx.emit(events, (s) => {
          ackStatus = s;
          onAcked!(s);
        });
      } finally {
        this.pendingEvents -= n;
        this.pendingBytes.give(bytes);
        this.nextTurn();
      }
      status = this.config.acknowledge === 'delivered' ? await acked : ackStatus ?? 'delivered';
    } finally {
      this.answered(key, true);
    }
    // Abandoned: the daemon stopped before the records were written; the client should send them again.
    if (status === 'abandoned') return refuse('UNAVAILABLE', 'driftlock stopped before these records were written; retry');
    request.answer({ response: this.respond(status, n) });
  }

  /**
   * Resolves true when this request may emit: at once when nobody is emitting, else in arrival order once
   * the requests before it are in the pipeline. Resolves false if its call ends first (the client cancelled,
   * its deadline passed) or the input stops.
   */
  private waitForTurn(request: ExportRequest, ctx: InputContext): Promise<boolean> {
    if (!this.emitting && this.line.length === 0) {
      this.emitting = true;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const deadline = request.deadline;
      let timer: NodeJS.Timeout | undefined;
      let stopListening = () => undefined as void;
      const entry = {
        go: (turn: boolean) => {
          stopListening();
          ctx.signal.removeEventListener('abort', leave);
          if (timer) clearTimeout(timer);
          resolve(turn);
        },
      };
      const leave = () => {
        const at = this.line.indexOf(entry);
        if (at < 0) return;
        this.line.splice(at, 1);
        entry.go(false);
      };
      this.line.push(entry);
      stopListening = request.onCancel(leave);
      ctx.signal.addEventListener('abort', leave, { once: true });
      // grpc-js cancels a call at its deadline too; this is in case it has not yet when the turn comes.
      if (deadline !== Infinity) timer = setTimeout(leave, Math.max(0, deadline - Date.now()));
    });
  }

  /** The request emitting is in the pipeline: the next one in line goes. */
  private nextTurn(): void {
    const next = this.line.shift();
    if (next) next.go(true);
    else this.emitting = false;
  }

  /** A request is answered (or left the line): how long the pipeline took for it feeds the estimate of the next wait. */
  private answered(key: object, measured: boolean): void {
    const entry = this.unanswered.get(key);
    if (!entry) return;
    this.unanswered.delete(key);
    this.unansweredEvents -= entry.n;
    if (!measured) return;
    const now = Date.now();
    // The time the pipeline spent on this request's records alone: since it came in, or since the one
    // answered before it, whichever is later.
    const sample = (now - Math.max(entry.start, this.lastAnswered)) / entry.n;
    this.msPerRecord = this.lastAnswered === 0 ? sample : 0.8 * this.msPerRecord + 0.2 * sample;
    this.lastAnswered = now;
    this.lastLatency = now - entry.start;
  }

  /**
   * How long a request of `n` records would wait for its answer now (ms), from what this input saw: at least
   * as long as its oldest unanswered request has waited so far; when requests are unanswered, what they and
   * this one take at the measured pace; and the wait of the request answered last, less the time since (an
   * output may have answered once its records were in its queue, which still has them to work off). With
   * nothing unanswered and the last answer old enough, nothing: the estimate cannot go stale and refuse for ever.
   */
  private expectedWait(n: number): number {
    const now = Date.now();
    const sinceLast = this.lastLatency - (now - this.lastAnswered);
    const oldest = this.unanswered.values().next();
    if (oldest.done) return Math.max(0, sinceLast);
    return Math.max(now - oldest.value.start, (this.unansweredEvents + n) * this.msPerRecord, sinceLast);
  }

  private respond(status: AckStatus, n: number): ExportLogsServiceResponse {
    if (status === 'delivered') return {};
    return {
      partialSuccess: {
        rejectedLogRecords: n,
        errorMessage: status === 'dropped'
          ? 'driftlock dropped these records: a buffer is full and set to when_full: drop_newest, or a transform failed on them and is set to on_error: drop (see the daemon log)'
          : 'driftlock rejected these records: an output refused them for good (see the daemon log)',
      },
    };
  }
}



const OTLP_HTTP_LOGS_PATH = '/v1/logs';
const PROTOBUF_TYPE = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

/** The compressions a request may come in: gzip (gRPC and OTLP/HTTP), deflate (gRPC). */
type Compression = 'gzip' | 'deflate';

type Inflated = { bytes: Buffer } | { refused: 'too_large' | 'no_room' } | { invalid: string };

/**
 * Inflates a compressed request, `limit` bytes at most, asking `room(bytes)` as it grows whether that many
 * inflated bytes may be held (max_pending_bytes): a request of 40 KB can inflate to megabytes.
 */
function inflate(compressed: Buffer, encoding: Compression, limit: number, room: (bytes: number) => boolean): Promise<Inflated> {
  return new Promise((resolve) => {
    const z = encoding === 'gzip' ? zlib.createGunzip() : zlib.createInflate();
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: Inflated) => {
      if (settled) return;
      settled = true;
      if (!('bytes' in result)) z.destroy();
      resolve(result);
    };
    z.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) settle({ refused: 'too_large' });
      else if (!room(size)) settle({ refused: 'no_room' });
      else parts.push(chunk);
    });
    z.on('error', (err) => settle({ invalid: err.message }));
    z.on('end', () => settle({ bytes: Buffer.concat(parts, size) }));
    z.end(compressed);
  });
}

/** OTLP/HTTP's status for each refusal: 503 (with Retry-After) is retried by clients, 400 and 401 are not. */
const HTTP_STATUS: Record<Refusal, number> = { UNAUTHENTICATED: 401, UNAVAILABLE: 503, INVALID_ARGUMENT: 400, RESOURCE_EXHAUSTED: 413, INTERNAL: 500 };

/** A `google.rpc.Status` (code = 1, message = 2), the body OTLP/HTTP gives a refusal. */
function encodeRpcStatus(code: number, message: string): Buffer {
  return Buffer.from(protobuf.Writer.create().uint32((1 << 3) | 0).int32(code).uint32((2 << 3) | 2).string(message).finish());
}

/** The response in OTLP/JSON: int64 as a string, as the protobuf JSON mapping writes it. */
function responseJson(response: ExportLogsServiceResponse): Record<string, unknown> {
  const p = response.partialSuccess;
  return p ? { partialSuccess: { rejectedLogRecords: String(p.rejectedLogRecords), errorMessage: p.errorMessage } } : {};
}

const HTTP2_PREFACE = 'PRI * HTTP/2.0';

/**
 * Hands a new connection to gRPC, or to `http1` if its first bytes are an HTTP/1.x request line (a method
 * and a space; HTTP/2's preface starts with `PRI *`). The bytes read to decide are put back first. A client
 * that sends nothing within `waitMs` goes to gRPC as it is (gRPC's idle and keepalive rules apply to it).
 * Clients of both protocols speak first, at once; the wait is for a client that is slow to (a busy process:
 * an SDK in an application whose event loop is held). It is a TLS client's handshake limit (10 s, or
 * idle_timeout when shorter). It was 250 ms: an HTTP/1.1 client that sent its request 300 ms after it
 * connected was handed to gRPC and read an HTTP/2 GOAWAY, its request lost.
 */
function sniffHttp1(socket: net.Socket, waitMs: number, grpcSide: (socket: net.Socket) => void, http1: (socket: net.Socket) => void): void {
  // Until its new owner listens, an error (a reset) must not go unheard: that would crash the daemon.
  const ignore = () => undefined;
  let late: NodeJS.Immediate | undefined;
  const stopWaiting = () => {
    clearTimeout(timer);
    clearImmediate(late);
  };
  const handOver = () => {
    stopWaiting();
    socket.off('data', first);
    socket.off('close', stopWaiting);
    socket.off('error', ignore);
  };
  const first = (chunk: Buffer) => {
    handOver();
    socket.pause();
    socket.unshift(chunk);
    const head = chunk.toString('latin1', 0, 16);
    if (/^[A-Z]{3,10} /.test(head) && !HTTP2_PREFACE.startsWith(head.slice(0, Math.min(head.length, HTTP2_PREFACE.length)))) {
      http1(socket);
      socket.resume();
    } else grpcSide(socket);
  };
  // The wait ends after the loop has read its sockets once more (an immediate runs after that): when this
  // process was busy past the wait (a large request decoded, a batch encoded), its timers come due before it
  // reads again, and a request that had come meanwhile was handed to gRPC unread. Its client, speaking
  // HTTP/1.1, got an HTTP/2 GOAWAY, and the request was lost.
  const timer = setTimeout(() => {
    late = setImmediate(() => {
      handOver();
      socket.pause();
      grpcSide(socket);
    });
  }, waitMs);
  socket.once('data', first);
  socket.once('close', stopWaiting);
  socket.on('error', ignore);
}

/** The HTTP/2 servers grpc-js made for its connection injector (internal: none if a release renames the field). */
function grpcHttp2Servers(server: grpc.Server): unknown[] {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  return servers instanceof Map ? [...(servers.keys() as IterableIterator<unknown>)] : [];
}

/** Waits for `promise`, `ms` at most. */
async function raceTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Whether a decoded value holds U+FFFD anywhere (a string, or a string inside a map or list). */
function hasReplacement(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\uFFFD');
  if (Array.isArray(v)) return v.some(hasReplacement);
  if (v !== null && typeof v === 'object') return Object.values(v).some(hasReplacement);
  return false;
}

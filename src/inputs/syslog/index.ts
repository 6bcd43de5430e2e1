/**
 * `syslog`: receives syslog messages over UDP, TCP or TLS (rsyslog, syslog-ng, `logger`, network devices).
 *
 * - UDP: one message per datagram. UDP cannot slow a sender down, so while the pipeline is full up to
 *   `max_pending_events` messages, and `max_pending_bytes` of them, wait; beyond that new datagrams are
 *   dropped and counted (`discarded_events_total`).
 * - TCP and TLS: RFC 6587 octet counting or newline framing, detected per frame (see `framing.ts`). Each
 *   connection is read only as fast as the pipeline takes its events, so a full pipeline slows the senders (TCP
 *   flow control) instead of growing memory; and what all connections hold for the pipeline (bytes read, a
 *   frame half received included, until their messages are handed on) is bounded by `max_pending_bytes`: past
 *   it no connection is read until the pipeline takes some (ReadBudget in `../byte-budget.ts`), so many
 *   senders of large messages cannot hold `max_connections` times `max_message_bytes` between them. At most
 *   `max_connections` at once (more are refused and counted); a connection silent for `idle_timeout` is closed.
 *
 * Whatever arrives is counted and logged (rate-limited), never fatal: garbage becomes events marked
 * `parse.error`/`log.invalid_utf8`, over-long frames are cut (`log.truncated`), a frame cut short by a
 * disconnect is passed on marked `log.truncated`, an octet count above `max_message_bytes` whose message has
 * a line end and then the next frame before that is no count (`bad_octet_count`, see `framing.ts`).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { z } from 'zod';
import { byteSize, duration } from '../../config/schema.js';
import { defineInput, type InputContext, type InputStage } from '../../engine/component.js';
import type { LogEvent } from '../../engine/event.js';
import { formatAddress, listenAddress, listenFailure, peerOf, type ListenAddress } from '../net/address.js';
import { Listening } from '../net/listening.js';
import { ByteBudget, ReadBudget, type Reader } from '../byte-budget.js';
import { syslogEvent } from './event.js';
import { SyslogFramer } from './framing.js';
import { ProblemLog } from '../net/problems.js';
import { serveStream, type ConnectionChunks } from '../net/stream-server.js';
import { loadTls, tlsConfig, type TlsMaterial } from '../net/tls.js';

export const syslogConfig = z
  .object({
    mode: z.enum(['udp', 'tcp', 'tls']).default('tcp').describe('Transport: `udp` (one message per datagram), `tcp` or `tls` (octet-counted or newline-framed, detected per frame).'),
    parse_header: z.boolean().default(true).describe('Read each message\'s syslog header (PRI, time, host, app name) into `syslog.*` attributes; a message without one is kept with `parse.error` and counted malformed. `false`: the message is the body as sent, for templates that send none (rsyslog\'s JSON): parse it with a `parse` transform.'),
    framing: z.enum(['auto', 'octet_counting', 'newline']).default('auto').describe('How `tcp` and `tls` tell messages apart: `auto` detects it per frame (`LEN SP` followed by `<`, the PRI, is a count; anything else is a line); `octet_counting` takes every `LEN SP` as a count, for senders whose messages do not start with a PRI (rsyslog with a JSON or file-format template); `newline` only ends messages at LF or NUL, for lines that start with a number and a space.'),
    address: listenAddress('127.0.0.1:5514').describe('`host:port` to listen on (`0.0.0.0:514` for every interface; ports below 1024 need privileges; port 0 picks a free port and logs it).'),
    max_message_bytes: byteSize().prefault('64KiB').describe('Longer messages are cut to this size and marked `log.truncated`; the rest of the frame is skipped. An octet count above it is no count when, within this much of its message, an LF or NUL is followed by `<` or a digit (the next frame) or ends the connection: the message is read as a line (counted in `errors_total`, logged as `bad_octet_count`), so a bogus count does not make the messages after it its body.'),
    max_connections: z.number().int().min(1).default(1000).describe('TCP/TLS connections open at once; more are refused (counted in `errors_total`).'),
    idle_timeout: duration().prefault('5m').describe('Close a TCP/TLS connection that sent nothing for this long; `0` never closes idle connections. A TLS handshake must finish within 10 s, or this when shorter.'),
    max_pending_events: z.number().int().min(1).default(10_000).describe('UDP only: messages that may wait while the pipeline is full; beyond that datagrams are dropped and counted (`discarded_events_total`).'),
    max_pending_bytes: byteSize().prefault('32MiB').describe('Bytes of messages that may wait while the pipeline is full, those being handed to it included. UDP: messages as received, cut at `max_message_bytes`; beyond this, datagrams are dropped and counted (`discarded_events_total`); 10,000 messages of 64 KiB were 640 MB: the default holds 10,000 messages of up to 3.3 KB. TCP and TLS: the bytes all connections read and have not handed to the pipeline yet, a frame half received included; once they reach this, no connection is read until the pipeline takes some: the senders are slowed by TCP and keep their messages; nothing is dropped. A message larger than this is still taken when none is being handed on. Bounded by the connections alone, 200 senders of 1 MiB messages behind a held-up webhook took the daemon to 495 MB of RSS (out of memory within 8 s under 192 MB of heap), 900 senders to 1.3 GB; now 262 and 342 MB, and it runs on under 192 MB of heap.'),
    receive_buffer_bytes: byteSize().prefault('4MiB').describe('UDP only: the socket\'s receive buffer (SO_RCVBUF), which holds a burst while driftlock reads. Datagrams that overflow it are dropped by the kernel, unseen by driftlock (`RcvbufErrors` in /proc/net/snmp). The kernel caps it at `net.core.rmem_max`; the size it granted is logged at start.'),
    tls: tlsConfig.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.mode === 'tls' && !c.tls) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'mode: tls needs tls.cert_file and tls.key_file' });
    if (c.mode === 'udp' && c.framing !== 'auto') ctx.addIssue({ code: 'custom', path: ['framing'], message: 'framing applies to mode: tcp and tls (a datagram is one message)' });
    if (c.mode !== 'tls' && c.tls) ctx.addIssue({ code: 'custom', path: ['tls'], message: `tls settings need mode: tls (mode is ${c.mode})` });
  });

export type SyslogConfig = z.output<typeof syslogConfig>;

export class SyslogInput implements InputStage {
  private readonly config: SyslogConfig;
  private readonly tls: TlsMaterial | undefined;
  private readonly bound = new Listening();

  /** Resolves with the bound address (the real port when configured with port 0). */
  get listening(): Promise<ListenAddress> {
    return this.bound.address;
  }

  /** The pipeline's start waits for this: a port that cannot be bound stops the daemon at start. */
  get ready(): Promise<ListenAddress> {
    return this.bound.address;
  }

  constructor(config: SyslogConfig, tlsMaterial: TlsMaterial | undefined) {
    this.config = config;
    this.tls = tlsMaterial;
  }

  run(ctx: InputContext): Promise<void> {
    // Datagrams dropped while the pipeline is full are counted from 0 (a series that appears only at the
    // first drop cannot be alerted on).
    if (this.config.mode === 'udp') ctx.metrics.declare('discarded_events_total');
    return this.config.mode === 'udp' ? this.runUdp(ctx) : this.runStream(ctx);
  }

  private listened(ctx: InputContext, port: number): void {
    const { host } = this.config.address;
    ctx.logger.info({ address: host, port, mode: this.config.mode }, `syslog (${this.config.mode}) listening on ${formatAddress(host, port)}`);
    this.bound.resolve({ host, port });
  }

  private failed(err: Error): Error {
    this.bound.reject(err);
    return err;
  }

  private async runUdp(ctx: InputContext): Promise<void> {
    const { host, port } = this.config.address;
    const maxBytes = this.config.max_message_bytes;
    const maxPending = this.config.max_pending_events;
    const problems = new ProblemLog(ctx.logger, ctx.signal);
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
    let queue: LogEvent[] = [];
    // Bytes of the messages queued, and of those plus the ones being handed on (emit waits while the pipeline is full).
    let queueBytes = 0;
    const pendingBytes = new ByteBudget(this.config.max_pending_bytes);
    let draining: Promise<void> | null = null;
    const drain = async () => {
      while (queue.length > 0) {
        const batch = queue;
        const bytes = queueBytes;
        queue = [];
        queueBytes = 0;
        try {
          await ctx.emit(batch);
        } finally {
          pendingBytes.give(bytes);
        }
      }
      draining = null;
    };
    socket.on('message', (msg, rinfo) => {
      const size = Math.min(msg.length, maxBytes);
      if (queue.length >= maxPending || !pendingBytes.fits(size)) {
        ctx.metrics.add('discarded_events_total');
        problems.report('udp_dropped', 'pipeline is not taking events (full, or a reload is under way): dropping syslog UDP datagrams beyond max_pending_events or max_pending_bytes', { peer: peerOf(rinfo.address, rinfo.port), max_pending_events: maxPending, max_pending_bytes: pendingBytes.max });
        return;
      }
      pendingBytes.take(size);
      queueBytes += size;
      const truncated = msg.length > maxBytes;
      const { event, malformed } = syslogEvent(truncated ? msg.subarray(0, maxBytes) : msg, truncated, ctx.id, peerOf(rinfo.address, rinfo.port), Date.now(), this.config.parse_header);
      ctx.metrics.add('received_events_total');
      if (malformed) {
        ctx.metrics.add('malformed_events_total');
        reportMalformed(problems, event, peerOf(rinfo.address, rinfo.port));
      }
      queue.push(event);
      draining ??= drain();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket.close();
      throw this.failed(new Error(`syslog cannot listen on udp ${formatAddress(host, port)}: ${listenFailure(err, 'its address')}`, { cause: err }));
    }
    socket.on('error', (err) => problems.report('socket_error', 'syslog UDP socket error', { error: err.message }));
    // rmem_max caps the request; Linux reports twice what it grants (the other half is its bookkeeping).
    try {
      socket.setRecvBufferSize(this.config.receive_buffer_bytes);
    } catch (err) {
      ctx.logger.warn({ err }, 'cannot set the UDP receive buffer size');
    }
    const reported = socket.getRecvBufferSize();
    const granted = process.platform === 'linux' ? Math.floor(reported / 2) : reported;
    ctx.logger.info({ receive_buffer_bytes: granted, asked: this.config.receive_buffer_bytes }, 'syslog UDP receive buffer');
    if (granted < this.config.receive_buffer_bytes) ctx.logger.warn({ receive_buffer_bytes: granted, asked: this.config.receive_buffer_bytes }, 'the kernel granted a smaller UDP receive buffer than asked (net.core.rmem_max): bursts may be dropped before driftlock sees them');
    this.listened(ctx, socket.address().port);
    if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    await (draining ?? Promise.resolve());
    if (queue.length) await ctx.emit(queue);
  }

  private runStream(ctx: InputContext): Promise<void> {
    const problems = new ProblemLog(ctx.logger, ctx.signal);
    const options = { name: 'syslog', address: this.config.address, tls: this.tls, maxConnections: this.config.max_connections, idleTimeout: this.config.idle_timeout, endOnStop: true };
    // Shared by every connection: what they read counts until it is handed to the pipeline (see ReadBudget).
    // At the stop it opens: each connection passes on what it reads in its last second, as before.
    const budget = new ReadBudget(this.config.max_pending_bytes, ctx.signal);
    return serveStream(options, ctx, problems, (_socket, peer, chunks) => this.readConnection(peer, chunks, budget.reader(), ctx, problems), (port) => this.listened(ctx, port)).catch((err: unknown) => {
      throw this.failed(err as Error);
    });
  }

  private async readConnection(peer: string | undefined, chunks: ConnectionChunks, budget: Reader, ctx: InputContext, problems: ProblemLog): Promise<void> {
    try {
      await this.readFrames(peer, chunks, budget, ctx, problems);
    } finally {
      budget.leave();
    }
  }

  private async readFrames(peer: string | undefined, chunks: ConnectionChunks, budget: Reader, ctx: InputContext, problems: ProblemLog): Promise<void> {
    const input = ctx.id;
    const maxBytes = this.config.max_message_bytes;
    const framer = new SyslogFramer(maxBytes, this.config.framing, (count) => {
      ctx.metrics.add('errors_total');
      problems.report('bad_octet_count', 'syslog octet count above max_message_bytes, and within that its message had a line end followed by the next frame: not a count, the message read as a line (the messages after it are not taken for its body)', { peer, count, max_message_bytes: maxBytes });
    });
    let events: LogEvent[] = [];
    let malformed = 0;
    const onFrame = (bytes: Buffer, truncated: boolean) => {
      const result = syslogEvent(bytes, truncated, input, peer, Date.now(), this.config.parse_header);
      if (result.malformed) {
        malformed++;
        reportMalformed(problems, result.event, peer);
      }
      events.push(result.event);
    };
    // The bytes read count against max_pending_bytes until their messages are handed to the pipeline; those
    // of a frame not complete yet go on counting (the framer holds them), those skipped of an over-long frame
    // do not.
    const flush = async () => {
      if (malformed) {
        ctx.metrics.add('malformed_events_total', malformed);
        malformed = 0;
      }
      if (events.length > 0) {
        const batch = events;
        events = [];
        ctx.metrics.add('received_events_total', batch.length);
        await budget.handOver(() => ctx.emit(batch));
      }
      const done = budget.held - framer.held;
      if (done > 0) budget.give(done);
    };
    // Every chunk read from the socket is framed and passed on, also after a reset and at the stop (see
    // ConnectionChunks): Node's own iterator dropped what it had read but not yielded yet. While
    // max_pending_bytes is spent the socket is not read (TCP slows the sender) until the pipeline takes some.
    const reads = chunks[Symbol.asyncIterator]();
    for (;;) {
      if (!budget.may) {
        problems.report('paused', 'max_pending_bytes of syslog messages are held (waiting for the pipeline, or not whole yet): not reading from the connections (TCP slows their senders) until some are handed on', { peer, max_pending_bytes: this.config.max_pending_bytes });
        await budget.wait();
      }
      const next = await reads.next();
      if (next.done) break;
      budget.take(next.value.length);
      framer.push(next.value, onFrame);
      await flush();
    }
    if (chunks.error) {
      ctx.metrics.add('errors_total');
      problems.report('connection_error', 'syslog connection failed', { peer, error: chunks.error.message });
    }
    // A last line without LF is a message when the client ended its stream; cut by a reset, a destroy (idle
    // timeout) or the stop, it may be part of one, and is marked log.truncated.
    if (framer.end(onFrame, !chunks.ended)) {
      if (chunks.stopped) {
        problems.report('stopped_mid_frame', 'syslog input stopped in the middle of a frame; passing on what arrived, marked log.truncated', { peer });
      } else {
        ctx.metrics.add('errors_total');
        problems.report('incomplete_frame', 'syslog client disconnected in the middle of a frame; passing on what arrived, marked log.truncated', { peer });
      }
    }
    await flush();
  }
}

/** Logs a malformed message (cut, invalid UTF-8, unparseable) through the rate-limited problem log. */
function reportMalformed(problems: ProblemLog, event: LogEvent, peer: string | undefined): void {
  const a = event.attributes;
  const kind = a['log.truncated'] ? 'message_truncated' : a['log.invalid_utf8'] ? 'invalid_utf8' : 'unparseable';
  const why = typeof a['parse.error'] === 'string' ? a['parse.error'] : undefined;
  problems.report(kind, 'malformed syslog message kept with a mark', { peer, ...(why ? { error: why } : {}) });
}

export const syslogInput = defineInput({
  type: 'syslog',
  description:
    'Receives syslog over UDP, TCP or TLS (RFC 5424 and RFC 3164; octet-counted or newline-framed). The message ' +
    'becomes the body and the header goes into `syslog.*` attributes; messages that do not parse are kept whole, ' +
    'marked with `attributes["parse.error"]`.',
  config: syslogConfig,
  example: { type: 'syslog', mode: 'tcp', address: '127.0.0.1:5514' },
  listens: (config) => [{ protocol: config.mode === 'udp' ? 'udp' : 'tcp', ...config.address, key: 'address' }],
  async build(config) {
    const material = config.tls ? await loadTls(config.tls) : undefined;
    return new SyslogInput(config, material);
  },
});

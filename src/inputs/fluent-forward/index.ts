/**
 * `fluent_forward`: the Fluentd forward protocol over TCP (or TLS), as Fluent Bit's `forward` output and
 * Fluentd's `out_forward` send it: msgpack messages in Message, Forward, PackedForward and
 * CompressedPackedForward modes (see `protocol.ts`).
 *
 * Each connection is read one message at a time, and the next is read only once the pipeline has taken the
 * previous one, so a full pipeline slows senders down (TCP flow control). When a message carries
 * `option.chunk` (`require_ack_response`), the input answers `{ack: chunk}` when every output has finished
 * with its events (`acknowledge: delivered`, the default) or as soon as they are queued (`queued`); a sender
 * that gets no ack (the connection broke first) sends the chunk again, so delivery is at-least-once.
 * Events that a `drop_newest` buffer discarded or an output rejected for good are acknowledged too (resending
 * cannot help) and logged. Bytes that are not msgpack close the connection (its framing is lost); a msgpack
 * value that is not a forward message is skipped, counted and logged. With `security`, every connection
 * first passes the shared-key handshake (HELO/PING/PONG, `handshake.ts`), optionally with users. Not
 * supported: UDP heartbeats.
 */
import type net from 'node:net';
import os from 'node:os';
import { Decoder, encode } from '@msgpack/msgpack';
import { z } from 'zod';
import { byteSize, duration, secret } from '../../config/schema.js';
import { defineInput, type InputContext, type InputStage } from '../../engine/component.js';
import type { AckStatus } from '../../engine/acknowledgement.js';
import { listenAddress, type ListenAddress } from '../net/address.js';
import { Listening } from '../net/listening.js';
import { ProblemLog } from '../net/problems.js';
import { serveStream } from '../net/stream-server.js';
import { loadTls, tlsConfig, type TlsMaterial } from '../net/tls.js';
import { MessageBoundaries } from './framing.js';
import { serverHandshake } from './handshake.js';
import { forwardEvents } from './mapping.js';
import { decoderOptions, ForwardProtocolError, unpackMessage } from './protocol.js';

export const fluentForwardConfig = z.object({
  address: listenAddress('127.0.0.1:24224').describe('`host:port` to listen on (`0.0.0.0:24224` for every interface; port 0 picks a free port and logs it).'),
  acknowledge: z
    .enum(['delivered', 'queued'])
    .default('delivered')
    .describe('When to answer a chunk sent with `require_ack_response`: `delivered` once every output has written its events; `queued` once they are in the pipeline\'s buffers.'),
  max_message_bytes: byteSize().prefault('16MiB').describe('Largest forward message (a chunk), also after gunzip; a larger one closes the connection and is counted.'),
  max_connections: z.number().int().min(1).default(1000).describe('Connections open at once; more are refused (counted in `errors_total`).'),
  idle_timeout: duration().prefault('5m').describe('Close a connection that sent nothing for this long; `0` never closes idle connections.'),
  tls: tlsConfig.optional(),
  security: z
    .strictObject({
      shared_key: secret(z.string().min(1)).describe('The key both sides know (Fluent Bit\'s `Shared_Key`, Fluentd\'s `<security> shared_key`). A client that does not prove it has it is refused.'),
      self_hostname: z.string().min(1).optional().describe('This server\'s name in the handshake (clients may check it). Defaults to the machine\'s host name.'),
      users: z
        .array(z.strictObject({ username: z.string().min(1), password: secret(z.string()) }))
        .default([])
        .describe('When set, a client must also log in as one of these users (Fluent Bit\'s `Username` and `Password`).'),
    })
    .optional()
    .describe('Requires the forward protocol\'s authentication handshake on every connection, as Fluentd\'s secure forward does. Use it with `tls`: the handshake proves who the client is, TLS hides the logs.'),
});

export type FluentForwardConfig = z.output<typeof fluentForwardConfig>;

export class FluentForwardInput implements InputStage {
  private readonly config: FluentForwardConfig;
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

  constructor(config: FluentForwardConfig, tlsMaterial: TlsMaterial | undefined) {
    this.config = config;
    this.tls = tlsMaterial;
  }

  async run(ctx: InputContext): Promise<void> {
    const problems = new ProblemLog(ctx.logger, ctx.signal);
    const { host } = this.config.address;
    const options = { name: 'fluent_forward', address: this.config.address, tls: this.tls, maxConnections: this.config.max_connections, idleTimeout: this.config.idle_timeout };
    try {
      await serveStream(options, ctx, problems, (socket, peer) => this.readConnection(socket, peer, ctx, problems), (port) => {
        ctx.logger.info({ address: host, port, tls: this.tls !== undefined }, `fluent forward listening on ${host.includes(':') ? `[${host}]` : host}:${port}`);
        this.bound.resolve({ host, port });
      });
    } catch (err) {
      this.bound.reject(err as Error);
      throw err;
    }
  }

  private async readConnection(socket: net.Socket, peer: string | undefined, ctx: InputContext, problems: ProblemLog): Promise<void> {
    const max = this.config.max_message_bytes;
    const boundaries = new MessageBoundaries();
    const chunks = (socket as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let first: Buffer | undefined;
    const security = this.config.security;
    if (security) {
      const shook = await serverHandshake({ ...security, self_hostname: security.self_hostname ?? os.hostname() }, (data) => socket.write(data), chunks);
      if (!shook.ok) {
        if (ctx.signal.aborted) return; // the daemon is stopping: a handshake cut short is not the client's fault
        ctx.metrics.add('errors_total');
        problems.report('handshake_failed', 'refusing a fluent forward connection: its handshake failed', { peer, reason: shook.reason, ...(shook.hostname !== undefined ? { hostname: shook.hostname } : {}) });
        // The refusal (PONG false) reaches the client before the connection closes.
        if (!socket.destroyed) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5000);
            socket.end(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        return;
      }
      if (shook.rest.length) first = shook.rest;
    }
    // Bounds what one unfinished message may make the decoder hold. Its size is counted from where the last
    // message ended in the bytes, not from when the decoder yielded it: a read often holds the end of one
    // message and the start of the next.
    async function* limited(): AsyncGenerator<Buffer> {
      for (let next = first ? { done: false as const, value: first } : await chunks.next(); !next.done; next = await chunks.next()) {
        const chunk = next.value;
        boundaries.push(chunk);
        if (boundaries.pending > max) throw new ForwardProtocolError(`a message larger than max_message_bytes (${max})`);
        yield chunk;
      }
    }
    const ack = (chunk: string) => {
      if (!socket.destroyed && socket.writable) socket.write(encode({ ack: chunk }));
    };
    const decoder = new Decoder(decoderOptions(max));
    try {
      for await (const raw of decoder.decodeStream(limited())) {
        let message;
        try {
          message = unpackMessage(raw, max);
        } catch (err) {
          ctx.metrics.add('errors_total');
          problems.report('bad_message', 'skipping a msgpack value that is not a forward message', { peer, error: (err as Error).message });
          // A chunk that cannot be read is acked all the same: the sender would resend it for ever.
          if (err instanceof ForwardProtocolError && err.chunk !== undefined) ack(err.chunk);
          continue;
        }
        if (message.skipped > 0) {
          ctx.metrics.add('errors_total');
          ctx.metrics.add('rejected_events_total', message.skipped);
          problems.report('bad_entries', 'skipping entries that are not [time, record]; the rest of the chunk is kept', { peer, tag: message.tag, skipped: message.skipped, kept: message.entries.length });
        }
        const events = forwardEvents(message, ctx.id, peer, Date.now());
        const chunk = message.chunk;
        if (events.length === 0) {
          if (chunk !== undefined) ack(chunk);
          continue;
        }
        ctx.metrics.add('received_events_total', events.length);
        let marked = 0;
        for (const e of events) if (e.attributes['log.invalid_utf8'] === true) marked += 1;
        if (marked) {
          ctx.metrics.add('malformed_events_total', marked);
          problems.report('invalid_utf8', 'forward records with invalid UTF-8 in strings: replaced with U+FFFD, records marked log.invalid_utf8', { peer, records: marked });
        }
        const delivered = chunk !== undefined && this.config.acknowledge === 'delivered';
        const onAck = delivered
          ? (status: AckStatus) => {
              // Abandoned (the daemon stopped first): no ack, so the client sends the chunk again.
              if (status === 'abandoned') return;
              if (status !== 'delivered') problems.report(`chunk_${status}`, `acknowledging a chunk whose events were ${status} downstream (resending cannot help)`, { peer, events: events.length });
              ack(chunk);
            }
          : undefined;
        await ctx.emit(events, onAck);
        if (chunk !== undefined && !delivered) ack(chunk);
      }
    } catch (err) {
      if (ctx.signal.aborted || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      ctx.metrics.add('errors_total');
      // The decoder's own "Max length exceeded" (a string or bin over max_message_bytes) is a size problem too.
      const kind = err instanceof ForwardProtocolError || /^Max length exceeded/.test((err as Error).message) ? 'message_too_large' : 'not_msgpack';
      problems.report(kind, 'closing a fluent forward connection: its bytes cannot be read as forward messages', { peer, error: (err as Error).message });
      return;
    }
    // The decoder ends quietly with a message half received; the bytes say whether one was.
    if (boundaries.pending > 0) {
      ctx.metrics.add('errors_total');
      problems.report('incomplete_message', 'fluent forward client disconnected in the middle of a message (it will be resent if it asked for an ack)', { peer, bytes: boundaries.pending });
    }
  }
}

export const fluentForwardInput = defineInput({
  type: 'fluent_forward',
  description:
    'Receives the Fluentd forward protocol (msgpack over TCP, optionally TLS) from Fluent Bit\'s `forward` output ' +
    'or Fluentd\'s `out_forward`: all four modes, gzip-compressed chunks, and `require_ack_response` acks.',
  config: fluentForwardConfig,
  example: { type: 'fluent_forward', address: '127.0.0.1:24224' },
  async build(config) {
    const material = config.tls ? await loadTls(config.tls) : undefined;
    return new FluentForwardInput(config, material);
  },
});

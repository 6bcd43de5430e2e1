/** The server of the `fluent_forward` input (see index.ts): loaded when a pipeline has one. */
import type net from 'node:net';
import os from 'node:os';
import { Decoder, encode } from '@msgpack/msgpack';
import type { InputContext, InputStage } from '../../engine/component.js';
import { Finalizer, type AckStatus } from '../../engine/acknowledgement.js';
import { formatAddress, type ListenAddress } from '../net/address.js';
import { Listening } from '../net/listening.js';
import { ProblemLog, shownClientText } from '../net/problems.js';
import { serveStream, type ConnectionChunks } from '../net/stream-server.js';
import type { TlsMaterial } from '../net/tls.js';
import { ReadBudget, type Reader } from '../byte-budget.js';
import { PendingBytes } from '../pending-bytes.js';
import type { FluentForwardConfig } from './index.js';
import { MessageBoundaries } from './framing.js';
import { serverHandshake } from './handshake.js';
import { forwardEvents } from './mapping.js';
import { decodeMessages, decoderOptions, ForwardProtocolError, unpackMessage } from './protocol.js';

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
    // Shared by every connection: what they read counts until it is handed to the pipeline (see ReadBudget).
    // At the stop it opens: each connection passes on what it reads in its last second, as before.
    const budget = new ReadBudget(this.config.max_pending_bytes, ctx.signal);
    try {
      await serveStream(options, ctx, problems, (socket, peer, chunks) => this.readConnection(socket, peer, chunks, budget.reader(), ctx, problems), (port) => {
        ctx.logger.info({ address: host, port, tls: this.tls !== undefined }, `fluent forward listening on ${formatAddress(host, port)}`);
        this.bound.resolve({ host, port });
      });
    } catch (err) {
      this.bound.reject(err as Error);
      throw err;
    }
  }

  private async readConnection(socket: net.Socket, peer: string | undefined, connection: ConnectionChunks, budget: Reader, ctx: InputContext, problems: ProblemLog): Promise<void> {
    try {
      await this.readMessages(socket, peer, connection, budget, ctx, problems);
    } finally {
      budget.leave();
    }
  }

  private async readMessages(socket: net.Socket, peer: string | undefined, connection: ConnectionChunks, budget: Reader, ctx: InputContext, problems: ProblemLog): Promise<void> {
    const max = this.config.max_message_bytes;
    const boundaries = new MessageBoundaries();
    // Every chunk read from the socket, also after a reset and at the stop (see ConnectionChunks).
    const chunks = connection[Symbol.asyncIterator]();
    let first: Buffer | undefined;
    const security = this.config.security;
    if (security) {
      const shook = await serverHandshake({ ...security, self_hostname: security.self_hostname ?? os.hostname() }, (data) => socket.write(data), chunks);
      if (!shook.ok) {
        if (ctx.signal.aborted) return; // the daemon is stopping: a handshake cut short is not the client's fault
        ctx.metrics.add('errors_total');
        problems.report('handshake_failed', 'refusing a fluent forward connection: its handshake failed', { peer, reason: shook.reason, ...(shook.hostname !== undefined ? { hostname: shownClientText(shook.hostname) } : {}) });
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
    // While max_pending_bytes is spent, the socket is not read (TCP slows the sender) until room returns.
    const pause = async () => {
      problems.report('paused', 'max_pending_bytes of fluent forward chunks are held (waiting for the pipeline, or not whole yet): not reading from the connections (TCP slows their senders) until some are handed on', { peer, max_pending_bytes: this.config.max_pending_bytes });
      await budget.wait();
    };
    // The bytes of an unfinished message are held here until the walker finds its end; the decoder is given
    // only whole messages. Given the reads as they came, it joined all the bytes it had not decoded yet with
    // each read, so a large message in small reads was copied over and over: 8 MiB in 1 KiB writes took the
    // daemon 8.5 s of CPU, a 15 MiB message 18.6 s. Given whole messages it holds nothing between them
    // and copies nothing.
    const held = new PendingBytes();
    // Until what the socket holds to write has gone out, it closes, or the input stops (then the stop's grace
    // applies to reading, as for any connection).
    const acksSent = () => new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        ctx.signal.removeEventListener('abort', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
      ctx.signal.addEventListener('abort', done);
      if (socket.destroyed || ctx.signal.aborted) done();
    });
    async function* wholeMessages(): AsyncGenerator<Uint8Array> {
      const read = async () => {
        // Acks the client does not read wait in the socket's buffer: a sender that never reads them (its
        // chunk ids as long as it likes) grew the daemon's memory as fast as it sent, 400 MB of acks in 6 s.
        // Its next messages are read once they have gone out, so its own TCP window slows it instead.
        if (socket.writableNeedDrain) await acksSent();
        if (!budget.may) await pause();
        return chunks.next();
      };
      for (let next = first ? { done: false as const, value: first } : await read(); !next.done; next = await read()) {
        const chunk = next.value;
        budget.take(chunk.length);
        boundaries.push(chunk);
        // Where the last message complete in this read ends (not after its start if none is). After a byte
        // that is not msgpack the walker knows no more ends: everything goes to the decoder, which fails there.
        const end = boundaries.lost ? chunk.length : chunk.length - boundaries.pending;
        const whole = end <= 0 ? undefined : held.length > 0 ? held.take(chunk.subarray(0, end)) : chunk.subarray(0, end);
        // Bounds what one unfinished message may make us hold. Its size is counted from where the last
        // message ended in the bytes (a read often holds the end of one message and the start of the next),
        // with what its headers announce: the decoder refused a str or bin over the limit at its header.
        const tooLarge = boundaries.atLeast > max;
        if (!tooLarge && end < chunk.length) held.append(chunk.subarray(Math.max(0, end)));
        // A plain Uint8Array view, as the decoder made when it joined bytes itself: the views it takes of it
        // (strings are read as bytes) are then plain too, which decodes small messages about 10% faster.
        // The messages before one that is too large are read first, as the decoder read them before it came
        // to that one's header.
        if (whole) {
          yield new Uint8Array(whole.buffer, whole.byteOffset, whole.length);
          // Every message in it was handed to the pipeline (or skipped): its bytes are no longer held.
          budget.give(whole.length);
        }
        if (tooLarge) throw new ForwardProtocolError(`a message larger than max_message_bytes (${max})`);
      }
    }
    const ack = (chunk: string) => {
      if (!socket.destroyed && socket.writable) socket.write(encode({ ack: chunk }));
    };
    // Chunks taken (emitted) whose ack waits for their delivery: at the stop the connection stays open for
    // them (reading stopped), so the client hears of every chunk that was delivered and does not resend it.
    let awaitingAcks = 0;
    let acksSettled: (() => void) | undefined;
    const decoder = new Decoder(decoderOptions(max));
    const skip = (err: Error, chunk: string | undefined) => {
      ctx.metrics.add('errors_total');
      problems.report('bad_message', 'skipping a msgpack value that is not a forward message', { peer, error: err.message });
      // A chunk that cannot be read is acked all the same: the sender would resend it for ever.
      if (chunk !== undefined) ack(chunk);
    };
    try {
      for await (const whole of wholeMessages()) {
        for (const raw of decodeMessages(decoder, whole, max, skip)) {
          // Its events take memory too: a message read while there was room waits for room again to be unpacked.
          if (!budget.may) await pause();
          let message;
          try {
            message = unpackMessage(raw, max, this.config.max_records_per_message);
          } catch (err) {
            skip(err as Error, err instanceof ForwardProtocolError ? err.chunk : undefined);
            continue;
          }
          const chunk = message.chunk;
          const delivered = chunk !== undefined && this.config.acknowledge === 'delivered';
          // One ack for the chunk, once every batch of its events is done with (the worst status of them).
          const settled = delivered
            ? new Finalizer((status: AckStatus) => {
                awaitingAcks -= 1;
                if (awaitingAcks === 0) acksSettled?.();
                // Abandoned (the daemon stopped first): no ack, so the client sends the chunk again.
                if (status === 'abandoned') return;
                if (status !== 'delivered') problems.report(`chunk_${status}`, `acknowledging a chunk whose events were ${status} downstream (resending cannot help)`, { peer, events: taken });
                ack(chunk);
              })
            : undefined;
          if (settled) awaitingAcks += 1;
          const onAck = settled && ((status: AckStatus) => settled.release(status));
          // What gunzip made counts too (a chunk of a few KiB may inflate to max_message_bytes) until handed on.
          const inflated = message.inflated ?? 0;
          budget.take(inflated);
          let taken = 0;
          try {
            // Handed on EVENTS_PER_BATCH at a time, each batch made once the pipeline took the one before: a
            // chunk's entries may be millions (see ForwardMessage.take).
            for (;;) {
              const entries = message.take(EVENTS_PER_BATCH);
              if (entries.length === 0) break;
              const events = forwardEvents(message, entries, ctx.id, peer, Date.now());
              taken += events.length;
              ctx.metrics.add('received_events_total', events.length);
              let marked = 0;
              for (const e of events) if (e.attributes['log.invalid_utf8'] === true) marked += 1;
              if (marked) {
                ctx.metrics.add('malformed_events_total', marked);
                problems.report('invalid_utf8', 'forward records with invalid UTF-8 in strings: replaced with U+FFFD, records marked log.invalid_utf8', { peer, records: marked });
              }
              settled?.retain();
              await budget.handOver(() => ctx.emit(events, onAck));
            }
          } finally {
            budget.give(inflated);
          }
          if (message.skipped > 0) {
            ctx.metrics.add('errors_total');
            ctx.metrics.add('rejected_events_total', message.skipped);
            problems.report('bad_entries', 'skipping entries that are not [time, record]; the rest of the chunk is kept', { peer, tag: shownClientText(message.tag), skipped: message.skipped, kept: taken });
          }
          if (message.refused > 0) {
            ctx.metrics.add('errors_total');
            ctx.metrics.add('rejected_events_total', message.refused);
            problems.report('too_many_records', 'refusing the entries of a fluent forward chunk past max_records_per_message (the chunk is acked: resending it cannot help)', { peer, tag: shownClientText(message.tag), refused: message.refused, kept: taken, max_records_per_message: this.config.max_records_per_message });
          }
          // A chunk with no events to hand on is acked at once.
          settled?.release();
          if (chunk !== undefined && !delivered) ack(chunk);
        }
      }
    } catch (err) {
      ctx.metrics.add('errors_total');
      // The decoder's own "Max length exceeded" (a string or bin over max_message_bytes) is a size problem too.
      const kind = err instanceof ForwardProtocolError || /^Max length exceeded/.test((err as Error).message) ? 'message_too_large' : 'not_msgpack';
      problems.report(kind, 'closing a fluent forward connection: its bytes cannot be read as forward messages', { peer, error: (err as Error).message });
      return;
    }
    if (connection.error) {
      ctx.metrics.add('errors_total');
      problems.report('connection_error', 'fluent forward connection failed', { peer, error: connection.error.message });
    }
    // The decoder ends quietly with a message half received; the bytes say whether one was.
    if (boundaries.pending > 0) {
      if (connection.stopped) {
        problems.report('stopped_mid_message', 'fluent forward input stopped in the middle of a message (it will be resent if it asked for an ack)', { peer, bytes: boundaries.pending });
      } else {
        ctx.metrics.add('errors_total');
        problems.report('incomplete_message', 'fluent forward client disconnected in the middle of a message (it will be resent if it asked for an ack)', { peer, bytes: boundaries.pending });
      }
    }
    if (connection.stopped) await this.settleAcks(socket, () => awaitingAcks, (settled) => (acksSettled = settled), ctx);
  }

  /**
   * At the stop: waits, reading nothing more, until the acks of the chunks already taken are sent (their
   * events delivered, or given up on) or the shutdown deadline comes, then closes the connection cleanly
   * (FIN after the acks). Closing it at once, as before, left the client without the ack of a chunk that
   * was then delivered: it sent the chunk again after every stop and reload.
   */
  private async settleAcks(socket: net.Socket, awaiting: () => number, onSettled: (settled: (() => void) | undefined) => void, ctx: InputContext): Promise<void> {
    if (socket.destroyed || !socket.writable) return;
    if (awaiting() > 0) {
      const deadline = ctx.stopDeadline?.();
      const wait = Math.max(0, deadline === undefined ? ACK_WAIT_MS : deadline - performance.now());
      let timer: NodeJS.Timeout | undefined;
      let done: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        done = resolve;
        onSettled(resolve);
        socket.once('close', resolve);
        timer = setTimeout(resolve, wait);
      });
      clearTimeout(timer);
      socket.off('close', done!);
      onSettled(undefined);
    }
    if (socket.destroyed) return;
    // The acks written reach the client before the connection closes.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      socket.end(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * Events handed to the pipeline at once from one chunk: a buffer's default `max_events`, so that a chunk of
 * millions of tiny entries goes on as the pipeline takes them, not all in memory at once.
 */
const EVENTS_PER_BATCH = 10_000;

/** How long a stopping connection waits for its acks when the pipeline gives no shutdown deadline. */
const ACK_WAIT_MS = 5000;

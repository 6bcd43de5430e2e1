/**
 * `fluent_forward`: the Fluentd forward protocol over TCP (or TLS), as Fluent Bit's `forward` output and
 * Fluentd's `out_forward` send it: msgpack messages in Message, Forward, PackedForward and
 * CompressedPackedForward modes (see `protocol.ts`).
 *
 * Each connection is read one message at a time, and the next is read only once the pipeline has taken the
 * previous one, so a full pipeline slows senders down (TCP flow control). What all connections hold for the
 * pipeline (bytes read, chunks as gunzipped) is bounded by `max_pending_bytes`: past it no connection is read
 * until the pipeline takes some (ReadBudget in `../byte-budget.ts`), so many senders of large chunks cannot
 * hold `max_connections` times `max_message_bytes` between them. When a message carries
 * `option.chunk` (`require_ack_response`), the input answers `{ack: chunk}` when every output has finished
 * with its events (`acknowledge: delivered`, the default) or as soon as they are queued (`queued`); a sender
 * that gets no ack (the connection broke first) sends the chunk again, so delivery is at-least-once.
 * Events that a `drop_newest` buffer discarded or an output rejected for good are acknowledged too (resending
 * cannot help) and logged. Bytes that are not msgpack close the connection (its framing is lost); a msgpack
 * value that is not a forward message is skipped, counted and logged; the entries of a message past
 * `max_records_per_message` are refused and counted, the message acked. With `security`, every connection
 * first passes the shared-key handshake (HELO/PING/PONG, `handshake.ts`), optionally with users. Not
 * supported: UDP heartbeats.
 */
import { z } from 'zod';
import { byteSize, duration, secret } from '../../config/schema.js';
import { defineInput } from '../../engine/component.js';
import { listenAddress } from '../net/address.js';
import { loadTls, tlsConfig } from '../net/tls.js';

export type { FluentForwardInput } from './server.js';

export const fluentForwardConfig = z.object({
  address: listenAddress('127.0.0.1:24224').describe('`host:port` to listen on (`0.0.0.0:24224` for every interface; port 0 picks a free port and logs it).'),
  acknowledge: z
    .enum(['delivered', 'queued'])
    .default('delivered')
    .describe('When to answer a chunk sent with `require_ack_response`: `delivered` once every output has written its events; `queued` once they are in the pipeline\'s buffers.'),
  max_message_bytes: byteSize().prefault('16MiB').describe('Largest forward message (a chunk), also after gunzip; a larger one closes the connection and is counted.'),
  max_records_per_message: z
    .number()
    .int()
    .min(1)
    .default(200_000)
    .describe('Entries of one forward message (a chunk) that are read; those after them are refused: counted in `rejected_events_total` and `errors_total`, logged (`too_many_records`), and the chunk is acked (resending it cannot help). A gzipped chunk of 16 KB held 5.6 million 3-byte entries (17 s of CPU); a Fluent Bit chunk (about 2 MB) holds about 100,000 records of one-character lines at most. Raise it with `max_message_bytes` for senders of larger chunks of short records.'),
  max_pending_bytes: byteSize()
    .prefault('32MiB')
    .describe('Bytes of chunks the connections hold for the pipeline (read, as gunzipped, and not yet handed to it; the one being handed to it included). Once they reach this, no connection is read until the pipeline takes some: the senders are slowed by TCP and buffer on their side; nothing is dropped. A chunk larger than this is still taken when no other is being handed on. Bounded by the connections alone, 50 senders of 8 MiB chunks behind a held-up webhook took the daemon to 1.26 GB of RSS (out of memory within 12 s under 192 MB of heap); now 336 to 377 MB, and it runs on under 192 MB of heap.'),
  max_connections: z.number().int().min(1).default(1000).describe('Connections open at once; more are refused (counted in `errors_total`).'),
  idle_timeout: duration().prefault('5m').describe('Close a connection that sent nothing for this long; `0` never closes idle connections. A TLS handshake must finish within 10 s, or this when shorter.'),
  tls: tlsConfig.optional(),
  security: z
    .strictObject({
      shared_key: secret(z.string().min(1)).describe('The key both sides know (Fluent Bit\'s `Shared_Key`, Fluentd\'s `<security> shared_key`). A client that does not prove it has it is refused.'),
      self_hostname: z.string().min(1).optional().describe('This server\'s name in the handshake (clients may check it). Defaults to the machine\'s host name.'),
      users: z
        .array(z.strictObject({ username: z.string().min(1).describe('The user name the client logs in with (Fluent Bit\'s `Username`).'), password: secret(z.string()).describe('That user\'s password (Fluent Bit\'s `Password`).') }))
        .default([])
        .describe('When set, a client must also log in as one of these users (Fluent Bit\'s `Username` and `Password`).'),
    })
    .optional()
    .describe('Requires the forward protocol\'s authentication handshake on every connection, as Fluentd\'s secure forward does. Use it with `tls`: the handshake proves who the client is, TLS hides the logs.'),
});

export type FluentForwardConfig = z.output<typeof fluentForwardConfig>;

export const fluentForwardInput = defineInput({
  type: 'fluent_forward',
  description:
    'Receives the Fluentd forward protocol (msgpack over TCP, optionally TLS) from Fluent Bit\'s `forward` output ' +
    'or Fluentd\'s `out_forward`: all four modes, gzip-compressed chunks, and `require_ack_response` acks.',
  config: fluentForwardConfig,
  example: { type: 'fluent_forward', address: '127.0.0.1:24224' },
  listens: (config) => [{ protocol: 'tcp', ...config.address, key: 'address' }],
  async build(config) {
    const material = config.tls ? await loadTls(config.tls) : undefined;
    // The msgpack decoder and the server load only for a pipeline that has this input.
    const { FluentForwardInput } = await import('./server.js');
    return new FluentForwardInput(config, material);
  },
});

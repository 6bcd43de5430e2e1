/** The config keys every queued output shares (`request`, `retry`, `queue`, `acknowledgements`), written once. */
import { z } from 'zod';
import { byteSize, duration } from '../../config/schema.js';

export function requestSchema(timeout = '10s') {
  return z
    .strictObject({
      timeout: duration().prefault(timeout).describe(`How long one request may take (connecting, sending, and reading the answer) before it is abandoned and retried (default ${timeout}).`),
    })
    .prefault({})
    .describe('Per-request settings.');
}

export function retrySchema(initial = '1s', max = '60s') {
  return z
    .strictObject({
      initial_backoff: duration().prefault(initial).describe(`Wait before the first retry (default ${initial}); each further retry waits about twice as long (exponential backoff with jitter: a random 50-100% of the step).`),
      max_backoff: duration().prefault(max).describe(`The wait between retries grows to this at most (default ${max}). Retries go on until the receiver accepts: the alerts wait in the on-disk queue. A \`Retry-After\` from the receiver is honoured instead (never sooner than \`initial_backoff\`).`),
    })
    .prefault({})
    .describe('Retries of 408, 429, 5xx, timeouts and network errors. Other 4xx answers (a wrong URL, bad credentials) are logged with the answer, counted (`driftlock_delivery_rejected_total`) and not retried.');
}

export function queueSchema(maxBytes = '64MiB') {
  return z
    .strictObject({
      max_bytes: byteSize().prefault(maxBytes).describe(`Bytes of undelivered records kept in \`data_dir/<id>/queue/\` at most (default ${maxBytes}). When it is full the output stops taking events and the pipeline slows down (backpressure); nothing is dropped.`),
    })
    .prefault({})
    .describe('The on-disk queue between the pipeline and the receiver: what cannot be sent yet waits there, and survives a restart or a crash.');
}

export function acknowledgementsSchema() {
  return z
    .enum(['queued', 'delivered'])
    .default('queued')
    .describe('When events count as delivered for end-to-end acknowledgements (the file input checkpoints on them): `queued`: once written to the on-disk queue and fsynced (an outage of the receiver does not hold the pipeline back); `delivered`: only once the receiver answered 2xx (or refused for good), or, for what is still undelivered at shutdown, once it stays in the on-disk queue for the next start (so that the input does not read it again).');
}

export interface QueuedOutputConfig {
  request: { timeout: number };
  retry: { initial_backoff: number; max_backoff: number };
  queue: { max_bytes: number };
  acknowledgements: 'queued' | 'delivered';
}

/**
 * `webhook`: POSTs events (anomalies, usually) as JSON to a URL, one per request or in batches by count,
 * bytes and time, with custom headers, bearer or basic auth, an idempotency key per alert, and an
 * HMAC-SHA256 signature over timestamp and body. Everything goes through the shared delivery piece
 * (`./delivery`): an fsynced on-disk queue, retries with backoff and jitter, `Retry-After`, a timeout per
 * request. Delivery is at-least-once: a receiver deduplicates with the alert's `id` (also sent as
 * `Idempotency-Key` when a request carries one alert).
 */
import { z } from 'zod';
import { type Batch } from '../engine/acknowledgement.js';
import { defineOutput, type ComponentContext } from '../engine/component.js';
import { eventTime, type LogEvent } from '../engine/event.js';
import { errorMessage } from '../engine/failure-report.js';
import { byteSize, duration, httpUrl, secret } from '../config/schema.js';
import { splitAck } from './delivery/acks.js';
import { acknowledgementsSchema, queueSchema, requestSchema, retrySchema } from './delivery/config.js';
import { post, postOnce, type HttpPost } from './delivery/http.js';
import { QueuedOutput } from './delivery/queued-output.js';
import { digest, SIGNATURE_HEADER, sign } from './delivery/signature.js';
import { alertEntry, readAnomaly } from './delivery/alert.js';
import { payloadProblems, renderPayload, usesPlaceholder, type Json } from './delivery/payload-template.js';

/** A body template setting (`payload`, `resolved_payload`): checked as `payloadProblems` says, a secret as a whole. */
function payloadSetting(description: string, at = 'payload') {
  return z
    .json()
    .optional()
    .superRefine((value, ctx) => {
      for (const { path, message } of payloadProblems(value, at)) ctx.addIssue({ code: 'custom', message, path });
    })
    // Secret as a whole (as `secret()` marks one): it may hold a routing key or a token.
    .meta({ secret: true, expected: 'a JSON object (YAML) whose strings may hold {placeholders}' })
    .describe(description);
}

export const webhookConfig = z
  .object({
    url: secret(httpUrl('a URL')).describe('Where to POST, usually `${WEBHOOK_URL}`.'),
    headers: secret(z.record(z.string(), z.string())).default({}).describe('Extra request headers, a map of name to value, e.g. `{ X-Team: sre }`.'),
    auth: z
      .strictObject({
        strategy: z.enum(['bearer', 'basic']).describe('`bearer`: `Authorization: Bearer <token>`; `basic`: `Authorization: Basic` of `user:password`.'),
        token: secret(z.string().min(1)).optional().describe('The bearer token.'),
        user: z.string().optional().describe('The basic-auth user.'),
        password: secret(z.string()).optional().describe('The basic-auth password.'),
      })
      .superRefine((auth, ctx) => {
        if (auth.strategy === 'bearer' && !auth.token) ctx.addIssue({ code: 'custom', path: ['token'], message: 'auth strategy bearer needs a token' });
        if (auth.strategy === 'basic' && (auth.user === undefined || auth.password === undefined)) ctx.addIssue({ code: 'custom', path: ['user'], message: 'auth strategy basic needs user and password' });
      })
      .optional()
      .describe('Authentication.'),
    signing_secret: secret(z.string().min(16)).optional().describe(`Signs every request: header \`${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">\` (see "Slack and webhook outputs" for how to verify it). At least 16 characters.`),
    min_confidence: z.number().min(0).max(1).default(0).describe('Anomalies below this confidence are not sent (they count as delivered, and in `skipped_events_total`). Events without `attributes.anomaly` are always sent.'),
    payload: payloadSetting('Your own body for each event instead of the standard one, for receivers that want theirs (PagerDuty, Opsgenie, Teams): JSON written as YAML, whose strings may hold `{stream}`, `{kind}`, `{confidence}`, `{confidence_percent}`, `{score}`, `{reason}`, `{field}`, `{pattern}`, `{entry}`, `{time}`, `{id}`, `{group}` (stream/kind/field: a key to deduplicate incidents on), `{resolved}`, or a field of the event (`{body.status}`, `{resource.service.name}`). A string that is one placeholder alone keeps the value\'s type. Batches of several events send an array of them.'),
    resolved_payload: payloadSetting('The body, with the same placeholders, of the notice that closes an incident (`{resolved}` is true: a silent stream is back), for receivers that close by another body than they open with: PagerDuty\'s `event_action: resolve` with the same `dedup_key: "{group}"`. Without it, `payload` is used for those notices too. Needs `payload`.', 'resolved_payload'),
    batch: z
      .strictObject({
        max_events: z.number().int().min(1).default(100).describe('Events per request at most. With 1 the body is one JSON object; otherwise a JSON array (even of one).'),
        max_bytes: byteSize().prefault('1MiB').describe('Bytes per request at most (a single larger event is still sent, alone).'),
        timeout: duration().prefault('0s').describe('How long to wait for a batch to fill. `0s`: send at once whatever is waiting (batches form by themselves while a request is in flight).'),
      })
      .prefault({})
      .describe('Batching.'),
    request: requestSchema('10s'),
    retry: retrySchema('500ms', '60s'),
    queue: queueSchema('64MiB'),
    acknowledgements: acknowledgementsSchema(),
  })
  .superRefine((c, ctx) => {
    if (c.resolved_payload !== undefined && c.payload === undefined) {
      ctx.addIssue({ code: 'custom', path: ['resolved_payload'], message: 'resolved_payload is the body of the notices that close what `payload` opened: set payload too (the standard body says `resolved` itself)' });
    }
  });

export type WebhookConfig = z.output<typeof webhookConfig>;

/** What the receiver gets per event. */
export interface WebhookAlert {
  /** Stable per event (the same after a retry or a restart): deduplicate on it. */
  id: string;
  /** Event time (or arrival time), ISO 8601. */
  time: string;
  /** The detector's verdict, when the event was flagged. */
  anomaly?: Record<string, unknown>;
  /** The log entry as text. */
  entry: string;
  event: LogEvent;
}

/**
 * A stable id: the same event read again after a crash (same file and offset, or same timestamp and
 * body) gets the same id, so the receiver can drop the duplicate.
 */
export function alertId(event: LogEvent, outputId: string): string {
  const where = event.source.offset !== undefined ? [event.source.file ?? '', event.source.offset] : [event.observedTimestamp];
  const a = event.attributes.anomaly as Record<string, unknown> | undefined;
  // A notice that closes an incident is never its opening alert, whatever they share (test-alert makes both of
  // one sample in the same millisecond: same time and body, and so the same Idempotency-Key, which a receiver
  // could drop the close by). Left out otherwise, so that ids of alerts are as they were.
  const closing = a?.resolved === true ? ['resolved'] : [];
  return `dl_${digest([outputId, event.source.input, ...where, event.timestamp ?? null, event.body, a?.kind ?? null, a?.field ?? null, ...closing])}`;
}

export function toWebhookAlert(event: LogEvent, outputId: string): WebhookAlert {
  const alert: WebhookAlert = { id: alertId(event, outputId), time: new Date(eventTime(event)).toISOString(), entry: alertEntry(event), event };
  const a = event.attributes.anomaly;
  if (a && typeof a === 'object' && !Array.isArray(a)) alert.anomaly = a;
  return alert;
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${basicCredentials(user, password)}`;
}

function basicCredentials(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}

/**
 * How alerts are posted: the request of one batch (one alert alone when `batch.max_events` is 1), its body
 * the standard alerts or the `payload` filled in, signed, with an idempotency key.
 */
function webhookRequest(config: WebhookConfig): (alerts: WebhookAlert[], signal: AbortSignal) => HttpPost {
  const baseHeaders: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'driftlock' };
  for (const [k, v] of Object.entries(config.headers)) baseHeaders[k.toLowerCase()] = v;
  if (config.auth?.strategy === 'bearer') baseHeaders.authorization = `Bearer ${config.auth.token!}`;
  if (config.auth?.strategy === 'basic') baseHeaders.authorization = basicAuth(config.auth.user!, config.auth.password!);
  const single = config.batch.max_events === 1;
  const payload = config.payload as Json | undefined;
  const closing = (config.resolved_payload ?? payload) as Json | undefined;
  return (alerts, signal) => {
    const bodies = payload === undefined ? alerts : alerts.map((a) => renderPayload(a.anomaly?.resolved === true ? closing! : payload, a.event, a.id, a.time));
    const body = single ? JSON.stringify(bodies[0]) : JSON.stringify(bodies);
    const headers = { ...baseHeaders };
    headers['idempotency-key'] = alerts.length === 1 ? alerts[0]!.id : `batch_${digest(alerts.map((a) => a.id))}`;
    if (config.signing_secret) headers[SIGNATURE_HEADER.toLowerCase()] = sign(config.signing_secret, body);
    return { url: config.url, headers, body, timeoutMs: config.request.timeout, signal };
  };
}

export const webhookOutput = defineOutput({
  type: 'webhook',
  description: 'POSTs events (usually anomalies) as JSON to a URL, one per request or batched, with headers, bearer or basic auth, an idempotency key per alert and an HMAC-SHA256 signature. Undelivered events wait in an on-disk queue (they survive restarts); retries 408, 429 (`Retry-After`), 5xx and network errors with backoff and jitter.',
  config: webhookConfig,
  example: { type: 'webhook', inputs: ['detect'], url: '${ALERT_WEBHOOK_URL}', signing_secret: '${ALERT_WEBHOOK_SECRET}', batch: { max_events: 50, timeout: '1s' } },
  build(config, { id }) {
    const request = webhookRequest(config);

    return {
      async consume(batches: AsyncIterable<Batch>, ctx: ComponentContext): Promise<void> {
        const out = await QueuedOutput.open<WebhookAlert>({
          ctx,
          config,
          format: 'webhook',
          target: 'the webhook',
          batch: { maxItems: config.batch.max_events, maxBytes: config.batch.max_bytes, lingerMs: config.batch.timeout },
          send: (records, signal) => post(request(records.map((r) => r.data), signal)),
        });
        let ended = false;
        try {
          for await (const batch of batches) {
            const events = batch.events.filter((e) => {
              const a = readAnomaly(e);
              return !a || a.confidence >= config.min_confidence;
            });
            if (events.length < batch.events.length) ctx.metrics.add('skipped_events_total', batch.events.length - events.length);
            const settles = splitAck(batch, events.length);
            await out.enqueue(events.map((e) => toWebhookAlert(e, id)), settles.map((s) => [s]));
          }
          ended = true;
        } finally {
          await out.close(ended);
        }
      },
    };
  },
  // The Authorization header as sent: the password as written is masked, its base64 would not be.
  derivedSecrets: (config) => (config.auth?.strategy === 'basic' ? [basicCredentials(config.auth.user!, config.auth.password!)] : []),
  async sendTest(config, event, { id, signal, resolved }) {
    const request = webhookRequest(config);
    const opened = await postOnce(request([toWebhookAlert(event, id)], signal));
    // A receiver that closes incidents by another body (PagerDuty's resolve) is told at once that the test's
    // is over: a test must not leave an incident open, paging on and on, to be closed by hand.
    // So is one whose payload says which it is by `{resolved}` (Opsgenie-like: one body, an action field).
    const closing = config.resolved_payload !== undefined ? 'resolved_payload' : config.payload !== undefined && usesPlaceholder(config.payload, 'resolved') ? 'payload with {resolved} true' : undefined;
    if (closing === undefined || resolved === undefined) return opened;
    try {
      return `${opened}; closed with ${closing}: ${await postOnce(request([toWebhookAlert(resolved, id)], signal))}`;
    } catch (err) {
      const why = signal.aborted && err === signal.reason ? ' answered before the test gave up' : `: ${errorMessage(err)}`;
      throw new Error(`the test alert was taken (${opened}) but the notice that closes it (${closing}) was not${why}; close the test incident by hand`, { cause: err });
    }
  },
});

/**
 * `slack`: posts anomalies to a Slack incoming webhook as Block Kit messages people can read at a glance,
 * and never floods a channel:
 *
 * - **Grouping.** The first anomaly of a kind (same stream, kind, and field or template) is posted at once,
 *   with the `mention` (follow-ups never mention: an incident pages once). More like it within
 *   `group_window` are counted, not posted: when the window ends one message says "…and 37 more like this
 *   in the last 60 s" (showing the latest), and a new window starts. A window that ends with none is the end
 *   of the incident: one last message says so (if there were repeats). The incidents still open at a
 *   graceful stop (a reload, a restart) are kept in `data_dir/<id>/groups.json` and go on after it: no
 *   second page, and the end counts them all. At most one mention goes out per `mention.cooldown`: a storm
 *   of incidents at once (many streams failing together) pages once; the time of the last mention is kept at
 *   such a stop too (`data_dir/<id>/mention.json`), so that a reload in a storm does not page again.
 * - **Rate limit.** At most one message per second per webhook URL (Slack's limit), with a short burst;
 *   a `429` pauses every sender to that webhook for its `Retry-After`.
 * - **Delivery** is the shared piece (`./delivery`): an fsynced on-disk queue in `data_dir/<id>/queue`,
 *   retries with backoff and jitter for 5xx and network errors, a timeout per request; a `400`/`403`/
 *   `404`/`410` (a wrong or revoked webhook) is logged with Slack's answer, counted and not retried.
 *
 * Events that carry no `attributes.anomaly` (feed this output from an `anomaly_detect` transform) are skipped
 * and counted; a warning says so once.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomic-write.js';
import type { Batch } from '../engine/acknowledgement.js';
import { defineOutput, type ComponentContext } from '../engine/component.js';
import { eventTime, type LogEvent } from '../engine/event.js';
import { duration, httpUrl, secret } from '../config/schema.js';
import { percent } from './alert-format.js';
import { cutWhole } from '../detector/strings.js';
import { splitAck, type Settle } from './delivery/acks.js';
import { alertEntry, groupKey, readAnomaly, type AlertAnomaly } from './delivery/alert.js';
import { acknowledgementsSchema, queueSchema, requestSchema, retrySchema } from './delivery/config.js';
import { post, postOnce, type HttpPost } from './delivery/http.js';
import { QueuedOutput } from './delivery/queued-output.js';
import { sharedBucket } from './delivery/rate-limit.js';

export const slackConfig = z.object({
  webhook_url: secret(httpUrl('a Slack incoming webhook URL (https://hooks.slack.com/services/...)')).describe('The Slack incoming webhook URL, usually `${SLACK_WEBHOOK_URL}` (the URL itself is the credential).'),
  min_confidence: z.number().min(0).max(1).default(0).describe('Anomalies below this confidence are not posted (they count as delivered, and in `skipped_events_total`).'),
  mention: z
    .strictObject({
      text: z.string().min(1).default('<!here>').describe('What to put at the top of the message: `<!here>`, `<!channel>`, `<@U012AB3CD>` (a user), `<!subteam^S012AB3CD>` (a user group).'),
      min_confidence: z.number().min(0).max(1).default(0.99).describe('Mention only from this confidence up.'),
      cooldown: duration().prefault('5m').describe('At most one mention in this time: when many streams or kinds alert at once (a shared database down, twelve services failing), the first incident pages and the others are posted without a mention, saying when the last one went out. `0s` mentions every incident.'),
    })
    .optional()
    .describe('Notify people for high-confidence anomalies. Without it, nobody is mentioned.'),
  template: z
    .string()
    .min(1)
    .optional()
    .describe('Your own message text (Slack mrkdwn) instead of the standard fields, shown under the header: `{stream}`, `{kind}`, `{confidence}`, `{reason}`, `{field}`, `{pattern}`, `{entry}`, `{time}` and `{count}` (how many anomalies the message stands for: 1, or the repeats a follow-up counts) are replaced (values escaped for Slack). It is used by the "Log Stream Back" notice too; the update that ends an incident keeps its own summary.'),
  group_window: duration().prefault('60s').describe('Anomalies of the same stream, kind and field (or pattern) within this window become one follow-up message ("…and 37 more like this in the last 60 s"); a window without any ends the incident with one more message. `0s` posts every anomaly.'),
  max_entry_chars: z.number().int().min(100).max(2900).default(1000).describe('The log entry is cut to this many characters, with a marker saying how many were left out.'),
  rate_limit: z
    .strictObject({
      per_second: z.number().positive().max(10).default(1).describe('Messages per second per webhook URL (Slack allows 1).'),
      burst: z.number().int().min(1).max(20).default(3).describe('Messages that may go at once after a quiet spell.'),
    })
    .prefault({})
    .describe('Slack allows about one message per second per webhook, with short bursts; more is answered `429`.'),
  request: requestSchema('10s'),
  retry: retrySchema('1s', '5m'),
  queue: queueSchema('16MiB'),
  acknowledgements: acknowledgementsSchema(),
});

export type SlackConfig = z.output<typeof slackConfig>;

/** A message as Slack's incoming webhooks take it: a fallback `text` and Block Kit `blocks`. */
export interface SlackMessage {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

/** What one anomaly shows. */
export interface SlackAlert extends AlertAnomaly {
  entry: string;
  /** Event time, epoch ms. */
  time: number;
}

export function toSlackAlert(event: LogEvent, anomaly: AlertAnomaly): SlackAlert {
  return { ...anomaly, entry: alertEntry(event), time: eventTime(event) };
}

// Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they reorder what follows, so a
// log line could show "gnp.exe" as "exe.png".
const BIDI = /[\u202a-\u202e\u2066-\u2069]/g;

/**
 * Slack's mrkdwn needs `&`, `<` and `>` escaped in text that came from elsewhere; bidi controls are shown as
 * `\u202e` rather than obeyed; and a run of three backticks or more, which opens a code block that swallows
 * the rest of the section, gets a zero-width space after every second backtick (see `codeBlock`).
 */
export function escapeMrkdwn(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(BIDI, (ch) => `\\u${ch.charCodeAt(0).toString(16)}`)
    .replace(FENCE, '``\u200b');
}

const FENCE = /``(?=`)/g;

/**
 * Escapes, then cuts to `max` characters with a marker: escaping can make a text up to five times longer
 * (`&` is `&amp;`), so cutting first could still overflow Slack's limit of 3,000 characters per section
 * (Slack answers 400 and the alert is lost). A cut never splits an entity.
 */
export function escapeAndTruncate(text: string, max: number): string {
  return cutEscaped(escapeMrkdwn(text), max);
}

/**
 * Cuts text already escaped for Slack to `max` characters with a marker, never inside an entity, a `<...>`
 * of the output's own (a date, a link of a template) or a surrogate pair: half an emoji is a lone surrogate,
 * not text (JSON.stringify writes it as `\ud83d`).
 */
function cutEscaped(escaped: string, max: number): string {
  if (escaped.length <= max) return escaped;
  const marker = ` … (${(escaped.length - max).toLocaleString('en-US')} more characters)`;
  const head = cutWhole(escaped, Math.max(0, max - marker.length)).replace(/&[a-z]{0,3}$/, '').replace(/<[^>]*$/, '');
  return head + marker;
}

/**
 * A stream id, kind or field name, escaped and cut to 200 characters: they can come from the log (a stream
 * id of `{body.service}`, a field named by a JSON key), and a field of a section takes 2,000 at most.
 */
function name(text: string): string {
  return escapeAndTruncate(text, 200);
}

/** Seconds, for "in the last 60 s": `60 s`, `1.5 s`, `5 min`. */
export function formatWindow(ms: number): string {
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** How long ago, in whole seconds under two minutes, whole minutes after. */
function formatAgo(ms: number): string {
  return ms < 120_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : `${Math.round(ms / 60_000)} min`;
}

/** A time Slack shows in each reader's own time zone, with an ISO fallback. */
function slackDate(ms: number): string {
  const iso = new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time_secs}|${iso}>`;
}

function codeBlock(entry: string, max: number): string {
  // Three backticks in a row inside would end the block early (and what follows would be read as mrkdwn): a
  // zero-width space after every second backtick of a run breaks runs of any length (replacing each "```"
  // left "``````" as "``\u200b```\u200b`", a fence again). It goes in before the cut, which so keeps the
  // section within Slack's 3,000 characters; a backtick at either end of the entry would join the fence.
  const body = cutEscaped(escapeMrkdwn(entry), max);
  return '```' + (body.startsWith('`') ? '\u200b' : '') + body + (body.endsWith('`') ? '\u200b' : '') + '```';
}

export interface MessageOptions {
  maxEntryChars: number;
  /** `cooldown` (ms): read by the `Grouper`, which decides which messages mention. */
  mention?: { text: string; min_confidence: number; cooldown?: number } | undefined;
  template?: string | undefined;
}

/** What a message leaves out: with `mentionedAgoMs`, the mention it would have had (the last went out that long ago). */
interface Muted {
  mentionedAgoMs?: number;
}

export interface Repeat {
  /** Anomalies like this one since the last message. */
  count: number;
  windowMs: number;
}

const HEADER = ':rotating_light: Log Anomaly Detected';

/** The characters of a template's text at most (the section that shows it takes 3,000). */
const TEMPLATE_CHARS = 2900;

/** The section that shows a user's `template`, filled in for `alert` and cut to what a section takes. */
function templateSection(template: string, alert: SlackAlert, options: MessageOptions, count: number): Record<string, unknown> {
  return { type: 'section', text: { type: 'mrkdwn', text: cutEscaped(renderTemplate(template, alert, options, count), TEMPLATE_CHARS) } };
}

/** The message for an anomaly; with `repeat`, the follow-up that counts the ones like it. */
export function alertMessage(alert: SlackAlert, options: MessageOptions, repeat?: Repeat, muted: Muted = {}): SlackMessage {
  const blocks: Array<Record<string, unknown>> = [{ type: 'header', text: { type: 'plain_text', text: HEADER, emoji: true } }];
  // A follow-up never mentions: the incident's first message paged already.
  const wanted = !repeat && options.mention !== undefined && alert.confidence >= options.mention.min_confidence;
  const mention = wanted && muted.mentionedAgoMs === undefined ? options.mention!.text : '';
  const more = repeat ? `…and ${repeat.count.toLocaleString('en-US')} more like this in the last ${formatWindow(repeat.windowMs)}` : '';
  const quiet = wanted && muted.mentionedAgoMs !== undefined ? `_No mention: the last went out ${formatAgo(muted.mentionedAgoMs)} ago (mention cooldown)_` : '';
  const lead = [mention, more && `*${more}* (latest below)`, quiet].filter(Boolean).join(' ');
  if (lead) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: lead } });
  if (options.template) {
    blocks.push(templateSection(options.template, alert, options, repeat?.count ?? 1));
  } else {
    const fields = [
      { type: 'mrkdwn', text: `*Stream:*\n${name(alert.stream_id)}` },
      { type: 'mrkdwn', text: `*Confidence:*\n${percent(alert.confidence)}` },
      { type: 'mrkdwn', text: `*Kind:*\n${name(alert.kind)}` },
    ];
    if (alert.field) fields.push({ type: 'mrkdwn', text: `*Field:*\n${name(alert.field)}` });
    blocks.push({ type: 'section', fields });
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Reason:*\n${escapeAndTruncate(alert.why, 1500)}` } });
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Log entry:*\n${codeBlock(alert.entry, options.maxEntryChars)}` } });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:clock3: ${slackDate(alert.time)}  ·  driftlock` }] });
  const head = more ? `${more}: ` : '';
  // The fallback text is mrkdwn too (and what notifications show): the log's words are escaped there as in
  // the blocks, or a why quoting `<!channel>` from a user agent would notify the whole channel.
  const text = `${mention ? `${mention} ` : ''}:rotating_light: ${head}Log anomaly in ${name(alert.stream_id)} (${name(alert.kind)}, confidence ${percent(alert.confidence)}): ${escapeAndTruncate(alert.why, 300)}`;
  return { text, blocks };
}

/**
 * The message that a stream whose silence was told is back (an `anomaly_detect` notice with `resolved`): the
 * standard fields, or the `template` (as the silence's own message had), under its own header.
 */
export function backMessage(alert: SlackAlert, options?: MessageOptions): SlackMessage {
  const body: Array<Record<string, unknown>> = options?.template
    ? [templateSection(options.template, alert, options, 1)]
    : [
      { type: 'section', fields: [{ type: 'mrkdwn', text: `*Stream:*\n${name(alert.stream_id)}` }, { type: 'mrkdwn', text: `*Kind:*\n${name(alert.kind)}` }] },
      { type: 'section', text: { type: 'mrkdwn', text: `*Reason:*\n${escapeAndTruncate(alert.why, 2000)}` } },
    ];
  return {
    text: `:white_check_mark: Log stream back: ${escapeAndTruncate(alert.why, 300)}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: ':white_check_mark: Log Stream Back', emoji: true } },
      ...body,
      { type: 'context', elements: [{ type: 'mrkdwn', text: `:clock3: ${slackDate(alert.time)}  ·  driftlock` }] },
    ],
  };
}

/** The update when an incident ends: nothing like it for a whole window. */
export function endedMessage(first: SlackAlert, last: SlackAlert, total: number, windowMs: number): SlackMessage {
  const what = first.field ? `field \`${name(first.field)}\`` : first.template ? `pattern \`${escapeAndTruncate(first.template, 200)}\`` : 'this pattern';
  // The plain text (notifications, screen readers) names the field or pattern too.
  const plainWhat = first.field ? `field ${name(first.field)}` : first.template ? `pattern ${escapeAndTruncate(first.template, 100)}` : 'this pattern';
  const summary = `No more *${name(first.kind)}* anomalies in *${name(first.stream_id)}* (${what}) for ${formatWindow(windowMs)}: ${total.toLocaleString('en-US')} in all, from ${slackDate(first.time)} to ${slackDate(last.time)}.`;
  return {
    text: `:white_check_mark: Anomaly over in ${name(first.stream_id)} (${name(first.kind)}, ${plainWhat}): ${total.toLocaleString('en-US')} in all, none in the last ${formatWindow(windowMs)}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: ':white_check_mark: Log Anomaly Ended', emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: summary } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `:clock3: ${slackDate(last.time + windowMs)}  ·  driftlock` }] },
    ],
  };
}

function renderTemplate(template: string, alert: SlackAlert, options: MessageOptions, count: number): string {
  const values: Record<string, string> = {
    stream: escapeMrkdwn(alert.stream_id),
    kind: escapeMrkdwn(alert.kind),
    confidence: percent(alert.confidence),
    reason: escapeAndTruncate(alert.why, 1500),
    field: escapeMrkdwn(alert.field ?? ''),
    pattern: escapeMrkdwn(alert.template ?? ''),
    entry: '',
    time: slackDate(alert.time),
    count: String(count),
  };
  const fill = () => template.replace(/\{(\w+)\}/g, (m, name: string) => values[name] ?? m);
  // The entry is cut to the room the rest of the text leaves: cut as a whole, a long line took the end of
  // the template with it (the closing fence of a code block, a runbook link after the entry).
  const entries = template.match(/\{entry\}/g)?.length ?? 0;
  if (entries > 0) {
    const room = Math.floor((TEMPLATE_CHARS - fill().length) / entries);
    values.entry = escapeAndTruncate(alert.entry, Math.max(50, Math.min(options.maxEntryChars, room)));
  }
  return fill();
}

interface Group {
  first: SlackAlert;
  latest: SlackAlert;
  total: number;
  /** Repeats since the last message, and the acknowledgements waiting on that follow-up. */
  repeats: number;
  waiting: Settle[];
  timer: NodeJS.Timeout | undefined;
  /** When the group's last message was queued (ms, wall clock): its window runs from there. */
  since: number;
}

/** An incident still open at a graceful stop, as `groups.json` keeps it for the next instance. */
export interface SavedGroup {
  first: SlackAlert;
  latest: SlackAlert;
  total: number;
  since: number;
}

/** Open incidents kept at most (the latest), and the characters of a log entry each keeps. */
const MAX_SAVED_GROUPS = 1000;
const MAX_SAVED_ENTRY = 4000;

/**
 * "In the last …" of a follow-up: the window, or, when it came sooner (at a stop) or later (after one), the
 * time since the group's last message in whole seconds (at least 1 s).
 */
function sinceLast(elapsedMs: number, windowMs: number): number {
  return Math.abs(elapsedMs - windowMs) < 1000 ? windowMs : Math.max(1000, Math.round(elapsedMs / 1000) * 1000);
}

/** Groups anomalies into messages; `send` queues one message and settles the events it stands for. */
export class Grouper {
  private readonly groups = new Map<string, Group>();
  /** What `flush()` closed and `saved()` hands on. */
  private readonly open: Group[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  /** When the last mention went out (monotonic ms). */
  private mentionedAt = -Infinity;

  constructor(
    private readonly windowMs: number,
    private readonly options: MessageOptions,
    private readonly send: (message: SlackMessage, settles: Settle[]) => Promise<void>,
    private readonly maxGroups = 10_000,
  ) {}

  /** Takes one anomaly; returns once its message (if it gets one now) is queued. */
  async add(alert: SlackAlert, settle: Settle): Promise<void> {
    if (this.failure) throw this.failure;
    if (alert.resolved) return this.resolve(alert, settle);
    if (this.windowMs <= 0) return this.send(this.opening(alert), [settle]);
    const key = groupKey(alert);
    const group = this.groups.get(key);
    if (group) {
      group.repeats += 1;
      group.total += 1;
      group.latest = alert;
      group.waiting.push(settle);
      return;
    }
    if (this.groups.size >= this.maxGroups) return this.send(this.opening(alert), [settle]);
    const fresh: Group = { first: alert, latest: alert, total: 1, repeats: 0, waiting: [], timer: undefined, since: Date.now() };
    this.groups.set(key, fresh);
    this.arm(key, fresh);
    await this.send(this.opening(alert), [settle]);
  }

  /**
   * The first message of an incident: with the mention when the alert is confident enough and none went out
   * within `mention.cooldown`; otherwise saying when the last did.
   */
  private opening(alert: SlackAlert): SlackMessage {
    const m = this.options.mention;
    if (m === undefined || alert.confidence < m.min_confidence) return alertMessage(alert, this.options);
    const now = performance.now();
    const ago = now - this.mentionedAt;
    if (ago < (m.cooldown ?? 0)) return alertMessage(alert, this.options, undefined, { mentionedAgoMs: ago });
    this.mentionedAt = now;
    return alertMessage(alert, this.options);
  }

  /**
   * A stream back after a silence told while it lasted: the silence's incident, if still open, ends (its
   * repeats counted so far go out first), and the notice is posted at once, without a mention.
   */
  private async resolve(alert: SlackAlert, settle: Settle): Promise<void> {
    const key = groupKey({ ...alert, resolved: undefined });
    const group = this.groups.get(key);
    if (group) {
      clearTimeout(group.timer);
      this.groups.delete(key);
      if (group.repeats > 0) await this.followUp(group, Date.now());
    }
    await this.send(backMessage(alert, this.options), [settle]);
  }

  private arm(key: string, group: Group, ms = this.windowMs): void {
    group.timer = setTimeout(() => this.track(this.windowEnded(key, group)), ms);
  }

  /** Queues the follow-up of the repeats counted since the group's last message, which it becomes. */
  private followUp(group: Group, now: number): Promise<void> {
    const message = alertMessage(group.latest, this.options, { count: group.repeats, windowMs: sinceLast(now - group.since, this.windowMs) });
    group.repeats = 0;
    group.since = now;
    return this.send(message, group.waiting.splice(0));
  }

  private async windowEnded(key: string, group: Group): Promise<void> {
    if (group.repeats > 0) {
      const sent = this.followUp(group, Date.now());
      this.arm(key, group);
      await sent;
      return;
    }
    this.groups.delete(key);
    if (group.total > 1) await this.send(endedMessage(group.first, group.latest, group.total, this.windowMs), []);
  }

  /**
   * Takes the incidents a previous instance left open at its stop (`saved()`): one whose window is still
   * running goes on (its repeats are follow-ups, its end counts them all); one whose window passed while
   * nothing ran has ended, and says so now.
   */
  restore(saved: readonly SavedGroup[], now = Date.now()): void {
    if (this.windowMs <= 0) return;
    for (const g of saved) {
      const key = groupKey(g.first);
      if (this.groups.has(key) || this.groups.size >= this.maxGroups) continue;
      const group: Group = { first: g.first, latest: g.latest, total: g.total, repeats: 0, waiting: [], timer: undefined, since: g.since };
      this.groups.set(key, group);
      this.arm(key, group, Math.max(0, g.since + this.windowMs - now));
    }
  }

  /**
   * When the last mention went out (ms, wall clock), while it still holds the next ones back: for the next
   * instance (a reload or a restart in a storm pages no more than one instance would have).
   */
  lastMention(now = Date.now()): number | undefined {
    const ago = performance.now() - this.mentionedAt;
    return Number.isFinite(ago) && ago < (this.options.mention?.cooldown ?? 0) ? now - ago : undefined;
  }

  /** Takes the last mention of a previous instance (`lastMention()`); a time ahead of the clock is now. */
  restoreMention(at: number, now = Date.now()): void {
    this.mentionedAt = Math.max(this.mentionedAt, performance.now() - Math.max(0, now - at));
  }

  /** The incidents still open, for the next instance (after `flush()`, their repeats already sent). */
  saved(): SavedGroup[] {
    return this.open.slice(-MAX_SAVED_GROUPS).map((g) => ({ first: keepable(g.first), latest: keepable(g.latest), total: g.total, since: g.since }));
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => {
      this.failure ??= err;
    });
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  /**
   * At shutdown: the counted repeats become their follow-up messages now; windows close, and the incidents
   * stay open for `saved()`.
   */
  async flush(): Promise<void> {
    const now = Date.now();
    for (const [key, group] of this.groups) {
      clearTimeout(group.timer);
      this.groups.delete(key);
      if (group.repeats > 0) this.track(this.followUp(group, now));
      this.open.push(group);
    }
    await Promise.all(this.inflight);
    if (this.failure) throw this.failure;
  }

  /** After a crash: stop the timers (the engine hands the unacknowledged batches to the next instance). */
  dispose(): void {
    for (const group of this.groups.values()) clearTimeout(group.timer);
    this.groups.clear();
  }
}

/** An alert as `groups.json` keeps it: its entry cut (a line can be 1 MiB; the message shows 2,900 at most). */
function keepable(a: SlackAlert): SlackAlert {
  return a.entry.length <= MAX_SAVED_ENTRY ? a : { ...a, entry: cutWhole(a.entry, MAX_SAVED_ENTRY) };
}

/**
 * What a previous instance saved at its stop in `file` (`what` it is, for the log), as `read` takes it from
 * the JSON; the file is removed once read (a crash saves none).
 */
async function takeSaved<T>(file: string, ctx: ComponentContext, what: string, read: (parsed: unknown) => T, none: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') ctx.logger.warn({ err, file }, `cannot read ${what} saved at the last stop; they start afresh`);
    return none;
  }
  await rm(file, { force: true });
  try {
    return read(JSON.parse(text));
  } catch (err) {
    ctx.logger.warn({ err, file }, `${what} saved at the last stop cannot be read; they start afresh`);
    return none;
  }
}

/** The incidents a previous instance saved at its stop. */
function takeSavedGroups(file: string, ctx: ComponentContext): Promise<SavedGroup[]> {
  return takeSaved(file, ctx, 'the incidents', (parsed) => {
    if (!Array.isArray(parsed)) throw new Error('not an array');
    return parsed.filter(isSavedGroup);
  }, []);
}

/** When the previous instance's last mention went out, if it still held mentions back at its stop. */
function takeLastMention(file: string, ctx: ComponentContext): Promise<number | undefined> {
  return takeSaved(file, ctx, 'the last mention', (parsed) => {
    const at = (parsed as { at?: unknown } | null)?.at;
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new Error('no time');
    return at;
  }, undefined);
}

function isSavedGroup(g: unknown): g is SavedGroup {
  const o = g as Partial<SavedGroup> | null;
  const alertOk = (a: unknown) => {
    const x = a as Partial<SlackAlert> | null;
    return typeof x === 'object' && x !== null && typeof x.stream_id === 'string' && typeof x.kind === 'string' && typeof x.why === 'string' && typeof x.entry === 'string' && typeof x.time === 'number' && typeof x.confidence === 'number';
  };
  return typeof o === 'object' && o !== null && alertOk(o.first) && alertOk(o.latest) && Number.isFinite(o.total) && Number.isFinite(o.since);
}

function messageOptionsOf(config: SlackConfig): MessageOptions {
  return { maxEntryChars: config.max_entry_chars, mention: config.mention, template: config.template };
}

/** The request that posts `message` to the configured incoming webhook. */
function slackRequest(config: SlackConfig, message: SlackMessage, signal: AbortSignal): HttpPost {
  return { url: config.webhook_url, headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'driftlock' }, body: JSON.stringify(message), timeoutMs: config.request.timeout, signal };
}

export const slackOutput = defineOutput({
  type: 'slack',
  description: 'Posts anomalies to a Slack incoming webhook as Block Kit messages (stream, confidence, kind, reason, the log entry, when), grouping repeats into one follow-up per `group_window` and an update when the incident ends, at most one message per second. Undelivered messages wait in an on-disk queue (they survive restarts); 429 `Retry-After`, 5xx and network errors are retried with backoff.',
  config: slackConfig,
  example: { type: 'slack', inputs: ['detect'], webhook_url: '${SLACK_WEBHOOK_URL}', min_confidence: 0.95, mention: { text: '<!here>', min_confidence: 0.999 }, group_window: '60s' },
  build(config) {
    const messageOptions = messageOptionsOf(config);
    return {
      async consume(batches: AsyncIterable<Batch>, ctx: ComponentContext): Promise<void> {
        const out = await QueuedOutput.open<SlackMessage>({
          ctx,
          config,
          format: 'slack',
          target: 'Slack',
          // One message per request: that is what an incoming webhook takes.
          batch: { maxItems: 1, maxBytes: Infinity, lingerMs: 0 },
          rateLimit: sharedBucket(config.webhook_url, { perSecond: config.rate_limit.per_second, burst: config.rate_limit.burst }),
          send: (records, signal) => post(slackRequest(config, records[0]!.data, signal)),
        });
        const grouper = new Grouper(config.group_window, messageOptions, (message, settles) => out.enqueue([message], [settles]));
        const groupsFile = path.join(ctx.dataDir, 'groups.json');
        grouper.restore(await takeSavedGroups(groupsFile, ctx));
        // The mention cooldown goes on through a reload or a restart, as the incidents do.
        const mentionFile = path.join(ctx.dataDir, 'mention.json');
        const mentioned = await takeLastMention(mentionFile, ctx);
        if (mentioned !== undefined) grouper.restoreMention(mentioned);
        let warnedPlain = false;
        let ended = false;
        try {
          for await (const batch of batches) {
            const settles = splitAck(batch, batch.events.length);
            for (let i = 0; i < batch.events.length; i++) {
              const event = batch.events[i]!;
              const anomaly = readAnomaly(event);
              if (!anomaly) {
                ctx.metrics.add('skipped_events_total');
                if (!warnedPlain) {
                  warnedPlain = true;
                  ctx.logger.warn('events without attributes.anomaly reach this Slack output and are skipped: feed it from an anomaly_detect transform');
                }
                settles[i]!('delivered');
              } else if (anomaly.confidence < config.min_confidence) {
                ctx.metrics.add('skipped_events_total');
                settles[i]!('delivered');
              } else {
                await grouper.add(toSlackAlert(event, anomaly), settles[i]!);
              }
            }
          }
          ended = true;
          await grouper.flush();
          const open = grouper.saved();
          if (open.length) await writeFileAtomic(groupsFile, JSON.stringify(open), { fsync: true });
          const lastMention = grouper.lastMention();
          if (lastMention !== undefined) await writeFileAtomic(mentionFile, JSON.stringify({ at: lastMention }), { fsync: true });
        } finally {
          if (!ended) grouper.dispose();
          await out.close(ended);
        }
      },
    };
  },
  sendTest(config, event, { signal }) {
    // The message an alert opens an incident with, as configured (template, entry length), without the
    // mention: a test pages nobody.
    const alert = toSlackAlert(event, readAnomaly(event)!);
    return postOnce(slackRequest(config, alertMessage(alert, { ...messageOptionsOf(config), mention: undefined }), signal));
  },
});

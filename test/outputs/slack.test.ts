/** The Slack output: the message, grouping, the rate limit, and failures, against a stand-in Slack on 127.0.0.1. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyComponentDefinition } from '../../src/engine/component.js';
import type { LogEvent } from '../../src/engine/event.js';
import { alertMessage, endedMessage, escapeMrkdwn, slackOutput, type SlackAlert, type SlackMessage } from '../../src/outputs/slack.js';
import { notFound, ok, rateLimited, startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { anomalyEvent, runOutput } from '../helpers/output-harness.js';

let dir: string;
let receiver: Receiver | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'driftlock-slack-'));
});
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
  await rm(dir, { recursive: true, force: true });
});

const def = slackOutput as unknown as AnyComponentDefinition;

const alert: SlackAlert = {
  kind: 'field_value',
  confidence: 0.9991,
  score: 12,
  why: 'response_time 4.8 is 107x its typical 0.045 (p99 0.10)',
  stream_id: 'nginx-logs',
  template: '<*> GET <*> HTTP/1.1',
  field: 'response_time',
  entry: '{"timestamp":"2026-11-25T16:31:11.701Z","request":"GET /api/v1/orders?page=4 HTTP/1.1","status":200,"response_time":4.8}',
  time: Date.parse('2026-11-25T16:31:11.701Z'),
};

function texts(m: SlackMessage): string {
  return JSON.stringify(m.blocks);
}

function messages(r: Receiver): SlackMessage[] {
  return r.accepted().map((q) => JSON.parse(q.body) as SlackMessage);
}

describe('Slack message', () => {
  it('has the header, Stream, Confidence as a percentage, Kind, Reason, the entry as a code block, the time, and a text fallback', () => {
    const m = alertMessage(alert, { maxEntryChars: 1000 });
    expect(m.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: ':rotating_light: Log Anomaly Detected', emoji: true } });
    const fields = (m.blocks[1] as { fields: Array<{ text: string }> }).fields.map((f) => f.text);
    expect(fields).toEqual(['*Stream:*\nnginx-logs', '*Confidence:*\n99.9%', '*Kind:*\nfield_value', '*Field:*\nresponse_time']);
    expect(m.blocks[2]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*Reason:*\nresponse_time 4.8 is 107x its typical 0.045 (p99 0.10)' } });
    expect((m.blocks[3] as { text: { text: string } }).text.text).toBe('*Log entry:*\n```' + alert.entry + '```');
    expect(m.blocks[4]).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: ':clock3: <!date^1795624271^{date_short_pretty} at {time_secs}|2026-11-25T16:31:11Z>  ·  driftlock' }] });
    expect(m.text).toBe(':rotating_light: Log anomaly in nginx-logs (field_value, confidence 99.9%): response_time 4.8 is 107x its typical 0.045 (p99 0.10)');
    expect(m.text).not.toContain('<!here>');
  });

  it('cuts a long entry with a marker, escapes Slack\'s special characters, and defuses backticks', () => {
    const m = alertMessage({ ...alert, entry: '<script>&' + '```' + 'x'.repeat(3000), why: 'a <b> & c' }, { maxEntryChars: 200 });
    const entry = (m.blocks[3] as { text: { text: string } }).text.text;
    expect(entry).toContain('&lt;script&gt;&amp;');
    expect(entry).toMatch(/… \(2,8\d\d more characters\)```$/);
    expect(entry.match(/```/g)).toHaveLength(2);
    expect(texts(m)).toContain('a &lt;b&gt; &amp; c');
    expect(escapeMrkdwn('<!channel>')).toBe('&lt;!channel&gt;');
    // In the reason and the fallback text too: a fence from the log opened a code block that swallowed the
    // rest of the section (the why quotes what the log said).
    const fenced = alertMessage({ ...alert, why: 'new text "a```b````c" in http_user_agent' }, { maxEntryChars: 200 });
    expect(fenced.text).not.toMatch(/```/);
    expect(JSON.stringify(fenced.blocks[2])).not.toMatch(/```/);
    expect(fenced.text.replace(/\u200b/g, '')).toContain('new text "a```b````c"');
  });

  it('cuts a long entry to the room a template leaves, so that the template\'s end (a closing fence, a runbook link) stays', () => {
    const template = '*{stream}* {kind} x{count}\n{reason}\n```{entry}```\nrunbook: <https://wiki.example/nginx|nginx runbook>';
    const long = { ...alert, entry: 'Mozilla/5.0 <!channel> &&& ```'.repeat(600), why: 'why '.repeat(1000) };
    for (const maxEntryChars of [1000, 2900]) {
      const m = alertMessage(long, { maxEntryChars, template });
      const text = (m.blocks[1] as { text: { text: string } }).text.text;
      expect(text.length).toBeLessThanOrEqual(3000);
      // Before (max_entry_chars 2900): the text was cut at 2,900 inside the entry, its fence left open and
      // the runbook link gone.
      expect(text.endsWith('```\nrunbook: <https://wiki.example/nginx|nginx runbook>')).toBe(true);
      expect(text.match(/```/g)).toHaveLength(2);
      expect(text).toMatch(/more characters\)```/);
    }
    // A short entry is left whole.
    const short = alertMessage(alert, { maxEntryChars: 2900, template });
    expect((short.blocks[1] as { text: { text: string } }).text.text).toContain(alert.entry.replace(/</g, '&lt;').replace(/>/g, '&gt;'));
  });

  it('keeps every section within Slack\'s 3,000 characters, even when escaping makes the entry five times longer', () => {
    const m = alertMessage({ ...alert, entry: '&'.repeat(5000), why: '<'.repeat(3000) }, { maxEntryChars: 2900 });
    for (const block of m.blocks) {
      const text = (block as { text?: { text?: string } }).text?.text;
      if (text !== undefined) expect(text.length, text.slice(0, 40)).toBeLessThanOrEqual(3000);
    }
    const entry = (m.blocks[3] as { text: { text: string } }).text.text;
    // The cut never splits an entity.
    expect(/```((?:&amp;)+) … \(/.exec(entry)?.[1]).toBeDefined();
  });

  it('mentions only from mention.min_confidence up, and a template replaces the fields', () => {
    const mention = { text: '<!here>', min_confidence: 0.999 };
    expect(alertMessage(alert, { maxEntryChars: 500, mention }).text.startsWith('<!here> ')).toBe(true);
    expect(texts(alertMessage(alert, { maxEntryChars: 500, mention }))).toContain('"text":"<!here>"');
    expect(alertMessage({ ...alert, confidence: 0.99 }, { maxEntryChars: 500, mention }).text).not.toContain('<!here>');
    const t = alertMessage(alert, { maxEntryChars: 500, template: '*{kind}* in {stream} at {confidence}: {reason} ({unknown})' });
    expect(t.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    expect((t.blocks[1] as { text: { text: string } }).text.text).toBe('*field_value* in nginx-logs at 99.9%: response_time 4.8 is 107x its typical 0.045 (p99 0.10) ({unknown})');
  });

  it('follow-ups count the ones like it, and the end of an incident says how many in all', () => {
    const m = alertMessage(alert, { maxEntryChars: 500 }, { count: 37, windowMs: 60_000 });
    expect(m.text).toContain('…and 37 more like this in the last 60 s');
    // A follow-up never mentions, whatever its confidence: the incident's first message paged already.
    const mention = { text: '<!here>', min_confidence: 0.5 };
    expect(alertMessage(alert, { maxEntryChars: 500, mention }).text).toMatch(/^<!here> /);
    const followUp = alertMessage(alert, { maxEntryChars: 500, mention }, { count: 37, windowMs: 60_000 });
    expect(followUp.text).not.toContain('<!here>');
    expect(texts(followUp)).not.toContain('<!here>');
    expect(texts(m)).toContain('*…and 37 more like this in the last 60 s* (latest below)');
    const end = endedMessage(alert, { ...alert, time: alert.time + 45_000 }, 38, 60_000);
    expect(end.text).toBe(':white_check_mark: Anomaly over in nginx-logs (field_value, field response_time): 38 in all, none in the last 60 s');
    expect(texts(end)).toContain('Log Anomaly Ended');
  });
});

describe('slack output', () => {
  it('posts one message per anomaly to the webhook, never faster than Slack allows (1/s after a burst of 3)', async () => {
    receiver = await startReceiver(ok);
    // The output and the receiver share this process's event loop: how long it stalled at most.
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '0s' }, dir);
    const sent = Array.from({ length: 6 }, (_, i) => anomalyEvent({ stream: `s${i}` }));
    expect(await run.push(sent)).toBe('delivered');
    await receiver.waitFor(() => receiver!.accepted().length === 6, 15_000, '6 messages');
    await run.end();
    stalls.disable();
    const got = receiver.requests;
    expect(got).toHaveLength(6);
    expect(messages(receiver).map((m) => (m.blocks[1] as { fields: Array<{ text: string }> }).fields[0]!.text)).toEqual(sent.map((_, i) => `*Stream:*\ns${i}`));
    // Token bucket: any k+1 consecutive messages span at least (k + 1 - burst) seconds. Times are taken on
    // arrival, so a request held up on a busy machine (CI runs test files side by side) and the next one on
    // time can arrive closer than they were sent: 0.2 s of slack for that (0.941 s was seen in CI), plus the
    // longest stall of the event loop meanwhile (0.794 s was seen with two test files at a time on a machine
    // loaded by others; the first three messages to the fourth spanned 0.855-0.954 s in three loaded runs,
    // shorter as the stall was longer: 110, 85, 43 ms).
    const slack = 0.2 + stalls.max / 1e9;
    for (let i = 0; i < got.length; i++) {
      for (let j = i + 1; j < got.length; j++) {
        expect((got[j]!.mono - got[i]!.mono) / 1000).toBeGreaterThanOrEqual(j - i + 1 - 3 - slack);
      }
    }
  });

  it('groups the same stream, kind and field: the first at once, "…and 37 more" after the window, then the end of the incident', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '1s' }, dir);
    const burst = Array.from({ length: 38 }, () => anomalyEvent());
    const other = anomalyEvent({ kind: 'field_category', field: 'status', why: 'status "503" never seen before' });
    const acks = [run.push(burst.slice(0, 20)), run.push(burst.slice(20)), run.push([other])];
    await receiver.waitFor(() => receiver!.accepted().length >= 4, 15_000, '4 messages');
    expect(await Promise.all(acks)).toEqual(['delivered', 'delivered', 'delivered']);
    await run.end();
    const got = messages(receiver);
    expect(got).toHaveLength(4);
    expect(got[0]!.text).toContain(burst[0]!.attributes.anomaly && (burst[0]!.attributes.anomaly as { why: string }).why);
    expect(got[1]!.text).toContain('status "503" never seen before');
    expect(got[2]!.text).toContain('…and 37 more like this in the last 1 s');
    expect(got[2]!.text).toContain((burst[37]!.attributes.anomaly as { why: string }).why);
    expect(got[3]!.text).toBe(':white_check_mark: Anomaly over in nginx-logs (field_value, field response_time): 38 in all, none in the last 1 s');
  });

  it('a stream back after a silence ends the silence\'s incident at once (its repeats first) with a "Log Stream Back" message that mentions nobody', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '30s', mention: { text: '<!here>', min_confidence: 0.9 } }, dir);
    const silent = () => anomalyEvent({ kind: 'volume_drop', template: '', why: 'volume dropped: no events for 30 s so far vs typical 20/s (still silent)', confidence: 0.97 });
    const back = anomalyEvent({ kind: 'volume_drop', template: '', why: 'stream nginx-logs back: events again after 4.2 min of silence', confidence: 0.97 });
    (back.attributes.anomaly as Record<string, unknown>).resolved = true;
    // The repeat is acknowledged with its follow-up: which the notice that the stream is back brings forward.
    const acks = [run.push([silent(), silent()]), run.push([back])];
    await receiver.waitFor(() => receiver!.accepted().length >= 3, 10_000, '3 messages');
    expect(await Promise.all(acks)).toEqual(['delivered', 'delivered']);
    await run.end();
    const got = messages(receiver);
    // Not the 30 s window: the repeat, then the end, as soon as the stream is back; no "Anomaly over" after.
    expect(got.map((m) => (m.blocks[0] as { text: { text: string } }).text.text)).toEqual([':rotating_light: Log Anomaly Detected', ':rotating_light: Log Anomaly Detected', ':white_check_mark: Log Stream Back']);
    expect(got[1]!.text).toContain('…and 1 more like this');
    expect(got[0]!.text.startsWith('<!here>')).toBe(true);
    expect(got[2]!.text).toBe(':white_check_mark: Log stream back: stream nginx-logs back: events again after 4.2 min of silence');
    expect(texts(got[2]!)).not.toContain('<!here>');
    expect(texts(got[2]!)).toContain('*Stream:*\\nnginx-logs');
  });

  it('mentions once per mention.cooldown: twelve streams alerting at once page once, the other incidents say when the mention went out', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '30s', mention: { text: '<!here>', min_confidence: 0.99 }, rate_limit: { per_second: 10, burst: 20 } }, dir);
    const storm = Array.from({ length: 12 }, (_, i) => anomalyEvent({ stream: `service-${i}`, why: `status "503" never seen before in service-${i}`, kind: 'field_category', field: 'status' }));
    // One below min_confidence: it never mentions, and says nothing of the cooldown.
    const low = anomalyEvent({ stream: 'service-low', confidence: 0.95 });
    expect(await run.push([...storm, low])).toBe('delivered');
    await receiver.waitFor(() => receiver!.accepted().length >= 13, 10_000, '13 messages');
    await run.end();
    const got = messages(receiver);
    const paged = got.filter((m) => m.text.startsWith('<!here>') || texts(m).includes('"text":"<!here>"'));
    expect(paged.map((m) => m.text)).toEqual([expect.stringContaining('service-0') as string]);
    const muted = got.filter((m) => texts(m).includes('No mention: the last went out'));
    expect(muted).toHaveLength(11);
    expect(texts(muted[0]!)).toMatch(/_No mention: the last went out \d+ s ago \(mention cooldown\)_/);
    const lowMessage = got.find((m) => m.text.includes('service-low'))!;
    expect(texts(lowMessage)).not.toContain('No mention');
    expect(texts(lowMessage)).not.toContain('<!here>');
  });

  it('keeps mention.cooldown through a graceful stop: a reload in a storm does not page again, and the cooldown still ends on time', async () => {
    receiver = await startReceiver(ok);
    const config = { webhook_url: receiver.url, group_window: '30s', mention: { text: '<!here>', min_confidence: 0.99, cooldown: '2s' }, rate_limit: { per_second: 10, burst: 20 } };
    const first = await runOutput(def, config, dir);
    expect(await first.push([anomalyEvent({ stream: 'service-0' })])).toBe('delivered');
    await receiver.waitFor(() => receiver!.accepted().length >= 1, 10_000, 'the first message');
    const pagedAt = performance.now();
    await first.end();
    // A reload or restart: the next instance on the same data_dir, another stream of the same storm.
    const second = await runOutput(def, config, dir);
    expect(await second.push([anomalyEvent({ stream: 'service-1' })])).toBe('delivered');
    await receiver.waitFor(() => messages(receiver!).some((m) => m.text.includes('service-1')), 10_000, 'the second incident');
    await second.end();
    let got = messages(receiver);
    // Before, the second instance paged again: '<!here>' on both.
    expect(got.filter((m) => m.text.startsWith('<!here>')).map((m) => m.text)).toEqual([expect.stringContaining('service-0') as string]);
    expect(texts(got.find((m) => m.text.includes('service-1'))!)).toMatch(/_No mention: the last went out \d+ s ago \(mention cooldown\)_/);
    // Two seconds after the first mention (not after the restart), the next incident pages.
    await new Promise((r) => setTimeout(r, Math.max(0, 2100 - (performance.now() - pagedAt))));
    const third = await runOutput(def, config, dir);
    expect(await third.push([anomalyEvent({ stream: 'service-2' })])).toBe('delivered');
    await receiver.waitFor(() => messages(receiver!).some((m) => m.text.includes('service-2')), 10_000, 'the third incident');
    await third.end();
    got = messages(receiver);
    expect(got.find((m) => m.text.includes('service-2'))!.text).toMatch(/^<!here> /);
  });

  it('mentions every incident with mention.cooldown 0s', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '30s', mention: { text: '<!here>', min_confidence: 0.99, cooldown: '0s' }, rate_limit: { per_second: 10, burst: 20 } }, dir);
    expect(await run.push(Array.from({ length: 3 }, (_, i) => anomalyEvent({ stream: `service-${i}` })))).toBe('delivered');
    await receiver.waitFor(() => receiver!.accepted().length >= 3, 10_000, '3 messages');
    await run.end();
    expect(messages(receiver).map((m) => m.text.startsWith('<!here> '))).toEqual([true, true, true]);
  });

  it('a custom template applies to the "Log Stream Back" message too, as to the silence it closes', async () => {
    receiver = await startReceiver(ok);
    const template = ':pager: *{stream}* ({kind}, {confidence}): {reason} | runbook <https://wiki.example/nginx|nginx>';
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '30s', template }, dir);
    const silent = anomalyEvent({ kind: 'volume_drop', template: '', why: 'volume dropped: no events for 30 s so far vs typical 20/s (still silent)', confidence: 0.97 });
    const back = anomalyEvent({ kind: 'volume_drop', template: '', why: 'stream nginx-logs back: events again after 4.2 min of silence', confidence: 0.97 });
    (back.attributes.anomaly as Record<string, unknown>).resolved = true;
    expect(await Promise.all([run.push([silent]), run.push([back])])).toEqual(['delivered', 'delivered']);
    await receiver.waitFor(() => receiver!.accepted().length >= 2, 10_000, '2 messages');
    await run.end();
    const got = messages(receiver);
    const sections = got.map((m) => m.blocks.filter((b) => b.type === 'section').map((b) => (b as { text: { text: string } }).text.text));
    expect(sections[0]).toEqual([':pager: *nginx-logs* (volume_drop, 97.0%): volume dropped: no events for 30 s so far vs typical 20/s (still silent) | runbook <https://wiki.example/nginx|nginx>']);
    // Before, the back message had the standard fields whatever the template (and no runbook link).
    expect((got[1]!.blocks[0] as { text: { text: string } }).text.text).toBe(':white_check_mark: Log Stream Back');
    expect(sections[1]).toEqual([':pager: *nginx-logs* (volume_drop, 97.0%): stream nginx-logs back: events again after 4.2 min of silence | runbook <https://wiki.example/nginx|nginx>']);
    expect(got[1]!.text).toBe(':white_check_mark: Log stream back: stream nginx-logs back: events again after 4.2 min of silence');
  });

  it('flushes counted repeats when the input ends, so none is lost to shutdown', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '60s' }, dir);
    await Promise.all([run.push([anomalyEvent(), anomalyEvent()]), run.end()]);
    const got = messages(receiver);
    expect(got).toHaveLength(2);
    // The time since the first message, not the 60 s window that had not passed (it said "60 s").
    expect(got[1]!.text).toContain('…and 1 more like this in the last 1 s');
  });

  it('an incident open at a graceful stop goes on in the next instance: no second first message, and its end counts every anomaly', async () => {
    receiver = await startReceiver(ok);
    const config = { webhook_url: receiver.url, group_window: '2s', mention: { text: '<!here>', min_confidence: 0.5 } };
    const first = await runOutput(def, config, dir);
    // Stopped within the window: its two repeats are sent at the stop, and the incident stays open.
    expect(await Promise.all([first.push([anomalyEvent(), anomalyEvent(), anomalyEvent()]), first.end()])).toEqual(['delivered', undefined]);
    expect(messages(receiver).map((m) => m.text)).toEqual([expect.stringMatching(/^<!here> :rotating_light: Log anomaly in/), expect.stringMatching(/^:rotating_light: …and 2 more like this in the last 1 s/)]);
    // A reload or restart: a new instance on the same data_dir, the same incident going on.
    const second = await runOutput(def, config, dir);
    expect(await second.push([anomalyEvent(), anomalyEvent()])).toBe('delivered');
    await receiver.waitFor(() => messages(receiver!).some((m) => m.text.includes('Anomaly over')), 15_000, 'the end of the incident');
    await second.end();
    const texts = messages(receiver).map((m) => m.text);
    // Before, the second instance posted a new first message (and paged again), and the end said 2 in all.
    expect(texts.filter((t) => /^(<!here> )?:rotating_light: Log anomaly in/.test(t))).toHaveLength(1);
    expect(texts.filter((t) => t.includes('<!here>'))).toHaveLength(1);
    expect(texts[2]).toMatch(/^:rotating_light: …and 2 more like this in the last 2 s/);
    expect(texts[3]).toMatch(/: 5 in all, none in the last 2 s$/);
    expect(texts).toHaveLength(4);
  });

  it('an incident saved at a stop whose window passed before the next start ends at that start; a crash saves none', async () => {
    receiver = await startReceiver(ok);
    const config = { webhook_url: receiver.url, group_window: '1s' };
    const first = await runOutput(def, config, dir);
    expect(await first.push([anomalyEvent(), anomalyEvent()])).toBe('delivered');
    await first.end();
    await new Promise((r) => setTimeout(r, 1200));
    const second = await runOutput(def, config, dir);
    await receiver.waitFor(() => messages(receiver!).length === 3, 10_000, 'the end of the incident');
    expect(messages(receiver)[2]!.text).toMatch(/Anomaly over in nginx-logs .*: 2 in all/);
    // The second instance is aborted (as at a crash): nothing is saved, and a third one has nothing to end.
    expect(await second.push([anomalyEvent({ stream: 'other' })])).toBe('delivered');
    await second.abort();
    const third = await runOutput(def, config, dir);
    await new Promise((r) => setTimeout(r, 300));
    await third.end();
    expect(messages(receiver).filter((m) => m.text.includes('Anomaly over'))).toHaveLength(1);
  });

  it('honours 429 Retry-After: 2 (no message to that webhook until then)', async () => {
    receiver = await startReceiver(rateLimited('2'));
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '0s' }, dir);
    await run.push([anomalyEvent()]);
    await receiver.waitFor(() => receiver!.accepted().length === 1, 10_000, 'the retry');
    await run.end();
    expect(receiver.requests.map((r) => r.status)).toEqual([429, 200]);
    expect(receiver.requests[1]!.mono - receiver.requests[0]!.mono).toBeGreaterThanOrEqual(1990);
  });

  it('a bad webhook (404 no_service) is logged clearly and counted, not retried, and its URL is never logged', async () => {
    receiver = await startReceiver(notFound);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '0s', rate_limit: { burst: 5 } }, dir);
    await run.push([anomalyEvent({ stream: 'a' }), anomalyEvent({ stream: 'b' })]);
    await receiver.waitFor(() => receiver!.requests.length === 2, 10_000, '2 attempts');
    receiver.behave = ok;
    await run.push([anomalyEvent({ stream: 'c' })]);
    await receiver.waitFor(() => receiver!.accepted().length === 1, 10_000, 'the next message');
    await run.end();
    expect(receiver.requests.map((r) => r.status)).toEqual([404, 404, 200]);
    expect(run.metrics.get('delivery_rejected_total')).toBe(2);
    // One line for the first (at most one every 10 s), and at the end one for those in between; the metric
    // counts each.
    const errors = run.logs.filter((l) => l.level === 50);
    expect(errors).toHaveLength(2);
    expect(errors[1]).toMatchObject({ refused_since_last_line: 1 });
    expect(String(errors[0]!.msg)).toBe('Slack refused an alert for good (HTTP 404: no_service); not retrying: check the URL and credentials');
    expect(JSON.stringify(run.logs)).not.toContain('secret-token-xyz');
  });

  it('a message Slack refuses for what it holds (400 invalid_blocks) is not blamed on the URL in the log', async () => {
    receiver = await startReceiver(() => ({ status: 400, body: 'invalid_blocks' }));
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '0s' }, dir);
    await run.push([anomalyEvent()]);
    await receiver.waitFor(() => receiver!.requests.length === 1, 10_000, 'the attempt');
    await run.end();
    expect(run.metrics.get('delivery_rejected_total')).toBe(1);
    // Before: '...; not retrying: check the URL and credentials', for a URL that works.
    expect(String(run.logs.find((l) => l.level === 50)!.msg)).toBe(
      'Slack refused an alert for good (HTTP 400: invalid_blocks); not retrying: the receiver refused the request itself (what it held, or its size), and would refuse it again',
    );
  });

  it('a webhook URL that redirects (the URL moved) is still blamed on the URL in the log', async () => {
    receiver = await startReceiver(() => ({ status: 301, headers: { location: 'https://hooks.example.com/services/new' } }));
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '0s' }, dir);
    await run.push([anomalyEvent()]);
    await receiver.waitFor(() => receiver!.requests.length === 1, 10_000, 'the attempt');
    await run.end();
    expect(run.metrics.get('delivery_rejected_total')).toBe(1);
    // Before (since the hint went by status): '...; not retrying: the receiver says it will not take it'.
    expect(String(run.logs.find((l) => l.level === 50)!.msg)).toMatch(/^Slack refused an alert for good \(HTTP 301: the receiver redirects to https:\/\/hooks\.example\.com\/\.\.\. .*\); not retrying: check the URL and credentials$/);
  });

  it('skips anomalies below min_confidence and events without an anomaly (acked, counted)', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, min_confidence: 0.99, group_window: '0s' }, dir);
    const plain: LogEvent = { observedTimestamp: Date.now(), body: 'x', attributes: {}, source: { input: 't' } };
    expect(await run.push([anomalyEvent({ confidence: 0.95, stream: 'low' }), plain, anomalyEvent({ confidence: 0.995, stream: 'high' })])).toBe('delivered');
    await run.end();
    expect(messages(receiver).map((m) => m.text)).toEqual([expect.stringContaining('Log anomaly in high')]);
    expect(run.metrics.get('skipped_events_total')).toBe(2);
    expect(run.logs.some((l) => String(l.msg).includes('without attributes.anomaly'))).toBe(true);
  });

  it('exports skipped_events_total from the start, at 0, as every counter', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, min_confidence: 0.99, group_window: '0s' }, dir);
    expect(await run.push([anomalyEvent({ confidence: 0.995 })])).toBe('delivered');
    await run.end();
    // Before, the series appeared only at the first skipped event: increase() and absent() saw nothing.
    expect(run.metrics.samples().find((s) => s.name === 'driftlock_skipped_events_total')?.value).toBe(0);
  });

  it('messages queued while Slack is down are delivered by the next instance', async () => {
    receiver = await startReceiver(() => ({ status: 500, body: 'internal_error' }));
    const config = { webhook_url: receiver.url, group_window: '0s', retry: { initial_backoff: '50ms', max_backoff: '100ms' } };
    const first = await runOutput(def, config, dir);
    expect(await first.push([anomalyEvent({ stream: 'q1' }), anomalyEvent({ stream: 'q2' })])).toBe('delivered');
    await receiver.waitFor(() => receiver!.requests.length >= 2, 10_000, 'failed attempts');
    await first.abort();
    receiver.behave = ok;
    const second = await runOutput(def, config, dir);
    await receiver.waitFor(() => receiver!.accepted().length === 2, 10_000, 'the queued messages');
    await second.end();
    expect(messages(receiver).map((m) => m.text.match(/in (q\d)/)![1])).toEqual(['q1', 'q2']);
  });
});

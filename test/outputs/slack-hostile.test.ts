/**
 * The Slack output with hostile log content (user agents, paths: attacker-controlled), against a stand-in
 * Slack on 127.0.0.1: what the webhook receives must not mention anyone, disguise a link, or break Slack's
 * limits, in every text Slack reads as mrkdwn (the blocks and the fallback `text`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyComponentDefinition } from '../../src/engine/component.js';
import { slackOutput, type SlackMessage } from '../../src/outputs/slack.js';
import { ok, startReceiver, type Behaviour, type Receiver } from '../helpers/http-receiver.js';
import { anomalyEvent, runOutput } from '../helpers/output-harness.js';

let dir: string;
let receiver: Receiver | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'driftlock-slack-hostile-'));
});
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
  await rm(dir, { recursive: true, force: true });
});

const def = slackOutput as unknown as AnyComponentDefinition;
const INJECTION = '<!channel> <!here> <!everyone> <@U024BE7LH> <#C123> <!subteam^S0123> <https://evil.example|click here> & co';

/**
 * A stand-in that checks what Slack documents for Block Kit: a section's text at most 3,000 characters, a
 * field's 2,000, a header's 150, 50 blocks; a message breaking one is answered 400 `invalid_blocks`.
 */
const slackLike: Behaviour = (req) => {
  const m = JSON.parse(req.body) as SlackMessage;
  const tooLong = m.blocks.length > 50 || m.blocks.some((b) => {
    const text = (b.text as { text?: string } | undefined)?.text ?? '';
    const fields = ((b.fields ?? []) as Array<{ text: string }>).map((f) => f.text);
    return text.length > (b.type === 'header' ? 150 : 3000) || fields.some((f) => f.length > 2000);
  });
  return tooLong ? { status: 400, body: 'invalid_blocks' } : { status: 200, body: 'ok' };
};

/** Every text Slack parses as mrkdwn: the fallback `text` and each mrkdwn text object in the blocks. */
function mrkdwnTexts(m: SlackMessage): Array<[string, string]> {
  const out: Array<[string, string]> = [['text', m.text]];
  m.blocks.forEach((b, i) => {
    const t = b.text as { type: string; text: string } | undefined;
    if (t?.type === 'mrkdwn') out.push([`blocks[${i}].text`, t.text]);
    for (const [j, f] of ((b.fields ?? []) as Array<{ text: string }>).entries()) out.push([`blocks[${i}].fields[${j}]`, f.text]);
    for (const [j, e] of ((b.elements ?? []) as Array<{ text: string }>).entries()) out.push([`blocks[${i}].elements[${j}]`, e.text]);
  });
  return out;
}

/** Slack's control sequences (`<...>`) in a text, but the dates the output writes itself and the configured mention. */
function controlSequences(text: string, mention?: string): string[] {
  let t = text.replace(/<!date\^\d+\^\{date_short_pretty\} at \{time_secs\}\|[^<>]*>/g, '');
  if (mention && t.startsWith(mention)) t = t.slice(mention.length);
  if (mention && t === '') return [];
  return t.match(/<[^>]*>?/g) ?? [];
}

describe('slack output with hostile log content', () => {
  it('escapes mentions and links from the log in the fallback text of alerts, follow-ups and the end of an incident', async () => {
    receiver = await startReceiver(ok);
    const mention = { text: '<!here>', min_confidence: 0.9 };
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '1s', mention, rate_limit: { burst: 5 } }, dir);
    const hostile = () =>
      anomalyEvent({
        kind: 'field_content',
        field: 'http_user_agent',
        why: `new text "${INJECTION}" in http_user_agent`,
        template: `GET /<!channel>/<https://evil.example|login> HTTP/1.1`,
        body: { http_user_agent: INJECTION },
      });
    // A pattern anomaly (no field): the end of its incident names the pattern, which quotes the log.
    const pattern = () => anomalyEvent({ kind: 'new_pattern', why: `new pattern "${INJECTION}"`, template: `GET /${INJECTION} HTTP/1.1`, body: { request: INJECTION } });
    expect(await run.push([hostile(), pattern(), hostile(), pattern(), hostile()])).toBe('delivered');
    // Each: the first at once, "…and N more" after the window, then the end of the incident.
    await receiver.waitFor(() => receiver!.accepted().filter((r) => r.body.includes('Anomaly over')).length === 2, 20_000, '6 messages');
    await run.end();
    const got = receiver.accepted().map((r) => JSON.parse(r.body) as SlackMessage);
    expect(got.map((m) => /^(<!here> )?:\w+: (…and \d more|Log anomaly|Anomaly over)/.exec(m.text)?.[2]).sort()).toEqual(['Anomaly over', 'Anomaly over', 'Log anomaly', 'Log anomaly', '…and 1 more', '…and 2 more']);
    for (const m of got) {
      for (const [where, text] of mrkdwnTexts(m)) {
        expect(controlSequences(text, mention.text), `${where}: ${text}`).toEqual([]);
        expect(text.replace(/&(amp|lt|gt);/g, ''), `${where}: ${text}`).not.toContain('&');
      }
    }
    // The words are still there, escaped.
    expect(got[0]!.text).toContain('&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;@U024BE7LH&gt;');
    expect(got[0]!.text).toContain('&lt;https://evil.example|click here&gt; &amp; co');
  });

  it('keeps backticks from the log inside the code block, and a section of them within 3,000 characters', async () => {
    receiver = await startReceiver(slackLike);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '0s', max_entry_chars: 2900, rate_limit: { burst: 5 } }, dir);
    const entries = ['curl ``````*BOLD* _ital_ ~strike~ `````````', '`'.repeat(3000), '`x`'];
    expect(await run.push(entries.map((e, i) => anomalyEvent({ stream: `s${i}`, body: e })))).toBe('delivered');
    await receiver.waitFor(() => receiver!.requests.length === 3, 15_000, '3 requests');
    await run.end();
    expect(receiver.requests.map((r) => r.status), receiver.requests.map((r) => r.body.slice(0, 300)).join('\n')).toEqual([200, 200, 200]);
    expect(run.metrics.get('delivery_rejected_total')).toBe(0);
    for (const r of receiver.requests) {
      const m = JSON.parse(r.body) as SlackMessage;
      const entry = (m.blocks.find((b) => (b.text as { text?: string } | undefined)?.text?.startsWith('*Log entry:*')) as { text: { text: string } }).text.text;
      // One fence to open, one to close, no run of three backticks in between.
      const inner = /^\*Log entry:\*\n```([\s\S]*)```$/.exec(entry)![1]!;
      expect(inner, entry.slice(0, 200)).not.toMatch(/```/);
      expect(inner.startsWith('`') || inner.endsWith('`'), entry.slice(0, 200)).toBe(false);
    }
  });

  it('cuts long entries and templates without splitting an emoji, an entity or a date', async () => {
    receiver = await startReceiver(slackLike);
    const base = { webhook_url: receiver.url, group_window: '0s', max_entry_chars: 2900, rate_limit: { burst: 10 } };
    const plain = await runOutput(def, base, path.join(dir, 'plain'));
    const templated = await runOutput(def, { ...base, webhook_url: `${receiver.url}/t`, template: '{reason} {entry} {time}' }, path.join(dir, 'templated'));
    // Both parities of where a cut can fall, in the entry, the why, and a template's whole text.
    const events = () => [
      anomalyEvent({ stream: 'e0', body: '😀'.repeat(3000) }),
      anomalyEvent({ stream: 'e1', body: 'x' + '😀'.repeat(3000) }),
      anomalyEvent({ stream: 'w0', why: '😀'.repeat(1000) }),
      anomalyEvent({ stream: 'w1', why: 'x' + '😀'.repeat(1000) }),
      anomalyEvent({ stream: 'a0', why: 'x' + '&'.repeat(1000), body: '&'.repeat(3000) }),
      anomalyEvent({ stream: 'a1', why: 'xy' + '&'.repeat(1000), body: '&'.repeat(3000) }),
      anomalyEvent({ stream: 'd0', why: 'x'.repeat(10), body: 'x'.repeat(2860) }),
    ];
    expect(await Promise.all([plain.push(events()), templated.push(events())])).toEqual(['delivered', 'delivered']);
    await receiver.waitFor(() => receiver!.requests.length === 14, 20_000, '14 requests');
    await Promise.all([plain.end(), templated.end()]);
    expect(receiver.requests.map((r) => r.status)).toEqual(Array(14).fill(200));
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
    for (const r of receiver.requests) {
      expect(r.body, r.body.slice(0, 200)).not.toMatch(/\\ud[89ab][0-9a-f]{2}/i);
      for (const [where, text] of mrkdwnTexts(JSON.parse(r.body) as SlackMessage)) {
        expect(lone.test(text), `${where}: ${text.slice(0, 200)}`).toBe(false);
        expect(text.replace(/&(amp|lt|gt);/g, ''), `${where}: ${text.slice(-200)}`).not.toContain('&');
        expect(controlSequences(text), `${where}: ${text.slice(-200)}`).toEqual([]);
      }
    }
  });

  it('a stream id or field name of 3,000 characters (from the log: {body.service}, a JSON key) is cut, not refused by Slack', async () => {
    receiver = await startReceiver(slackLike);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '1s', rate_limit: { burst: 5 } }, dir);
    const long = () => anomalyEvent({ stream: 'S'.repeat(3000), kind: 'field_category', field: 'F'.repeat(3000) });
    expect(await run.push([long(), long()])).toBe('delivered');
    // The alert, "…and 1 more", the end of the incident.
    await receiver.waitFor(() => receiver!.requests.some((r) => r.body.includes('Anomaly over')), 15_000, 'the end of the incident');
    await run.end();
    expect(receiver.requests.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(run.metrics.get('delivery_rejected_total')).toBe(0);
    const first = JSON.parse(receiver.requests[0]!.body) as SlackMessage;
    expect(mrkdwnTexts(first).find(([, t]) => t.startsWith('*Stream:*'))![1]).toMatch(/^\*Stream:\*\nS+ … \(2,800 more characters\)$/);
  });

  it('shows bidi overrides from the log as \\u202e instead of letting them reorder the text', async () => {
    receiver = await startReceiver(ok);
    const run = await runOutput(def, { webhook_url: receiver.url, group_window: '0s', template: '{reason}: {entry}' }, path.join(dir, 't'));
    const plain = await runOutput(def, { webhook_url: `${receiver.url}/p`, group_window: '0s' }, path.join(dir, 'p'));
    const ua = 'Mozilla/5.0 \u202egnp.exe\u202c \u2066x\u2069';
    const event = () => anomalyEvent({ kind: 'field_category', field: 'http_user_agent', why: `http_user_agent "${ua}" never seen before`, body: { http_user_agent: ua } });
    await Promise.all([run.push([event()]), plain.push([event()])]);
    await receiver.waitFor(() => receiver!.accepted().length === 2, 10_000, '2 messages');
    await Promise.all([run.end(), plain.end()]);
    for (const r of receiver.accepted()) {
      for (const [where, text] of mrkdwnTexts(JSON.parse(r.body) as SlackMessage)) {
        expect(text, where).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
      }
      expect((JSON.parse(r.body) as SlackMessage).text).toContain('Mozilla/5.0 \\u202egnp.exe\\u202c \\u2066x\\u2069');
    }
  });
});

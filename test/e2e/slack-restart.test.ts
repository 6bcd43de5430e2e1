/**
 * No alert lost while Slack is down, even across a SIGKILL: the daemon queues the alerts durably (and acks
 * them upstream at that point), is killed mid-outage, and the next start delivers every one of them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SlackMessage } from '../../src/outputs/slack.js';
import { runCli, startCli } from '../helpers/cli.js';
import { ok, startReceiver, type Receiver, cleanUp } from '../helpers/http-receiver.js';
import { freePort, scrape } from '../helpers/metrics.js';
import { incidentLines, stdinToSlack } from '../helpers/slack-pipeline.js';
import { tempDir } from '../helpers/temp.js';

let receiver: Receiver | undefined;
afterEach(async () => {
  await cleanUp(receiver);
  receiver = undefined;
});

describe('slack output across a SIGKILL mid-outage', () => {
  it('delivers every alert queued before the kill at the next start, each once', async () => {
    receiver = await startReceiver(() => ({ status: 503, body: 'service_unavailable' }));
    const dir = await tempDir('dl-slack-kill-');
    const port = await freePort();
    const config = await stdinToSlack(dir, { top: [`api: { enabled: true, address: "127.0.0.1:${port}" }`] });
    const env = { SLACK_WEBHOOK_URL: receiver.url };
    const lines = incidentLines();
    const first = startCli(['run', '-c', config], { env });
    first.child.stdin!.write(lines.join('\n') + '\n'); // stdin stays open: the daemon keeps running
    let queued: number;
    await receiver.waitFor(() => receiver!.requests.length >= 2, 20_000, 'failed attempts');
    // Wait until every line went through and every anomaly is in the on-disk queue (acked upstream).
    for (const started = Date.now(); ; ) {
      const m = await scrape(port);
      const anomalies = m.get('sent_events_total/detect') ?? -1;
      if (m.get('received_events_total/detect') === lines.length && anomalies > 0 && m.get('sent_events_total/slack') === anomalies && m.get('queue_records/slack') === anomalies) {
        queued = anomalies;
        break;
      }
      if (Date.now() - started > 20_000) throw new Error(`not all queued: ${JSON.stringify([...m])}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL');
    expect(receiver.accepted()).toHaveLength(0);
    expect(queued).toBeGreaterThanOrEqual(2);

    receiver.behave = ok;
    // Empty stdin: the daemon starts, sends what is queued, and stops once drained.
    const second = await runCli(['run', '-c', config], { env, input: '' });
    expect(second.code, second.stderr.slice(-3000)).toBe(0);
    expect(second.stderr).toContain(`${queued} undelivered record(s) found in the on-disk queue`);
    const texts = receiver.accepted().map((r) => (JSON.parse(r.body) as SlackMessage).text);
    expect(texts).toHaveLength(queued);
    expect(new Set(texts).size).toBe(queued);
    expect(texts.some((t) => t.includes('response_time 7.5'))).toBe(true);
    expect(texts.some((t) => t.includes('UNION SELECT'))).toBe(true);
    expect(second.stderr + killed.stderr).not.toContain('secret-token-xyz');
  });
});

/**
 * The seed's flow end to end, through the real CLI and the example pipeline: nginx JSON lines appended to a
 * file -> file input -> parse -> anomaly_detect -> slack, posting to a stand-in Slack on 127.0.0.1.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SlackMessage } from '../../src/outputs/slack.js';
import { exitSummary, startCli } from '../helpers/cli.js';
import { ok, startReceiver, type Receiver, cleanUp } from '../helpers/http-receiver.js';
import { NginxLines, SQL_INJECTION } from '../helpers/nginx-lines.js';
import { tempDir } from '../helpers/temp.js';

let receiver: Receiver | undefined;
afterEach(async () => {
  await cleanUp(receiver);
  receiver = undefined;
});

function fieldsOf(m: SlackMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of m.blocks) {
    for (const f of (b.fields as Array<{ text: string }> | undefined) ?? []) {
      const [k, v] = f.text.split(':*\n');
      out[k!.replace(/^\*/, '')] = v!;
    }
    const text = (b.text as { text?: string } | undefined)?.text ?? '';
    const m2 = /^\*(Reason|Log entry):\*\n([\s\S]*)$/.exec(text);
    if (m2) out[m2[1]!] = m2[2]!;
  }
  return out;
}

/** The example pipeline, tailing an empty access.log in a new folder, posting to a stand-in Slack (group window 2 s). */
async function startExample(): Promise<{ log: string; cli: ReturnType<typeof startCli>; slack: Receiver }> {
  const slack = await startReceiver(ok);
  receiver = slack;
  const dir = await tempDir('dl-slack-flow-');
  const log = path.join(dir, 'access.log');
  await writeFile(log, '');
  const cli = startCli(['run', '-c', 'examples/pipelines/nginx-file-to-slack.yaml'], {
    env: { SLACK_WEBHOOK_URL: slack.url, DRIFTLOCK_DATA_DIR: path.join(dir, 'data'), NGINX_ACCESS_LOG: log, NGINX_START_AT: 'beginning', SLACK_GROUP_WINDOW: '2s' },
  });
  return { log, cli, slack };
}

describe('nginx lines appended to a file -> parse -> anomaly_detect -> Slack', () => {
  it('posts a readable message with Stream nginx-logs, a confidence and the reason, and stops cleanly', async () => {
    const { log, cli, slack } = await startExample();
    const written: string[] = [];
    try {
      await cli.waitFor(/driftlock running/);
      const gen = new NginxLines(7);
      const baseline = Array.from({ length: 4 }, () => gen.lines(500));
      for (const lines of baseline) await appendFile(log, lines.join('\n') + '\n');
      // The generator's traffic has health checks of its own (GET /health): dropped too.
      written.push(...baseline.flat());
      // Kubernetes probes, new to the stream: the example's filter drops them before the detector.
      const probes = Array.from({ length: 30 }, (_, i) => gen.line(i % 2 ? { request: 'GET /healthz HTTP/1.1', http_user_agent: 'kube-probe/1.29' } : { request: 'GET /readyz?verbose HTTP/1.1', http_user_agent: 'Mozilla/5.0' }));
      // A new request that carries a token and an e-mail address: the example's redact stage takes them out.
      const leaky = gen.line({ request: 'GET /api/v1/users?token=s3cr3t-abcdef&contact=jane.doe@example.com HTTP/1.1' });
      const rest = [gen.line({ response_time: 5.2 }), ...probes, ...gen.lines(100), gen.line({ http_user_agent: SQL_INJECTION }), ...gen.lines(100), leaky, ...gen.lines(20)];
      written.push(...rest);
      await appendFile(log, rest.join('\n') + '\n');
      await slack.waitFor(() => slack.accepted().some((r) => r.body.includes('response_time 5.2')), 30_000, 'the slow-response alert');
      await slack.waitFor(() => slack.accepted().some((r) => r.body.includes('UNION SELECT')), 30_000, 'the injection alert');
      await slack.waitFor(() => slack.accepted().some((r) => r.body.includes('/users?token=')), 30_000, 'the alert on the request with a token');
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const messages = slack.accepted().map((r) => JSON.parse(r.body) as SlackMessage);
    const slow = messages.find((m) => m.text.includes('response_time 5.2'))!;
    const f = fieldsOf(slow);
    expect(slow.blocks[0]).toMatchObject({ type: 'header', text: { text: ':rotating_light: Log Anomaly Detected' } });
    expect(f.Stream).toBe('nginx-logs');
    expect(f.Confidence).toMatch(/^(\d+\.\d|99\.9\+)%$/);
    expect(f.Kind).toBe('field_value');
    expect(f.Reason).toMatch(/^response_time 5\.2 is \d+x its typical/);
    expect(f['Log entry']).toMatch(/^```\{.*"response_time":5\.2.*\}```$/);
    const injection = fieldsOf(messages.find((m) => m.text.includes('UNION SELECT'))!);
    expect(injection.Stream).toBe('nginx-logs');
    expect(injection.Reason).toContain('http_user_agent');
    // Steady traffic stays quiet, and the secret webhook URL never reaches the logs.
    expect(messages.length).toBeLessThanOrEqual(12);
    // The probes were dropped by the example's filter, counted, and never alerted on.
    const probe = (line: string) => {
      const r = JSON.parse(line) as { request: string; http_user_agent: string };
      return /^(GET|HEAD) \/(healthz|readyz|livez|health|ping)[ ?]/.test(r.request) || /^kube-probe\//.test(r.http_user_agent);
    };
    expect(written.filter(probe).length).toBeGreaterThan(30);
    expect(exitSummary(result.stderr).drop_probes!.filtered_events_total).toBe(written.filter(probe).length);
    expect(messages.some((m) => /healthz|readyz|kube-probe/.test(JSON.stringify(m)))).toBe(false);
    expect(result.stderr).not.toContain('secret-token-xyz');
    // Redacted before Slack: the entry shows where the token and the address were, and neither is in any message.
    const leak = fieldsOf(messages.find((m) => m.text.includes('/users?token='))!);
    expect(leak.Reason).toContain('token=&lt;redacted&gt;');
    expect(leak['Log entry']).toContain('token=&lt;redacted&gt;&amp;contact=&lt;redacted&gt;');
    expect(messages.some((m) => /s3cr3t-abcdef|jane\.doe@example\.com/.test(JSON.stringify(m)))).toBe(false);
    expect(exitSummary(result.stderr).scrub!.redacted_events_total).toBeGreaterThanOrEqual(1);
  });

  it('shows a combined-format access line as it was written, not as the parsed record', async () => {
    const { log, cli, slack } = await startExample();
    const gen = new NginxLines(11);
    const injected = gen.combined({ http_user_agent: SQL_INJECTION });
    try {
      await cli.waitFor(/driftlock running/);
      const normal = () => Array.from({ length: 500 }, () => gen.combined());
      for (let i = 0; i < 4; i++) await appendFile(log, normal().join('\n') + '\n');
      await appendFile(log, [injected, ...normal().slice(0, 100)].join('\n') + '\n');
      await slack.waitFor(() => slack.accepted().some((r) => r.body.includes('UNION SELECT')), 30_000, 'the injection alert');
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const alert = slack.accepted().map((r) => JSON.parse(r.body) as SlackMessage).find((m) => m.text.includes('UNION SELECT'))!;
    const entry = fieldsOf(alert)['Log entry']!.replace(/^```|```$/g, '').replace(/\u200b/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    // Before, the entry was the parsed record as JSON: {"remote_addr":...,"time_local":...,"method":"GET",...}.
    expect(entry).toBe(injected);
  });
});

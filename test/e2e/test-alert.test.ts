/** `driftlock test-alert`, the real CLI against real HTTP receivers on 127.0.0.1 (stand-ins for Slack and PagerDuty). */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';
import { sampleAlert, sampleResolved } from '../../src/cli/test-alert.js';
import { alertId } from '../../src/outputs/webhook.js';

async function receivers(): Promise<{ slack: Receiver; pd: Receiver; close: () => Promise<void> }> {
  const slack = await startReceiver();
  const pd = await startReceiver();
  return { slack, pd, close: async () => Promise.all([slack.close(), pd.close()]).then(() => undefined) };
}

function pipeline(dir: string, slackUrl: string, pdUrl: string): string {
  return `data_dir: ${path.join(dir, 'state')}
inputs:
  app: { type: stdin }
outputs:
  team_slack:
    type: slack
    inputs: [app]
    webhook_url: ${slackUrl}/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXX
    mention: { text: "<!here>", min_confidence: 0.9 }
  pd:
    type: webhook
    inputs: [app]
    url: ${pdUrl}/v2/enqueue/S3CRETPATHTOKEN42
    batch: { max_events: 1 }
    payload: { routing_key: "\${PD_KEY}", event_action: trigger, dedup_key: "{group}", payload: { summary: "{stream}: {reason}" } }
  archive:
    type: file
    inputs: [app]
    path: ${path.join(dir, 'alerts.jsonl')}
`;
}

/** The pipeline with a PagerDuty-like `resolved_payload` on its webhook output `pd`. */
function withResolvedPayload(config: string): string {
  return config.replace('payload: { summary: "{stream}: {reason}" } }',
    'payload: { summary: "{stream}: {reason}" } }\n    resolved_payload: { routing_key: "${PD_KEY}", event_action: resolve, dedup_key: "{group}" }');
}

describe('driftlock test-alert', () => {
  it('sends the sample alert once to each slack and webhook output as configured (payload filled, no mention), and writes no state', async () => {
    const dir = await tempDir('driftlock-test-alert-');
    const r = await receivers();
    try {
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, pipeline(dir, r.slack.url, r.pd.url));
      const run = await runCli(['test-alert', '-c', file], { env: { PD_KEY: 'R0UTINGKEY0123456789' } });
      expect(run.stderr).toBe('2 of 2 outputs took the test alert\n');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ok {6}team_slack \(slack\): the receiver took the test alert \(HTTP 200, \d+ ms\)\nok {6}pd \(webhook\): the receiver took the test alert \(HTTP 200, \d+ ms\)\n$/);
      expect(r.slack.requests).toHaveLength(1);
      const slack = JSON.parse(r.slack.requests[0]!.body) as { text: string; blocks: unknown[] };
      // The message a real alert opens with, saying it is a test; the mention is left out: a test pages nobody.
      expect(slack.text).toMatch(/^:rotating_light: Log anomaly in driftlock-test-alert \(field_content, confidence 99\.9%\): TEST ALERT from driftlock test-alert \(output team_slack\): nothing is wrong/);
      expect(r.slack.requests[0]!.body).not.toContain('<!here>');
      expect(JSON.stringify(slack.blocks)).toContain('UNION SELECT');
      expect(r.pd.requests).toHaveLength(1);
      expect(JSON.parse(r.pd.requests[0]!.body)).toEqual({
        routing_key: 'R0UTINGKEY0123456789',
        event_action: 'trigger',
        dedup_key: 'driftlock-test-alert/field_content/http_user_agent',
        payload: { summary: expect.stringMatching(/^driftlock-test-alert: TEST ALERT from driftlock test-alert \(output pd\)/) as string },
      });
      expect(r.pd.requests[0]!.headers['idempotency-key']).toMatch(/^dl_[0-9a-f]{32}$/);
      // Nothing of a daemon: no data_dir, no queue, no file output written.
      expect(existsSync(path.join(dir, 'state'))).toBe(false);
      expect(existsSync(path.join(dir, 'alerts.jsonl'))).toBe(false);
    } finally {
      await r.close();
    }
  });

  it('says what a receiver refused, without the secret URL, and exits 1; names only the outputs asked for', async () => {
    const dir = await tempDir('driftlock-test-alert-');
    const r = await receivers();
    try {
      // PagerDuty-like refusal that quotes the request's path (the URL's secret part).
      r.pd.behave = (req) => ({ status: 404, body: `Cannot POST ${req.path}` });
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, pipeline(dir, r.slack.url, r.pd.url));
      const env = { PD_KEY: 'R0UTINGKEY0123456789' };
      const run = await runCli(['test-alert', '-c', file, 'pd'], { env });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^FAILED {2}pd \(webhook\): HTTP 404: Cannot POST .* \(refused for good: a running daemon drops such an alert\) \(\d+ ms\)\n$/);
      expect(run.stdout + run.stderr).not.toContain('S3CRETPATHTOKEN42');
      expect(run.stderr).toBe('0 of 1 output took the test alert\n');
      expect(r.slack.requests).toHaveLength(0);
      // Rate limited: what the receiver asked is said with what a daemon would do.
      r.pd.behave = () => ({ status: 429, headers: { 'retry-after': '30' }, body: 'rate_limited' });
      const limited = await runCli(['test-alert', '-c', file, 'pd'], { env });
      expect(limited.code).toBe(1);
      // Before: '... HTTP 429: rate_limited (a running daemon retries this: ...)', the 30 s left out.
      expect(limited.stdout).toMatch(/^FAILED {2}pd \(webhook\): HTTP 429: rate_limited \(Retry-After: 30 s; a running daemon retries this: the alert would wait in its queue\) \(\d+ ms\)\n$/);
      // A receiver that is down: what a daemon would retry.
      await r.slack.close();
      const down = await runCli(['test-alert', '-c', file, 'team_slack'], { env });
      expect(down.code).toBe(1);
      expect(down.stdout).toMatch(/^FAILED {2}team_slack \(slack\): .*ECONNREFUSED.* \(a running daemon retries this: the alert would wait in its queue\)/);
      expect(down.stdout).not.toContain('XXXXXXXXXXXXXXXXXXXX');
    } finally {
      await r.close();
    }
  });

  it('closes the incident it opened on a webhook with resolved_payload (PagerDuty), unless --keep-open; a close that fails is a failure saying the incident is open', async () => {
    const dir = await tempDir('driftlock-test-alert-');
    const r = await receivers();
    try {
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, withResolvedPayload(pipeline(dir, r.slack.url, r.pd.url)));
      const env = { PD_KEY: 'R0UTINGKEY0123456789' };
      const run = await runCli(['test-alert', '-c', file, 'pd'], { env });
      expect(run.stdout).toMatch(/^ok {6}pd \(webhook\): the receiver took the test alert \(HTTP 200; closed with resolved_payload: HTTP 200, \d+ ms\)\n$/);
      expect(run.code).toBe(0);
      // The trigger, then the resolve of the same incident (its dedup_key), each a request of its own.
      expect(r.pd.requests.map((q) => JSON.parse(q.body) as unknown)).toEqual([
        expect.objectContaining({ event_action: 'trigger', dedup_key: 'driftlock-test-alert/field_content/http_user_agent' }),
        { routing_key: 'R0UTINGKEY0123456789', event_action: 'resolve', dedup_key: 'driftlock-test-alert/field_content/http_user_agent' },
      ]);
      expect(r.pd.requests[1]!.headers['idempotency-key']).not.toBe(r.pd.requests[0]!.headers['idempotency-key']);

      const kept = await runCli(['test-alert', '-c', file, 'pd', '--keep-open'], { env });
      expect(kept.code).toBe(0);
      expect(kept.stdout).toMatch(/^ok {6}pd \(webhook\): the receiver took the test alert \(HTTP 200, \d+ ms\)\n$/);
      expect(r.pd.requests).toHaveLength(3);
      expect(JSON.parse(r.pd.requests[2]!.body)).toMatchObject({ event_action: 'trigger' });

      // The receiver takes the trigger and refuses the resolve: the incident stays open, and the test says so.
      r.pd.behave = (req) => (req.body.includes('"resolve"') ? { status: 400, body: 'Invalid event' } : { status: 202, body: '{"status":"success"}' });
      const half = await runCli(['test-alert', '-c', file, 'pd'], { env });
      expect(half.code).toBe(1);
      expect(half.stdout).toMatch(/^FAILED {2}pd \(webhook\): the test alert was taken \(HTTP 202\) but the notice that closes it \(resolved_payload\) was not: HTTP 400: Invalid event .*; close the test incident by hand \(\d+ ms\)\n$/);
    } finally {
      await r.close();
    }
  });

  it('closes the incident on a webhook whose one payload says which it is by {resolved} (no resolved_payload); one without {resolved} is sent the alert alone', async () => {
    const dir = await tempDir('driftlock-test-alert-');
    const r = await receivers();
    try {
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, pipeline(dir, r.slack.url, r.pd.url).replace('event_action: trigger,', 'resolved: "{resolved}",'));
      const env = { PD_KEY: 'R0UTINGKEY0123456789' };
      const run = await runCli(['test-alert', '-c', file, 'pd'], { env });
      expect(run.stdout).toMatch(/^ok {6}pd \(webhook\): the receiver took the test alert \(HTTP 200; closed with payload with \{resolved\} true: HTTP 200, \d+ ms\)\n$/);
      expect(run.code).toBe(0);
      expect(r.pd.requests.map((q) => (JSON.parse(q.body) as { resolved: boolean; dedup_key: string }))).toEqual([
        expect.objectContaining({ resolved: false, dedup_key: 'driftlock-test-alert/field_content/http_user_agent' }),
        expect.objectContaining({ resolved: true, dedup_key: 'driftlock-test-alert/field_content/http_user_agent' }),
      ]);
      // The first test's payload has no {resolved}: nothing to close by (as before).
      const plain = path.join(dir, 'plain.yaml');
      await writeFile(plain, pipeline(dir, r.slack.url, r.pd.url));
      expect((await runCli(['test-alert', '-c', plain, 'pd'], { env })).code).toBe(0);
      expect(r.pd.requests).toHaveLength(3);
    } finally {
      await r.close();
    }
  });

  it('a test given up on (--timeout) after the alert was taken, its close unanswered, says that the test incident is open', async () => {
    const dir = await tempDir('driftlock-test-alert-');
    const r = await receivers();
    try {
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, withResolvedPayload(pipeline(dir, r.slack.url, r.pd.url)));
      const env = { PD_KEY: 'R0UTINGKEY0123456789' };
      // The trigger is taken; the resolve has no answer.
      r.pd.behave = (req) => (req.body.includes('"resolve"') ? 'hang' : { status: 202, body: '{"status":"success"}' });
      const half = await runCli(['test-alert', '-c', file, 'pd', '--timeout', '1s'], { env });
      expect(half.code).toBe(1);
      // Before, only "no answer within 1000 ms: its test had not ended", the incident left open unsaid.
      expect(half.stdout).toMatch(/^FAILED {2}pd \(webhook\): no answer within 1000 ms: its test had not ended \(driftlock test-alert --timeout\); the test alert was taken \(HTTP 202\) but the notice that closes it \(resolved_payload\) was not answered before the test gave up; close the test incident by hand \(\d+ ms\)\n$/);
      expect(r.pd.requests.map((q) => (JSON.parse(q.body) as { event_action: string }).event_action)).toEqual(['trigger', 'resolve']);
      // The trigger itself unanswered: the timeout alone, no word of a daemon stopping.
      r.pd.behave = () => 'hang';
      const none = await runCli(['test-alert', '-c', file, 'pd', '--timeout', '1s'], { env });
      expect(none.code).toBe(1);
      expect(none.stdout).toMatch(/^FAILED {2}pd \(webhook\): no answer within 1000 ms: its test had not ended \(driftlock test-alert --timeout\) \(\d+ ms\)\n$/);
    } finally {
      await r.close();
    }
  });

  it('refuses an id that is no output, an output with no receiver, and a config that does not load', async () => {
    const dir = await tempDir('driftlock-test-alert-');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, pipeline(dir, 'http://127.0.0.1:39999', 'http://127.0.0.1:39999'));
    const env = { PD_KEY: 'R0UTINGKEY0123456789' };
    const unknown = await runCli(['test-alert', '-c', file, 'pagerduty'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(`driftlock test-alert: ${file} has no output "pagerduty"; its outputs: team_slack (slack), pd (webhook), archive (file)\n`);
    // A misspelt id: which output was meant (before, the list alone).
    const misspelt = await runCli(['test-alert', '-c', file, 'team_slak'], { env });
    expect(misspelt.code).toBe(2);
    expect(misspelt.stderr).toBe(`driftlock test-alert: ${file} has no output "team_slak" (did you mean "team_slack"?); its outputs: team_slack (slack), pd (webhook), archive (file)\n`);
    const fileOutput = await runCli(['test-alert', '-c', file, 'archive'], { env });
    expect(fileOutput.code).toBe(2);
    expect(fileOutput.stderr).toMatch(/output "archive" is of type file, which has no test to send/);
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, 'inputs:\n  app: { type: stdin }\noutputs:\n  s: { type: slack, inputs: [app] }\n');
    const bad = await runCli(['test-alert', '-c', broken], { env });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/webhook_url/);
    const none = path.join(dir, 'none.yaml');
    await writeFile(none, `inputs:\n  app: { type: stdin }\noutputs:\n  out: { type: console, inputs: [app] }\n`);
    const nothing = await runCli(['test-alert', '-c', none], { env });
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toBe(`driftlock test-alert: ${none} has no output that posts to a receiver (slack, webhook); its outputs: out (console)\n`);
  });
});

describe('test-alert samples', () => {
  it('the notice that closes the sample incident has an id of its own, also when both are made in the same millisecond', () => {
    // Before: the same time and body gave the same Idempotency-Key, and a receiver could drop the close.
    const now = Date.parse('2026-11-27T11:00:00Z');
    expect(alertId(sampleResolved('pd', now), 'pd')).not.toBe(alertId(sampleAlert('pd', now), 'pd'));
    expect(alertId(sampleAlert('pd', now), 'pd')).toBe(alertId(sampleAlert('pd', now), 'pd'));
  });
});

describe('driftlock test-alert with a plugin output', () => {
  it('fails a test that never ends (after --timeout, its signal aborted) and says what a plugin rejected with, whatever it is', async () => {
    const dir = await tempDir('driftlock-test-alert-plugin-');
    const aborted = path.join(dir, 'aborted');
    await writeFile(path.join(dir, 'pager.js'), `import { writeFileSync } from 'node:fs';
export default ({ z, defineOutput, secret }) => [defineOutput({
  type: 'pager',
  description: 'a stand-in receiver client',
  config: z.object({ mode: z.string(), api_key: secret(z.string()) }),
  build: () => ({ async consume(batches) { for await (const b of batches) void b; } }),
  async sendTest(config, event, { signal }) {
    if (config.mode === 'hang') return new Promise(() => signal.addEventListener('abort', () => writeFileSync(${JSON.stringify(aborted)}, 'yes')));
    if (config.mode === 'string') throw 'login refused for key ' + config.api_key;
    return 'HTTP 202';
  },
})];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `plugins: [./pager.js]
inputs:
  app: { type: stdin }
outputs:
  hung: { type: pager, inputs: [app], mode: hang, api_key: "\${PAGER_KEY}" }
  refused: { type: pager, inputs: [app], mode: string, api_key: "\${PAGER_KEY}" }
  fine: { type: pager, inputs: [app], mode: ok, api_key: "\${PAGER_KEY}" }
`);
    const run = await runCli(['test-alert', '-c', file, '--timeout', '1s'], { env: { PAGER_KEY: 'PAGERKEY0123456789' } });
    // Before: a test that never settled left Node nothing to wait on; it printed nothing and exited 0. A
    // string thrown was said as 'undefined'.
    expect(run.stdout).toMatch(/^FAILED {2}hung \(pager\): no answer within 1000 ms: its test had not ended \(driftlock test-alert --timeout\) \(1\d{3} ms\)\nFAILED {2}refused \(pager\): login refused for key <redacted> \(\d+ ms\)\nok {6}fine \(pager\): the receiver took the test alert \(HTTP 202, \d+ ms\)\n$/);
    expect(run.stderr).toBe('1 of 3 outputs took the test alert\n');
    expect(run.code).toBe(1);
    expect(existsSync(aborted)).toBe(true);
  });
});

describe('driftlock test-alert and credentials a receiver quotes back', () => {
  it('masks a basic auth header as sent (base64 of user:password), not only the password as written', async () => {
    const dir = await tempDir('driftlock-test-alert-basic-');
    // A receiver that refuses and quotes the request's Authorization header (a debugging proxy, an echo).
    const r = await startReceiver((req) => ({ status: 401, body: `bad credentials: ${String(req.headers.authorization)}` }));
    try {
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, `inputs:
  app: { type: stdin }
outputs:
  hook: { type: webhook, inputs: [app], url: "${r.url}/hook", auth: { strategy: basic, user: alerts, password: "\${HOOK_PASSWORD}" } }
`);
      const run = await runCli(['test-alert', '-c', file], { env: { HOOK_PASSWORD: 'BASICPASS12345' } });
      expect(run.code).toBe(1);
      // Before: 'HTTP 401: bad credentials: Basic YWxlcnRzOkJBU0lDUEFTUzEyMzQ1': the password, decodable.
      expect(run.stdout).toMatch(/^FAILED {2}hook \(webhook\): HTTP 401: bad credentials: Basic <redacted> \(refused for good/);
      expect(run.stdout).not.toContain(Buffer.from('alerts:BASICPASS12345').toString('base64'));
    } finally {
      await r.close();
    }
  });
});

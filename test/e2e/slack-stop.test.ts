/**
 * A graceful stop of the Slack output while Slack takes requests and never answers, with the on-disk queue
 * full: the daemon stops in time (exit 0) instead of running into shutdown_timeout, and what it holds stays
 * on disk for the next start.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { exitSummary, startCli } from '../helpers/cli.js';
import { hang, startReceiver, type Receiver, cleanUp } from '../helpers/http-receiver.js';
import { incidentLines, stdinToSlack } from '../helpers/slack-pipeline.js';
import { tempDir } from '../helpers/temp.js';

let receiver: Receiver | undefined;
afterEach(async () => {
  await cleanUp(receiver);
  receiver = undefined;
});

describe('slack output stopped while Slack hangs and the queue is full', () => {
  it('stops before shutdown_timeout (exit 1, the alerts waiting for room counted abandoned), aborting the request in flight, with no retry', async () => {
    receiver = await startReceiver(hang);
    const dir = await tempDir('dl-slack-stop-');
    // One message fills a 1 KiB queue: the next alert waits for room that only an answer would make.
    const config = await stdinToSlack(dir, { top: ['shutdown_timeout: 3s'], slack: ['request: { timeout: 30s }', 'queue: { max_bytes: 1KiB }'] });
    const lines = incidentLines();
    const cli = startCli(['run', '-c', config], { env: { SLACK_WEBHOOK_URL: receiver.url } });
    cli.child.stdin!.write(lines.join('\n') + '\n'); // stdin stays open: the daemon keeps running
    await receiver.waitFor(() => receiver!.requests.length >= 1, 20_000, 'the first message');
    await cli.waitFor(/the on-disk queue is full: the output waits/, 'stderr', 20_000);
    const stopAt = performance.now();
    cli.child.kill('SIGTERM');
    const stopped = await cli.exited;
    const took = performance.now() - stopAt;
    // Before: the push waiting for room kept the output from reaching its drain deadline, and the request
    // hung on: the shutdown timeout cut it off at 3 s. Now it stops before, giving up on the alerts that
    // wait for room: counted, and not a clean stop (exit 1).
    expect(stopped.code, stopped.stderr.slice(-3000)).toBe(1);
    expect(exitSummary(stopped.stderr).slack!.abandoned_events_total).toBeGreaterThan(0);
    expect(stopped.stderr).toContain('stopping before the shutdown timeout');
    expect(took).toBeLessThan(2800);
    expect(receiver.requests).toHaveLength(1);
    expect(stopped.stderr).not.toContain('secret-token-xyz');
  });
});

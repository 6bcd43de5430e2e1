/**
 * An upgrade in place, as the README's "Where state lives, and upgrades" promises it: the data_dir an older
 * build left at its SIGTERM, started with this build. `test/fixtures/upgrade/4b31fab/` is that data_dir as
 * commit 4b31fab left it: the file input's checkpoint, the detector's state, the Slack output's queue of
 * alerts it could not send (the receiver was down), its open incident (`groups.json`) and last mention.
 *
 * How it was recorded: `DRIFTLOCK_UPGRADE_RECORD=<a build of 4b31fab>/dist/src/cli/main.js npx vitest run
 * test/e2e/upgrade.test.ts` runs the second test below: that build reads the first 1,000 lines of `accessLog()`
 * (three incidents among them) with nothing listening at its webhook URL, is stopped with SIGTERM once it
 * has read them, and its data_dir is copied here. The checkpoint's file identity (path, device, inode) is
 * recorded as placeholders, which this test fills in with its own copy of the log (the same bytes: the
 * lines are seeded); its fingerprint and offset are as 4b31fab wrote them.
 */
import { cp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { logLines, ROOT, startCli } from '../helpers/cli.js';
import { spawnForTest } from '../helpers/processes.js';
import { cleanUp, ok, startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { freePort } from '../helpers/metrics.js';
import { NginxLines, SQL_INJECTION } from '../helpers/nginx-lines.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const FIXTURE = path.join(ROOT, 'test/fixtures/upgrade/4b31fab');
/** Lines the old build read before its stop. */
const RECORDED = 1000;
/** The line of the new part that a restored detector flags, within the first `warmup` (100) events after the start. */
const SLOW_AFTER_UPGRADE = RECORDED + 10;

/** The access log: 1,000 lines with a slow response, a 503 and an SQL injection among them, then 200 more. */
function accessLog(): string[] {
  const gen = new NginxLines(43);
  return [
    ...gen.lines(600), gen.line({ response_time: 7.5 }), ...gen.lines(99), gen.line({ status: 503, request: 'POST /login HTTP/1.1' }),
    ...gen.lines(99), gen.line({ http_user_agent: SQL_INJECTION }), ...gen.lines(199),
    ...gen.lines(10), gen.line({ response_time: 7.5 }), ...gen.lines(189),
  ];
}

/** Byte offset of each line's start in `lines` written one a line. */
function offsets(lines: string[]): number[] {
  let at = 0;
  return lines.map((l) => {
    const start = at;
    at += Buffer.byteLength(l) + 1;
    return start;
  });
}

/** The pipeline both builds run: file -> parse -> anomaly_detect -> Slack, every event and every anomaly to files. */
async function pipeline(dir: string): Promise<string> {
  const file = path.join(dir, 'pipeline.yaml');
  await writeFile(file, [
    `data_dir: ${path.join(dir, 'data')}`,
    'inputs:',
    `  access: { type: file, include: ['${path.join(dir, 'access.log')}'], start_at: beginning }`,
    'transforms:',
    '  parse_access: { type: parse, inputs: [access], format: json }',
    '  detect: { type: anomaly_detect, inputs: [parse_access], stream_id: nginx-logs, profile: balanced }',
    'outputs:',
    `  events: { type: file, inputs: [parse_access], path: '${path.join(dir, 'events.jsonl')}' }`,
    `  anomalies: { type: file, inputs: [detect], path: '${path.join(dir, 'anomalies.jsonl')}' }`,
    '  slack:',
    '    type: slack',
    '    inputs: [detect]',
    '    webhook_url: ${SLACK_WEBHOOK_URL}',
    "    mention: { text: '<!here>', min_confidence: 0.5 }",
    '    retry: { initial_backoff: 100ms, max_backoff: 300ms }',
    '',
  ].join('\n'));
  return file;
}

async function jsonLines(file: string): Promise<Array<{ body: Record<string, unknown>; source: { offset: number } }>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { body: Record<string, unknown>; source: { offset: number } });
}

/** The queue's records after its acked mark (none written yet in the fixture), as the old build wrote them. */
async function queuedRecords(queue: string): Promise<unknown[]> {
  const segments = (await readdir(queue)).filter((n) => n.endsWith('.log')).sort();
  const records: unknown[] = [];
  for (const s of segments) for (const l of (await readFile(path.join(queue, s), 'utf8')).split('\n').filter(Boolean)) records.push((JSON.parse(l) as { d: unknown }).d);
  return records;
}

let receiver: Receiver | undefined;
afterEach(async () => {
  await cleanUp(receiver);
  receiver = undefined;
});

describe('upgrade in place from 4b31fab', () => {
  it('resumes the file at its checkpoint, sends the alerts queued by the old build, and restores the detector without a new warm-up', async () => {
    const dir = await tempDir('dl-upgrade-');
    const lines = accessLog();
    const log = path.join(dir, 'access.log');
    await writeFile(log, lines.map((l) => `${l}\n`).join(''));
    await cp(FIXTURE, path.join(dir, 'data'), { recursive: true });
    const checkpoints = path.join(dir, 'data/access/checkpoints.json');
    const saved = JSON.parse(await readFile(checkpoints, 'utf8')) as { files: Array<{ path: string; dev: number; ino: number; offset: number }> };
    const { dev, ino } = await stat(log);
    saved.files[0] = { ...saved.files[0]!, path: log, dev, ino };
    await writeFile(checkpoints, JSON.stringify(saved));
    const starts = offsets(lines);
    expect(saved.files[0].offset).toBe(starts[RECORDED]);
    const queued = await queuedRecords(path.join(dir, 'data/slack/queue'));
    expect(queued).toHaveLength(3);

    receiver = await startReceiver(ok);
    const config = await pipeline(dir);
    const daemon = startCli(['run', '-c', config], { env: { SLACK_WEBHOOK_URL: receiver.url } });
    const detail = () => daemon.stderr().slice(-3000);
    await until(async () => (await jsonLines(path.join(dir, 'events.jsonl'))).length >= lines.length - RECORDED, 'the lines written after the old build stopped', { detail });
    await until(async () => (await jsonLines(path.join(dir, 'anomalies.jsonl'))).some((e) => e.source.offset === starts[SLOW_AFTER_UPGRADE]), 'the slow response after the upgrade flagged', { detail });
    await receiver.waitFor(() => receiver!.accepted().length >= queued.length, 10_000, 'the queued alerts');
    daemon.child.kill('SIGTERM');
    const stopped = await daemon.exited;
    expect(stopped.code, detail()).toBe(0);

    // The file resumed at its checkpoint: each line written after it once, none before it.
    const events = await jsonLines(path.join(dir, 'events.jsonl'));
    expect(events.map((e) => e.source.offset)).toEqual(starts.slice(RECORDED));
    // The alerts the old build queued went out first, as it formatted them.
    expect(receiver.accepted().slice(0, queued.length).map((r) => JSON.parse(r.body) as unknown)).toEqual(queued);
    // The baseline was restored: the 11th event after the start is judged (a new warm-up takes 100).
    const logged = logLines(stopped.stderr);
    expect(logged.find((l) => l.msg === 'detector state restored: no new warm-up')).toMatchObject({ streams: 1 });
    const flagged = await jsonLines(path.join(dir, 'anomalies.jsonl'));
    expect(flagged.map((e) => e.source.offset)).toContain(starts[SLOW_AFTER_UPGRADE]);
    // The old build's state files (groups.json, mention.json among them) are read without a word of complaint.
    expect(logged.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal')).toEqual([]);
  });

  it.runIf(process.env.DRIFTLOCK_UPGRADE_RECORD)('records the fixture with the build DRIFTLOCK_UPGRADE_RECORD names', async () => {
    const cli = process.env.DRIFTLOCK_UPGRADE_RECORD!;
    const dir = await tempDir('dl-upgrade-record-');
    const lines = accessLog().slice(0, RECORDED);
    await writeFile(path.join(dir, 'access.log'), lines.map((l) => `${l}\n`).join(''));
    const config = await pipeline(dir);
    // Nothing listens at the webhook URL: the alerts wait in the queue.
    const old = spawnForTest(process.execPath, [cli, 'run', '-c', config], {
      cwd: ROOT, env: { ...process.env, SLACK_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/hook` }, stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => old.on('close', (code) => resolve(code)));
    await until(async () => (await jsonLines(path.join(dir, 'events.jsonl'))).length === RECORDED, 'the old build reading the log');
    await until(async () => (await queuedRecords(path.join(dir, 'data/slack/queue')).catch(() => [])).length >= 3, 'three queued alerts');
    old.kill('SIGTERM');
    expect(await exited).toBe(0);
    const checkpoints = path.join(dir, 'data/access/checkpoints.json');
    const saved = JSON.parse(await readFile(checkpoints, 'utf8')) as { files: Array<Record<string, unknown>> };
    expect(saved.files).toHaveLength(1);
    saved.files[0] = { ...saved.files[0], path: 'ACCESS_LOG', dev: 0, ino: 0 };
    await writeFile(checkpoints, JSON.stringify(saved));
    await rm(FIXTURE, { recursive: true, force: true });
    await cp(path.join(dir, 'data'), FIXTURE, { recursive: true });
  });
});

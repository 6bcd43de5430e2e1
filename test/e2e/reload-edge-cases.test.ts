/**
 * A reload that keeps inputs running, where it can go wrong (found by a review that ran the daemon): a
 * drain that abandons what a kept file input sent, an OTLP client whose deadline passes while its request
 * waits, a SIGTERM during the reload with an input that never stops.
 */
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, startCli } from '../helpers/cli.js';
import { RawOtlpClient, simpleRequest } from '../helpers/otlp-client.js';
import { freePort } from '../helpers/syslog-senders.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { scrape } from '../helpers/metrics.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A file input feeding a webhook whose requests may take 60 s (a receiver that hangs), shutdown_timeout 4 s:
 * the reloads below change its `x-team` header.
 */
function hangingHookPipeline(dir: string, log: string, url: string, team: string, more = ''): string {
  return `data_dir: ${dir}/data
shutdown_timeout: 4s
inputs:
  tail: { type: file, include: [${log}], start_at: beginning, check_interval: 100ms }
outputs:
  hook: { type: webhook, inputs: [tail], url: "${url}", headers: { x-team: ${team} }, batch: { max_events: 1 }, request: { timeout: 60s }${more} }
`;
}

describe('a reload that keeps inputs running, at its edges', () => {
  it('a kept file input whose lines the old pipeline\'s drain abandoned is restarted, and offers them to the new pipeline', async () => {
    const dir = await tempDir('dl-reload-abandon-');
    const deadPort = await freePort(); // nothing listens there: the receiver is down
    const log = path.join(dir, 'app.log');
    const all = path.join(dir, 'all.txt');
    await writeFile(log, '');
    const config = path.join(dir, 'pipeline.yaml');
    const api = await freePort();
    const pipeline = (extra: string) => `data_dir: ${dir}/data
shutdown_timeout: 5s
api: { enabled: true, address: "127.0.0.1:${api}" }
inputs:
  tail: { type: file, include: [${log}], start_at: beginning, check_interval: 100ms }
outputs:
  hook: { type: webhook, inputs: [tail], url: "http://127.0.0.1:${deadPort}/x", queue: { max_bytes: 16KiB }, retry: { initial_backoff: 5s } }
${extra}`;
    await writeFile(config, pipeline(''));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    // Five rounds, each read as a batch of its own (the queue takes a first batch over its max_bytes whole:
    // 2,000 lines read at once all fit), until the input waits on the full queue.
    const full = /on-disk queue is full/;
    let n = 0;
    for (let round = 0; round < 5; round++) {
      let text = '';
      for (let i = 0; i < 400; i++) text += `line ${n++} ${'x'.repeat(100)}\n`;
      await appendFile(log, text);
      await until(async () => full.test(cli.stderr()) || ((await scrape(api)).get('received_events_total/tail') ?? 0) >= n, `round ${round} read (received_events_total/tail ${n}), or the queue full`, { detail: () => cli.stderr().slice(-3000) });
    }
    // From here the output holds lines it cannot queue: the input's sends wait unacknowledged.
    await cli.waitFor(full);
    // The reload adds a file output; the file input is unchanged, but the drain abandons what it sent.
    await writeFile(config, pipeline(`  all: { type: file, inputs: [tail], path: ${all}, encoding: text }\n`));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/config reloaded: the new pipeline is running/);
    const lines = async () => (await readFile(all, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const last = `line 1999 ${'x'.repeat(100)}`;
    await until(async () => (await lines()).includes(last), 'the last line in the output the reload added', { detail: () => cli.stderr().slice(-6000) });
    cli.child.kill('SIGTERM');
    await cli.exited;
    const logs = logLines(cli.stderr());
    expect(logs.find((l) => l.msg === 'SIGHUP: reloading the config: draining the running pipeline')?.kept_running).toEqual(['tail']);
    expect(logs.some((l) => String(l.msg).startsWith('events this input sent were abandoned by the reload')), cli.stderr()).toBe(true);
    expect(logs.find((l) => l.msg === 'config reloaded: the new pipeline is running')?.kept_running).toEqual([]);
    // Before: kept running, the input never read them again in this process: the new output got none.
    const got = new Set(await lines());
    expect(got.size).toBeGreaterThanOrEqual(1500);
    expect(got.has(last), cli.stderr().slice(-6000)).toBe(true);
  }, 60_000);

  it('an output the new config has too leaves its backlog on disk for it: the reload does not wait for a slow receiver to take it', async () => {
    const dir = await tempDir('dl-reload-backlog-');
    // A slow receiver: 1.5 s an answer. 12 alerts queued are 18 s of sending. Slow until the reload is said,
    // then answering at once: the backlog the new pipeline takes does not take 18 s more to send.
    let slow = true;
    const receiver = await startReceiver(() => ({ status: 200, body: 'ok', delayMs: slow ? 1500 : 0 }));
    try {
      const log = path.join(dir, 'app.log');
      await writeFile(log, '');
      const config = path.join(dir, 'pipeline.yaml');
      const pipeline = (team: string) => `data_dir: ${dir}/data
shutdown_timeout: 30s
inputs:
  tail: { type: file, include: [${log}], start_at: beginning, check_interval: 100ms }
outputs:
  hook: { type: webhook, inputs: [tail], url: "${receiver.url}", headers: { x-team: ${team} }, batch: { max_events: 1 } }
`;
      await writeFile(config, pipeline('a'));
      const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
      await cli.waitFor(/driftlock running/);
      await appendFile(log, Array.from({ length: 12 }, (_, i) => `alert ${i}\n`).join(''));
      await receiver.waitFor(() => receiver.requests.length >= 1, 10_000, 'the first request');
      // The webhook's own settings change (same id and type): its queue goes on in the new pipeline.
      await writeFile(config, pipeline('b'));
      const hup = performance.now();
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/, 'stderr', 30_000);
      const took = performance.now() - hup;
      slow = false;
      // Before: the old pipeline sent its whole backlog first (18 s here; up to most of shutdown_timeout).
      expect(took, cli.stderr().slice(-3000)).toBeLessThan(6_000);
      await receiver.waitFor(() => receiver.accepted().length >= 12, 40_000, '12 alerts');
      cli.child.kill('SIGTERM');
      await cli.exited;
      const bodies = receiver.accepted().map((r) => (JSON.parse(r.body) as { event: { body: string } }).event.body);
      // Each once, in order; the new instance sends the backlog with its own settings.
      expect(bodies).toEqual(Array.from({ length: 12 }, (_, i) => `alert ${i}`));
      expect(receiver.accepted().at(-1)!.headers['x-team']).toBe('b');
      const logs = logLines(cli.stderr());
      expect(logs.some((l) => /^reload: \d+ queued record\(s\) wait on disk for the new pipeline's hook/.test(String(l.msg))), cli.stderr().slice(-3000)).toBe(true);
    } finally {
      await receiver.close();
    }
  }, 90_000);

  it('an output handing its queue on gives up a request that hangs before the shutdown timeout, as a drain does: the reload ends in time, the kept input is not made to read again', async () => {
    const dir = await tempDir('dl-reload-handoff-hang-');
    // A receiver that hangs (request.timeout longer than shutdown_timeout), then answers once it is back.
    let hanging = true;
    const receiver = await startReceiver(() => (hanging ? 'hang' : { status: 200, body: 'ok' }));
    try {
      const log = path.join(dir, 'app.log');
      await writeFile(log, '');
      const config = path.join(dir, 'pipeline.yaml');
      const pipeline = (team: string) => hangingHookPipeline(dir, log, receiver.url, team, ', acknowledgements: delivered');
      await writeFile(config, pipeline('a'));
      const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
      await cli.waitFor(/driftlock running/);
      await appendFile(log, Array.from({ length: 5 }, (_, i) => `alert ${i}\n`).join(''));
      await receiver.waitFor(() => receiver.requests.length >= 1, 10_000, 'the first request');
      await writeFile(config, pipeline('b'));
      const hup = performance.now();
      cli.child.kill('SIGHUP');
      // The request in flight hangs on; the ones after it are answered.
      hanging = false;
      await cli.waitFor(/config reloaded: the new pipeline is running/, 'stderr', 30_000);
      const took = performance.now() - hup;
      await receiver.waitFor(() => receiver.accepted().length >= 5, 20_000, '5 alerts');
      // A line appended now is sent after anything the input would read again (it reads its file in order,
      // the webhook sends one at a time): once it is accepted, no duplicate is still to come.
      await appendFile(log, 'alert 5\n');
      await receiver.waitFor(() => receiver.accepted().some((r) => r.body.includes('"alert 5"')), 20_000, 'alert 5, appended after the reload');
      cli.child.kill('SIGTERM');
      await cli.exited;
      const logs = logLines(cli.stderr());
      // Before: the request in flight held the old pipeline until the shutdown timeout ('shutdown timeout
      // reached', drained false), the kept file input was restarted for the acknowledgements it lost, and it
      // read its 5 lines again, which the queue handed on held too: each alert was delivered twice.
      expect(logs.some((l) => /shutdown timeout reached/.test(String(l.msg))), cli.stderr().slice(-4000)).toBe(false);
      expect(logs.find((l) => l.msg === 'config reloaded: the new pipeline is running')).toMatchObject({ drained: true, kept_running: ['tail'] });
      expect(took).toBeLessThan(4_000);
      const bodies = receiver.accepted().map((r) => (JSON.parse(r.body) as { event: { body: string } }).event.body);
      expect(bodies).toEqual(Array.from({ length: 6 }, (_, i) => `alert ${i}`));
      expect(logs.some((l) => /^stopping before the shutdown timeout: \d+ queued record\(s\) wait on disk for the new pipeline's hook/.test(String(l.msg))), cli.stderr().slice(-4000)).toBe(true);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('a SIGTERM during the hand-off of a queue says its records wait for the next start (no new pipeline starts), and the next start sends them', async () => {
    const dir = await tempDir('dl-reload-handoff-stop-');
    // A receiver that hangs, so that the hand-off waits on the request in flight while the SIGTERM comes.
    let hanging = true;
    const receiver = await startReceiver(() => (hanging ? 'hang' : { status: 200, body: 'ok' }));
    try {
      const log = path.join(dir, 'app.log');
      await writeFile(log, '');
      const config = path.join(dir, 'pipeline.yaml');
      const pipeline = (team: string) => hangingHookPipeline(dir, log, receiver.url, team);
      await writeFile(config, pipeline('a'));
      const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
      await cli.waitFor(/driftlock running/);
      await appendFile(log, Array.from({ length: 5 }, (_, i) => `alert ${i}\n`).join(''));
      await receiver.waitFor(() => receiver.requests.length >= 1, 10_000, 'the first request');
      await writeFile(config, pipeline('b'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/SIGHUP: reloading the config: draining the running pipeline/);
      cli.child.kill('SIGTERM');
      await cli.exited;
      const said = logLines(cli.stderr()).map((l) => String(l.msg)).filter((m) => /queued record\(s\)/.test(m));
      // Before: 'reload: 5 queued record(s) wait on disk for the new pipeline's hook, which sends them first'
      // (and the drain's deadline said so too), though the SIGTERM left no new pipeline to start.
      expect(said.filter((m) => m.includes('new pipeline')), cli.stderr().slice(-4000)).toEqual([]);
      expect(said).toContainEqual(expect.stringMatching(/^stopped during a reload: \d+ queued record\(s\) stay on disk and are sent at the next start$/));
      // Said once for all outputs, also for one that had finished handing its queue on before the signal.
      expect(logLines(cli.stderr()).map((l) => l.msg)).toContain('stopped during the reload: the reloaded config is not started; records the outputs handed on stay queued on disk and are sent at the next start');
      // And the next start does send them, with the config the reload had read.
      hanging = false;
      const next = startCli(['run', '-c', config], { stdin: 'ignore' });
      await receiver.waitFor(() => new Set(receiver.accepted().map((r) => r.body)).size >= 5, 20_000, '5 alerts');
      next.child.kill('SIGTERM');
      expect((await next.exited).code).toBe(0);
      const bodies = new Set(receiver.accepted().map((r) => (JSON.parse(r.body) as { event: { body: string } }).event.body));
      expect(bodies).toEqual(new Set(Array.from({ length: 5 }, (_, i) => `alert ${i}`)));
      expect(receiver.accepted().at(-1)!.headers['x-team']).toBe('b');
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('an output whose type a reload changes (same id) does not send what the other type left in its queue: it is kept aside and said', async () => {
    const dir = await tempDir('dl-reload-type-');
    const deadPort = await freePort(); // the webhook's receiver is down: its alerts stay queued
    const slack = await startReceiver();
    try {
      const log = path.join(dir, 'app.log');
      await writeFile(log, '');
      const config = path.join(dir, 'pipeline.yaml');
      const head = `data_dir: ${dir}/data
shutdown_timeout: 2s
inputs:
  tail: { type: file, include: [${log}], start_at: beginning, check_interval: 100ms }
outputs:
`;
      await writeFile(config, `${head}  alerts: { type: webhook, inputs: [tail], url: "http://127.0.0.1:${deadPort}/x", batch: { max_events: 1 } }\n`);
      const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
      await cli.waitFor(/driftlock running/);
      await appendFile(log, 'alert 0\nalert 1\nalert 2\n');
      await cli.waitFor(/cannot deliver to the webhook; retrying/);
      // Moved to Slack under the same id: the webhook drains what it can (nothing) and leaves the rest on disk.
      await writeFile(config, `${head}  alerts: { type: slack, inputs: [tail], webhook_url: "${slack.url}/services/T0/B0/X" }\n`);
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/);
      await cli.waitFor(/undelivered record\(s\) in the on-disk queue were left by a webhook output/);
      // Slack would be sent them on its own, with no later record to follow them (it posts anomalies only,
      // and these lines are none): a bounded wait to show that none comes.
      await sleep(1000);
      cli.child.kill('SIGTERM');
      await cli.exited;
      // Before: the slack output sent the webhook's three records as they were ({"id", "entry", "event"}),
      // which Slack refuses for good (no text): three requests here, each a webhook alert.
      expect(slack.requests.map((r) => r.body)).toEqual([]);
      const said = logLines(cli.stderr()).find((l) => /left by a webhook output/.test(String(l.msg)))!;
      expect(said).toMatchObject({ component: 'alerts', queued: 3, queue_format: 'webhook', format: 'slack' });
      expect(String(said.msg)).toMatch(/^3 undelivered record\(s\) in the on-disk queue were left by a webhook output with this id: not sent to Slack, which would get them in a webhook output's shape; kept in .*queue\.webhook-/);
      const aside = String(said.folder);
      const kept = (await readdir(aside)).filter((f) => f.endsWith('.log'));
      const bodies = (await Promise.all(kept.map((f) => readFile(path.join(aside, f), 'utf8')))).join('').split('\n').filter(Boolean)
        .map((l) => (JSON.parse(l) as { d: { event: { body: string } } }).d.event.body);
      expect(bodies).toEqual(['alert 0', 'alert 1', 'alert 2']);
      // The slack output's own queue says what it holds: a restart with the same type goes on as before.
      expect((await readFile(path.join(dir, 'data', 'alerts', 'queue', 'format'), 'utf8')).trim()).toBe('slack');
    } finally {
      await slack.close();
    }
  }, 60_000);

  it('an output a reload renames leaves its undelivered records on disk, and says that no output of the new config sends them (not "sent at the next start")', async () => {
    const dir = await tempDir('dl-reload-rename-');
    const deadPort = await freePort(); // the receiver is down: the records stay queued
    const log = path.join(dir, 'app.log');
    await writeFile(log, '');
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (id: string) => `data_dir: ${dir}/data
shutdown_timeout: 2s
inputs:
  tail: { type: file, include: [${log}], start_at: beginning, check_interval: 100ms }
outputs:
  ${id}: { type: webhook, inputs: [tail], url: "http://127.0.0.1:${deadPort}/x", batch: { max_events: 1 } }
`;
    await writeFile(config, pipeline('alerts'));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    await appendFile(log, 'alert 0\nalert 1\nalert 2\n');
    await cli.waitFor(/cannot deliver to the webhook; retrying/);
    await writeFile(config, pipeline('pager'));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/config reloaded: the new pipeline is running/);
    cli.child.kill('SIGTERM');
    await cli.exited;
    const logs = logLines(cli.stderr());
    const left = logs.find((l) => l.component === 'alerts' && /while stopping/.test(String(l.msg)))!;
    // Before: '... 3 queued record(s) stay on disk and are sent at the next start': no output of the new
    // config is called alerts, so nothing would ever send them, and nothing said so.
    expect(String(left.msg), cli.stderr().slice(-3000)).toBe(`cannot deliver to the webhook while stopping; 3 queued record(s) stay on disk in ${dir}/data/alerts/queue, which no output of the new config sends (it has no such output: removed, renamed, or of another type); give one that id and type again to send them, or delete the folder`);
    expect(logs.some((l) => /are sent at the next start/.test(String(l.msg)))).toBe(false);
  }, 60_000);

  it('an OTLP request held past its client\'s deadline is not written as well as its retry: otlp_grpc is rebuilt by a reload, not kept', async () => {
    const dir = await tempDir('dl-reload-otlp-');
    const port = await freePort();
    const out = path.join(dir, 'out.jsonl');
    // A transform whose build takes 3 s: the reload takes that long (as a slow drain would).
    await writeFile(path.join(dir, 'slow.mjs'), `export default ({ z, defineTransform }) => [defineTransform({
  type: 'slowbuild', description: 'slow build', config: z.object({ build_ms: z.number() }),
  async build(c) { await new Promise((r) => setTimeout(r, c.build_ms)); return { map: (e) => e }; } })];\n`);
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (ms: number) => `data_dir: ${dir}/data
plugins: [./slow.mjs]
inputs:
  otlp: { type: otlp_grpc, address: 127.0.0.1:${port} }
transforms:
  pass: { type: slowbuild, inputs: [otlp], build_ms: ${ms} }
outputs:
  out: { type: file, inputs: [pass], path: ${out} }
`;
    await writeFile(config, pipeline(0));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    const client = new RawOtlpClient(port);
    try {
      await cli.waitFor(/driftlock running/);
      // An exporter: one request at a time, 1 s deadline, sent again until it is answered OK.
      let batch = 0;
      let answered = 0;
      let sending = true;
      let errors = 0;
      const exporter = (async () => {
        while (sending) {
          const b = batch++;
          for (;;) {
            const { error } = await client.export(simpleRequest(5, (i) => `b${b}.${i}`), undefined, { deadline: Date.now() + 1000 });
            if (!error) break;
            errors++;
            await sleep(100); // the exporter's backoff
          }
          answered++;
          await sleep(20); // and its pace
        }
      })();
      await until(() => answered >= 5, '5 batches answered before the reload', { detail: () => cli.stderr().slice(-3000) });
      await writeFile(config, pipeline(3000));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded: the new pipeline is running/);
      const atReload = answered;
      await until(() => answered >= atReload + 5, '5 batches answered after the reload', { detail: () => cli.stderr().slice(-3000) });
      sending = false;
      await exporter;
      cli.child.kill('SIGTERM');
      const exit = await cli.exited;
      expect(exit.code, exit.stderr).toBe(0);
      expect(logLines(exit.stderr).find((l) => l.msg === 'SIGHUP: reloading the config: draining the running pipeline')?.kept_running).toEqual([]);
      const bodies = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { body: string }).body);
      expect(errors).toBeGreaterThan(0); // the client was turned away during the reload, and sent again
      expect(bodies.length - new Set(bodies).size).toBe(0); // no record written twice
      expect(new Set(bodies).size).toBe(batch * 5);
    } finally {
      client.close();
    }
  }, 60_000);

  it('a SIGTERM during a reload exits within the shutdown timeout even if a kept input never returns from its stop; the others stop reading at once', async () => {
    const dir = await tempDir('dl-reload-term-');
    await writeFile(path.join(dir, 'plug.mjs'), `export default ({ z, defineInput, defineOutput, ackBatch }) => [
  defineInput({ type: 'stubborn', description: 'never ends', config: z.object({}), build: () => ({ run: () => new Promise(() => {}) }) }),
  defineInput({ type: 'tick', description: 'ticks', config: z.object({}), build: () => ({ async run(ctx) {
    for (let i = 0; !ctx.signal.aborted; i++) { await ctx.emit([{ observedTimestamp: Date.now(), body: 't' + i, attributes: {}, source: { input: ctx.id } }]); await new Promise((r) => setTimeout(r, 1)); } } }) }),
  defineOutput({ type: 'slow', description: 'slow', config: z.object({ delay_ms: z.number() }), build: (c) => ({ async consume(batches) {
    for await (const b of batches) { await new Promise((r) => setTimeout(r, c.delay_ms)); ackBatch(b); } } }) }),
];\n`);
    const config = path.join(dir, 'pipeline.yaml');
    const api = await freePort();
    const pipeline = (delay: number) => `data_dir: ${dir}/data
shutdown_timeout: 3s
api: { enabled: true, address: "127.0.0.1:${api}" }
plugins: [./plug.mjs]
inputs:
  stub: { type: stubborn }
  tick: { type: tick }
outputs:
  out: { type: slow, inputs: [stub, tick], delay_ms: ${delay}, buffer: { max_events: 20 } }
`;
    await writeFile(config, pipeline(100));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    // A full buffer: the reload's drain takes 2 s (20 events at 100 ms each), the SIGTERM comes during it.
    await until(async () => ((await scrape(api)).get('buffer_events/out') ?? 0) >= 20, 'the output\'s buffer to fill (20 events)', { detail: () => cli.stderr().slice(-3000) });
    await writeFile(config, pipeline(0)); // the output changes; both inputs are kept
    cli.child.kill('SIGHUP');
    await cli.waitFor(/reloading the config/);
    // The ticking input is held at the reload's gate once its send under way is queued: from then on the old
    // buffer only drains. Two batches out of it (200 ms of the 2 s drain) and the ticks (1 ms apart) wait.
    await until(async () => ((await scrape(api)).get('buffer_events/out') ?? 20) <= 18, 'the old pipeline\'s buffer to drain to 18 events (the ticking input held)', { detail: () => cli.stderr().slice(-3000) });
    const t = Date.now();
    cli.child.kill('SIGTERM');
    // Before: still running 15 s later (the held inputs were waited for without a limit).
    const exit = await Promise.race([cli.exited, sleep(15_000).then(() => undefined)]);
    expect(exit, `still running ${Date.now() - t} ms after SIGTERM`).toBeDefined();
    expect(exit!.code).toBe(1);
    expect(Date.now() - t).toBeLessThan(9_000);
    const logs = logLines(exit!.stderr);
    expect(logs.find((l) => l.component === 'stub' && String(l.msg).includes('did not stop within the shutdown timeout'))).toBeDefined();
    // The ticking input stopped at the SIGTERM, not after the drain: it held one batch, no more.
    expect(logs.find((l) => l.component === 'tick' && String(l.msg).startsWith('stopped during a reload'))?.discarded_events).toBe(1);
  }, 40_000);

  it('a SIGHUP during a reload is not lost: the config is read again once that reload is done', async () => {
    const dir = await tempDir('dl-reload-twice-');
    await writeFile(path.join(dir, 'slow.mjs'), `export default ({ z, defineTransform }) => [defineTransform({
  type: 'slowbuild', description: 'slow build', config: z.object({ build_ms: z.number() }),
  async build(c) { await new Promise((r) => setTimeout(r, c.build_ms)); return { map: (e) => e }; } })];\n`);
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (ms: number, extra = '') => `data_dir: ${dir}/data
plugins: [./slow.mjs]
inputs:
  gen: { type: demo, rate: 50 }
transforms:
  pass: { type: slowbuild, inputs: [gen], build_ms: ${ms} }
outputs:
  out: { type: file, inputs: [pass], path: ${dir}/out.jsonl }
${extra}`;
    await writeFile(config, pipeline(0));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    await writeFile(config, pipeline(1500));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/reloading the config/);
    // Edited again while the first reload starts its pipeline (1.5 s): before, this SIGHUP was dropped.
    await writeFile(config, pipeline(1500, `  third: { type: file, inputs: [gen], path: ${dir}/third.jsonl }\n`));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/the config will be read again once this reload is done/);
    const reloaded = () => logLines(cli.stderr()).filter((l) => l.msg === 'config reloaded: the new pipeline is running').length;
    await until(() => reloaded() >= 2, 'a second "config reloaded"', { detail: () => cli.stderr().slice(-3000) });
    expect(reloaded()).toBe(2);
    const third = async () => (await readFile(path.join(dir, 'third.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    await until(async () => (await third()) > 0, 'a line in the output the second SIGHUP added');
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 40_000);

  it('reloads add nothing that stays: after 12 of them Node reports no listener leak on stderr', async () => {
    const dir = await tempDir('dl-reload-listeners-');
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (rate: number) => `data_dir: ${dir}/data
inputs:
  gen: { type: demo, rate: ${rate} }
outputs:
  out: { type: file, inputs: [gen], path: ${dir}/out.jsonl }
`;
    await writeFile(config, pipeline(10));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    const reloaded = () => logLines(cli.stderr()).filter((l) => l.msg === 'config reloaded: the new pipeline is running').length;
    for (let i = 1; i <= 12; i++) {
      // A change each time (the demo input is rebuilt), as a config rollout that alternates would make.
      await writeFile(config, pipeline(i % 2 === 0 ? 10 : 20));
      cli.child.kill('SIGHUP');
      await until(() => reloaded() >= i, `"config reloaded" ${i} times`, { detail: () => cli.stderr().slice(-3000) });
      expect(reloaded()).toBe(i);
    }
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect(exit.code, exit.stderr).toBe(0);
    // Before: each reload left a listener on the daemon's stop signal, and Node said so at the eleventh.
    expect(exit.stderr).not.toMatch(/MaxListenersExceededWarning|memory leak/);
  }, 60_000);

  it('an api change is left for a restart: the reload keeps the API that listens as the running one (no drain for it; going back to it is no change)', async () => {
    const dir = await tempDir('dl-reload-api-');
    const [a, b] = [await freePort(), await freePort()];
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (port: number) => `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:${port}" }
inputs:
  gen: { type: demo, rate: 10 }
outputs:
  out: { type: file, inputs: [gen], path: ${dir}/out.jsonl }
`;
    await writeFile(config, pipeline(a));
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    const said = (msg: RegExp) => logLines(cli.stderr()).filter((l) => msg.test(String(l.msg)));
    const unchanged = /^SIGHUP: config unchanged/;
    await writeFile(config, pipeline(b));
    cli.child.kill('SIGHUP');
    await until(() => said(unchanged).length >= 1, 'the first "SIGHUP: config unchanged"', { detail: () => cli.stderr().slice(-3000) });
    // Back to the address that is served: nothing to say, nothing to do.
    await writeFile(config, pipeline(a));
    cli.child.kill('SIGHUP');
    await until(() => said(unchanged).length >= 2, 'the second "SIGHUP: config unchanged"', { detail: () => cli.stderr().slice(-3000) });
    expect((await fetch(`http://127.0.0.1:${a}/health`)).status).toBe(200);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
    // Before: the first reload drained and rebuilt the pipeline for an api it did not apply, took ${b} as the
    // running API, and the second warned of a change from ${b} (where nothing listened) back to ${a}.
    expect(said(/^SIGHUP: api settings change/).map((l) => [l.api, l.new_api])).toEqual([[{ enabled: true, address: `127.0.0.1:${a}` }, { enabled: true, address: `127.0.0.1:${b}` }]]);
    expect(said(unchanged)).toHaveLength(2);
    expect(said(/^SIGHUP: reloading the config/)).toEqual([]);
  }, 30_000);

  it('every SIGHUP line names the config file the same way (its absolute path), also for a -c given relative', async () => {
    const dir = await tempDir('dl-reload-name-');
    const config = path.join(dir, 'pipeline.yaml');
    const pipeline = (rate: string) => `data_dir: ${dir}/data
inputs:
  gen: { type: demo, rate: ${rate} }
outputs:
  out: { type: file, inputs: [gen], path: ${dir}/out.jsonl }
`;
    await writeFile(config, pipeline('10'));
    const cli = startCli(['run', '-c', 'pipeline.yaml'], { stdin: 'ignore', cwd: dir });
    await cli.waitFor(/driftlock running/);
    await writeFile(config, pipeline('ten'));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/SIGHUP: the config does not load/);
    await writeFile(config, pipeline('20'));
    cli.child.kill('SIGHUP');
    await cli.waitFor(/config reloaded/);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
    const named = logLines(cli.stderr()).filter((l) => /^(driftlock running|SIGHUP|config reloaded)/.test(String(l.msg))).map((l) => [l.msg, l.config]);
    // Before: the refusal said "pipeline.yaml", the other lines the absolute path: one file, two names to search by.
    expect(named.map(([, c]) => c)).toEqual(named.map(() => config));
    expect(named).toHaveLength(4);
  }, 30_000);
});

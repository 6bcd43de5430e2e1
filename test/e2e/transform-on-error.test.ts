/**
 * A transform that throws on a batch, through the real daemon: `on_error` says what becomes of its events.
 * Before, every transform failed open (the events passed on unchanged), `redact` too: what it should have
 * taken out went on to the outputs.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitSummary, logLines, startCli } from '../helpers/cli.js';
import { readCheckpoints, tempDir } from '../helpers/file-input.js';
import { freePort } from '../helpers/metrics.js';

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

/** The value of `driftlock_<name>{component_id="<id>",...,<label>}` on /metrics, or undefined when it is not there. */
function sample(text: string, name: string, id: string, label: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`driftlock_${name}{component_id="${id}",`) && l.includes(label));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('transform on_error', () => {
  it('a plugin transform that throws: with on_error: drop its events are dropped, counted and acknowledged so that the file input checkpoints past them; with pass they go on', async () => {
    const dir = await tempDir('dl-on-error-');
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    // Enough lines for several batches: the failures after the first are counted, not each logged.
    const LINES = 20_000;
    await writeFile(log, Array.from({ length: LINES }, (_, i) => `line ${i} ${'x'.repeat(40)}\n`).join(''));
    await writeFile(path.join(dir, 'throws.mjs'), `export default ({ z, defineTransform }) => [
  defineTransform({ type: 'throws', description: 'fails on every batch', config: z.object({}), build: () => ({
    map: (events) => { throw new Error('cannot map ' + events.length + ' events'); },
  }) }),
];
`);
    const api = await freePort();
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${data}
api: { enabled: true, address: 127.0.0.1:${api} }
plugins: [./throws.mjs]
inputs:
  app: { type: file, include: [${log}], start_at: beginning }
transforms:
  drops: { type: throws, inputs: [app], on_error: drop }
  passes: { type: throws, inputs: [app] }
outputs:
  after_drop: { type: file, inputs: [drops], path: ${dir}/after-drop.jsonl }
  after_pass: { type: file, inputs: [passes], path: ${dir}/after-pass.jsonl }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    let metrics = '';
    for (let i = 0; i < 300 && sample(metrics, 'ack_dropped_events_total', 'app', '') !== LINES; i++) {
      await new Promise((r) => setTimeout(r, 50));
      metrics = await fetch(`http://127.0.0.1:${api}/metrics`).then((r) => r.text()).catch(() => '');
    }
    expect(sample(metrics, 'failed_events_total', 'drops', 'outcome="dropped"')).toBe(LINES);
    expect(sample(metrics, 'failed_events_total', 'passes', 'outcome="passed"')).toBe(LINES);
    expect(sample(metrics, 'failed_events_total', 'drops', 'outcome="passed"')).toBeUndefined();
    // Acknowledged `dropped` (the worst of its branches): counted on the input, not `abandoned`.
    expect(sample(metrics, 'ack_dropped_events_total', 'app', '')).toBe(LINES);
    const health = await fetch(`http://127.0.0.1:${api}/health`);
    expect(health.status).toBe(503);
    const failing = ((await health.json()) as { failing: Array<{ component: string; last_error: string; problems: Array<{ problem: string }> }> }).failing;
    expect(failing.find((f) => f.component === 'drops')?.last_error).toMatch(/^failed on a batch, its events dropped \(on_error: drop\): cannot map \d+ events$/);
    expect(failing.find((f) => f.component === 'drops')?.problems).toEqual([{ problem: 'failed_batch', last_error: expect.stringMatching(/^failed on a batch, its events dropped/), seconds_ago: expect.any(Number) }]);
    expect(failing.find((f) => f.component === 'passes')?.last_error).toMatch(/^failed on a batch, its events passed on as the transform left them: cannot map \d+ events$/);

    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    expect(await lines(path.join(dir, 'after-drop.jsonl'))).toEqual([]);
    expect((await lines(path.join(dir, 'after-pass.jsonl'))).length).toBe(LINES);
    // The dropped lines are not read again at the next start: the checkpoint is at the end of the file.
    expect((await readCheckpoints(path.join(data, 'app')))[0]!.offset).toBe((await stat(log)).size);

    const summary = exitSummary(result.stderr);
    const batches = summary.drops!.errors_total!;
    expect(batches).toBeGreaterThan(1);
    const said = logLines(result.stderr).filter((l) => l.component === 'drops' && l.msg === 'transform failed on a batch; dropped its events (on_error: drop)');
    expect((said[0]?.err as { message: string }).message).toMatch(/^cannot map \d+ events$/);
    // Logged at the first failure, then at most every 10 s: not a line a batch.
    expect(said.length).toBeLessThan(batches);
  }, 60_000);

  it('a stream transform that fails on a batch, a plugin\'s or anomaly_detect: its on_error applies to that batch too', async () => {
    // Before, on_error did not apply to a stream transform: a plugin's that threw on a batch was restarted
    // and fed the batch again, for ever (it threw each time), and anomaly_detect passed such a batch on
    // whatever its on_error said.
    const dir = await tempDir('dl-on-error-stream-');
    const log = path.join(dir, 'app.log');
    const LINES = 2_000;
    // Long enough lines for several batches (one per 256 KiB read): the poison line's is one of them.
    const pad = 'x'.repeat(400);
    await writeFile(log, Array.from({ length: LINES }, (_, i) => `${JSON.stringify(i === 1_000 ? { n: i, pad, poison: true } : { n: i, pad })}\n`).join(''));
    // `fails_on_poison` fails on a batch with a poison line: it throws out of stream(), or (`tell`) tells
    // the engine (ctx.failedBatch). `frozen` hands on events whose attributes cannot be changed (a careless
    // plugin): anomaly_detect then fails on every batch of JSON lines it marks. `bare` hands on new
    // events of a body alone: the engine fills in the rest, so anomaly_detect after it does not fail (before,
    // it failed on every batch, as after `frozen`).
    await writeFile(path.join(dir, 'plugin.mjs'), `export default ({ z, defineTransform }) => [
  defineTransform({ type: 'fails_on_poison', description: 'fails on a poison line', config: z.object({ tell: z.boolean().default(false) }),
    build: (config, ctx) => ({
      async *stream(batches) {
        for await (const batch of batches) {
          if (!batch.events.some((e) => e.body.includes('poison'))) { yield batch; continue; }
          const err = new Error('poison in ' + batch.events.length + ' events');
          if (!config.tell) throw err;
          const passed = ctx.failedBatch(batch, err);
          if (passed) yield passed;
        }
      },
    }) }),
  defineTransform({ type: 'frozen', description: 'freezes attributes', config: z.object({}),
    build: () => ({ map: (events) => events.map((e) => ({ ...e, attributes: Object.freeze({}) })) }) }),
  defineTransform({ type: 'bare', description: 'new events of a body alone', config: z.object({}),
    build: () => ({ map: (events) => events.map((e) => ({ body: e.body })) }) }),
];
`);
    const api = await freePort();
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
api: { enabled: true, address: 127.0.0.1:${api} }
plugins: [./plugin.mjs]
inputs:
  app: { type: file, include: [${log}], start_at: beginning }
transforms:
  thrower: { type: fails_on_poison, inputs: [app], on_error: drop }
  teller: { type: fails_on_poison, tell: true, inputs: [app], on_error: drop }
  frozen: { type: frozen, inputs: [app] }
  detect: { type: anomaly_detect, inputs: [frozen], emit: all, on_error: drop }
  bare: { type: bare, inputs: [app] }
  detect_bare: { type: anomaly_detect, inputs: [bare], emit: all, on_error: drop }
outputs:
  after_thrower: { type: file, inputs: [thrower], path: ${dir}/after-thrower.jsonl }
  after_teller: { type: file, inputs: [teller], path: ${dir}/after-teller.jsonl }
  after_detect: { type: file, inputs: [detect], path: ${dir}/after-detect.jsonl }
  after_detect_bare: { type: file, inputs: [detect_bare], path: ${dir}/after-detect-bare.jsonl }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    await cli.waitFor(/driftlock running/);
    // Every line through each branch: written, or dropped.
    let metrics = '';
    const through = async () => {
      let n = (await lines(path.join(dir, 'after-detect-bare.jsonl'))).length;
      for (const id of ['thrower', 'teller', 'detect']) n += (sample(metrics, 'failed_events_total', id, 'outcome="dropped"') ?? 0) + (await lines(path.join(dir, `after-${id}.jsonl`))).length;
      return n;
    };
    for (let i = 0; i < 400 && (await through()) < 4 * LINES; i++) {
      await new Promise((r) => setTimeout(r, 50));
      metrics = await fetch(`http://127.0.0.1:${api}/metrics`).then((r) => r.text()).catch(() => '');
    }
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const summary = exitSummary(result.stderr);

    for (const id of ['thrower', 'teller']) {
      const dropped = sample(metrics, 'failed_events_total', id, 'outcome="dropped"')!;
      const after = await lines(path.join(dir, `after-${id}.jsonl`));
      // The poison line's batch, and it alone, dropped.
      expect(dropped, id).toBeGreaterThan(0);
      expect(dropped, id).toBeLessThan(LINES);
      expect(after.length, id).toBe(LINES - dropped);
      expect(after.some((l) => l.includes('poison')), id).toBe(false);
    }
    // Fed again once after its crash, it threw again: then the batch was dropped, not fed a third time.
    expect(summary.thrower!.restarts_total).toBe(2);
    // Told, not thrown: not restarted.
    expect(summary.teller!.restarts_total ?? 0).toBe(0);
    // The batches it failed on (all but those of its warm-up, which mark nothing) dropped, the others on.
    const detectDropped = sample(metrics, 'failed_events_total', 'detect', 'outcome="dropped"')!;
    expect(detectDropped).toBeGreaterThan(LINES / 2);
    expect((await lines(path.join(dir, 'after-detect.jsonl'))).length).toBe(LINES - detectDropped);
    const said = logLines(result.stderr).find((l) => l.component === 'detect' && l.msg === 'transform failed on a batch; dropped its events (on_error: drop)');
    expect((said?.err as { message: string } | undefined)?.message).toMatch(/^Cannot add property/);
    // A body alone: completed by the engine, every line through the detector, marked with its source.
    expect(sample(metrics, 'failed_events_total', 'detect_bare', 'outcome="dropped"') ?? 0).toBe(0);
    const bare = (await lines(path.join(dir, 'after-detect-bare.jsonl'))).map((l) => JSON.parse(l) as { source: { input: string }; attributes: object });
    expect(bare.length).toBe(LINES);
    expect(bare[0]!.source.input).toBe('bare');
    expect(typeof bare[0]!.attributes).toBe('object');
  }, 60_000);
});

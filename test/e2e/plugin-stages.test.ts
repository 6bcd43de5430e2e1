/**
 * Third-party stages as a developer writes them (a plugin file beside the config), run by the real daemon:
 * how the engine takes a plugin that misbehaves.
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitSummary, logLines, runCli, startCli } from '../helpers/cli.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { tempDir } from '../helpers/temp.js';

/**
 * What a strict reader of the Prometheus text format (0.0.4) finds wrong: a sample line that does not parse
 * (metric name `[a-zA-Z_:][a-zA-Z0-9_:]*`, labels, a number), a series written twice, a family typed twice or
 * split. Prometheus rejects the whole scrape for any of them.
 */
function expositionProblems(text: string): string[] {
  const problems: string[] = [];
  const typed = new Map<string, string>();
  const series = new Set<string>();
  const done = new Set<string>();
  let family = '';
  const label = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"`;
  const sample = new RegExp(String.raw`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:${label}(?:,${label})*)?\})? (-?[0-9.e+]+|NaN|[+-]Inf)$`);
  for (const line of text.split('\n')) {
    if (!line) continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      if (typed.has(type[1]!)) problems.push(`TYPE twice: ${line}`);
      typed.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = sample.exec(line);
    if (!m) {
      problems.push(`does not parse: ${line}`);
      continue;
    }
    if (m[1] !== family) {
      if (done.has(m[1]!)) problems.push(`family split: ${m[1]}`);
      done.add(family);
      family = m[1]!;
    }
    if (!typed.has(m[1]!)) problems.push(`no TYPE before ${m[1]}`);
    const key = `${m[1]}${m[2] ?? ''}`;
    if (series.has(key)) problems.push(`series twice: ${key}`);
    series.add(key);
  }
  return problems;
}

/** A plugin input of `type` whose run(ctx) returns `run` (JS source), as input `id` -> a file output; the config's path. */
async function inputPluginPipeline(dir: string, id: string, type: string, run: string): Promise<string> {
  await writeFile(path.join(dir, `${type}.mjs`), `export default ({ z, defineInput }) => [
  defineInput({ type: '${type}', description: 'a test input', config: z.object({}), build: () => ({ run: (ctx) => ${run} }) }),
];
`);
  const file = path.join(dir, 'pipeline.yaml');
  await writeFile(file, `data_dir: ${dir}/data
plugins: [./${type}.mjs]
inputs: { ${id}: { type: ${type} } }
outputs: { out: { type: file, inputs: [${id}], path: ${dir}/out.jsonl } }
`);
  return file;
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean);
}

describe('plugin stages', () => {
  // map() returning undefined stopped the whole daemon (exit 70, "Cannot read properties of undefined",
  // no component named, the other branch's lines lost); one event instead of an array made a buffer count
  // NaN events and the daemon end with no summary after the file output rejected the batch for good; nulls
  // made the innocent stage downstream fail, and be counted.
  for (const [name, body] of [
    ['undefined', 'undefined'],
    ['one event instead of an array', 'events[0]'],
    ['nulls', 'events.map(() => null)'],
    ['events without a body', 'events.map(() => ({ attributes: {} }))'],
  ] as const) {
    it(`a transform whose map() returns ${name} fails open: its events pass on, counted and logged on it; other stages are untouched`, async () => {
      const dir = await tempDir('dl-plugin-stages-');
      await writeFile(path.join(dir, 'bad.mjs'), `export default ({ z, defineTransform }) => [
  defineTransform({ type: 'bad_map', description: 'returns garbage', config: z.object({}), build: () => ({ map: (events) => ${body} }) }),
];
`);
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, `data_dir: ${dir}/data
plugins: [./bad.mjs]
inputs: { in: { type: stdin } }
transforms:
  bad: { type: bad_map, inputs: [in] }
outputs:
  after_bad: { type: file, inputs: [bad], path: ${dir}/after-bad.jsonl }
  raw: { type: file, inputs: [in], path: ${dir}/raw.jsonl }
`);
      const input = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n') + '\n';
      const result = await runCli(['run', '-c', file], { input });
      expect(result.code, result.stderr.slice(-3000)).toBe(0);
      const summary = exitSummary(result.stderr, 'all inputs finished; stopped');
      expect(summary.bad!.errors_total).toBeGreaterThan(0);
      expect(summary.after_bad!.errors_total ?? 0).toBe(0);
      expect(summary.after_bad!.rejected_events_total ?? 0).toBe(0);
      expect((await lines(path.join(dir, 'raw.jsonl'))).length).toBe(50);
      const after = (await lines(path.join(dir, 'after-bad.jsonl'))).map((l) => JSON.parse(l) as { body: string });
      expect(after.map((e) => e.body)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
      const failed = logLines(result.stderr).find((l) => l.msg === 'transform failed on a batch; passing its events on as it left them');
      expect(failed?.component).toBe('bad');
      expect((failed?.err as { message: string }).message).toMatch(/^map\(\) must return an array of events/);
    }, 30_000);
  }

  it('events whose timestamp no Date can hold (a plugin sets 1e20) reach every output, shown at their observed time; the outputs crashed on each retry', async () => {
    // Before, console (pretty, alert), webhook and Slack called toISOString() on the timestamp: "Invalid time
    // value" at every retry of the batch, so nothing reached them and the stop waited out their crash loop.
    const dir = await tempDir('dl-plugin-stages-');
    const hook = await startReceiver();
    const slack = await startReceiver();
    try {
      await writeFile(path.join(dir, 'future.mjs'), `export default ({ z, defineTransform }) => [
  defineTransform({ type: 'far_future', description: 'stamps events with a time no Date can hold', config: z.object({}), build: () => ({
    map: (events) => events.map((e) => ({ ...e, timestamp: 1e20, attributes: { ...e.attributes, anomaly: { kind: 'new_pattern', score: 9, confidence: 0.999, why: 'new text', stream_id: 'plugin', template: 'x' } } })),
  }) }),
];
`);
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, `data_dir: ${dir}/data
plugins: [./future.mjs]
inputs: { in: { type: stdin } }
transforms:
  future: { type: far_future, inputs: [in] }
outputs:
  pretty: { type: console, inputs: [future], encoding: pretty }
  alerts: { type: console, inputs: [future], encoding: alert }
  hook: { type: webhook, inputs: [future], url: "${hook.url}", batch: { max_events: 1 } }
  slack: { type: slack, inputs: [future], webhook_url: "${slack.url}/services/T0/B0/X" }
`);
      const before = Date.now();
      const result = await runCli(['run', '-c', file], { input: 'one\ntwo\nthree\n' });
      expect(result.code, result.stderr.slice(-3000)).toBe(0);
      const summary = exitSummary(result.stderr, 'all inputs finished; stopped');
      for (const id of ['pretty', 'alerts', 'hook', 'slack']) expect(summary[id]!.errors_total ?? 0, id).toBe(0);
      const year = String(new Date(before).getUTCFullYear());
      const out = result.stdout.split('\n');
      expect(out.filter((l) => l.startsWith(`${year}-`) && / \[in\] (one|two|three) /.test(l))).toHaveLength(3);
      expect(out.filter((l) => l.includes('new_pattern  plugin') && l.includes(` ${year}-`))).toHaveLength(3);
      expect(hook.accepted()).toHaveLength(3);
      for (const r of hook.accepted()) expect(Date.parse((JSON.parse(r.body) as { time: string }).time)).toBeGreaterThanOrEqual(before - 1000);
      expect(slack.accepted().length).toBeGreaterThan(0);
    } finally {
      await hook.close();
      await slack.close();
    }
  }, 30_000);

  it('a stream transform that crashes at the end of stdin, holding what it aggregated, is restarted: every line written, none abandoned', async () => {
    // It holds the batches it reads until it has min_events; its first instance throws once its input has
    // ended. It was taken for a transform that failed while stopping: not restarted, what it held abandoned,
    // and the daemon exited 0 with those lines never written (all 3,000 here).
    const dir = await tempDir('dl-plugin-stages-');
    await writeFile(path.join(dir, 'group.mjs'), `let instances = 0;
export default ({ z, defineTransform }) => [
  defineTransform({ type: 'group', description: 'groups batches; its first instance crashes at the end', config: z.object({}), build() {
    const me = ++instances;
    return {
      async *stream(batches) {
        let events = [];
        let finalizers = [];
        for await (const b of batches) {
          events.push(...b.events);
          finalizers.push(...b.finalizers);
          if (events.length >= 10000) {
            yield { events, finalizers };
            events = [];
            finalizers = [];
          }
        }
        if (me === 1) throw new Error('crashed at the end of its input, holding ' + events.length + ' events');
        if (events.length) yield { events, finalizers };
      },
    };
  } }),
];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
plugins: [./group.mjs]
inputs: { in: { type: stdin } }
transforms:
  group: { type: group, inputs: [in] }
outputs:
  out: { type: file, inputs: [group], path: ${dir}/out.jsonl }
`);
    const input = Array.from({ length: 3000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const result = await runCli(['run', '-c', file], { input });
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const crash = logLines(result.stderr).find((l) => (l.err as { message?: string } | undefined)?.message?.startsWith('crashed at the end'));
    expect(crash?.msg).toBe('transform crashed; restarting');
    expect((crash?.err as { message: string }).message).toBe('crashed at the end of its input, holding 3000 events');
    const written = (await lines(path.join(dir, 'out.jsonl'))).map((l) => (JSON.parse(l) as { body: string }).body);
    expect(written).toEqual(Array.from({ length: 3000 }, (_, i) => `line ${i}`));
    expect(exitSummary(result.stderr, 'all inputs finished; stopped').group!.restarts_total).toBe(1);
  }, 30_000);

  it('metrics a plugin names freely (a hyphen, an engine name) keep /metrics valid Prometheus text', async () => {
    const dir = await tempDir('dl-plugin-stages-');
    await writeFile(path.join(dir, 'counting.mjs'), `export default ({ z, defineTransform }) => [
  defineTransform({ type: 'counting', description: 'counts', config: z.object({}), build: (config, ctx) => {
    ctx.metrics.declare('cache-hits', 'lookups_total');
    return { map: (events) => { ctx.metrics.add('cache-hits', events.length); ctx.metrics.add('buffer_events'); return events; } };
  } }),
];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
plugins: [./counting.mjs]
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { demo: { type: demo, rate: 50 } }
transforms: { count.it: { type: counting, inputs: [demo] } }
outputs: { out: { type: file, inputs: [count.it], path: ${dir}/out.jsonl } }
`);
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/API listening/);
      const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
      let text = '';
      for (let i = 0; i < 100 && !/cache_hits\{[^}]*\} [1-9]/.test(text); i++) {
        await new Promise((r) => setTimeout(r, 100));
        text = await (await fetch(`http://${address}/metrics`)).text();
      }
      expect(expositionProblems(text)).toEqual([]);
      expect(text).toMatch(/^driftlock_cache_hits\{component_id="count.it",component_kind="transform",component_type="counting"\} [1-9]/m);
      expect(text).toMatch(/^# TYPE driftlock_buffer_events gauge$/m);
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect((await cli.exited).code).toBe(0);
  }, 30_000);

  it('an input that goes on emitting after it was stopped (a timer left running through a reload) is said once and counted, not dropped without a word', async () => {
    const dir = await tempDir('dl-plugin-stages-');
    // Never clears its timer: after a SIGHUP the old instance keeps emitting into a pipeline that is gone.
    const file = await inputPluginPipeline(dir, 'ticks', 'leaky', `new Promise((resolve) => {
      setInterval(() => ctx.emit([{ observedTimestamp: Date.now(), body: 'tick', attributes: {}, source: { input: 'leaky' } }]), 20);
      ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true });
    })`);
    const cli = startCli(['run', '-c', file]);
    let beforeStop: string;
    try {
      await cli.waitFor(/driftlock running/);
      // Renamed, the input is stopped by the reload and another built (one that did not change goes on running).
      await writeFile(file, (await readFile(file, 'utf8')).replaceAll('ticks', 'ticks_v2'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded/);
      // Before: nothing; the old instance's events went into a closed buffer, uncounted.
      await cli.waitFor(/input emitted events after it stopped/);
      // A few more of its ticks (every 20 ms) go by: still said once.
      await new Promise((r) => setTimeout(r, 200));
      beforeStop = cli.stderr().slice(0, cli.stderr().lastIndexOf('\n') + 1);
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code).toBe(0);
    // Counted up to the SIGTERM: the new instance leaks too, and may tick once before the process exits.
    const told = logLines(beforeStop).filter((l) => String(l.msg).startsWith('input emitted events after it stopped'));
    expect(told).toHaveLength(1);
    expect(told[0]!.component).toBe('ticks');
  }, 30_000);

  it('the daemon runs until it is told to stop, even when its only input waits on a promise alone (nothing else keeps Node busy)', async () => {
    const dir = await tempDir('dl-plugin-stages-');
    const file = await inputPluginPipeline(dir, 'q', 'quiet', `new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true }))`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    await new Promise((r) => setTimeout(r, 1000));
    // Before: the process had already ended, exit code 0, without a word.
    expect(cli.child.exitCode).toBeNull();
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    expect(logLines(result.stderr).some((l) => l.msg === 'stopped')).toBe(true);
  }, 30_000);

  it('a build() or an input\'s `ready` that never settles holds the start, named in a warning every 10 s; the process does not end at once, exit 0, without a word', async () => {
    // The two daemons wait out the 10 s side by side, not one after the other.
    const cases = [
      ['ready', `({ ready: new Promise(() => {}), run: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true })) })`, 'input not ready yet (its `ready` has not resolved): the start waits for it, /health says starting'],
      ['build', 'new Promise(() => {})', 'build() has not finished yet: the start waits for it, /health says starting'],
    ] as const;
    await Promise.all(cases.map(async ([what, stage, message]) => {
      const dir = await tempDir('dl-plugin-stages-');
      await writeFile(path.join(dir, 'never.mjs'), `export default ({ z, defineInput }) => [
  defineInput({ type: 'never_${what}', description: 'a test input', config: z.object({}), build: () => ${stage} }),
];
`);
      const file = path.join(dir, 'pipeline.yaml');
      await writeFile(file, `data_dir: ${dir}/data
plugins: [./never.mjs]
inputs: { n: { type: never_${what} } }
outputs: { out: { type: file, inputs: [n], path: ${dir}/out.jsonl } }
`);
      const cli = startCli(['run', '-c', file]);
      await new Promise((r) => setTimeout(r, 1500));
      // Before: the process had already ended, exit code 0, nothing logged.
      expect(cli.child.exitCode, what).toBeNull();
      await cli.waitFor(/has not (resolved|finished)/, 'stderr', 15_000);
      const warned = logLines(cli.stderr()).find((l) => l.msg === message);
      expect(warned, what).toMatchObject({ level: 'warn', component: 'n', component_type: `never_${what}` });
      cli.child.kill('SIGKILL');
      await cli.exited;
    }));
  }, 60_000);

  it('a plugin that failed to load at a SIGHUP loads at the next one once it is fixed (Node kept its error: refused until a restart)', async () => {
    const dir = await tempDir('dl-plugin-stages-');
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'before\n');
    const plugin = path.join(dir, 'late.mjs');
    await writeFile(plugin, `throw new Error('late: not configured yet');\n`);
    const file = path.join(dir, 'pipeline.yaml');
    const config = (plugins: string, output: string) => `data_dir: ${dir}/data
plugins: [${plugins}]
inputs: { app: { type: file, include: [${log}], start_at: beginning } }
outputs: { out: { type: ${output}, inputs: [app], path: ${dir}/out.jsonl } }
`;
    await writeFile(file, config('', 'file'));
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/driftlock running/);
      await writeFile(file, config('./late.mjs', 'late_file'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/late: not configured yet \(at [^)]*late\.mjs:1:7\)/);
      // Fixed: an output that writes the bodies, upper-cased.
      await writeFile(plugin, `import { appendFile } from 'node:fs/promises';
export default ({ z, defineOutput, ackBatch, bodyText }) => [defineOutput({ type: 'late_file', description: 'x', config: z.object({ path: z.string() }),
  build: (config) => ({ async consume(batches) { for await (const b of batches) { await appendFile(config.path, b.events.map((e) => bodyText(e).toUpperCase() + '\\n').join('')); ackBatch(b); } } }) })];
`);
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded/);
      await appendFile(log, 'after\n');
      for (let i = 0; i < 100 && !(await readFile(path.join(dir, 'out.jsonl'), 'utf8')).includes('AFTER'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await readFile(path.join(dir, 'out.jsonl'), 'utf8')).toMatch(/"before"[^\n]*\nAFTER\n$/);
      // The error of the first try was said once, not with its place twice.
      expect(cli.stderr()).not.toMatch(/\(at [^)]*\) \(at /);
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect((await cli.exited).code).toBe(0);
  }, 30_000);

  it('an input whose run() returns while others go on says so (it stopped receiving without a word)', async () => {
    const dir = await tempDir('dl-plugin-stages-');
    await writeFile(path.join(dir, 'oneshot.mjs'), `export default ({ z, defineInput }) => [
  defineInput({ type: 'oneshot', description: 'a test input', config: z.object({}), build: () => ({ async run() {} }) }),
];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
plugins: [./oneshot.mjs]
inputs: { once: { type: oneshot }, gen: { type: demo, rate: 5 } }
outputs: { out: { type: file, inputs: [once, gen], path: ${dir}/out.jsonl } }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/input ended by itself/);
    const said = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('input ended by itself'))!;
    expect(said).toMatchObject({ level: 'info', component: 'once', component_type: 'oneshot', ran_ms: expect.any(Number) });
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    // Not said of an input the stop ended.
    expect(logLines(result.stderr).filter((l) => String(l.msg).startsWith('input ended by itself'))).toHaveLength(1);
  }, 30_000);

  /** A plugin transform `merge` that holds back every line for its flush(), which does `flush` (`ok`, `throw`, `hang`); it says how many it holds (`pending()`). */
  async function mergePlugin(dir: string): Promise<void> {
    await writeFile(path.join(dir, 'merge.mjs'), `export default ({ z, defineTransform }) => [
  defineTransform({ type: 'merge', description: 'holds every line for its flush()', config: z.object({ flush: z.enum(['ok', 'throw', 'hang']) }), build: (config) => {
    const held = [];
    return {
      map: (events) => { held.push(...events); return []; },
      pending: () => held.length,
      flush: () => {
        if (config.flush === 'throw') throw new Error('cannot merge ' + held.length + ' lines');
        if (config.flush === 'hang') return new Promise(() => {});
        return held;
      },
    };
  } }),
];
`);
  }

  it('a transform whose flush() throws at the end of stdin: the lines it held are counted lost, said, and the exit is 1, not drained', async () => {
    // Before: exit 0, "drained": true, the 20 lines gone with only errors_total to tell it.
    const dir = await tempDir('dl-plugin-stages-');
    await mergePlugin(dir);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
plugins: [./merge.mjs]
inputs: { in: { type: stdin } }
transforms: { m: { type: merge, flush: throw, inputs: [in] } }
outputs: { out: { type: file, inputs: [m], path: ${dir}/out.jsonl } }
`);
    const result = await runCli(['run', '-c', file], { input: Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') + '\n' });
    expect(result.code, result.stderr.slice(-3000)).toBe(1);
    const log = logLines(result.stderr);
    expect(log.find((l) => l.component === 'm' && l.level === 'error')).toMatchObject({ msg: "transform's flush() failed: the 20 events it held back are lost", lost_events: 20, err: { message: 'cannot merge 20 lines' } });
    expect(log.find((l) => String(l.msg).startsWith('stopped, but what transforms held back'))).toMatchObject({ components: ['m'] });
    expect(log.at(-1)).toMatchObject({ drained: false });
    expect(exitSummary(result.stderr, 'all inputs finished; stopped').m).toMatchObject({ flush_failures_total: 1, abandoned_events_total: 20, errors_total: 1 });
  }, 30_000);

  it('a transform whose flush() never returns at a SIGTERM: shutdown_timeout ends the stop, exit 1, the transform named and its lines counted lost', async () => {
    // Before: exit 1 after the timeout too, but the line said `queued_events: 0` and that unacknowledged events
    // would be read again; nothing named the transform, and nothing counted the 5 lines it held.
    const dir = await tempDir('dl-plugin-stages-');
    await mergePlugin(dir);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
shutdown_timeout: 1s
api: { enabled: true, address: "127.0.0.1:0" }
plugins: [./merge.mjs]
inputs: { in: { type: stdin } }
transforms: { m: { type: merge, flush: hang, inputs: [in] } }
outputs: { out: { type: file, inputs: [m], path: ${dir}/out.jsonl } }
`);
    const cli = startCli(['run', '-c', file]);
    await cli.waitFor(/driftlock running/);
    const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
    cli.child.stdin!.write('line 0\nline 1\nline 2\nline 3\nline 4\n');
    for (let i = 0; i < 100 && !/^driftlock_received_events_total\{component_id="m"[^}]*\} 5$/m.test(await (await fetch(`http://${address}/metrics`)).text()); i++) await new Promise((r) => setTimeout(r, 50));
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(1);
    const log = logLines(result.stderr);
    expect(log.find((l) => String(l.msg).startsWith('shutdown timeout reached'))).toMatchObject({ timeout_ms: 1000, waiting_for: ['m', 'out'] });
    expect(log.find((l) => l.component === 'm' && l.level === 'error')).toMatchObject({ msg: "transform's flush() failed: the 5 events it held back are lost", lost_events: 5, err: { message: 'it had not returned when shutdown_timeout (1000 ms) passed' } });
    expect(exitSummary(result.stderr).m).toMatchObject({ received_events_total: 5, flush_failures_total: 1, abandoned_events_total: 5 });
  }, 30_000);

  it('a transform whose flush() throws during the drain of a SIGTERM: /health, still 503 stopping, lists it while the drain goes on', async () => {
    // Before: {"status":"stopping"} and nothing else until the exit; the failed flush was in the log alone.
    const dir = await tempDir('dl-plugin-stages-');
    await mergePlugin(dir);
    // An output that, once its input has ended, waits for the file `open` before it returns: the drain goes on until then.
    await writeFile(path.join(dir, 'gate.mjs'), `import { existsSync } from 'node:fs';
export default ({ z, defineOutput, ackBatch }) => [defineOutput({ type: 'gate', description: 'x', config: z.object({ open: z.string() }),
  build: (config) => ({ async consume(batches) {
    for await (const b of batches) ackBatch(b);
    while (!existsSync(config.open)) await new Promise((r) => setTimeout(r, 20));
  } }) })];
`);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
plugins: [./merge.mjs, ./gate.mjs]
inputs: { in: { type: stdin } }
transforms: { m: { type: merge, flush: throw, inputs: [in] } }
outputs: { out: { type: gate, inputs: [m], open: ${dir}/open } }
`);
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/driftlock running/);
      const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
      cli.child.stdin!.write('line 0\nline 1\n');
      for (let i = 0; i < 100 && !/^driftlock_received_events_total\{component_id="m"[^}]*\} 2$/m.test(await (await fetch(`http://${address}/metrics`)).text()); i++) await new Promise((r) => setTimeout(r, 50));
      cli.child.kill('SIGTERM');
      await cli.waitFor(/transform's flush\(\) failed/);
      const health = await fetch(`http://${address}/health`);
      expect(health.status).toBe(503);
      const last_error = 'flush() failed, the 2 events it held back are lost: cannot merge 2 lines';
      expect(await health.json()).toEqual({ status: 'stopping', failing: [{ component: 'm', kind: 'transform', last_error, seconds_ago: expect.any(Number), restarts: 0, problems: [{ problem: 'flush_failed', last_error, seconds_ago: expect.any(Number) }] }] });
    } finally {
      await writeFile(path.join(dir, 'open'), '');
    }
    const result = await cli.exited;
    expect(result.code, result.stderr.slice(-3000)).toBe(1);
  }, 30_000);

  it('a transform whose flush() throws at a SIGHUP reload: /health says so once the new pipeline runs', async () => {
    const dir = await tempDir('dl-plugin-stages-');
    await mergePlugin(dir);
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
plugins: [./merge.mjs]
inputs: { in: { type: stdin } }
transforms: { m: { type: merge, flush: throw, inputs: [in] } }
outputs: { out: { type: file, inputs: [m], path: ${dir}/out.jsonl } }
`);
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/API listening/);
      const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
      cli.child.stdin!.write('line 0\nline 1\nline 2\n');
      for (let i = 0; i < 100 && !/^driftlock_received_events_total\{component_id="m"[^}]*\} 3$/m.test(await (await fetch(`http://${address}/metrics`)).text()); i++) await new Promise((r) => setTimeout(r, 50));
      expect((await fetch(`http://${address}/health`)).status).toBe(200);
      await writeFile(file, (await readFile(file, 'utf8')).replace('flush: throw', 'flush: ok'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded/);
      expect(logLines(cli.stderr()).find((l) => l.msg === 'config reloaded: the new pipeline is running')).toMatchObject({ drained: false });
      const health = await fetch(`http://${address}/health`);
      // Before, 200 {"status":"ok"}: what the reload lost was said in the log alone.
      expect(health.status).toBe(503);
      const last_error = 'flush() failed, the 3 events it held back are lost: cannot merge 3 lines';
      expect(await health.json()).toEqual({ status: 'degraded', failing: [{ component: 'm', kind: 'transform', last_error, seconds_ago: expect.any(Number), restarts: 0, problems: [{ problem: 'flush_failed', last_error, seconds_ago: expect.any(Number) }] }] });
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    // The new pipeline's own stop is clean.
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
  }, 30_000);

  it('a crash and a failed batch just before a SIGHUP reload stay on /health after it, for the components the new config has (changed or not); not for one it removed', async () => {
    // Before, /health said 200 ok as soon as the new pipeline ran: what was wrong 1 s before the reload vanished.
    const dir = await tempDir('dl-plugin-stages-');
    await writeFile(path.join(dir, 'trouble.mjs'), `import { appendFile } from 'node:fs/promises';
const crashed = new Set();
export default ({ z, defineTransform, defineOutput, ackBatch, bodyText }) => [
  defineTransform({ type: 'picky', description: 'fails on the line bad', config: z.object({}), build: () => ({
    map: (events) => { if (events.some((e) => bodyText(e) === 'bad')) throw new Error('cannot take bad'); return events; },
  }) }),
  defineOutput({ type: 'fragile', description: 'crashes once on the line boom, then writes', config: z.object({ path: z.string(), tag: z.string().default('') }), build: (config, ctx) => ({
    async consume(batches, cctx) {
      for await (const b of batches) {
        if (!crashed.has(cctx.id) && b.events.some((e) => bodyText(e) === 'boom')) { crashed.add(cctx.id); throw new Error(cctx.id + ' crashed on boom'); }
        await appendFile(config.path, b.events.map((e) => config.tag + bodyText(e) + '\\n').join(''));
        ackBatch(b);
      }
    },
  }) }),
];
`);
    const file = path.join(dir, 'pipeline.yaml');
    const config = (outputs: string) => `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
plugins: [./trouble.mjs]
inputs: { in: { type: stdin } }
transforms: { t: { type: picky, inputs: [in] } }
outputs:
${outputs}`;
    await writeFile(file, config(`  out: { type: fragile, inputs: [t], path: ${dir}/out.txt }
  spare: { type: fragile, inputs: [in], path: ${dir}/spare.txt }
`));
    const cli = startCli(['run', '-c', file]);
    try {
      await cli.waitFor(/driftlock running/);
      const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
      const health = async () => {
        const res = await fetch(`http://${address}/health`);
        return { status: res.status, body: (await res.json()) as { status: string; failing?: Array<{ component: string; restarts: number; problems: Array<{ problem: string; last_error: string }> }> } };
      };
      cli.child.stdin!.write('boom\nbad\nok\n');
      let before = await health();
      for (let i = 0; i < 200 && (before.body.failing?.length ?? 0) < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
        before = await health();
      }
      expect(before.body.failing?.map((f) => f.component).sort()).toEqual(['out', 'spare', 't']);
      // out's config changes, t's does not (rebuilt all the same: only inputs are kept), spare is removed.
      await writeFile(file, config(`  out: { type: fragile, inputs: [t], path: ${dir}/out.txt, tag: "v2 " }
`));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded/);
      const after = await health();
      expect(after.status).toBe(503);
      expect(after.body.status).toBe('degraded');
      expect(after.body.failing).toEqual([
        { component: 't', kind: 'transform', last_error: expect.stringMatching(/^failed on a batch, its events passed on as the transform left them: cannot take bad$/), seconds_ago: expect.any(Number), restarts: 0, problems: [{ problem: 'failed_batch', last_error: expect.any(String), seconds_ago: expect.any(Number) }] },
        { component: 'out', kind: 'output', last_error: 'out crashed on boom', seconds_ago: expect.any(Number), restarts: 1, problems: [{ problem: 'crashed', last_error: 'out crashed on boom', seconds_ago: expect.any(Number) }] },
      ]);
      // The new pipeline runs: a line goes through the new out.
      cli.child.stdin!.write('after\n');
      for (let i = 0; i < 100 && !(await readFile(path.join(dir, 'out.txt'), 'utf8')).includes('v2 after'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await readFile(path.join(dir, 'out.txt'), 'utf8')).toContain('v2 after');
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect((await cli.exited).code).toBe(0);
  }, 30_000);

  it('counters on /metrics go on growing across a SIGHUP reload (they restarted at 0 while the exit summary added them up)', async () => {
    const dir = await tempDir('dl-plugin-stages-');
    const log = path.join(dir, 'app.log');
    await writeFile(log, Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n');
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, `data_dir: ${dir}/data
api: { enabled: true, address: "127.0.0.1:0" }
inputs: { app: { type: file, include: [${log}], start_at: beginning } }
outputs: { out: { type: file, inputs: [app], path: ${dir}/out.jsonl } }
`);
    const cli = startCli(['run', '-c', file]);
    const sent = async (address: string, id: string): Promise<number> => {
      const text = await (await fetch(`http://${address}/metrics`)).text();
      const m = new RegExp(`^driftlock_sent_events_total\\{component_id="${id}"[^}]*\\} (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : -1;
    };
    try {
      await cli.waitFor(/API listening/);
      const address = logLines(cli.stderr()).find((l) => String(l.msg).startsWith('API listening'))!.address as string;
      for (let i = 0; i < 100 && (await sent(address, 'out')) < 100; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await sent(address, 'app')).toBe(100);
      expect(await sent(address, 'out')).toBe(100);
      // The output changes (an unchanged config is not rebuilt at all): the input is kept, the output built anew.
      await writeFile(file, (await readFile(file, 'utf8')).replace('/out.jsonl }', '/out.jsonl, buffer: { max_events: 5000 } }'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/config reloaded/);
      // The file input resumes from its checkpoint: the new pipeline sends nothing more.
      expect(await sent(address, 'app')).toBe(100);
      expect(await sent(address, 'out')).toBe(100);
      await appendFile(log, 'line 100\n');
      for (let i = 0; i < 100 && (await sent(address, 'out')) < 101; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await sent(address, 'out')).toBe(101);
    } finally {
      cli.child.kill('SIGTERM');
    }
    const result = await cli.exited;
    expect(result.code).toBe(0);
    // The exit summary, which already added the replaced pipeline's counters up, says the same.
    expect(exitSummary(result.stderr).out!.sent_events_total).toBe(101);
  }, 30_000);
});

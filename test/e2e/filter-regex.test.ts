/**
 * A `filter` regex that backtracks without end on one line (`(a+)+$`, the textbook case) must not stall the
 * daemon: before, a 41-byte line of `a`s blocked the event loop for over 10 minutes, with SIGTERM unheard.
 * Vector's regexes run in linear time; driftlock's fall back to V8's linear-time engine.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { readCheckpoints, tempDir } from '../helpers/file-input.js';

describe('filter: regexes that backtrack', () => {
  it('(a+)+$ on long lines of a file, with and without ignore_case: every other line goes through, the filtered ones are checkpointed, SIGTERM stops it', async () => {
    const dir = await tempDir('dl-filter-re-');
    const log = path.join(dir, 'app.log');
    const out = path.join(dir, 'out.jsonl');
    const data = path.join(dir, 'data');
    const config = path.join(dir, 'pipeline.yaml');
    const lines = [
      { msg: 'before' },
      { msg: `${'a'.repeat(40)}!` },
      { msg: `${'A'.repeat(5000)}!` },
      { msg: 'aaaa' }, // matches: filtered out
      { msg: 'after' },
    ];
    await writeFile(log, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    await writeFile(config, `data_dir: ${data}
inputs:
  app: { type: file, include: [${log}], start_at: beginning }
transforms:
  p: { type: parse, inputs: [app], format: json }
  f:
    type: filter
    inputs: [p]
    exclude:
      - { field: body.msg, matches: '(a+)+$' }
      - { field: body.msg, matches: '^(a+)+$', ignore_case: true }
outputs:
  out: { type: file, inputs: [f], path: ${out}, encoding: text }
`);
    const cli = startCli(['run', '-c', config]);
    await cli.waitFor(/driftlock running/);
    const started = Date.now();
    let text = '';
    while (Date.now() - started < 10_000 && !text.includes('after')) {
      await new Promise((r) => setTimeout(r, 50));
      text = await readFile(out, 'utf8').catch(() => '');
    }
    expect(text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg.slice(0, 6))).toEqual(['before', 'aaaaaa', 'AAAAAA', 'after']);
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    // The line the filter dropped is acknowledged with the rest: the checkpoint is at the end of the file.
    expect((await readCheckpoints(path.join(data, 'app')))[0]!.offset).toBe((await stat(log)).size);
  }, 30_000);
});

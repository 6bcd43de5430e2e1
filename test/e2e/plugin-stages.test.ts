/**
 * Third-party stages as a developer writes them (a plugin file beside the config), run by the real daemon:
 * how the engine takes a plugin that misbehaves.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitSummary, logLines, runCli } from '../helpers/cli.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'dl-plugin-stages-'));
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
      const dir = await tempDir();
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
      const failed = logLines(result.stderr).find((l) => l.msg === 'transform failed on a batch; passing its events on unchanged');
      expect(failed?.component).toBe('bad');
      expect((failed?.err as { message: string }).message).toMatch(/^map\(\) must return an array of events/);
    }, 30_000);
  }
});

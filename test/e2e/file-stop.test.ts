/**
 * A clean stop (SIGTERM, exit 0) of file input -> file output while lines flow: the checkpoint saved at the
 * stop must cover exactly the lines the output wrote, so the next start repeats none and skips none.
 */
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';
import { readCheckpoints, tempDir } from '../helpers/file-input.js';

const LINES = 1_500_000;
const line = (n: number) => `line ${String(n).padStart(9, '0')} abcdefghijklmnopqrstuvwxyz\n`;
const WIDTH = line(0).length;

async function outputLines(file: string): Promise<number> {
  if (!existsSync(file)) return 0;
  return (await stat(file)).size / WIDTH;
}

describe('file input: clean stops', () => {
  it('at each of four SIGTERMs while lines flow, the checkpoint covers exactly what the output wrote', async () => {
    const dir = await tempDir('dl-stop-');
    const log = path.join(dir, 'app.log');
    const out = path.join(dir, 'out.log');
    const data = path.join(dir, 'data');
    const config = path.join(dir, 'pipeline.yaml');
    const parts: string[] = [];
    for (let n = 0; n < LINES; n++) parts.push(line(n));
    await writeFile(log, parts.join(''));
    await writeFile(config, `data_dir: ${data}
inputs:
  app: { type: file, include: [${log}], start_at: beginning }
outputs:
  out: { type: file, inputs: [app], path: ${out}, encoding: text }
`);
    for (let run = 0; run < 4; run++) {
      const cli = startCli(['run', '-c', config]);
      await cli.waitFor(/driftlock running/);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
      cli.child.kill('SIGTERM');
      const result = await cli.exited;
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      const written = await outputLines(out);
      const [checkpoint] = await readCheckpoints(path.join(data, 'app'));
      expect(Number.isInteger(written), 'whole lines in the output').toBe(true);
      expect({ run, checkpointed: checkpoint!.offset / WIDTH }).toEqual({ run, checkpointed: written });
    }
    // The lines are each there once, in order.
    const text = await readFile(out, 'utf8');
    expect(text).toBe(parts.slice(0, text.length / WIDTH).join(''));
  }, 60_000);
});

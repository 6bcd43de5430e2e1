/**
 * What a start costs with many files: the work for each file found must not grow with the number of files.
 * Real files, the real input. The work is counted (checkpoints walked), not timed: a timed bound failed on a
 * loaded machine (34.6 s of wall time, 26 s of CPU time, against 8 s alone).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/inputs/file/checkpoints.js';
import { startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const all = CheckpointStore.prototype.all;
afterEach(() => {
  CheckpointStore.prototype.all = all;
});

it('5,000 files without a checkpoint: the start walks the checkpoints a few times, not once for each file found', async () => {
  const FILES = 5_000;
  const dir = await tempDir();
  for (let i = 0; i < FILES; i++) writeFileSync(path.join(dir, `f${i}.log`), `line ${i}\n`);
  let walked = 0;
  CheckpointStore.prototype.all = function* (this: CheckpointStore) {
    for (const entry of all.call(this)) {
      walked += 1;
      yield entry;
    }
  };
  // start_at end: where each file starts depends on whether another file was checkpointed under its name
  // (rotated while driftlock was stopped). Before, that was found by looking through every checkpoint for
  // each file, the checkpoints of the files found before it included: quadratic, 50 s for 20,000 files (the
  // real daemon, a busy 2-core host), 11 s after. Here, before: 12.5 M checkpoints walked for 5,000 files.
  const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')] } });
  await input.until(() => input.logs.includes('file input started'), 'the start', 60_000);
  console.log(`${FILES} files: ${walked} checkpoints walked at the start`);
  expect(walked).toBeLessThan(10 * FILES);
}, 90_000);

/**
 * What a start costs with many files: the work for each file found must not grow with the number of files.
 * Real files, the real input.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();

it('20,000 files without a checkpoint: the input starts in seconds, not in a time that grows with their square', async () => {
  const dir = await tempDir();
  for (let i = 0; i < 20_000; i++) writeFileSync(path.join(dir, `f${i}.log`), `line ${i}\n`);
  // CPU time, not wall time: the test bounds the work (quadratic before), and a loaded machine stretches
  // the wall time (34.6 s once, beside 18 other test files, against 19-22 s alone) but hardly the CPU time.
  const cpuBefore = process.cpuUsage();
  const started = Date.now();
  // start_at end: where each file starts depends on whether another file was checkpointed under its name
  // (rotated while driftlock was stopped). Before, that was found by looking through every checkpoint for
  // each file, the checkpoints of the files found before it included: 50 s for 20,000 files (the real
  // daemon, a busy 2-core host), 11 s after.
  const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')] } });
  await input.until(() => input.logs.includes('file input started'), 'the start', 80_000);
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(`20,000 files: the file input started after ${Date.now() - started} ms, ${Math.round(cpuMs)} ms of CPU`);
  expect(cpuMs).toBeLessThan(20_000);
}, 120_000);

/**
 * The promise of the file input, checked on the real daemon: a writer appends 200,000 numbered lines to a
 * log that is rotated every 20,000 lines, while driftlock (file input -> file output) is killed with SIGKILL
 * at three random moments and started again. At the end, every line written must be in the output; lines
 * may repeat only if they were delivered but not yet checkpointed when driftlock was killed, and the test
 * prints how many did.
 */
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { copyFile, open, readFile, rename, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/file-input.js';

const TOTAL = 200_000;
const ROTATE_EVERY = 20_000;
const CHUNK = 1_000;
const PADDING = 'x'.repeat(20);
/** Every line has the same width, so a checkpoint offset says how many lines of its file are checkpointed. */
const WIDTH = `L000000-${PADDING}\n`.length;
const line = (n: number) => `L${String(n).padStart(6, '0')}-${PADDING}\n`;

/** The numbers of the complete lines in the output (a line cut by SIGKILL in the middle of a write is ignored). */
async function outputNumbers(file: string): Promise<number[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, 'utf8');
  const out: number[] = [];
  for (const m of text.matchAll(new RegExp(`L(\\d{6})-${PADDING}\\n`, 'g'))) out.push(Number(m[1]));
  return out;
}

/** `numbers` as runs of consecutive numbers, in their order: `0-45999, 40000-59999, ...`. */
function runsOf(numbers: number[]): string[] {
  const runs: string[] = [];
  for (let i = 0; i < numbers.length; ) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    runs.push(`${numbers[i]}-${numbers[j]}`);
    i = j + 1;
  }
  return runs;
}

/** The number of the first line of a file, if it exists. */
async function firstLine(file: string): Promise<number | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(WIDTH), 0, WIDTH, 0);
    const n = Number(/^L(\d{6})-/.exec(buffer.subarray(0, bytesRead).toString('utf8'))?.[1]);
    return Number.isFinite(n) ? n : undefined;
  } finally {
    await handle.close();
  }
}

/**
 * The numbers of the lines the saved checkpoints cover, or that cannot be read again. A checkpoint names its
 * file's content by a hash of the first bytes (the fingerprint), which after a copytruncate is the copy, not
 * the truncated original: so each checkpoint is matched to the file (live or rotated) that starts with those
 * bytes, whose first line number is known; offset / line width lines from there are covered. Lines older
 * than every file still there were in files the rotation deleted: nothing can read them again. A file still
 * there with no checkpoint of its first bytes is covered by none: before, lines older than every file with
 * one were taken as covered, and a file read whole at a restart and killed before its first bytes were
 * saved (the restart had lasted rotations: app.log.3 and app.log.2 were read whole then) was read again
 * after the next start, 20,000 lines over a bound that had left them out (46,000 duplicates against a bound of
 * 26,000, copytruncate under CPU load; a fresh-clone CI run failed the same way, 32,961 against 12,961).
 */
async function checkpointedNumbers(dataDir: string, log: string): Promise<(n: number) => boolean> {
  const file = path.join(dataDir, 'app', 'checkpoints.json');
  if (!existsSync(file)) return () => false;
  const data = JSON.parse(await readFile(file, 'utf8')) as { files: Array<{ fp_len: number; fp_hash: string; offset: number }> };
  const ranges: Array<[number, number]> = [];
  let oldest = Infinity;
  for (const name of [log, `${log}.1`, `${log}.2`, `${log}.3`]) {
    // Renamed on by a rotation running now, between two names: looked for under the others.
    const content = await readFile(name).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!content) continue;
    const first = Number(/^L(\d{6})-/.exec(content.subarray(0, WIDTH).toString('utf8'))?.[1]);
    if (!Number.isFinite(first)) continue;
    oldest = Math.min(oldest, first);
    const entry = data.files.find((f) => f.fp_len > 0 && f.fp_len <= content.length && createHash('sha1').update(content.subarray(0, f.fp_len)).digest('hex') === f.fp_hash);
    if (entry) ranges.push([first, first + Math.floor(entry.offset / WIDTH)]);
  }
  return (n) => n < oldest || ranges.some(([a, b]) => n >= a && n < b);
}

async function crashRun(mode: 'rename' | 'copytruncate'): Promise<void> {
  const dir = await tempDir('dl-crash-');
  const log = path.join(dir, 'app.log');
  const out = path.join(dir, 'out.log');
  const data = path.join(dir, 'data');
  const config = path.join(dir, 'pipeline.yaml');
  await writeFile(config, `data_dir: ${data}
inputs:
  app: { type: file, include: [${log}], start_at: beginning, checkpoint_interval: 200ms, check_interval: 100ms, rotate_wait: 1s }
outputs:
  out: { type: file, inputs: [app], path: ${out}, encoding: text }
`);
  // Three kill moments, one at random in each third of the run (kept apart so that each restart completes).
  const killAt = [0, 1, 2].map((k) => Math.floor(20_000 + k * 60_000 + Math.random() * 40_000));
  console.log(`${mode}: SIGKILL after ${killAt.join(', ')} lines written (${dir})`);

  let kills = 0;
  let cli: RunningCli = startCli(['run', '-c', config, '--log-level', 'debug']);
  await cli.waitFor(/driftlock running/);
  let bound = 0;
  const bounds: number[] = [];
  let restarting: Promise<void> = Promise.resolve();
  /** From a kill until the restart is complete: the lowest line the saved checkpoints do not cover. */
  let uncoveredFrom: Promise<number> | undefined;
  const killAndRestart = async () => {
    let lowest!: (n: number) => void;
    uncoveredFrom = new Promise((resolve) => (lowest = resolve));
    cli.child.kill('SIGKILL');
    // Its debug log and the checkpoints it had saved are kept next to the output, for a failure's diagnosis
    // (the folder is removed when the test ends: DRIFTLOCK_KEEP_TEST_DIRS=1 keeps it if the test failed).
    const killed = await cli.exited;
    await writeFile(path.join(dir, `stderr-${kills}.log`), killed.stderr);
    const saved = path.join(data, 'app', 'checkpoints.json');
    if (existsSync(saved)) await copyFile(saved, path.join(dir, `checkpoints-${kills}.json`));
    // What may repeat: delivered lines that no saved checkpoint covers.
    const covered = await checkpointedNumbers(data, log);
    let first = 0;
    while (covered(first)) first += 1;
    lowest(first);
    let uncovered = 0;
    for (const n of new Set(await outputNumbers(out))) if (!covered(n)) uncovered += 1;
    bounds.push(uncovered);
    bound += uncovered;
    cli = startCli(['run', '-c', config, '--log-level', 'debug']);
    // The restart is complete once the input has taken over its files (open, and checkpoints saved); the
    // next kill waits for it.
    await cli.waitFor(/file input started/);
    uncoveredFrom = undefined;
  };

  let handle: FileHandle = await open(log, 'a');
  for (let n = 0; n < TOTAL; n += CHUNK) {
    if (n > 0 && n % ROTATE_EVERY === 0) {
      // This rotation deletes app.log.3. Lines not checkpointed at a kill must still be there when driftlock
      // has started again, or they are lost with no reader able to prevent it: logs are kept for longer
      // than a restart takes, but on a slow machine a restart can last several rotations here. So a
      // rotation that would delete such lines waits for the restart; the others race it.
      const down = uncoveredFrom;
      const oldest = await firstLine(`${log}.3`);
      if (down && oldest !== undefined && oldest + ROTATE_EVERY > (await down)) await restarting;
      // logrotate with `rotate 3`: app.log.2 -> app.log.3, app.log.1 -> app.log.2, then app.log -> app.log.1
      for (const i of [2, 1]) if (existsSync(`${log}.${i}`)) await rename(`${log}.${i}`, `${log}.${i + 1}`);
      if (mode === 'rename') {
        await handle.close();
        await rename(log, `${log}.1`);
        handle = await open(log, 'a');
      } else {
        await copyFile(log, `${log}.1`);
        await truncate(log, 0); // the writer's O_APPEND descriptor goes on at the new end
      }
    }
    let chunk = '';
    for (let i = n; i < n + CHUNK; i++) chunk += line(i);
    await handle.write(chunk);
    if (kills < killAt.length && n + CHUNK >= killAt[kills]!) {
      kills += 1;
      await restarting;
      restarting = killAndRestart();
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  await handle.close();
  await restarting;

  // Wait until every line arrived, then stop gracefully.
  const started = Date.now();
  while (new Set(await outputNumbers(out)).size < TOTAL && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 200));
  cli.child.kill('SIGTERM');
  const result = await cli.exited;
  await writeFile(path.join(dir, `stderr-last.log`), result.stderr);
  expect(result.code, result.stderr.slice(-3000)).toBe(0);

  const numbers = await outputNumbers(out);
  const unique = new Set(numbers);
  const missing: number[] = [];
  for (let i = 0; i < TOTAL && missing.length < 10; i++) if (!unique.has(i)) missing.push(i);
  const duplicates = numbers.length - unique.size;
  console.log(`${mode}: ${TOTAL} lines written, ${unique.size} delivered, ${missing.length} missing, ${duplicates} duplicates (bound: ${bound} delivered but not checkpointed at the kills: ${bounds.join(' + ')})`);
  // For a failure's diagnosis: what was read in what order (a whole file missing or read again stands out).
  if (missing.length > 0 || duplicates > bound) console.log(`${mode}: the output as runs of consecutive lines: ${runsOf(numbers).join(', ')}`);
  expect(missing, 'lines lost').toEqual([]);
  expect(unique.size).toBe(TOTAL);
  expect(duplicates).toBeLessThanOrEqual(bound);
}

describe('file input under SIGKILL, through rotation', () => {
  // A whole rotated file read twice after a restart (20,000 lines over the bound, nothing lost) failed this
  // case in about 1 run of 6 in the twenty-fourth session and 1 of 20 beside a CPU hog in the twenty-sixth:
  // a rotation between a listing and an open (see file-rotation-during-recovery.test.ts). A whole rotated file
  // lost, once in about 150 runs, was a torn listing (see file-rotation-during-listing.test.ts). Not retried:
  // a run over the bound or with a line missing is a bug.
  it('rename-and-create rotation every 20,000 lines, 3 kills: no line lost, duplicates bounded', async () => {
    await crashRun('rename');
  }, 120_000);

  it('copytruncate rotation every 20,000 lines, 3 kills: no line lost, duplicates bounded', async () => {
    await crashRun('copytruncate');
  }, 120_000);
});

/**
 * copytruncate of a file the input had not read anything from yet (offset 0, no fingerprint): the lines
 * written since it was last found unchanged are read from the copy. Before, an empty file that was written
 * to, copied and truncated before the input read it (logrotate right after a burst) lost those lines: at
 * offset 0 with no fingerprint the truncation is invisible, so the copy was never looked for.
 */
import { appendFileSync, copyFileSync, truncateSync, utimesSync } from 'node:fs';
import { appendFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectEachOnce, numbered, startedFileInputs, tempDir, whileFirstReadHeld } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An input reading an empty `app.log` from the beginning, started and watching. */
async function onEmptyFile(before?: (dir: string) => Promise<void>) {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  await before?.(dir);
  await writeFile(log, '');
  const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
  await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
  await sleep(50);
  return { dir, log, input };
}

describe('file input: copytruncate before anything was read', () => {
  it('5 lines written to an empty file, copied and truncated, then 1 line: all 6 are read, each once (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      const { log, input } = await onEmptyFile();
      // Synchronous calls: the input cannot read in between, as when logrotate runs right after a burst.
      appendFileSync(log, numbered('u', 0, 5));
      copyFileSync(log, `${log}.1`);
      truncateSync(log, 0);
      await sleep(50);
      await appendFile(log, numbered('u', 5, 1));
      await input.until(() => input.events.length >= 6, `all 6 lines in round ${round + 1}`, 5000);
      await sleep(300); // a line read twice would show up by now
      expectEachOnce(input.bodies(), numbered('u', 0, 6));
      expect(input.events.filter((e) => e.source.file === `${log}.1`)).toHaveLength(5);
      await input.stop();
    }
  });

  it('copied and truncated with nothing written after: the copy is read all the same', async () => {
    const { log, input } = await onEmptyFile();
    appendFileSync(log, numbered('z', 0, 5));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    await input.until(() => input.events.length >= 5, 'the 5 lines of the copy', 5000);
    await sleep(300);
    expectEachOnce(input.bodies(), numbered('z', 0, 5));
  });

  it('truncated with no copy made: nothing is read but what comes after; an older rotated file is not read', async () => {
    const { log, input } = await onEmptyFile(async (dir) => {
      // Rotated before the input started: not this file's content, not to be read.
      await writeFile(path.join(dir, 'app.log.1'), numbered('old', 0, 3));
      await sleep(30);
    });
    appendFileSync(log, numbered('t', 0, 5));
    truncateSync(log, 0);
    await sleep(50);
    await appendFile(log, numbered('t', 5, 1));
    await input.until(() => input.events.length >= 1, 'the line after the truncation');
    await sleep(300);
    expect(input.bodies()).toEqual(['t-000005']);
  });

  it('appends and a rename rotation of a file started empty: each line once', async () => {
    const { log, input } = await onEmptyFile();
    await appendFile(log, numbered('r', 0, 5));
    await input.until(() => input.events.length === 5, 'the first 5 lines');
    await appendFile(log, numbered('r', 5, 5));
    await input.until(() => input.events.length === 10, 'the next 5 lines');
    await rename(log, `${log}.1`);
    await writeFile(log, '');
    await sleep(400); // past rotate_wait (200 ms): the renamed file is let go, known by its checkpoint
    await appendFile(log, numbered('r', 10, 5));
    await input.until(() => input.events.length >= 15, 'the lines of the new file');
    await sleep(300);
    expectEachOnce(input.bodies(), numbered('r', 0, 15));
  });
});

/**
 * copytruncate after the input had read part of the file, then as many bytes written again as it had read:
 * the file neither shrank below what was read nor grew past it, and only its first bytes tell it is another.
 * Before, the truncation went unseen at that size: the rest in the copy and the new lines were lost (the
 * rotation stress run lost 45 lines so: 14 lines read, then copied and truncated, then 14 lines of the same
 * length written, then renamed away).
 */
describe('file input: copytruncate, then written again to the size that was read', () => {
  it('the rest of the old content is read from the copy and the new lines from the file, each once', async () => {
    const { log, input } = await onEmptyFile();
    await appendFile(log, numbered('a', 0, 3));
    await input.until(() => input.events.length >= 3, 'the first 3 lines');
    await sleep(50); // past the granularity of file times: the rewrite gets a modification time of its own
    // Synchronous calls: the input cannot read in between.
    appendFileSync(log, numbered('a', 3, 2));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('b', 0, 3)); // as many bytes as were read: 3 lines of the same length
    await input.until(() => input.events.length >= 8, 'the copy\'s rest and the new lines', 3000).catch(() => undefined);
    await sleep(300); // a line read twice would show up by now
    expectEachOnce(input.bodies(), numbered('a', 0, 5) + numbered('b', 0, 3));
  });
});

/**
 * A truncation with no copy (in place, or the copy deleted at once) while the input is behind:
 * what it had seen of the file past the last line read is lost, and said: counted in file_lost_bytes_total
 * and logged with the file and the bytes. Before, the loss was silent.
 */
describe('file input: a truncation before the file was read to its end, with no copy', () => {
  it('counts and says the bytes that could not be read', async () => {
    const { log, input } = await whileFirstReadHeld(start, await tempDir(), (file) => truncateSync(file, 0));
    await input.until(() => input.bodies().includes('y-000000'), 'the line written after the truncation');
    const read = input.bodies().filter((b) => b.startsWith('x-')).length;
    expect(read).toBe(455); // 4,096 bytes read: 455 whole lines of 9 bytes
    await input.until(() => input.metrics.get('file_lost_bytes_total') > 0, 'the loss counted');
    expect(input.metrics.get('file_lost_bytes_total')).toBe(9000 - 455 * 9);
    const said = input.logRecords.find((r) => r.problem === 'file_lines_lost');
    expect(said).toMatchObject({ file: log, lost_bytes: 9000 - 455 * 9 });
  });

  /**
   * The same with the modification time set back to what it was when the input last looked (`touch -d`, or a
   * file system whose times are too coarse to tell two writes apart): its change time still moves. Before,
   * only the modification time led to the first bytes, and the truncation went unseen.
   */
  it('with the modification time set back as it was: the change time tells', async () => {
    const { log, input } = await onEmptyFile();
    await appendFile(log, numbered('a', 0, 3));
    const mtime = Math.floor(Date.now() / 1000) - 60; // whole seconds: the same to the nanosecond when set again
    utimesSync(log, mtime, mtime);
    await input.until(() => input.events.length >= 3, 'the first 3 lines');
    await sleep(300); // the input has looked at the file with its time set back
    appendFileSync(log, numbered('a', 3, 2));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('b', 0, 3));
    utimesSync(log, mtime, mtime);
    await input.until(() => input.events.length >= 8, 'the copy\'s rest and the new lines', 3000).catch(() => undefined);
    await sleep(300);
    expectEachOnce(input.bodies(), numbered('a', 0, 5) + numbered('b', 0, 3));
  });
});

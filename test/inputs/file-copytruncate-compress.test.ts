/**
 * copytruncate with the copy compressed at once (logrotate's `copytruncate` + `compress`, no
 * `delaycompress`): app.log is copied to app.log.1 and truncated, and app.log.1 gzipped to app.log.1.gz and
 * deleted, within milliseconds. Lines the input had not read when the file was truncated are read from the
 * .gz. Before, they were lost, and not counted unless the input had seen them (found with the real logrotate:
 * test/e2e/file-logrotate.test.ts).
 */
import { appendFileSync, copyFileSync, readFileSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { expectEachOnce, numbered, openFilesUnder, startedFileInputs, tempDir, whileFirstReadHeld } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What logrotate does with `copytruncate` and `compress`: the copy is gzipped and deleted at once, and the
 * .gz keeps the file's times when it was copied (which may be before the input last looked at the file).
 */
function copyTruncateCompress(log: string, copy: string): void {
  copyFileSync(log, copy);
  const { atime, mtime } = statSync(log);
  truncateSync(log, 0);
  writeFileSync(`${copy}.gz`, gzipSync(readFileSync(copy)));
  utimesSync(`${copy}.gz`, atime, new Date(mtime.getTime() - 1000));
  unlinkSync(copy);
}

describe('file input: copytruncate with the copy compressed at once', () => {
  it('the lines not read when the file was truncated are read from the .gz, each once; an older .gz is left alone', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    // An earlier rotation's archive: other content, never read.
    await writeFile(`${log}.2.gz`, gzipSync(numbered('old', 0, 50)));
    await writeFile(log, '');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    await appendFile(log, numbered('a', 0, 3));
    await input.until(() => input.events.length >= 3, 'the first 3 lines');
    // Synchronous calls: the input cannot read in between, as when the app wrote just before logrotate ran.
    appendFileSync(log, numbered('a', 3, 2));
    copyTruncateCompress(log, `${log}.1`);
    appendFileSync(log, numbered('b', 0, 3));
    await input.until(() => input.events.length >= 8, 'the rest from the .gz and the new lines', 5000).catch(() => undefined);
    await sleep(300); // a line read twice would show up by now
    expectEachOnce(input.bodies(), numbered('a', 0, 5) + numbered('b', 0, 3));
    expect(input.events.filter((e) => e.source.file === `${log}.1.gz`).map((e) => [e.body, e.source.offset])).toEqual([['a-000003', 27], ['a-000004', 36]]);
    expect(input.metrics.get('file_lost_bytes_total')).toBe(0);
  });

  it('behind a full pipeline: the rest it had seen is read from the .gz, not counted lost', async () => {
    const { input } = await whileFirstReadHeld(start, await tempDir(), (log) => copyTruncateCompress(log, `${log}.1`));
    await input.until(() => input.events.length >= 1001, 'every line', 5000).catch(() => undefined);
    await sleep(300);
    expectEachOnce(input.bodies(), numbered('x', 0, 1000) + numbered('y', 0, 1));
    expect(input.metrics.get('file_lost_bytes_total')).toBe(0);
  });

  it('a stop while a large .gz is decompressed ends the decompression: no tailer of it starts, its file is closed', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const dataDir = path.join(dir, 'data');
    await writeFile(log, '');
    const input = start({ dataDir, config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    await appendFile(log, numbered('a', 0, 3));
    await input.until(() => input.events.length >= 3, 'the first 3 lines');
    // The copy holds 96 MiB more than was read (a few hundred KiB gzipped): decompressed for a while.
    await writeFile(`${log}.1.gz`, gzipSync(Buffer.concat([Buffer.from(numbered('a', 0, 3)), Buffer.alloc(96 * 1024 * 1024, 'a line the input never read\n')]), { level: 1 }));
    truncateSync(log, 0);
    const decompressing = async () => (await openFilesUnder(dataDir)).some((f) => path.basename(f).startsWith('gunzipped-'));
    const started = Date.now();
    while (!(await decompressing())) {
      if (Date.now() - started > 10_000) throw new Error(`the .gz was not decompressed: ${input.logs.join('; ')}`);
      await new Promise((r) => setImmediate(r));
    }
    await input.stop();
    // Before, the stop waited for the whole file to be decompressed, then a tailer of it started.
    expect(input.logRecords.filter((r) => r.how === 'compressed')).toEqual([]);
    expect(await decompressing(), 'the decompressed file still open after the stop').toBe(false);
    expect(input.events.length).toBe(3);
  }, 30_000);
});

/**
 * copytruncate on a file system whose file times are in whole seconds (ext2/ext3 with 128-byte inodes, FAT,
 * some NFS servers): a file truncated and written again within the second it was last looked at keeps its
 * modification and change times, and only its first bytes or its size tell. Before, the tailer compared
 * them only when a time moved: the rest in the copy and the new lines were lost. Skipped unless
 * DRIFTLOCK_COARSE_DIR names a folder on such a file system, for instance (as root):
 *
 *   truncate -s 64M /tmp/coarse.img && mkfs.ext2 -q -I 128 -F /tmp/coarse.img
 *   mkdir -p /tmp/coarse && mount -o loop /tmp/coarse.img /tmp/coarse
 *   DRIFTLOCK_COARSE_DIR=/tmp/coarse npx vitest run test/inputs/file-coarse-times.test.ts
 */
import { appendFileSync, copyFileSync, statSync, truncateSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEachOnce, numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const coarseDir = process.env.DRIFTLOCK_COARSE_DIR;
const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!coarseDir)('file input: copytruncate with file times in whole seconds', () => {
  const tmp = process.env.TMPDIR;
  beforeAll(() => {
    process.env.TMPDIR = coarseDir;
  });
  afterAll(() => {
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
  });

  /** An input reading an empty `app.log` from the beginning, started and watching, in a folder of DRIFTLOCK_COARSE_DIR. */
  async function onEmptyFile() {
    const dir = await tempDir();
    expect(dir.startsWith(coarseDir!)).toBe(true);
    const log = path.join(dir, 'app.log');
    await writeFile(log, '');
    const st = statSync(log);
    expect(st.mtimeMs % 1000 === 0 && st.ctimeMs % 1000 === 0, `times in whole seconds in ${coarseDir}`).toBe(true);
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    return { log, input };
  }

  it('written again to the size that was read, within the second: the rest is read from the copy, the new lines from the file', async () => {
    const { log, input } = await onEmptyFile();
    await appendFile(log, numbered('a', 0, 3));
    await input.until(() => input.events.length >= 3, 'the first 3 lines');
    // Synchronous calls, at once: the input cannot read in between, and the times stay in the second of the read.
    appendFileSync(log, numbered('a', 3, 2));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('b', 0, 3));
    await input.until(() => input.events.length >= 8, 'the copy\'s rest and the new lines', 5000).catch(() => undefined);
    await sleep(300); // a line read twice would show up by now
    expectEachOnce(input.bodies(), numbered('a', 0, 5) + numbered('b', 0, 3));
  });

  it('an empty file written, copied and truncated, then 1 line: all 6 are read', async () => {
    const { log, input } = await onEmptyFile();
    appendFileSync(log, numbered('u', 0, 5));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    await appendFile(log, numbered('u', 5, 1));
    await input.until(() => input.events.length >= 6, 'all 6 lines', 5000).catch(() => undefined);
    await sleep(300);
    expectEachOnce(input.bodies(), numbered('u', 0, 6));
  });

  it('an empty file written, copied and truncated, nothing after: the copy is read', async () => {
    const { log, input } = await onEmptyFile();
    appendFileSync(log, numbered('z', 0, 5));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    await input.until(() => input.events.length >= 5, 'the 5 lines of the copy', 5000).catch(() => undefined);
    await sleep(300);
    expectEachOnce(input.bodies(), numbered('z', 0, 5));
  });
});


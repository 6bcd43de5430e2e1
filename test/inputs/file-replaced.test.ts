/**
 * A file deleted and created again under the same name. chokidar reports a name unlinked and added again
 * within 100 ms as one `change` (its atomic mode), and polling reports a replaced file as a `change` too.
 * Before, the tailer of the deleted file read it to its end and closed, keeping the name until then and
 * never handing it back: the new file was found only by the periodic scan (`scan_interval`), and a file
 * that lived for less than that between two replacements was never read at all. Here the scan is an hour
 * away, so only the notification or the periodic check (`check_interval`, 1 s as by default) can find it.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { appendFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, readCheckpoints, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectEachOnce(bodies: string[], prefix: string, count: number): void {
  const mine = bodies.filter((b) => b.startsWith(prefix + '-'));
  expect(new Set(mine).size, 'distinct lines').toBe(mine.length);
  expect(mine.sort()).toEqual(numbered(prefix, 0, count).trimEnd().split('\n'));
}

/** Deletes `file` and creates it again with `text`, synchronously: nothing runs in between. */
function replace(file: string, text: string): void {
  unlinkSync(file);
  writeFileSync(file, text);
}

async function started(first: string, config: Record<string, unknown> = {}) {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  const data = path.join(dir, 'data');
  const cfg = { include: [log], start_at: 'beginning', check_interval: '1s', scan_interval: '1h', ...config };
  await writeFile(log, first);
  const input = start({ dataDir: data, config: cfg });
  const lines = first === '' ? 0 : first.trimEnd().split('\n').length;
  await input.until(() => input.events.length === lines && input.logs.includes('watching for file changes'), 'the first file, and the watcher');
  return { dir, log, data, cfg, input };
}

describe('file input: a file deleted and created again under its name', () => {
  it('the new file is read within 1.5 s (the old code: after scan_interval), nothing lost or repeated (5 rounds)', async () => {
    const { log, input } = await started(numbered('r', 0, 50));
    let total = 50;
    for (let round = 0; round < 5; round++) {
      await sleep(300);
      replace(log, numbered('r', total, 100));
      total += 100;
      const at = Date.now();
      await input.until(() => input.events.length >= total, `round ${round + 1}'s new file`, 5000);
      expect(Date.now() - at, `round ${round + 1}`).toBeLessThan(1500);
    }
    await sleep(300); // a line read twice would show up by now
    expectEachOnce(input.bodies(), 'r', total);
    expect(input.logs).toContain('file deleted; reading it to its end');
  });

  it('a file that lives 0.5 s between two replacements is read whole, and a restart reads nothing again', async () => {
    // The reviewer's case: an empty file, replaced by one of 100 lines, replaced again 0.5 s later. Before,
    // the middle file was never read (4 of 4 runs), nor its inode checkpointed.
    const { log, data, cfg, input } = await started('');
    await sleep(300);
    replace(log, numbered('m', 0, 100));
    await sleep(500);
    replace(log, numbered('m', 100, 100));
    await input.until(() => input.events.length >= 200, 'both files', 5000);
    await sleep(300);
    expectEachOnce(input.bodies(), 'm', 200);
    await input.stop();
    const saved = await readCheckpoints(data);
    expect(saved.filter((c) => c.path === log && c.offset === 100 * 'm-000000\n'.length), 'the middle and the last file').toHaveLength(2);
    const second = start({ dataDir: data, config: cfg });
    await appendFile(log, numbered('m', 200, 10));
    await second.until(() => second.events.length >= 10, 'the 10 lines appended after the restart');
    await sleep(300);
    expectEachOnce([...input.bodies(), ...second.bodies()], 'm', 210);
  });

  it('the deleted file\'s unread lines and every replacement are read while the pipeline was held up', async () => {
    // The tailer is stuck in `emit` (a full pipeline) and looks at no name meanwhile; the file that replaces
    // its file must be opened all the same, or it is lost when it is replaced in turn.
    const { log, input } = await started(numbered('h', 0, 10));
    const release = input.block();
    appendFileSync(log, numbered('h', 10, 10));
    await input.until(() => input.waiting > 0, 'the input to be held up');
    appendFileSync(log, numbered('h', 20, 10)); // not read yet when the file is deleted
    replace(log, numbered('h', 30, 100));
    await sleep(500);
    replace(log, numbered('h', 130, 100));
    await sleep(500);
    release();
    await input.until(() => input.events.length >= 230, 'all 230 lines', 5000);
    await sleep(300);
    expectEachOnce(input.bodies(), 'h', 230);
  });

  it('with use_polling alone (no periodic check), a replaced file is found at the next poll, and so is the next one', async () => {
    // chokidar polls every second here (check_interval, at most 1 s): a file must live longer than that.
    const { log, input } = await started(numbered('p', 0, 10), { use_polling: true, check_interval: '1h' });
    await sleep(300);
    replace(log, numbered('p', 10, 100));
    await input.until(() => input.events.length >= 110, 'the first replacement', 2500);
    await sleep(300);
    replace(log, numbered('p', 110, 100));
    await input.until(() => input.events.length >= 210, 'all 210 lines', 5000);
    await sleep(300);
    expectEachOnce(input.bodies(), 'p', 210);
  });
});

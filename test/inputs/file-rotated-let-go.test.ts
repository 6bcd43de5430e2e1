/**
 * A file renamed away and read to its end, let go at rotate_wait but still open (its batches not yet
 * acknowledged), then written to by a writer that kept it open (a logger that has not reopened yet).
 * - Appended to: the new lines are read, once, and the file is closed only when it is read to its end,
 *   rotate_wait passed with nothing new, and every batch is acknowledged. Before, the tailer let its growth
 *   be (it had let the file go) and closed it at the acknowledgement: the lines were lost.
 * - Truncated and written again: what it holds now is read. Before, the tailer saw the truncation, said it
 *   read the file again from its start, and closed it at once without reading a byte (the fresh tracker had
 *   nothing outstanding).
 * Either way the lines were read by nothing else: the rotated name is not included.
 */
import { appendFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (text: string) => text.trimEnd().split('\n');

/**
 * An input on `app.log` (batches held unless `hold: false`) that has read `first` from it (lines `a-0` to
 * `a-2`, and what `last` adds without a newline); `rotate()` renames the file to `app.log.1`.
 */
async function reading(options: { hold?: boolean; last?: string } = {}) {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  writeFileSync(log, '');
  const input = start({ dataDir: path.join(dir, 'data'), hold: options.hold ?? true, config: { include: [log], start_at: 'beginning' } });
  await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
  appendFileSync(log, `${numbered('a', 0, 3)}${options.last ?? ''}`);
  await input.until(() => input.events.length === 3, 'the first lines');
  const rotated = `${log}.1`;
  const rotate = async (): Promise<void> => {
    renameSync(log, rotated);
    await input.until(() => input.logs.includes('file rotated away; reading it to its end'), 'the rotation');
  };
  return { input, rotated, rotate };
}

describe('file input: a rotated file appended to after it was let go', () => {
  it('reads the appended lines, once, and closes the file only after they are read and acknowledged', async () => {
    // The last line has no newline: it is passed on when the file is let go, which tells the test it was.
    const { input, rotated, rotate } = await reading({ last: 'cut' });
    await rotate();
    await input.until(() => input.events.length === 4, 'the last line without newline, passed on at rotate_wait (200 ms)');
    appendFileSync(rotated, numbered('b', 0, 2));
    // Read while the first batches still wait: the file is woken at every check_interval (100 ms).
    await input.until(() => input.events.length >= 6, 'the appended lines', 3000).catch(() => undefined);
    for (const h of input.held.splice(0)) h.ack('delivered');
    await input.until(() => input.events.length >= 6, 'the appended lines, once acknowledged', 3000).catch(() => undefined);
    for (const h of input.held.splice(0)) h.ack('delivered');
    await input.until(() => input.metrics.get('files_open') === 0, 'the rotated file closed');
    await sleep(300); // a line read twice would show up by now
    expect(input.bodies()).toEqual([...lines(numbered('a', 0, 3)), 'cut', ...lines(numbered('b', 0, 2))]);
  });

  it('reads it each time it grows again after rotate_wait, until nothing new comes for rotate_wait', async () => {
    const { input, rotated, rotate } = await reading();
    await rotate();
    await sleep(500); // rotate_wait (200 ms) passes: let go, still open for its unacknowledged batch
    appendFileSync(rotated, numbered('b', 0, 2));
    await input.until(() => input.events.length >= 5, 'the appended lines', 3000).catch(() => undefined);
    // The first batch acknowledged; the file is held open by the second one, which waits.
    input.held.shift()?.ack('delivered');
    await sleep(500); // rotate_wait passes again after that growth
    appendFileSync(rotated, numbered('c', 0, 1));
    await input.until(() => input.events.length >= 6, 'the line appended after the second rotate_wait', 3000).catch(() => undefined);
    for (const h of input.held.splice(0)) h.ack('delivered');
    await input.until(() => input.metrics.get('files_open') === 0, 'the rotated file closed');
    await sleep(300); // a line read twice would show up by now
    expect(input.bodies()).toEqual([...lines(numbered('a', 0, 3)), ...lines(numbered('b', 0, 2)), ...lines(numbered('c', 0, 1))]);
  });

  it('reads what it grew by while the last line passed on at rotate_wait waited for a full pipeline', async () => {
    const { input, rotated, rotate } = await reading({ hold: false, last: 'cut' });
    const release = input.block();
    await rotate();
    await input.until(() => input.waiting === 1, 'the last line without newline, passed on at rotate_wait and held');
    appendFileSync(rotated, numbered('b', 0, 2));
    release(); // acknowledged at once: nothing outstanding
    await input.until(() => input.events.length >= 6, 'the appended lines', 3000).catch(() => undefined);
    await input.until(() => input.metrics.get('files_open') === 0, 'the rotated file closed');
    await sleep(300); // a line read twice would show up by now
    expect(input.bodies()).toEqual([...lines(numbered('a', 0, 3)), 'cut', ...lines(numbered('b', 0, 2))]);
  });
});

describe('file input: a rotated file truncated after it was let go', () => {
  it('reads the lines written after the truncation', async () => {
    const { input, rotated, rotate } = await reading();
    await rotate();
    await sleep(500); // rotate_wait (200 ms) passes: let go, still open for its unacknowledged batch
    truncateSync(rotated, 0);
    appendFileSync(rotated, numbered('b', 0, 2));
    await input.until(() => input.logs.includes('file truncated or replaced in place (copytruncate?): reading it again from the start'), 'the truncation');
    for (const h of input.held.splice(0)) h.ack('delivered');
    await input.until(() => input.events.length >= 5, 'the lines written after the truncation', 3000).catch(() => undefined);
    for (const h of input.held.splice(0)) h.ack('delivered');
    await sleep(300); // a line read twice would show up by now
    expect(input.bodies()).toEqual([...lines(numbered('a', 0, 3)), ...lines(numbered('b', 0, 2))]);
  });
});

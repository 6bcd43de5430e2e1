/**
 * A file renamed away and read to its end, let go at rotate_wait but still open (its batches not yet
 * acknowledged), then appended to by a writer that kept it open (a logger that has not reopened yet): the
 * new lines are read, once, and the file is closed only when it is read to its end, rotate_wait passed with
 * nothing new, and every batch is acknowledged. Before, the tailer let its growth be (it had let the file
 * go) and closed it at the acknowledgement: the lines were lost, read by nothing else (the name is not
 * included).
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (text: string) => text.trimEnd().split('\n');

describe('file input: a rotated file appended to after it was let go', () => {
  it('reads the appended lines, once, and closes the file only after they are read and acknowledged', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    writeFileSync(log, '');
    const input = start({ dataDir: path.join(dir, 'data'), hold: true, config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    // The last line has no newline: it is passed on when the file is let go, which tells the test it was.
    appendFileSync(log, `${numbered('a', 0, 3)}cut`);
    await input.until(() => input.events.length === 3, 'the first lines');
    renameSync(log, `${log}.1`);
    await input.until(() => input.logs.includes('file rotated away; reading it to its end'), 'the rotation');
    await input.until(() => input.events.length === 4, 'the last line without newline, passed on at rotate_wait (200 ms)');
    appendFileSync(`${log}.1`, numbered('b', 0, 2));
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
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    writeFileSync(log, '');
    const input = start({ dataDir: path.join(dir, 'data'), hold: true, config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    appendFileSync(log, numbered('a', 0, 3));
    await input.until(() => input.events.length === 3, 'the first lines');
    renameSync(log, `${log}.1`);
    await input.until(() => input.logs.includes('file rotated away; reading it to its end'), 'the rotation');
    await sleep(500); // rotate_wait (200 ms) passes: let go, still open for its unacknowledged batch
    appendFileSync(`${log}.1`, numbered('b', 0, 2));
    await input.until(() => input.events.length >= 5, 'the appended lines', 3000).catch(() => undefined);
    // The first batch acknowledged; the file is held open by the second one, which waits.
    input.held.shift()?.ack('delivered');
    await sleep(500); // rotate_wait passes again after that growth
    appendFileSync(`${log}.1`, numbered('c', 0, 1));
    await input.until(() => input.events.length >= 6, 'the line appended after the second rotate_wait', 3000).catch(() => undefined);
    for (const h of input.held.splice(0)) h.ack('delivered');
    await input.until(() => input.metrics.get('files_open') === 0, 'the rotated file closed');
    await sleep(300); // a line read twice would show up by now
    expect(input.bodies()).toEqual([...lines(numbered('a', 0, 3)), ...lines(numbered('b', 0, 2)), ...lines(numbered('c', 0, 1))]);
  });

  it('reads what it grew by while the last line passed on at rotate_wait waited for a full pipeline', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    writeFileSync(log, '');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    appendFileSync(log, `${numbered('a', 0, 3)}cut`);
    await input.until(() => input.events.length === 3, 'the first lines');
    const release = input.block();
    renameSync(log, `${log}.1`);
    await input.until(() => input.waiting === 1, 'the last line without newline, passed on at rotate_wait and held');
    appendFileSync(`${log}.1`, numbered('b', 0, 2));
    release(); // acknowledged at once: nothing outstanding
    await input.until(() => input.events.length >= 6, 'the appended lines', 3000).catch(() => undefined);
    await input.until(() => input.metrics.get('files_open') === 0, 'the rotated file closed');
    await sleep(300); // a line read twice would show up by now
    expect(input.bodies()).toEqual([...lines(numbered('a', 0, 3)), 'cut', ...lines(numbered('b', 0, 2))]);
  });
});

/**
 * A file renamed away and read to its end, let go at rotate_wait but still open (its last batch not yet
 * acknowledged), then truncated and written again by a writer that kept it open: what it holds now is read.
 * Before, the tailer saw the truncation, said it read the file again from its start, and closed it at once
 * without reading a byte (it had let the file go, and the fresh tracker had nothing outstanding): the new
 * lines were never read, by it nor by anything else (the name is not included).
 */
import { appendFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('file input: a rotated file truncated after it was let go', () => {
  it('reads the lines written after the truncation', async () => {
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
    truncateSync(`${log}.1`, 0);
    appendFileSync(`${log}.1`, numbered('b', 0, 2));
    await input.until(() => input.logs.includes('file truncated or replaced in place (copytruncate?): reading it again from the start'), 'the truncation');
    for (const h of input.held.splice(0)) h.ack('delivered');
    await input.until(() => input.events.length >= 5, 'the lines written after the truncation', 3000).catch(() => undefined);
    for (const h of input.held.splice(0)) h.ack('delivered');
    await sleep(300); // a line read twice would show up by now
    expect(input.bodies()).toEqual([...numbered('a', 0, 3).trimEnd().split('\n'), ...numbered('b', 0, 2).trimEnd().split('\n')]);
  });
});

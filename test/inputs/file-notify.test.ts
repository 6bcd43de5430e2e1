/**
 * Change notifications: chokidar passes on at most one `change` of a file each 50 ms and drops the rest,
 * with no trailing one. A line appended just after a notified one was read only at the next periodic check
 * (`check_interval`, 1 s by default): the last line of a burst, the one an alert is often about, came up to
 * a second late (the alert-latency bench's last probe, ~900 ms in every run at 1,000 lines/s).
 */
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('file input: change notifications', () => {
  it('reads a line appended within 50 ms of a notified one without waiting for the periodic check', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('a', 0, 3));
    // The periodic checks an hour away: only notifications (and what the input does with them) wake it.
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', check_interval: '1h', scan_interval: '1h' } });
    await input.until(() => input.events.length === 3, 'the file there at start');
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    for (let round = 0; round < 5; round++) {
      await appendFile(log, numbered(`b${round}`, 0, 1));
      await sleep(30);
      // Inside chokidar's 50 ms after the change it passed on: its own change is dropped.
      await appendFile(log, numbered(`c${round}`, 0, 1));
      const sent = Date.now();
      await input.until(() => input.bodies().includes(`c${round}-000000`), `round ${round}'s second line`, 3000);
      expect(Date.now() - sent).toBeLessThan(1000);
      await sleep(200);
    }
    expect(input.events).toHaveLength(13);
  });
});

/**
 * Change notifications.
 *
 * chokidar passes on at most one `change` of a file each 50 ms and drops the rest,
 * with no trailing one. A line appended just after a notified one was read only at the next periodic check
 * (`check_interval`, 1 s by default): the last line of a burst, the one an alert is often about, came up to
 * a second late (the alert-latency bench's last probe, ~900 ms in every run at 1,000 lines/s).
 *
 * chokidar lists a watched folder again at every notification from it, and a write to any file in the folder
 * is one: while a file was written to, its folder was listed back to back (one file written 100 times a
 * second took 95% of a core beside 1,000 other files). The input lets it list a folder once a second at most.
 */
import fsp, { appendFile, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Counts the listings of a folder (`readdir` of `node:fs/promises`, as chokidar's readdirp calls it) until
 * `restore`: the module's named exports are made to follow the patched function (syncBuiltinESMExports).
 */
function countListings(folder: string): { count(): number; restore(): void } {
  const original = fsp.readdir;
  let count = 0;
  fsp.readdir = ((p: Parameters<typeof original>[0], ...rest: unknown[]) => {
    if (path.resolve(String(p)) === folder) count++;
    return (original as (...args: unknown[]) => unknown)(p, ...rest);
  }) as typeof original;
  syncBuiltinESMExports();
  return {
    count: () => count,
    restore: () => {
      fsp.readdir = original;
      syncBuiltinESMExports();
    },
  };
}

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

  it('lists a folder once a second at most while a file in it is written to (before: back to back), and still finds a file created there', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, '');
    for (let i = 0; i < 50; i++) await writeFile(path.join(dir, `app-${i}.log.gz`), 'x');
    // The periodic checks and walks an hour away: only the watcher finds the new file.
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')], start_at: 'beginning', check_interval: '1h', scan_interval: '1h' } });
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    // Only the watcher lists the folder meanwhile (the input itself does when it finds a new file).
    const listings = countListings(dir);
    const began = performance.now();
    try {
      for (let i = 0; i < 150; i++) {
        await appendFile(log, numbered('a', i, 1));
        await sleep(10);
      }
      await input.until(() => input.bodies().includes('a-000149'), 'the last line written');
    } finally {
      listings.restore();
    }
    const listed = listings.count();
    const seconds = (performance.now() - began) / 1000;
    await writeFile(path.join(dir, 'new.log'), numbered('n', 0, 1));
    await input.until(() => input.bodies().includes('n-000000'), 'the line of the file created in the busy folder');
    expect(input.events).toHaveLength(151);
    // Before: at every write, or right after the listing before (152 in 1.8 s here). Now the watcher's, one a
    // second at most and one at the start, and the input's own walk of the globs once the watcher is ready.
    expect(listed, `${listed} listings in ${seconds.toFixed(1)} s`).toBeGreaterThan(0);
    expect(listed, `${listed} listings in ${seconds.toFixed(1)} s`).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
  });
});

/**
 * `use_polling: true`, for network filesystems where change notifications do not arrive: chokidar polls
 * (stat) instead of using inotify. Checked on a local folder with the input's own periodic checks and scans
 * set to an hour, so that only the polling watcher can tell it about appends, new files and a rotation; and
 * no inotify instance may be opened (its own file, so that this worker process has none from other tests).
 */
import { appendFile, readdir, readlink, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();

async function inotifyInstances(): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === 'anon_inode:inotify') n += 1;
  }
  return n;
}

function expectEachOnce(bodies: string[], prefix: string, count: number): void {
  const mine = bodies.filter((b) => b.startsWith(prefix + '-'));
  expect(mine.sort()).toEqual(numbered(prefix, 0, count).trimEnd().split('\n'));
}

describe('file input: use_polling', () => {
  it('follows appends, finds a new file and follows a rename rotation by polling alone, without inotify', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('p', 0, 5));
    const before = await inotifyInstances();
    const input = start({
      dataDir: path.join(dir, 'data'),
      config: { include: [path.join(dir, '*.log')], start_at: 'beginning', use_polling: true, check_interval: '1h', scan_interval: '1h' },
    });
    await input.until(() => input.events.length === 5, 'the file there at start');
    // Changes made before the watcher has taken its first look at the files would go unseen.
    await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
    // A tailer at the end of its file sleeps until woken: with the check timer at an hour, only a change
    // the watcher saw wakes it.
    await appendFile(log, numbered('p', 5, 5));
    await input.until(() => input.events.length === 10, 'the appended lines');
    // Found by the watcher: the next scan of the globs is an hour away.
    await writeFile(path.join(dir, 'new.log'), numbered('q', 0, 3));
    await input.until(() => input.events.length === 13, 'the new file');
    // Rename rotation; the writer appends its last lines to the renamed file before it reopens.
    await rename(log, `${log}.1`);
    await writeFile(log, numbered('p', 15, 5));
    await appendFile(`${log}.1`, numbered('p', 10, 5));
    await input.until(() => input.events.length === 23, 'the rest of the rotated file and the new one');
    await input.until(() => input.metrics.get('files_open') === 2, 'the rotated file let go');
    expectEachOnce(input.bodies(), 'p', 20);
    expectEachOnce(input.bodies(), 'q', 3);
    expect(input.events.find((e) => e.body === 'p-000012')?.source.file).toBe(log); // read from the renamed file
    expect(await inotifyInstances()).toBe(before);
  });
});

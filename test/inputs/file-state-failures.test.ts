/**
 * The file input when its state cannot be written (a full data_dir) or its run fails: it reads on, says so
 * once, and lets go of its files.
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink, unlink, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Discovery } from '../../src/inputs/file/discovery.js';
import { numbered, openFilesUnder, readCheckpoints, startFileInput, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();

afterEach(() => {
  vi.restoreAllMocks();
});

describe('file input: checkpoints that cannot be saved', () => {
  it.skipIf(!existsSync('/dev/full'))('reads on with data_dir full from the start, says it once, shows it on /health, and saves once there is room', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    await mkdir(data);
    // The checkpoints' temp file is /dev/full: every save fails with ENOSPC, as on a full disk.
    await symlink('/dev/full', path.join(data, 'checkpoints.json.tmp'));
    await writeFile(log, numbered('full', 0, 500));
    const input = start({ dataDir: data, config: { include: [log], start_at: 'beginning', checkpoint_interval: '20ms' } });
    await input.until(() => input.events.length === 500, 'the lines');
    await appendFile(log, numbered('full', 500, 500));
    await input.until(() => input.events.length === 1000, 'the lines appended');
    // Several saves failed meanwhile (one every 20 ms): each is counted, one is said.
    await input.until(() => input.metrics.get('errors_total') >= 10, 'failed saves');
    expect(input.logRecords.filter((r) => r.level === 50).map((r) => r.msg)).toEqual([expect.stringMatching(/^cannot save checkpoints; retrying/)]);
    expect(input.health).toEqual([expect.stringMatching(/^failing: cannot save checkpoints: ENOSPC/)]);
    expect(input.bodies()).toEqual(numbered('full', 0, 1000).trimEnd().split('\n'));

    // Room again: the next save works, is said once, and the checkpoint covers every line delivered.
    await unlink(path.join(data, 'checkpoints.json.tmp'));
    await input.until(() => input.logs.includes('checkpoints can be saved again'), 'the recovery');
    expect(input.health.at(-1)).toBe('ok');
    const [checkpoint] = await readCheckpoints(data);
    expect(checkpoint!.offset).toBe(numbered('full', 0, 1000).length);
    await input.stop();
    expect(input.events).toHaveLength(1000);
  });
});

describe('file input: a run that fails', () => {
  it('lets go of the files it had opened once the engine aborts it, instead of reading them on beside its restart', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('crash', 0, 10));
    // Fails after the files were found and opened (a bug, or an error the input does not expect).
    vi.spyOn(Discovery.prototype, 'watch').mockImplementation(() => {
      throw new Error('watch failed');
    });
    const input = startFileInput({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
    await expect(input.done).rejects.toThrow('watch failed');
    expect(input.metrics.get('files_open')).toBe(1);
    // The engine aborts a run that threw (its restart gets a signal of its own).
    await input.stop().catch(() => undefined);
    await input.until(() => input.metrics.get('files_open') === 0, 'the tailer to close');
    expect(await openFilesUnder(dir)).toEqual([]);
  });
});

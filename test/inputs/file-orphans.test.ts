/**
 * Checkpoints of deleted files stay for `checkpoint_ttl` (24 h by default): on a node where pods come and go,
 * thousands of them pile up beside the live files. At each start (and each SIGHUP reload) the input looks for
 * every such file (renamed? copied?) in its folder; that search must not list the folder again for each one.
 */
import { readdir as realReaddir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const listed: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  const readdir = (async (dir: unknown, ...rest: unknown[]) => {
    listed.push(String(dir));
    return (original.readdir as (...a: unknown[]) => Promise<unknown>)(dir, ...rest);
  }) as typeof original.readdir;
  return { ...original, readdir, default: { ...original, readdir } };
});

const { numbered, readCheckpoints, startedFileInputs, tempDir } = await import('../helpers/file-input.js');
const start = startedFileInputs();

describe('file input: checkpoints of deleted files', () => {
  it('a start with 150 checkpoints of deleted files lists their folder a few times, not once per checkpoint', async () => {
    const dir = await tempDir();
    const logs = path.join(dir, 'logs');
    const data = path.join(dir, 'data');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(logs);
    const live = Array.from({ length: 20 }, (_, i) => path.join(logs, `svc-${i}.log`));
    const gone = Array.from({ length: 150 }, (_, i) => path.join(logs, `pod-${i}.log`));
    for (const f of [...live, ...gone]) await writeFile(f, numbered(path.basename(f), 0, 2));
    const config = { include: [path.join(logs, '*.log')], start_at: 'beginning' };

    const first = start({ dataDir: data, config });
    await first.until(() => first.events.length === 2 * (live.length + gone.length), 'every line of the first run');
    await first.stop();
    for (const f of gone) await unlink(f);
    expect((await readCheckpoints(data)).length).toBe(live.length + gone.length);

    listed.length = 0;
    const second = start({ dataDir: data, config });
    await second.until(() => second.logs.includes('file input started'), 'the start');
    for (const f of live) await writeFile(f, numbered(path.basename(f), 2, 1), { flag: 'a' });
    await second.until(() => second.events.length === live.length, 'the new line of every live file');
    const listingsOfLogs = listed.filter((d) => d === logs).length;
    // Before: 151 (the folder listed again for each checkpoint of a deleted file). One of the 6 is the walk
    // once the watcher is ready (for files created while it started), and one the listing that checks that
    // no rotation ran while the look for rotated files never seen listed the folder (see `readUnseen`).
    expect(listingsOfLogs).toBeLessThanOrEqual(6);
    expect(second.bodies().sort()).toEqual(live.map((f) => `${path.basename(f)}-000002`).sort());
    // The checkpoints themselves stay (until checkpoint_ttl): only the search is cheaper.
    expect((await readCheckpoints(data)).length).toBe(live.length + gone.length);
    await second.stop();
    expect(await realReaddir(logs)).toHaveLength(live.length);
  }, 60_000);
});

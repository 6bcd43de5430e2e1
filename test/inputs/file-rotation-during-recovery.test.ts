/**
 * A rotation (logrotate `rotate 3`, rename-and-create) that runs while a start looks for the rest of a
 * checkpointed file renamed away while driftlock was stopped: between the folder's listing and the open of the
 * name where the listing saw that file. The file-crash e2e test (SIGKILL, rename rotation under CPU load)
 * read a whole rotated file twice this way, in about 1 run of 17: its checkpoint had no first bytes yet (it
 * is saved at offset 0 when its file is first opened, and driftlock was killed before the next save), so the
 * file renamed onto the name, already read under its own, passed for its "copy" and was read a second time.
 * Here the rotation runs inside the open (mocked; real files, real FileInput).
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

/** `before` runs once, inside the first open of `file`, before the file is opened. */
const racing: { file?: string; before?: () => void } = {};
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  const open = ((file: unknown, ...rest: unknown[]) => {
    if (racing.file !== undefined && String(file) === racing.file && racing.before) {
      const before = racing.before;
      racing.before = undefined;
      before();
    }
    return (original.open as (...a: unknown[]) => ReturnType<typeof original.open>)(file, ...rest);
  }) as typeof original.open;
  return { ...original, open, default: { ...original, open } };
});

const { numbered, startedFileInputs, tempDir } = await import('../helpers/file-input.js');
const start = startedFileInputs();

describe('file input: a rotation while the rest of a renamed file is looked for', () => {
  it('a checkpoint with no first bytes yet is not taken for the file renamed onto its name', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    const config = { include: [log], start_at: 'beginning' };
    // A first run sees app.log empty: its checkpoint is saved at offset 0, with no first bytes (as when
    // driftlock is killed right after it opened a new file).
    await writeFile(log, '');
    const first = start({ dataDir: data, config });
    await first.until(() => first.logs.includes('file input started'), 'the first start');
    await first.stop();

    // While stopped: b is written to it, and it is rotated to app.log.1; c is the new app.log.
    appendFileSync(log, numbered('b', 0, 50));
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('c', 0, 50));

    // The start reads c under app.log, then looks for the rest of b's file, listed as app.log.1. The next
    // rotation runs just before that name is opened: app.log.1 (b) -> app.log.2, app.log (c) -> app.log.1.
    let ran = false;
    racing.file = `${log}.1`;
    racing.before = () => {
      renameSync(`${log}.1`, `${log}.2`);
      renameSync(log, `${log}.1`);
      writeFileSync(log, numbered('d', 0, 50));
      ran = true;
    };
    const second = start({ dataDir: data, config });
    const count = (p: string) => second.bodies().filter((b) => b[0] === p).length;
    await second.until(() => second.logs.includes('file input started'), 'the start');
    expect(ran, 'the rotation ran inside the open').toBe(true);
    await second.until(() => count('b') >= 50 && count('c') >= 50 && count('d') >= 50, 'b, c and d read', 5000).catch(() => undefined);
    // Time for a second reading of c to show, had one started (the file is 50 lines: read in one go).
    await second.until(() => count('c') > 50, 'c read twice', 500).catch(() => undefined);
    await second.stop();
    const rests = second.logRecords.filter((r) => r.msg === 'reading the rest of a rotated file').map((r) => `${String(r.file)} (${String(r.how)})`);
    expect(['b', 'c', 'd'].map((p) => `${p}: ${count(p)}`), `the rests read: ${rests.join(', ')}`).toEqual(['b: 50', 'c: 50', 'd: 50']);
    expect(second.bodies()).toHaveLength(150);
  }, 30_000);
});

import { appendFile, copyFile, mkdir, readFile, rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, openFilesUnder, readCheckpoints, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();

/**
 * An input that has read a new file of `count` numbered lines whole (from the beginning), still running:
 * where the file and the data are, the config to start again with, and the input (its events).
 */
async function readWhole(prefix: string, count: number) {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  const data = path.join(dir, 'data');
  const config = { include: [log], start_at: 'beginning' };
  await writeFile(log, numbered(prefix, 0, count));
  const input = start({ dataDir: data, config });
  await input.until(() => input.events.length === count, `the first ${count} lines`);
  return { dir, log, data, config, input };
}

/** The same, stopped: a first run before a restart. */
async function readWholeThenStop(prefix: string, count: number) {
  const { input: first, ...rest } = await readWhole(prefix, count);
  await first.stop();
  return { ...rest, first };
}

/** An input that holds its batches (acks are the test's to give), after reading a first line, `l1`. */
async function heldAfterFirstLine() {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  const data = path.join(dir, 'data');
  await writeFile(log, 'l1\n');
  const config = { include: [log], start_at: 'beginning', max_read_bytes: 4096 };
  const first = start({ dataDir: data, config, hold: true });
  await first.until(() => first.held.length === 1, 'batch 1');
  return { log, data, config, first };
}

function expectEachOnce(bodies: string[], prefix: string, count: number): void {
  const expected = numbered(prefix, 0, count).trimEnd().split('\n');
  const mine = bodies.filter((b) => b.startsWith(prefix + '-'));
  expect(new Set(mine).size, 'distinct lines').toBe(mine.length);
  expect(mine.sort()).toEqual(expected);
}

describe('file input: reading and checkpoints', () => {
  it('reads a file from the beginning, follows appends, and records file and offset on each event', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'one\ntwo\r\n');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')], start_at: 'beginning' } });
    await input.until(() => input.events.length === 2, 'the first two lines');
    await appendFile(log, 'three\n');
    await input.until(() => input.events.length === 3, 'the appended line');
    expect(input.bodies()).toEqual(['one', 'two', 'three']);
    expect(input.metrics.get('received_events_total')).toBe(3);
    expect(input.events.map((e) => [e.source.file, e.source.offset])).toEqual([[log, 0], [log, 4], [log, 9]]);
    await input.stop();
    expect((await readCheckpoints(path.join(dir, 'data')))[0]).toMatchObject({ path: log, offset: 15 });
  });

  it('says when no file matches include at start, and still reads one that appears later', async () => {
    const dir = await tempDir();
    // Its folder there, no file in it: said so.
    const empty = start({ dataDir: path.join(dir, 'data-empty'), config: { include: [path.join(dir, '*.log')] } });
    await empty.until(() => empty.logs.some((l) => l.startsWith('no file matches include yet')), 'the warning');
    expect(empty.logs).toContain('no file matches include yet; waiting for one to appear (check the path if this is unexpected)');
    await empty.stop();
    // Its folder not there: said as such (before, the same words as above).
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, 'later', '*.log')], start_at: 'beginning', scan_interval: '200ms' } });
    await input.until(() => input.logs.some((l) => l.startsWith('no file matches include yet')), 'the warning');
    expect(input.logs).toContain(`no file matches include yet: the folder ${path.join(dir, 'later')} does not exist; waiting for a file to appear (check the path if this is unexpected)`);
    await mkdir(path.join(dir, 'later'));
    await writeFile(path.join(dir, 'later', 'app.log'), 'late line\n');
    await input.until(() => input.events.length === 1, 'the line of the file that appeared');
    expect(input.bodies()).toEqual(['late line']);
  });

  it('start_at: end skips what a file held at start, but files that appear later are read whole', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'old.log'), 'old 1\nold 2\n');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')] } });
    // Found and opened at its end (a fixed 100 ms was not always enough on a loaded machine: 'old 3' was then
    // there when the input found the file, and rightly skipped).
    await input.until(() => input.metrics.get('files_open') === 1, 'old.log open');
    await appendFile(path.join(dir, 'old.log'), 'old 3\n');
    await writeFile(path.join(dir, 'new.log'), 'new 1\n');
    await input.until(() => input.events.length === 2, 'old 3 and new 1');
    expect(input.bodies().sort()).toEqual(['new 1', 'old 3']);
  });

  it('a file created while the watcher is still starting is read at once, not at the next scan', async () => {
    const dir = await tempDir();
    // Many folders under the glob: the watcher's first walk, after the start's own, takes a while.
    for (let i = 0; i < 500; i++) mkdirSync(path.join(dir, 'svc', `d${i}`), { recursive: true });
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '**/*.log')], scan_interval: '1m' } });
    await input.until(() => input.logs.includes('file input started'), 'the start', 20_000);
    writeFileSync(path.join(dir, 'new.log'), 'new 1\n');
    // Created before the watcher was ready (else this test shows nothing).
    expect(input.logs).not.toContain('watching for file changes');
    // Before: found by the next scan only, a minute later. Read whole: it appeared after the start.
    await input.until(() => input.events.length === 1, 'the new file', 20_000);
    expect(input.bodies()).toEqual(['new 1']);
  });

  it('resumes from the checkpoint after a restart: nothing lost, nothing repeated', async () => {
    const { log, data, config, first } = await readWholeThenStop('a', 1000);
    await appendFile(log, numbered('a', 1000, 500));
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length === 500, 'the 500 new lines');
    expectEachOnce([...first.bodies(), ...second.bodies()], 'a', 1500);
  });

  it('checkpoints only the highest contiguous acknowledged offset; unacknowledged lines are read again', async () => {
    const { log, data, config, first } = await heldAfterFirstLine();
    await appendFile(log, 'l2\n');
    await first.until(() => first.held.length === 2, 'batch 2');
    await appendFile(log, 'l3\n');
    await first.until(() => first.held.length === 3, 'batch 3');
    // Out of order: batches 3 and 1 are acknowledged, 2 is not: the checkpoint may only pass batch 1.
    first.held[2]!.ack('delivered');
    first.held[0]!.ack('delivered');
    await first.stop();
    expect((await readCheckpoints(data))[0]!.offset).toBe(3);
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length === 2, 'lines 2 and 3 again');
    expect(second.bodies()).toEqual(['l2', 'l3']);
  });

  it('a read goes downstream in batches of 256 KiB of it, each acknowledged on its own; a line across two is whole', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    // 7,000 lines of 100 bytes, read at once (1 MiB reads): line 2621 spans the first 256 KiB boundary.
    const line = (i: number) => `line-${i}-`.padEnd(99, 'x');
    await writeFile(log, Array.from({ length: 7000 }, (_, i) => line(i) + '\n').join(''));
    const config = { include: [log], start_at: 'beginning' };
    const first = start({ dataDir: data, config, hold: true });
    await first.until(() => first.events.length === 7000, 'the 7000 lines');
    expect(first.held.map((b) => b.events.length)).toEqual([2621, 2621, 1758]);
    expect(first.bodies()).toEqual(Array.from({ length: 7000 }, (_, i) => line(i)));
    expect(first.events.map((e) => e.source.offset)).toEqual(Array.from({ length: 7000 }, (_, i) => i * 100));
    // Batches 1 and 3 acknowledged, 2 not: the checkpoint stops at the end of batch 1.
    first.held[2]!.ack('delivered');
    first.held[0]!.ack('delivered');
    await first.stop();
    expect((await readCheckpoints(data))[0]!.offset).toBe(2621 * 100);
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length === 7000 - 2621, 'the lines after batch 1 again');
    expect(second.bodies()).toEqual(Array.from({ length: 7000 - 2621 }, (_, i) => line(2621 + i)));
    await second.stop();
  });

  it('lines abandoned at shutdown are logged once, with their total per file, and read again at the next start', async () => {
    const { log, data, config, first } = await heldAfterFirstLine();
    await appendFile(log, 'l2\nl3\n');
    await first.until(() => first.held.length === 2, 'batch 2');
    // What the engine does at the shutdown timeout: every batch in flight abandoned at once.
    for (const b of first.held) b.ack('abandoned');
    await first.stop();
    const said = first.logRecords.filter((r) => r.msg === 'lines not delivered before shutdown; they are read again at the next start');
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ events: 3, files: { [log]: 3 } });
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length === 3, 'the three lines again');
    expect(second.bodies()).toEqual(['l1', 'l2', 'l3']);
  });

  it('a rejected batch advances the checkpoint (it would be rejected again) and is counted', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'x\ny\n');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' }, status: 'rejected' });
    await input.until(() => input.events.length === 2, 'two lines');
    await input.stop();
    expect(input.metrics.get('ack_rejected_events_total')).toBe(2);
    expect((await readCheckpoints(path.join(dir, 'data')))[0]!.offset).toBe(4);
  });
});

describe('file input: rotation and truncation', () => {
  it('rename-and-create rotation: the old file is read to its end, the new one from its start', async () => {
    const { dir, log, data, input } = await readWhole('r', 100);
    // A writer that has not reopened yet appends to the renamed file after the rotation.
    await rename(log, `${log}.1`);
    await writeFile(log, numbered('r', 150, 50));
    await appendFile(`${log}.1`, numbered('r', 100, 50));
    await input.until(() => input.events.length === 200, 'all 200');
    expectEachOnce(input.bodies(), 'r', 200);
    await input.until(() => input.metrics.get('files_open') === 1, 'the rotated file closed');
    expect(await openFilesUnder(dir, data)).toEqual([log]);
  });

  it('a new file created right after a rename rotation is read without waiting for the periodic scan (20 rounds)', async () => {
    // The watcher may report such a file by no event at all: chokidar merges the rename and the creation
    // into one `change`, and drops it when it comes within 50 ms of the `change` of the append before. If
    // that append's `change` makes the input look at the name between the rename and the creation, it finds
    // nothing there. Before, the new file was then read only by the periodic scan (60 s here): in 53 of 80
    // rounds measured. The second gap varies so that some rounds hit that window on a slower machine too.
    for (let round = 0; round < 20; round++) {
      const dir = await tempDir();
      const log = path.join(dir, 'app.log');
      await writeFile(log, numbered('n', 0, 100));
      const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')], start_at: 'beginning', scan_interval: '60s' } });
      await input.until(() => input.events.length === 100 && input.logs.includes('watching for file changes'), 'the first 100 lines, and the watcher');
      await appendFile(log, numbered('n', 100, 100));
      await new Promise((r) => setTimeout(r, 1));
      await rename(log, `${log}.1`);
      await new Promise((r) => setTimeout(r, 2 + (round % 4) * 2));
      await appendFile(`${log}.1`, numbered('n', 200, 100)); // a writer that has not reopened yet
      await writeFile(log, numbered('n', 300, 100));
      await input.until(() => input.events.length >= 400, `all 400 lines in round ${round + 1}`);
      expectEachOnce(input.bodies(), 'n', 400);
      await input.stop();
    }
  });

  it('a new file copied and truncated before it was found, its name found empty at the rotation: the copy is read', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    const config = { include: [path.join(dir, '*.log')], start_at: 'beginning', scan_interval: '60s' };
    await writeFile(log, numbered('k', 0, 100));
    const first = start({ dataDir: data, config });
    await first.until(() => first.events.length === 100, 'the first 100 lines');
    await rename(log, `${log}.1`);
    await first.until(() => first.logs.includes('file rotated away; reading it to its end'), 'the rotation to be seen');
    await new Promise((r) => setTimeout(r, 200)); // its look at the empty name is over by then
    // Created, then copied and truncated (copytruncate) before the input looks at it: the calls are
    // synchronous, so the input cannot run in between, as if the watcher had missed the creation. Before,
    // the copy was never read: not when the truncated file was found, nor after a restart.
    writeFileSync(log, numbered('k', 100, 100));
    copyFileSync(log, `${log}.2`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('k', 200, 100));
    await first.until(() => first.events.length >= 300, 'all 300 lines');
    await new Promise((r) => setTimeout(r, 300)); // a line read twice would show up by now
    expectEachOnce(first.bodies(), 'k', 300);
    expect(first.events.some((e) => e.source.file === `${log}.2`)).toBe(true);
    await first.stop();
    // The next start knows the copy as read.
    const second = start({ dataDir: data, config });
    await appendFile(log, numbered('k', 300, 10));
    await second.until(() => second.events.length >= 10, 'the 10 new lines');
    await new Promise((r) => setTimeout(r, 300));
    expectEachOnce([...first.bodies(), ...second.bodies()], 'k', 310);
  });

  // The second: the name is first looked at again after scan_interval, the last look.
  it.each([{ check_interval: '100ms' }, { check_interval: '2s' }])('rotated, then a new file created and rotated on before the input looked, no file in its place after: every line once (%o)', async (checks) => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    await writeFile(log, numbered('k', 0, 100));
    const input = start({ dataDir: data, config: { include: [log], start_at: 'beginning', scan_interval: '500ms', ...checks } });
    await input.until(() => input.events.length === 100, 'the first 100 lines');
    // In one go (synchronous calls: the input cannot run in between, as behind a busy host): a rotation, a
    // new file, and its rotation too (logrotate run twice, or a writer that rotates by size). The writer is
    // done: no file comes under the name again, or only after scan_interval. Before, app.log.2 was never
    // read: its name was looked at and found empty until scan_interval passed, and then forgotten.
    appendFileSync(log, numbered('k', 100, 100));
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('k', 200, 100));
    renameSync(log, `${log}.2`);
    await input.until(() => input.events.length >= 300, 'all 300 lines');
    await new Promise((r) => setTimeout(r, 2500)); // past scan_interval: the last look at the name is over
    // A file under the name later on is read whole, and nothing again.
    await writeFile(log, numbered('k', 300, 10));
    await input.until(() => input.events.length >= 310, 'the 10 lines of the new file');
    await new Promise((r) => setTimeout(r, 300)); // a line read twice would show up by now
    expectEachOnce(input.bodies(), 'k', 310);
    expect(input.events.some((e) => e.source.file === `${log}.2`)).toBe(true);
  });

  it('rotated, then a new file created and rotated on before the input looked, a third file in its place: every line once', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('k', 0, 100));
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.events.length === 100, 'the first 100 lines');
    // In one go, before the input looks: the read file rotated, a second file created and rotated too, a
    // third in its place. Before, the input found the third file under the name and read it, and the
    // second (app.log.2) was never read: its copies were looked for only when the name was found empty.
    appendFileSync(log, numbered('k', 100, 100));
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('k', 200, 100));
    renameSync(log, `${log}.2`);
    writeFileSync(log, numbered('k', 300, 100));
    await input.until(() => input.events.length >= 400, 'all 400 lines');
    await new Promise((r) => setTimeout(r, 300)); // a line read twice would show up by now
    expectEachOnce(input.bodies(), 'k', 400);
  });

  it('a new file rotated while the input saves its checkpoint, then a file created and rotated on before the input looked: every line once', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    await writeFile(log, numbered('k', 0, 100));
    const input = start({ dataDir: data, config: { include: [log], start_at: 'beginning', scan_interval: '2s', checkpoint_interval: '1h' } });
    await input.until(() => input.events.length === 100 && input.logs.includes('file input started'), 'the first 100 lines');
    const logged = (msg: string) => input.logs.filter((m) => m === msg).length;
    // The next checkpoint save opens a FIFO where it writes: it waits there until the test reads it. That
    // save is the one made when a new file is found under the name (nothing else saves here: the
    // checkpoint_interval is an hour), between the file's start and the end of its look for rotated files.
    const fifo = path.join(data, 'checkpoints.json.tmp');
    execFileSync('mkfifo', [fifo]);
    // Rotated: the new file under the name is found, and its checkpoint saved, held at the FIFO...
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('k', 100, 100));
    await input.until(() => logged('reading new file') === 2, 'the new file found');
    // ...while that file is rotated too (its tailer sees it), with nothing in its place.
    renameSync(log, `${log}.2`);
    await input.until(() => logged('file rotated away; reading it to its end') === 2, 'the second rotation seen');
    await input.until(() => input.events.length === 200, 'the lines of the second file');
    const drained = readFile(fifo);
    await drained;
    await new Promise((r) => setTimeout(r, 200)); // the decisions queued behind the save are made by now
    // Then a file created under the name and rotated on before the input looked (the writer is done). Its
    // name is looked at again until scan_interval has passed, and the last look reads it. Before, the look
    // at the new file took the second rotation's look for its own and forgot it once the save was done:
    // app.log.3 was never read.
    writeFileSync(log, numbered('k', 200, 100));
    renameSync(log, `${log}.3`);
    await input.until(() => input.events.length >= 300, 'the lines of the file rotated before the input looked', 5000);
    await new Promise((r) => setTimeout(r, 300)); // a line read twice would show up by now
    expectEachOnce(input.bodies(), 'k', 300);
  });

  it('a rotated file let go (acks still out) and then renamed back under an included name is read on', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.log'), 'one\n');
    const input = start({ dataDir: path.join(dir, 'data'), hold: true, config: { include: [path.join(dir, '*.log')], start_at: 'beginning', scan_interval: '200ms' } });
    await input.until(() => input.held.length === 1, 'the first line');
    await rename(path.join(dir, 'a.log'), path.join(dir, 'a.old')); // rotated away (not included)
    await new Promise((r) => setTimeout(r, 800)); // past rotate_wait (200 ms): let go, its batch not yet acked
    await rename(path.join(dir, 'a.old'), path.join(dir, 'b.log')); // the same file, included again
    await new Promise((r) => setTimeout(r, 800));
    for (const h of input.held.splice(0)) h.ack('delivered');
    await appendFile(path.join(dir, 'b.log'), 'two\n');
    // Before, it was taken back as live but neither read nor closed: 'two' never came.
    await input.until(() => input.bodies().includes('two'), 'the line appended after it came back');
    expect(input.bodies()).toEqual(['one', 'two']);
  });

  it('copytruncate: lines not read before the truncation are read from the copy; the live file from its start', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('c', 0, 100));
    // Small reads, so that the input is still reading when the file is copied and truncated under it.
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', max_read_bytes: '16KiB' } });
    await input.until(() => input.events.length === 100, 'first 100');
    await appendFile(log, numbered('c', 100, 200_000));
    await copyFile(log, `${log}.1`);
    await truncate(log, 0);
    await appendFile(log, numbered('c', 200_100, 10));
    await input.until(() => input.events.length >= 200_110, 'all 200,110 lines', 20_000);
    expectEachOnce(input.bodies(), 'c', 200_110);
    expect(input.metrics.get('file_truncations_total')).toBe(1);
    // The part the input had not read when the file was truncated came from the copy.
    expect(input.events.some((e) => e.source.file === `${log}.1`)).toBe(true);
  });

  it('copytruncate twice while the input was held up: the rest of the first copy and all of the second are read', async () => {
    const { log, input } = await readWhole('d', 100);
    // A full pipeline holds the input in the middle of a batch; meanwhile logrotate runs twice.
    const release = input.block();
    await appendFile(log, numbered('d', 100, 10));
    await input.until(() => input.waiting === 1, 'the input to be held');
    await appendFile(log, numbered('d', 110, 10)); // not read yet: only in the first copy
    await copyFile(log, `${log}.1`);
    await truncate(log, 0);
    await appendFile(log, numbered('d', 120, 50)); // never seen by the input: only in the second copy
    await rename(`${log}.1`, `${log}.2`);
    await copyFile(log, `${log}.1`);
    await truncate(log, 0);
    await appendFile(log, numbered('d', 170, 10));
    release();
    await input.until(() => input.events.length >= 180, 'all 180 lines');
    await new Promise((r) => setTimeout(r, 300)); // a copy read twice would show up by now
    expectEachOnce(input.bodies(), 'd', 180);
  });

  it('a copy whose inode has the checkpoint of a deleted file is still known as read: not read again', async () => {
    const { log, data, config, first } = await readWholeThenStop('i', 50);
    // copytruncate while stopped, after everything was read; the copy gets an inode that an older, deleted
    // copy had (file systems reuse inodes at once), and that older copy's checkpoint is still kept.
    await copyFile(log, `${log}.1`);
    await truncate(log, 0);
    await appendFile(log, numbered('i', 50, 10));
    const file = path.join(data, 'checkpoints.json');
    const saved = JSON.parse(await readFile(file, 'utf8')) as { files: Array<Record<string, unknown>> };
    const copy = statSync(`${log}.1`);
    saved.files.push({ path: `${log}.1`, dev: copy.dev, ino: copy.ino, fp_len: 16, fp_hash: 'e0c9035898dd52fc65c41454cec9c4d2611bfb37', offset: 300, seen: Date.now() });
    await writeFile(file, JSON.stringify(saved));
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length >= 10, 'the 10 new lines');
    await new Promise((r) => setTimeout(r, 300)); // the copy read again would show up by now
    expectEachOnce([...first.bodies(), ...second.bodies()], 'i', 60);
    await second.stop();
    // The next start knows the copy as read too.
    const third = start({ dataDir: data, config });
    await new Promise((r) => setTimeout(r, 300));
    expect(third.bodies()).toEqual([]);
  });

  it('a truncated file with no copy is read again from its start', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'before 1\nbefore 2\n');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.events.length === 2, 'two lines');
    await truncate(log, 0);
    await appendFile(log, 'after 1\n');
    await input.until(() => input.events.length === 3, 'the line after truncation');
    expect(input.bodies()).toEqual(['before 1', 'before 2', 'after 1']);
  });

  it('rotation while stopped: the renamed file is found by inode and finished; the new file is read whole', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    const config = { include: [log], start_at: 'end' };
    await writeFile(log, '');
    const first = start({ dataDir: data, config });
    await first.until(() => existsSync(path.join(data, 'checkpoints.json')), 'the input to start');
    await appendFile(log, numbered('s', 0, 10));
    await first.until(() => first.events.length === 10, 'first 10');
    await first.stop();
    await appendFile(log, numbered('s', 10, 10)); // written before the rotation, never read
    await rename(log, `${log}.1`);
    await writeFile(log, numbered('s', 20, 10));
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length === 20, 'the 20 unread lines');
    expectEachOnce([...first.bodies(), ...second.bodies()], 's', 30);
  });

  it('while stopped, a rotated file never seen is read, but not unrelated, excluded or compressed files', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    const config = { include: [log], exclude: ['**/*.old'], start_at: 'end' };
    await writeFile(log, '');
    const first = start({ dataDir: data, config });
    await first.until(() => existsSync(path.join(data, 'checkpoints.json')), 'the input to start');
    await first.stop();
    await new Promise((r) => setTimeout(r, 20)); // written after the last save, by the file times
    await writeFile(`${log}.1`, numbered('r', 0, 5)); // a rotation of app.log made while stopped: read
    await writeFile(path.join(dir, 'application-settings.conf'), 'password=hunter2\n'); // same stem, unrelated
    await writeFile(`${log}.2.old`, 'excluded\n');
    await writeFile(`${log}.3.gz`, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x61, 0x62, 0x0a]));
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length >= 5, 'the rotated file');
    await new Promise((r) => setTimeout(r, 300)); // a file read by mistake would show up by now
    expect(second.bodies().sort()).toEqual(numbered('r', 0, 5).trimEnd().split('\n').sort());
  });

  it('copytruncate while stopped: the rest is read from the copy, the truncated file from its start', async () => {
    const { log, data, config, first } = await readWholeThenStop('t', 50);
    await appendFile(log, numbered('t', 50, 50));
    await copyFile(log, `${log}.1`);
    await truncate(log, 0);
    await appendFile(log, numbered('t', 100, 20));
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length === 70, 'the 70 unread lines');
    expectEachOnce([...first.bodies(), ...second.bodies()], 't', 120);
  });

  it('inode reuse: a checkpoint for the same device and inode but other first bytes is not trusted', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    await writeFile(log, 'a new file that got the inode of an old one\nsecond line\n');
    const st = statSync(log);
    await mkdir(data, { recursive: true });
    // A stale checkpoint of an older file with that inode: an offset of 40 bytes and another fingerprint.
    await writeFile(path.join(data, 'checkpoints.json'), JSON.stringify({
      version: 1, saved_at: Date.now(),
      files: [{ path: log, dev: st.dev, ino: st.ino, fp_len: 30, fp_hash: 'f'.repeat(40), offset: 40, seen: Date.now() }],
    }));
    const input = start({ dataDir: data, config: { include: [log], start_at: 'end' } });
    await input.until(() => input.events.length === 2, 'both lines');
    expect(input.bodies()).toEqual(['a new file that got the inode of an old one', 'second line']);
  });

  it('an offset past the end of the file (truncated while stopped) is not trusted: read from the start', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    await writeFile(log, numbered('p', 0, 20));
    const first = start({ dataDir: data, config: { include: [log], start_at: 'beginning' } });
    await first.until(() => first.events.length === 20, '20 lines');
    await first.stop();
    await writeFile(log, numbered('p', 0, 3)); // same first bytes, shorter
    const second = start({ dataDir: data, config: { include: [log], start_at: 'beginning' } });
    await second.until(() => second.events.length === 3, '3 lines');
    expect(second.bodies()).toEqual(['p-000000', 'p-000001', 'p-000002']);
  });

  it('a file deleted while stopped: its checkpoint is kept until checkpoint_ttl, a new file of that name is read whole', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    await writeFile(log, numbered('d', 0, 5));
    const config = { include: [log], start_at: 'end', checkpoint_interval: '50ms', checkpoint_ttl: '300ms' };
    const first = start({ dataDir: data, config: { ...config, start_at: 'beginning' } });
    await first.until(() => first.events.length === 5, '5 lines');
    await first.stop();
    await unlink(log);
    await writeFile(path.join(dir, 'other.txt'), 'x'); // keeps the old inode number from being reused by chance
    await writeFile(log, 'reborn\n');
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length === 1, 'the new file');
    expect(second.bodies()).toEqual(['reborn']);
    // The old checkpoint is forgotten once its file has not been seen for checkpoint_ttl. Until the second
    // input's first save, checkpoints.json still holds only the first run's entry (the deleted file): one
    // entry, but the wrong one, so wait for the new file's entry to be the only one.
    const newIno = statSync(log).ino;
    const onlyNew = (s: Awaited<ReturnType<typeof readCheckpoints>>) => s.length === 1 && s[0]!.ino === newIno;
    let saved = await readCheckpoints(data);
    const started = Date.now();
    while (!onlyNew(saved) && Date.now() - started < 5000) {
      await new Promise((r) => setTimeout(r, 50));
      saved = await readCheckpoints(data);
    }
    await second.stop();
    saved = await readCheckpoints(data);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ path: log, offset: 7 });
  });

  it('a file deleted while read is finished and closed: no descriptor leaks', async () => {
    const dir = await tempDir();
    const files = Array.from({ length: 20 }, (_, i) => path.join(dir, `f${i}.log`));
    for (const f of files) await writeFile(f, 'line\n');
    const data = path.join(dir, 'data');
    const input = start({ dataDir: data, config: { include: [path.join(dir, '*.log')], start_at: 'beginning' } });
    await input.until(() => input.events.length === 20, '20 lines');
    // The log files only: the start-up checkpoint save may still hold data/checkpoints.json.tmp open here
    // (it runs beside the first reads), and counted, it failed this test 5 runs in 30 under load.
    expect((await openFilesUnder(dir, data)).sort()).toEqual([...files].sort());
    for (const f of files) await rm(f);
    await input.until(() => input.metrics.get('files_open') === 0, 'every file closed');
    expect(await openFilesUnder(dir, data)).toEqual([]);
    // Stopped, with its last save done, the input holds nothing open, checkpoints included.
    await input.stop();
    expect(await openFilesUnder(dir)).toEqual([]);
  });
});

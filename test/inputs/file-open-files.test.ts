/**
 * Many files, few descriptors: `max_open_files` (files beyond wait and are read in turn), `close_inactive`
 * (a file read to its end and idle is closed, and opened again at its checkpoint when it changes, through
 * rotation while it was closed too) and `ignore_older` (old files are not opened; written to later, only the
 * new lines are read). Real files, the real input.
 */
import { appendFileSync, copyFileSync, linkSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_RAISE_BACKOFF, maxOpenFiles, OpenFilesCap } from '../../src/inputs/file/descriptors.js';
import { numbered, openFilesUnder, readCheckpoints, replaceReusingInode, startedFileInputs, tempDir, type RunningFileInput } from '../helpers/file-input.js';

const start = startedFileInputs();

/** Samples `files_open` every 5 ms until stopped; returns the highest value seen. */
function watchOpen(input: RunningFileInput): () => number {
  let max = 0;
  const timer = setInterval(() => (max = Math.max(max, input.metrics.get('files_open'))), 5);
  return () => {
    clearInterval(timer);
    return Math.max(max, input.metrics.get('files_open'));
  };
}

/** Waits until the input holds no file of `dir` open, by its metric and by the process's descriptors. */
async function allClosed(input: RunningFileInput, dir: string): Promise<void> {
  await input.until(() => input.logs.includes('file input started') && input.metrics.get('files_open') === 0, 'every file closed');
  expect(await openFilesUnder(dir, path.join(dir, 'data'))).toEqual([]);
}

const sorted = (lines: string[]) => [...lines].sort();
const linesOf = (text: string) => text.trimEnd().split('\n');

describe('file input: max_open_files', () => {
  it('200 files with max_open_files 10: every line once, never more than 10 open; appends and a restart too', async () => {
    const dir = await tempDir();
    const data = path.join(dir, 'data');
    const expected: string[] = [];
    for (let i = 0; i < 200; i++) {
      const text = numbered(`f${i}`, 0, 2);
      await writeFile(path.join(dir, `f${i}.log`), text);
      expected.push(...linesOf(text));
    }
    const config = { include: [path.join(dir, '*.log')], start_at: 'beginning', max_open_files: 10 };
    const input = start({ dataDir: data, config });
    const maxOpen = watchOpen(input);
    await input.until(() => input.events.length >= 400, '400 lines', 20_000);
    for (let i = 0; i < 200; i++) {
      const text = numbered(`f${i}`, 2, 1);
      await appendFile(path.join(dir, `f${i}.log`), text);
      expected.push(...linesOf(text));
    }
    await input.until(() => input.events.length >= 600, '600 lines', 20_000);
    await new Promise((r) => setTimeout(r, 300)); // a line read twice would show up by now
    expect(sorted(input.bodies())).toEqual(sorted(expected));
    expect(maxOpen()).toBeLessThanOrEqual(10);
    expect(input.metrics.get('files_waiting')).toBe(0);
    await input.stop();

    // The files closed to give way kept their checkpoints: nothing is read again.
    const again = start({ dataDir: data, config });
    await new Promise((r) => setTimeout(r, 1500));
    expect(again.bodies()).toEqual([]);
    await appendFile(path.join(dir, 'f7.log'), 'after the restart\n');
    await again.until(() => again.events.length >= 1, 'the new line');
    expect(again.bodies()).toEqual(['after the restart']);
  }, 60_000);

  it('a file waiting its turn that is rotated before it is opened: its lines and the new file\'s are read, once', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.log'), numbered('a', 0, 3));
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')], start_at: 'beginning', max_open_files: 1 } });
    const release = input.block(); // a.log is held in its first emit: b.log waits
    try {
      await input.until(() => input.waiting > 0 && input.logs.includes('watching for file changes'), 'a.log held');
      const b = path.join(dir, 'b.log');
      await writeFile(b, numbered('b', 0, 2));
      await input.until(() => input.metrics.get('files_waiting') === 1, 'b.log waiting');
      appendFileSync(b, numbered('b', 2, 1));
      renameSync(b, `${b}.1`);
      writeFileSync(b, numbered('c', 0, 2));
    } finally {
      release();
    }
    await input.until(() => input.events.length >= 8, 'every line');
    await new Promise((r) => setTimeout(r, 300));
    expect(sorted(input.bodies())).toEqual(sorted([...linesOf(numbered('a', 0, 3)), ...linesOf(numbered('b', 0, 3)), ...linesOf(numbered('c', 0, 2))]));
  });

  /**
   * A waiting file found to be read already under another name (its inode taken back from a rotated reader)
   * leaves the wait. Before, it stayed in `files_waiting` for good (every later look at the name returned at
   * once, as the name was read), and while it waited every file read to its end was closed to give way.
   */
  it('a waiting file that turns out to be read already under another name stops waiting', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.log'), numbered('a', 0, 2));
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')], start_at: 'beginning', max_open_files: 1 }, hold: true });
    await input.until(() => input.held.length === 1 && input.logs.includes('watching for file changes'), 'a.log read, its lines not acknowledged');
    const b = path.join(dir, 'b.log');
    const c = path.join(dir, 'c.log');
    await writeFile(b, numbered('b', 0, 2));
    await input.until(() => input.metrics.get('files_waiting') === 1, 'b.log waiting');
    linkSync(b, c); // the same file under a second name: it waits too
    await input.until(() => input.metrics.get('files_waiting') === 2, 'c.log waiting');
    input.held[0]!.ack('delivered'); // a.log gives way to b.log, whose lines stay unacknowledged
    await input.until(() => input.held.length === 2, 'b.log read');
    unlinkSync(b); // its reader goes on as a rotated file's, and c.log, taken in turn, is that file
    await input.until(() => input.logs.includes('file rotated away; reading it to its end'), 'b.log gone from its name');
    appendFileSync(c, numbered('c', 0, 1));
    await input.until(() => input.held.length === 3, 'the line appended under c.log');
    for (const h of input.held.slice(1)) h.ack('delivered');
    await input.until(() => input.metrics.get('files_waiting') === 0, 'no file waiting', 3000);
    expect(sorted(input.bodies())).toEqual(sorted(linesOf(numbered('a', 0, 2) + numbered('b', 0, 2) + numbered('c', 0, 1))));
  });

  /**
   * logrotate renames every file at once: the rotated files are read to their end and kept rotate_wait (5 s)
   * for writers that have not reopened yet, one still writing to its old file. Before, they counted against
   * max_open_files, and the new files waited behind them for rotate_wait: their lines came 5 s late.
   */
  it('files rotated away and kept rotate_wait do not hold the new files under their names back', async () => {
    const dir = await tempDir();
    const names = ['a', 'b', 'c', 'd'];
    for (const n of names) await writeFile(path.join(dir, `${n}.log`), numbered(n, 0, 2));
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [path.join(dir, '*.log')], start_at: 'beginning', max_open_files: 4, rotate_wait: '5s' } });
    await input.until(() => input.events.length >= 8 && input.logs.includes('watching for file changes'), 'the first lines');
    for (const n of names) renameSync(path.join(dir, `${n}.log`), path.join(dir, `${n}.log.1`));
    const rotated = Date.now();
    for (const n of names) writeFileSync(path.join(dir, `${n}.log`), numbered(`${n}new`, 0, 2));
    appendFileSync(path.join(dir, 'a.log.1'), numbered('a', 2, 1)); // a writer that has not reopened yet
    await input.until(() => input.events.length >= 17, 'the new files\' lines and the late line', 10_000);
    const tookMs = Date.now() - rotated;
    await new Promise((r) => setTimeout(r, 300));
    const expected = names.flatMap((n) => [...linesOf(numbered(n, 0, 2)), ...linesOf(numbered(`${n}new`, 0, 2))]);
    expect(sorted(input.bodies())).toEqual(sorted([...expected, ...linesOf(numbered('a', 2, 1))]));
    expect(input.metrics.get('files_waiting')).toBe(0);
    expect(tookMs).toBeLessThan(2000);
  });

  it('a file that waited its turn, deleted while stopped and its inode reused by a new file: the new file is read whole', async () => {
    const dir = await tempDir();
    const data = path.join(dir, 'data');
    await writeFile(path.join(dir, 'a.log'), numbered('a', 0, 3));
    await writeFile(path.join(dir, 'b.log'), numbered('b', 0, 3));
    // start_at end: the file that waits is to be read from its end, a checkpoint saved before it is opened.
    const config = { include: [path.join(dir, '*.log')], max_open_files: 1 };
    const first = start({ dataDir: data, config });
    await first.until(() => first.logs.includes('file input started'), 'the start');
    const waited = first.logRecords.find((r) => typeof r.msg === 'string' && r.msg.startsWith('max_open_files files are open'))?.file as string;
    await first.stop();
    const saved = (await readCheckpoints(data)).find((c) => c.path === waited)!;
    expect(saved.offset).toBe(numbered('b', 0, 3).length);
    // Its first bytes identify it, as for an open file: a new file with its inode and other content is new.
    expect(saved.fp_len).toBeGreaterThan(0);
    const ino = replaceReusingInode(waited, numbered('new', 0, 5));
    expect(ino).toBe(saved.ino);
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length >= 5, 'the new file\'s 5 lines');
    await new Promise((r) => setTimeout(r, 300));
    expect(second.bodies()).toEqual(linesOf(numbered('new', 0, 5)));
  });

  it('a checkpoint without first bytes (an older version\'s, for a file that waited) gets them once the file is opened: a reused inode is known after', async () => {
    const dir = await tempDir();
    const data = path.join(dir, 'data');
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('old', 0, 3));
    const st = statSync(log);
    await mkdir(data);
    // What a run before this fix saved for a file found at start (start_at end) that waited for a descriptor.
    await writeFile(path.join(data, 'checkpoints.json'), JSON.stringify({
      version: 1, saved_at: Date.now(),
      files: [{ path: log, dev: st.dev, ino: st.ino, fp_len: 0, fp_hash: '', offset: st.size, seen: Date.now() }],
    }));
    const config = { include: [log], close_inactive: '300ms' };
    const input = start({ dataDir: data, config });
    await allClosed(input, dir);
    expect(input.events).toEqual([]);
    replaceReusingInode(log, numbered('new', 0, 5));
    await input.until(() => input.events.length >= 5, 'the new file\'s 5 lines');
    await new Promise((r) => setTimeout(r, 300));
    expect(input.bodies()).toEqual(linesOf(numbered('new', 0, 5)));
    await input.stop();
    expect((await readCheckpoints(data))[0]).toMatchObject({ offset: numbered('new', 0, 5).length, fp_len: numbered('new', 0, 5).length });
  });
});

/** `max_open_files` against the open-files limit (the real daemon under `ulimit -n 128`: test/e2e/file-many-files.test.ts). */
describe('file input: max_open_files and the open-files limit', () => {
  it('below the limit as set; at or above it half the limit, with a warning; auto half the limit', () => {
    expect(maxOpenFiles(127, 128)).toEqual({ max: 127 });
    expect(maxOpenFiles(1000, undefined)).toEqual({ max: 1000 });
    expect(maxOpenFiles('auto', 128)).toEqual({ max: 64 });
    expect(maxOpenFiles('auto', undefined)).toEqual({ max: Infinity });
    for (const set of [128, 1000]) {
      const { max, warning } = maxOpenFiles(set, 128);
      expect(max).toBe(64);
      expect(warning).toMatch(new RegExp(`^max_open_files \\(${set}\\) is not below the process's open-files limit \\(128, ulimit -n\\): at most 64 files`));
    }
  });
});

/**
 * The cap after running out of descriptors (the real daemon: test/e2e/file-many-files.test.ts): lowered to
 * three quarters of the files open, raised back a step per check_interval in which files waited for it, more
 * slowly past where it ran out while such raises run out again. Before, it was only ever lowered.
 */
describe('file input: the cap lowered by running out of descriptors', () => {
  /** Intervals in which files wait, until it is raised; how many it took. */
  const untilRaised = (cap: OpenFilesCap) => {
    for (let n = 1; n <= MAX_RAISE_BACKOFF + 1; n++) if (cap.interval(true) !== undefined) return n;
    throw new Error('never raised');
  };

  it('rises back to max_open_files a sixteenth a check_interval, only while files wait for it', () => {
    const cap = new OpenFilesCap(64);
    expect(cap.ranOut(40)).toBe(30);
    expect(cap.ranOut(40)).toBeUndefined(); // not raised by running out
    expect(cap.ranOut(0)).toBe(1); // held nothing: something else holds the descriptors
    expect(cap.interval(false)).toBeUndefined(); // no file waits: nothing says more would work
    const steps: number[] = [];
    for (let raised = cap.interval(true); raised !== undefined; raised = cap.interval(true)) steps.push(raised);
    expect(steps).toEqual([5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61, 64]);
    expect(cap.lowered).toBe(false);
  });

  it('a raise past where it ran out that runs out again makes the next such raise wait twice as long; one that holds lets it rise', () => {
    const cap = new OpenFilesCap(64);
    expect(cap.ranOut(40)).toBe(30);
    // Up to the 40 files open when it ran out: a raise at each interval.
    expect([untilRaised(cap), cap.current, untilRaised(cap), cap.current]).toEqual([1, 34, 1, 38]);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      waits.push(untilRaised(cap)); // to 42: past 40
      expect(cap.ranOut(40)).toBe(30); // too much, at once (something else holds the descriptors)
      expect([untilRaised(cap), untilRaised(cap)]).toEqual([1, 1]); // back to 38
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 64]);
    // Descriptors free again: the probe holds (said two intervals after it), and the rest of the way is a
    // raise at each interval.
    const back: number[] = [];
    while (cap.lowered) back.push(untilRaised(cap));
    expect(back).toEqual([64, 2, 1, 1, 1, 1, 1]);
    expect(cap.current).toBe(64);
    // Back at max_open_files, the wait is forgotten: lowered again later, its first probe waits one interval.
    cap.ranOut(40);
    untilRaised(cap);
    untilRaised(cap);
    expect(untilRaised(cap)).toBe(1);
  });

  it('without a limit to read (no cap), it is lowered all the same and rises by 64', () => {
    const cap = new OpenFilesCap(Infinity);
    expect(cap.ranOut(100)).toBe(75);
    expect(cap.interval(true)).toBe(139);
  });
});

describe('file input: close_inactive', () => {
  const config = (dir: string) => ({ include: [path.join(dir, '*.log')], start_at: 'beginning', close_inactive: '300ms' });

  /** Starts an input on app.log holding `first`, and waits until it is read and the file closed. */
  async function readAndClosed(first: string): Promise<{ dir: string; log: string; input: RunningFileInput }> {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, first);
    const input = start({ dataDir: path.join(dir, 'data'), config: config(dir) });
    await input.until(() => input.events.length >= (first === '' ? 0 : linesOf(first).length), 'the first lines');
    await allClosed(input, dir);
    return { dir, log, input };
  }

  it('a file read to its end and idle is closed, opened again at its checkpoint when it grows, and closed again', async () => {
    const { dir, log, input } = await readAndClosed(numbered('a', 0, 3));
    await appendFile(log, numbered('a', 3, 2));
    await input.until(() => input.events.length >= 5, 'the appended lines');
    await allClosed(input, dir);
    await appendFile(log, numbered('a', 5, 1));
    await input.until(() => input.events.length >= 6, 'one more line');
    await new Promise((r) => setTimeout(r, 300));
    expect(input.bodies()).toEqual(linesOf(numbered('a', 0, 6)));
  });

  it('renamed while closed, the writer still appending to it, a new file in its place: every line once', async () => {
    const { log, input } = await readAndClosed(numbered('a', 0, 3));
    // In one go, before any notification is handled: lines, the rotation, the new file.
    appendFileSync(log, numbered('a', 3, 2));
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('b', 0, 2));
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(`${log}.1`, numbered('a', 5, 1)); // a writer that has not reopened yet (rotate_wait)
    await input.until(() => input.events.length >= 8, 'every line');
    await new Promise((r) => setTimeout(r, 300));
    expect(sorted(input.bodies())).toEqual(sorted([...linesOf(numbered('a', 0, 6)), ...linesOf(numbered('b', 0, 2))]));
  });

  it('renamed while closed with nothing new in it, then written to by a writer that has not reopened yet: read (rotate_wait)', async () => {
    const { log, input } = await readAndClosed(numbered('a', 0, 3));
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('b', 0, 2));
    await input.until(() => input.events.length >= 5, 'the new file');
    appendFileSync(`${log}.1`, numbered('a', 3, 1));
    await input.until(() => input.events.length >= 6, 'the line written to the renamed file');
    expect(sorted(input.bodies())).toEqual(sorted([...linesOf(numbered('a', 0, 4)), ...linesOf(numbered('b', 0, 2))]));
  });

  it('rotated twice while closed (the rotated file rotated on, a second file rotated too): every line once', async () => {
    const { log, input } = await readAndClosed(numbered('a', 0, 3));
    appendFileSync(log, numbered('a', 3, 2));
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('b', 0, 2));
    renameSync(`${log}.1`, `${log}.2`);
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('c', 0, 2));
    await input.until(() => input.events.length >= 9, 'every line');
    await new Promise((r) => setTimeout(r, 300));
    expect(sorted(input.bodies())).toEqual(sorted([...linesOf(numbered('a', 0, 5)), ...linesOf(numbered('b', 0, 2)), ...linesOf(numbered('c', 0, 2))]));
  });

  it('renamed while closed with no file in its place yet: the rest is read, and the file created later too', async () => {
    const { log, input } = await readAndClosed(numbered('a', 0, 3));
    appendFileSync(log, numbered('a', 3, 2));
    renameSync(log, `${log}.1`);
    await input.until(() => input.events.length >= 5, 'the rest of the renamed file');
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(log, numbered('b', 0, 2));
    await input.until(() => input.events.length >= 7, 'the new file');
    expect(sorted(input.bodies())).toEqual(sorted([...linesOf(numbered('a', 0, 5)), ...linesOf(numbered('b', 0, 2))]));
  });

  it('copied and truncated while closed (copytruncate): the rest from the copy, the new lines from the start', async () => {
    const { log, input } = await readAndClosed(numbered('a', 0, 3));
    appendFileSync(log, numbered('a', 3, 2));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('b', 0, 2));
    await input.until(() => input.events.length >= 7, 'every line');
    await new Promise((r) => setTimeout(r, 300));
    expect(sorted(input.bodies())).toEqual(sorted([...linesOf(numbered('a', 0, 5)), ...linesOf(numbered('b', 0, 2))]));
  });

  it('empty when closed, then written, copied and truncated before it was opened again: the copy is read', async () => {
    const { dir, log, input } = await readAndClosed('');
    expect(input.events).toEqual([]);
    await allClosed(input, dir);
    appendFileSync(log, numbered('a', 0, 3));
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('b', 0, 1));
    await input.until(() => input.events.length >= 4, 'every line');
    await new Promise((r) => setTimeout(r, 300));
    expect(sorted(input.bodies())).toEqual(sorted([...linesOf(numbered('a', 0, 3)), 'b-000000']));
  });

  it.each([{ third: true }, { third: false }])('renamed while closed, and the file found in its place renamed on too before it was opened: every line once (%o)', async ({ third }) => {
    const { dir, log, input } = await readAndClosed(numbered('a', 0, 3));
    // 10,000 other files in the folder: looking for the rest of the closed file (two walks of the folder, a
    // stat per file) takes a while, between the look at the name and the open of what is there.
    for (let i = 0; i < 10_000; i++) writeFileSync(path.join(dir, `other-${i}.txt`), '');
    appendFileSync(log, numbered('a', 3, 2));
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('b', 0, 2));
    await input.until(() => input.logs.includes('reading the rest of a rotated file'), 'the rest of the closed file found', 20_000);
    // The second walk has listed the folder and is taking its stats: the file it found under the name is
    // rotated on, and a third one takes its place or none does. Before, the input opened the third one (or
    // found nothing to open), and the second (app.log.2) was never read: looked at under its name, then
    // never looked for.
    await new Promise((r) => setTimeout(r, 150));
    renameSync(log, `${log}.2`);
    if (third) writeFileSync(log, numbered('c', 0, 2));
    const expected = [...linesOf(numbered('a', 0, 5)), ...linesOf(numbered('b', 0, 2)), ...(third ? linesOf(numbered('c', 0, 2)) : [])];
    await input.until(() => input.events.length >= expected.length, 'every line', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(sorted(input.bodies())).toEqual(sorted(expected));
  }, 60_000);

  it('rotated twice while closed, then a stop before the input looked: the next start reads the file rotated in between', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    // Polling once a second: nothing is noticed between the rotations and the stop.
    const cfg = { ...config(dir), use_polling: true, check_interval: '5s' };
    await writeFile(log, numbered('a', 0, 3));
    const first = start({ dataDir: data, config: cfg });
    await first.until(() => first.events.length >= 3, 'the first lines');
    await allClosed(first, dir);
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('b', 0, 2));
    renameSync(log, `${log}.2`);
    writeFileSync(log, numbered('c', 0, 2));
    // A stop now saves the checkpoints (as one every checkpoint_interval would before a SIGKILL): written
    // after app.log.2, they know nothing of it. Before, the next start read only files rotated after that
    // save, and the 2 lines of app.log.2 were never read.
    await first.stop();
    const second = start({ dataDir: data, config: cfg });
    await second.until(() => second.events.length >= 4, 'the lines of b and c');
    await new Promise((r) => setTimeout(r, 500));
    expect(sorted([...first.bodies(), ...second.bodies()])).toEqual(sorted([...linesOf(numbered('a', 0, 3)), ...linesOf(numbered('b', 0, 2)), ...linesOf(numbered('c', 0, 2))]));
  });

  it('copied and truncated before anything in it was read, the input killed while it looks for the copy: the next start reads the copy', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    const busy = path.join(dir, 'busy.log');
    const cfg = { include: [log, busy], start_at: 'beginning', checkpoint_interval: '50ms' };
    // 10,000 old empty rotated copies of app.log in the folder: the look for the copy stats each of them, for a
    // while (other files it does not stat: see test/inputs/file-folder-looks.test.ts).
    for (let i = 0; i < 10_000; i++) writeFileSync(path.join(dir, `app.log.${100_000 + i}`), '');
    await writeFile(log, '');
    await writeFile(busy, '');
    const first = start({ dataDir: data, config: cfg });
    // Another file, written all along: its checkpoint changes, so the checkpoints are saved every 50 ms.
    let n = 0;
    const writer = setInterval(() => appendFileSync(busy, `busy ${n++}\n`), 10);
    await first.until(() => first.logs.includes('watching for file changes'), 'the start');
    await new Promise((r) => setTimeout(r, 200));
    // Written, copied and truncated, and written again, before the input read anything of it.
    appendFileSync(log, numbered('a', 0, 3));
    copyFileSync(log, `${log}.1`);
    // Later than the copy by more than a tick of the file clock (the input cannot run meanwhile: the wait blocks).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
    truncateSync(log, 0);
    appendFileSync(log, numbered('b', 0, 2));
    // While the input walks the folder for the copy, its checkpoints are saved: what they are then is what a
    // SIGKILL would leave. Before, they said the name was looked at up to the write of b, and the next start
    // took app.log.1 (older than that) as seen: its 3 lines were never read. The last save before the input
    // read the copy's lines is taken (the walk of 10,000 names takes longer than the 50 ms between saves).
    // Before, a save 300 ms on: the walk had lasted longer than that only while chokidar listed this folder at
    // every write of busy.log; since it lists it once a second at most, the walk was sometimes over by then.
    const checkpoints = path.join(data, 'checkpoints.json');
    const copyRead = () => first.bodies().some((b) => b.startsWith('a-'));
    let killedWith = readFileSync(checkpoints);
    for (const giveUp = Date.now() + 3000; !copyRead() && Date.now() < giveUp; ) {
      const saved = readFileSync(checkpoints);
      if (copyRead()) break;
      killedWith = saved;
      await new Promise((r) => setTimeout(r, 5));
    }
    clearInterval(writer);
    await first.stop();
    writeFileSync(path.join(data, 'checkpoints.json'), killedWith);
    const second = start({ dataDir: data, config: cfg });
    const mine = () => second.bodies().filter((b) => !b.startsWith('busy'));
    await second.until(() => mine().length >= 5, 'the lines of a and b', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(sorted(mine())).toEqual(sorted([...linesOf(numbered('a', 0, 3)), ...linesOf(numbered('b', 0, 2))]));
  }, 60_000);

  it('deleted while closed and created again: the new file is read whole, once', async () => {
    const { log, input } = await readAndClosed(numbered('a', 0, 3));
    unlinkSync(log);
    writeFileSync(log, numbered('b', 0, 2));
    await input.until(() => input.events.length >= 5, 'the new file');
    await new Promise((r) => setTimeout(r, 300));
    expect(input.bodies()).toEqual([...linesOf(numbered('a', 0, 3)), ...linesOf(numbered('b', 0, 2))]);
  });

  it('with use_polling (no notifications), a closed file is opened again when it grows', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('a', 0, 2));
    const input = start({ dataDir: path.join(dir, 'data'), config: { ...config(dir), use_polling: true } });
    await input.until(() => input.events.length >= 2, 'the first lines');
    await allClosed(input, dir);
    await appendFile(log, numbered('a', 2, 2));
    await input.until(() => input.events.length >= 4, 'the appended lines');
    expect(input.bodies()).toEqual(linesOf(numbered('a', 0, 4)));
  });
});

describe('file input: ignore_older', () => {
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);

  it('old files are not opened nor read; written to later, only their new lines are read; a restart repeats nothing', async () => {
    const dir = await tempDir();
    const data = path.join(dir, 'data');
    for (let i = 0; i < 20; i++) {
      const file = path.join(dir, `old${i}.log`);
      await writeFile(file, numbered(`old${i}`, 0, 3));
      await utimes(file, hoursAgo(2), hoursAgo(2));
    }
    await writeFile(path.join(dir, 'new.log'), numbered('new', 0, 2));
    const config = { include: [path.join(dir, '*.log')], start_at: 'beginning', ignore_older: '1h', close_inactive: '0s' };
    const input = start({ dataDir: data, config });
    await input.until(() => input.events.length >= 2, 'the new file');
    await new Promise((r) => setTimeout(r, 300));
    expect(input.bodies()).toEqual(linesOf(numbered('new', 0, 2)));
    expect(input.metrics.get('files_open')).toBe(1);
    expect((await openFilesUnder(dir)).filter((f) => f.includes('/old'))).toEqual([]);

    await appendFile(path.join(dir, 'old3.log'), 'old3 written again\n');
    await input.until(() => input.events.length >= 3, 'the new line of old3.log');
    await new Promise((r) => setTimeout(r, 300));
    expect(input.bodies().slice(2)).toEqual(['old3 written again']);
    await input.stop();

    const again = start({ dataDir: data, config });
    await new Promise((r) => setTimeout(r, 1000));
    expect(again.bodies()).toEqual([]);
  });

  it('an old file with a checkpoint resumes from it when written to: the lines it had not read come too', async () => {
    const dir = await tempDir();
    const data = path.join(dir, 'data');
    const log = path.join(dir, 'app.log');
    await writeFile(log, numbered('a', 0, 2));
    const config = { include: [log], start_at: 'beginning' };
    const first = start({ dataDir: data, config });
    await first.until(() => first.events.length >= 2, 'the first lines');
    await first.stop();
    await appendFile(log, numbered('a', 2, 1)); // written while stopped
    await utimes(log, hoursAgo(2), hoursAgo(2));
    const second = start({ dataDir: data, config: { ...config, ignore_older: '1h' } });
    await new Promise((r) => setTimeout(r, 500));
    expect(second.bodies()).toEqual([]);
    expect(second.metrics.get('files_open')).toBe(0);
    await appendFile(log, numbered('a', 3, 1));
    await second.until(() => second.events.length >= 2, 'the unread and the new line');
    expect(second.bodies()).toEqual(linesOf(numbered('a', 2, 2)));
  });
});

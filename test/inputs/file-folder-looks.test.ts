/**
 * Looks for rotated copies in a big folder: a file copied and truncated, or renamed away, in a folder that
 * holds 2,000 other files. The copies are still found and read, and a look stats only the names that may be
 * copies of the file (its own rotated names), not every file in the folder. Before, each look listed the
 * folder and statted every file in it, one after the other, and looks queue in the input's decisions: late in
 * the rotation stress run (about 1,000 files in the folder) every rotation cost a walk of all of them.
 * Stat calls are counted through node:fs/promises (patched here, with its ES module bindings synced).
 */
import { appendFileSync, copyFileSync, renameSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OTHERS = 2000;

const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
const realStat = fsp.stat;
/** Paths statted (through node:fs/promises) since the last `statted.length = 0`. */
const statted: string[] = [];

beforeAll(() => {
  fsp.stat = ((file: string, ...rest: []) => {
    statted.push(String(file));
    return realStat(file, ...rest);
  }) as typeof fsp.stat;
  syncBuiltinESMExports();
});
afterAll(() => {
  fsp.stat = realStat;
  syncBuiltinESMExports();
});

/** `app.log` (read from its start) beside 2,000 other files and 3 old rotated copies of it. */
async function bigFolder() {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  for (let i = 0; i < OTHERS; i++) writeFileSync(path.join(dir, `other-${i}.log`), 'x\n');
  const old = Date.now() / 1000 - 3600;
  for (let i = 1; i <= 3; i++) {
    writeFileSync(`${log}.${i}`, numbered(`old${i}`, 0, 1));
    utimesSync(`${log}.${i}`, old, old);
  }
  writeFileSync(log, '');
  const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
  await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
  appendFileSync(log, numbered('a', 0, 3));
  await input.until(() => input.events.length >= 3, 'the first lines');
  await sleep(50);
  return { dir, log, input };
}

function expectEachOnce(bodies: string[], expected: string): void {
  expect([...bodies].sort()).toEqual(expected.trimEnd().split('\n').sort());
}

/** Stat calls for files of `dir` other than app.log's own names. */
const othersStatted = (dir: string) => statted.filter((f) => path.dirname(f) === dir && path.basename(f).startsWith('other-')).length;

describe('file input: looks for rotated copies in a folder of 2,000 other files', () => {
  it('copied and truncated: the rest is read from the copy, and no other file is statted', async () => {
    const { dir, log, input } = await bigFolder();
    statted.length = 0;
    const started = Date.now();
    appendFileSync(log, numbered('a', 3, 2));
    copyFileSync(log, `${log}.4`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('b', 0, 1));
    await input.until(() => input.events.length >= 6, 'the copy\'s rest and the new line', 10_000).catch(() => undefined);
    console.log(`copytruncate: read in ${Date.now() - started} ms, ${statted.length} stat calls (${othersStatted(dir)} of other files)`);
    await sleep(300); // a line read twice would show up by now
    expectEachOnce(input.bodies(), numbered('a', 0, 5) + numbered('b', 0, 1));
    expect(othersStatted(dir)).toBe(0);
  });

  it('renamed away, with a new file under the name: both are read, and no other file is statted', async () => {
    const { dir, log, input } = await bigFolder();
    statted.length = 0;
    const started = Date.now();
    appendFileSync(log, numbered('a', 3, 2));
    renameSync(log, `${log}.4`);
    writeFileSync(log, numbered('b', 0, 2));
    await input.until(() => input.events.length >= 7, 'the renamed file\'s rest and the new file', 10_000).catch(() => undefined);
    console.log(`rename: read in ${Date.now() - started} ms, ${statted.length} stat calls (${othersStatted(dir)} of other files)`);
    await sleep(300);
    expectEachOnce(input.bodies(), numbered('a', 0, 5) + numbered('b', 0, 2));
    expect(othersStatted(dir)).toBe(0);
  });
});

/**
 * A rotation (logrotate `rotate 3`, rename-and-create) that runs while the input lists the folder of a name
 * to look for its rotated copies: the listing is torn, part of it taken before a rename and part after, and a
 * file renamed from app.log.1 to app.log.2 in between is under neither name in it. The file-crash e2e test
 * lost a whole rotated file this way, once in about 150 runs: a restart's look for the files rotated while
 * driftlock was stopped raced the writer's next rotation. Here the rotation runs inside the listing itself
 * (readdir), at each of the start's listings in turn.
 */
import { appendFileSync, copyFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

/**
 * `during` runs once, inside the listing of the folder (namesIn's readdir, with no options) numbered `at`;
 * `hidden` is left out of every listing of the folder while it is set.
 */
const torn: { dir?: string; at: number; listings: number; during?: { before: () => void; after: () => void }; hidden?: string; each?: () => void } = { at: 0, listings: 0 };
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  const readdir = (async (dir: unknown, ...rest: unknown[]) => {
    const during = rest.length === 0 && String(dir) === torn.dir && ++torn.listings === torn.at ? torn.during : undefined;
    during?.before();
    if (rest.length === 0 && String(dir) === torn.dir) torn.each?.();
    const names = await (original.readdir as (...a: unknown[]) => Promise<Array<string | { name: string }>>)(dir, ...rest);
    during?.after();
    if (String(dir) !== torn.dir || torn.hidden === undefined) return names;
    return names.filter((n) => (typeof n === 'string' ? n : n.name) !== torn.hidden);
  }) as typeof original.readdir;
  return { ...original, readdir, default: { ...original, readdir } };
});

const { numbered, startedFileInputs, tempDir } = await import('../helpers/file-input.js');
const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A folder whose app.log holds 50 lines of a, read by a first run that then stopped (its checkpoints saved). */
async function aReadByAFirstRun(): Promise<{ dir: string; log: string; data: string; config: { include: string[]; start_at: string } }> {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  const data = path.join(dir, 'data');
  const config = { include: [log], start_at: 'beginning' };
  await writeFile(log, numbered('a', 0, 50));
  const first = start({ dataDir: data, config });
  await first.until(() => first.events.length === 50, 'app.log read');
  await first.stop();
  return { dir, log, data, config };
}

/**
 * While driftlock is stopped, app.log rotated twice: b, never seen, is in app.log.1; c, written after it (a
 * modification time after b's: file times are coarse), is in app.log; a, read before, is in app.log.2.
 */
async function rotatedTwiceWhileStopped(log: string): Promise<void> {
  await sleep(30);
  renameSync(log, `${log}.1`);
  writeFileSync(log, numbered('b', 0, 50));
  await sleep(30);
  renameSync(`${log}.1`, `${log}.2`);
  renameSync(log, `${log}.1`);
  writeFileSync(log, numbered('c', 0, 50));
}

describe('file input: a rotation while the folder is listed', () => {
  for (const at of [1, 2, 3]) {
    it(`a rotation during listing ${at} of the start loses no rotated file`, async () => {
      const { dir, log, data, config } = await aReadByAFirstRun();

      await rotatedTwiceWhileStopped(log);

      // The next rotation, torn by the listing: app.log.2 -> app.log.3 before it, the rest after.
      torn.dir = dir;
      torn.at = at;
      torn.listings = 0;
      let ran = false;
      torn.during = {
        before: () => renameSync(`${log}.2`, `${log}.3`),
        after: () => {
          renameSync(`${log}.1`, `${log}.2`);
          renameSync(log, `${log}.1`);
          writeFileSync(log, numbered('d', 0, 50));
          ran = true;
        },
      };
      const second = start({ dataDir: data, config });
      await second.until(() => second.logs.includes('file input started'), 'the start');
      expect(ran, 'the rotation ran during a listing').toBe(true);
      const prefixes = ['b', 'c', 'd'];
      const read = () => new Set(second.bodies().filter((b) => prefixes.includes(b[0]!)));
      await second.until(() => read().size === 150, 'b, c and d read', 5000).catch(() => undefined);
      await second.stop();
      const missing = prefixes.map((p) => `${p}: ${50 - [...read()].filter((b) => b[0] === p).length} missing`);
      const walks = second.logRecords.filter((r) => r.msg === 'looked for rotated files never seen').map((r) => JSON.stringify(r.files));
      expect(missing, `the walks for rotated files never seen:\n${walks.join('\n')}`).toEqual(['b: 0 missing', 'c: 0 missing', 'd: 0 missing']);
      // Nothing read twice either (a, read before, is known content).
      expect(second.bodies().filter((b) => b[0] === 'a')).toEqual([]);
      expect(second.bodies()).toHaveLength(150);
    }, 30_000);
  }
});

describe('file input: a rotated file the start missed', () => {
  /** app.log read by a first run; then, while stopped, rotated twice: b in app.log.1, c in app.log. */
  const setUp = async () => {
    const { dir, log, data, config } = await aReadByAFirstRun();
    await rotatedTwiceWhileStopped(log);
    // The start's look misses b (for whatever reason: here app.log.1 is left out of its listings).
    torn.dir = dir;
    torn.at = 0;
    torn.during = undefined;
    torn.hidden = 'app.log.1';
    const second = start({ dataDir: data, config });
    await second.until(() => second.logs.includes('file input started'), 'the start');
    torn.hidden = undefined;
    await second.until(() => second.bodies().filter((b) => b[0] === 'c').length === 50, 'c read');
    expect(second.bodies().filter((b) => b[0] === 'b'), 'b missed by the start').toEqual([]);
    return { log, data, config, second };
  };
  const count = (bodies: string[], p: string) => bodies.filter((b) => b[0] === p).length;

  it('is read at the next rotation of the name', async () => {
    const { log, second } = await setUp();
    renameSync(`${log}.2`, `${log}.3`);
    renameSync(`${log}.1`, `${log}.2`);
    renameSync(log, `${log}.1`);
    writeFileSync(log, numbered('d', 0, 50));
    await second.until(() => count(second.bodies(), 'b') === 50 && count(second.bodies(), 'd') === 50, 'b and d read', 5000).catch(() => undefined);
    await second.stop();
    expect(['a', 'b', 'c', 'd'].map((p) => `${p}: ${count(second.bodies(), p)}`)).toEqual(['a: 0', 'b: 50', 'c: 50', 'd: 50']);
  }, 30_000);

  it('is read at the next copy and truncation of the name', async () => {
    const { log, second } = await setUp();
    renameSync(`${log}.2`, `${log}.3`);
    renameSync(`${log}.1`, `${log}.2`);
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    appendFileSync(log, numbered('d', 0, 50));
    await second.until(() => count(second.bodies(), 'b') === 50 && count(second.bodies(), 'd') === 50, 'b and d read', 5000).catch(() => undefined);
    await second.stop();
    expect(['a', 'b', 'c', 'd'].map((p) => `${p}: ${count(second.bodies(), p)}`)).toEqual(['a: 0', 'b: 50', 'c: 50', 'd: 50']);
  }, 30_000);

  it('is read at the next start', async () => {
    const { data, config, second } = await setUp();
    await second.stop();
    const third = start({ dataDir: data, config });
    await third.until(() => third.logs.includes('file input started'), 'the start');
    await third.until(() => count(third.bodies(), 'b') === 50, 'b read', 5000).catch(() => undefined);
    await sleep(300);
    await third.stop();
    expect(['a', 'b', 'c'].map((p) => `${p}: ${count(third.bodies(), p)}`)).toEqual(['a: 0', 'b: 50', 'c: 0']);
  }, 30_000);
});

describe('file input: a folder whose names shift at every listing', () => {
  it('the look gives up after a few walks and says so; what it did not walk is read at the next start', async () => {
    const { dir, log, data, config } = await aReadByAFirstRun();
    // Each listing of the folder finds one more rotated file (r1, r2, ...) than the one before.
    let made = 0;
    torn.dir = dir;
    torn.at = 0;
    torn.during = undefined;
    torn.each = () => {
      made += 1;
      writeFileSync(`${log}.${made}`, numbered(`r${made}-`, 0, 10));
    };
    const second = start({ dataDir: data, config });
    await second.until(() => second.logs.includes('file input started'), 'the start');
    torn.each = undefined;
    const gaveUp = second.logRecords.filter((r) => String(r.msg).startsWith('gave up looking for rotated files never seen'));
    expect(gaveUp.map((r) => r.msg)).toEqual(['gave up looking for rotated files never seen: names still shifting after 5 walks of the folder']);
    const files = (bodies: string[]) => [...new Set(bodies.map((b) => b.split('-')[0]))].sort();
    // The walks read the files they found (as their debug lines say); a file made by a listing no walk went
    // through (the check after the last walk) is not read by this start.
    const readWhole = second.logRecords
      .filter((r) => r.msg === 'looked for rotated files never seen')
      .flatMap((r) => r.files as string[])
      .filter((f) => f.endsWith(': read whole')).length;
    expect(readWhole).toBeGreaterThan(0);
    expect(readWhole).toBeLessThan(made);
    await second.until(() => second.bodies().length === 10 * readWhole, 'the files walked read');
    await second.stop();
    expect(files(second.bodies())).toHaveLength(readWhole);
    // The next start reads the others (the start's look time is saved: `unseen_since`), and nothing twice.
    const third = start({ dataDir: data, config });
    await third.until(() => third.bodies().length === 10 * (made - readWhole), 'the files not walked read', 5000).catch(() => undefined);
    await third.stop();
    const all = [...second.bodies(), ...third.bodies()];
    expect(files(all)).toEqual(Array.from({ length: made }, (_, i) => `r${i + 1}`).sort());
    expect(all.length, 'nothing read twice').toBe(10 * made);
  }, 30_000);
});

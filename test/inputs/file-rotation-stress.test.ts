/**
 * A stress run of the file input under rotations faster than it is meant to keep up with, skipped unless
 * DRIFTLOCK_STRESS=1 (it is timed, and what it measures depends on the machine): it reports, it does not
 * assert a bound on losses. Writers in a child process append numbered lines to their own file, each file
 * renamed away (`wN.log` -> `wN.log.<seq>`, a name of its own: nothing deleted) after 0-60 ms; the input
 * (in this process) reads `*.log`. At the end every line written is looked for among the events: lines
 * lost, and lines read more than once (which must be none: nothing is restarted here). The README's
 * rotation loss figures come from this run. The files that lost lines are printed (name, how rotated,
 * inode, line range, when written); with DRIFTLOCK_STRESS_LOG=<folder>, each seed's files and the input's
 * whole log (debug level) are written there too, to tell what the input did with them.
 *
 *   DRIFTLOCK_STRESS=1 npx vitest run test/inputs/file-rotation-stress.test.ts
 *
 * DRIFTLOCK_STRESS_SEEDS (default 1,2,3,4,5), DRIFTLOCK_STRESS_SECONDS (8), DRIFTLOCK_STRESS_MAX_MS (60, the
 * longest a file lives), DRIFTLOCK_STRESS_MODE (`rename`, or `mixed`: every other rotation is a copy and
 * truncate, the copy named as a rename's would be).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startedFileInputs, tempDir } from '../helpers/file-input.js';
import { spawnForTest } from '../helpers/processes.js';

const env = process.env;
const SEEDS = (env.DRIFTLOCK_STRESS_SEEDS ?? '1,2,3,4,5').split(',').map(Number);
const SECONDS = Number(env.DRIFTLOCK_STRESS_SECONDS ?? 8);
const MAX_MS = Number(env.DRIFTLOCK_STRESS_MAX_MS ?? 60);
const MODE = env.DRIFTLOCK_STRESS_MODE ?? 'rename';
const WRITERS = 4;

/** A file a writer rotated (or the one it left under its name), and the lines it was given. */
interface WrittenFile {
  w: number;
  name: string;
  how: 'renamed' | 'copied' | 'live';
  ino: number;
  from: number;
  until: number;
  /** Milliseconds after the writers started. */
  bornMs: number;
  rotatedMs: number;
}

/**
 * The writers: argv dir, seed, seconds, max_ms, mode, writers. Each appends 1-3 lines every 1-3 ms and
 * rotates its file once it is 0-max_ms old; prints {written: [...], rotations, files, startedAt} at the end.
 */
const WRITER = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const [dir, seedText, secondsText, maxText, mode, writersText] = process.argv.slice(2);
let seed = Number(seedText) >>> 0;
const random = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pad = 'x'.repeat(40);
const startedAt = Date.now();
const end = startedAt + Number(secondsText) * 1000;
const writers = Array.from({ length: Number(writersText) }, (_, i) => {
  const file = path.join(dir, 'w' + i + '.log');
  const fd = fs.openSync(file, 'a');
  return { i, file, fd, ino: fs.fstatSync(fd).ino, n: 0, from: 0, bornMs: 0, seq: 0, rotateAt: Date.now() + random() * Number(maxText) };
});
const files = [];
const done = (w, name, how) => {
  files.push({ w: w.i, name, how, ino: w.ino, from: w.from, until: w.n, bornMs: w.bornMs, rotatedMs: Date.now() - startedAt });
  w.from = w.n;
  w.bornMs = Date.now() - startedAt;
};
let rotations = 0;
const tick = () => {
  const now = Date.now();
  for (const w of writers) {
    let text = '';
    for (let k = 1 + Math.floor(random() * 3); k > 0; k--) text += 'w' + w.i + '-' + String(w.n++).padStart(7, '0') + ' ' + pad + '\n';
    fs.writeSync(w.fd, text);
    if (now >= w.rotateAt && now < end) {
      const to = w.file + '.' + ++w.seq;
      if (mode === 'mixed' && w.seq % 2 === 0) {
        fs.copyFileSync(w.file, to);
        fs.ftruncateSync(w.fd, 0);
        done(w, path.basename(to), 'copied');
      } else {
        fs.closeSync(w.fd);
        fs.renameSync(w.file, to);
        done(w, path.basename(to), 'renamed');
        w.fd = fs.openSync(w.file, 'a');
        w.ino = fs.fstatSync(w.fd).ino;
      }
      rotations++;
      w.rotateAt = now + random() * Number(maxText);
    }
  }
  if (now < end) setTimeout(tick, 1 + Math.floor(random() * 3));
  else {
    for (const w of writers) {
      fs.closeSync(w.fd);
      done(w, path.basename(w.file), 'live');
    }
    process.stdout.write(JSON.stringify({ written: writers.map((w) => w.n), rotations, files, startedAt }));
  }
};
tick();
`;

const start = startedFileInputs();

describe.skipIf(!env.DRIFTLOCK_STRESS)(`file input stress: files rotated every 0-${MAX_MS} ms`, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: lines lost and lines read twice`, async () => {
      const dir = await tempDir('dl-stress-');
      const logs = path.join(dir, 'logs');
      const script = path.join(dir, 'writer.cjs');
      await writeFile(script, WRITER);
      await mkdir(logs);
      const input = start({
        dataDir: path.join(dir, 'data'),
        config: { include: [path.join(logs, '*.log')], start_at: 'beginning', rotate_wait: '1s' },
      });
      await input.until(() => input.logs.includes('file input started'), 'the input to start');
      const child = spawnForTest(process.execPath, [script, logs, String(seed), String(SECONDS), String(MAX_MS), MODE, String(WRITERS)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const { written, rotations, files, startedAt } = JSON.parse(out) as { written: number[]; rotations: number; files: WrittenFile[]; startedAt: number };
      const total = written.reduce((a, b) => a + b, 0);
      // Until every line came, or nothing new came for 5 s (rotate_wait, scan_interval and a margin).
      let last = -1;
      let quietSince = Date.now();
      while (input.events.length < total && Date.now() - quietSince < 5000) {
        if (input.events.length !== last) [last, quietSince] = [input.events.length, Date.now()];
        await new Promise((r) => setTimeout(r, 100));
      }
      await input.stop();
      const seen = written.map((n) => new Uint32Array(n));
      for (const body of input.bodies()) {
        const m = /^w(\d+)-(\d{7}) /.exec(body);
        if (m) seen[Number(m[1])]![Number(m[2])]! += 1;
      }
      let lost = 0;
      let twice = 0;
      for (const counts of seen) {
        for (const c of counts) {
          if (c === 0) lost += 1;
          else twice += c - 1;
        }
      }
      console.log(`stress seed ${seed} (${MODE}, 0-${MAX_MS} ms, ${SECONDS} s): ${total} lines written, ${rotations} rotations, ${lost} lost, ${twice} read twice`);
      const losing = files.map((f) => ({ ...f, lost: seen[f.w]!.subarray(f.from, f.until).filter((c) => c === 0).length })).filter((f) => f.lost > 0);
      for (const f of losing.slice(0, 20)) {
        console.log(`  ${f.name} (${f.how}, inode ${f.ino}, lines ${f.from}-${f.until - 1}, written ${f.bornMs}-${f.rotatedMs} ms after the writers started): ${f.lost} lost`);
      }
      if (losing.length > 20) console.log(`  ... and ${losing.length - 20} more files`);
      if (env.DRIFTLOCK_STRESS_LOG) {
        await writeFile(path.join(env.DRIFTLOCK_STRESS_LOG, `stress-${MODE}-${seed}.json`), JSON.stringify({ startedAt, files, losing, log: input.logRecords }));
      }
      expect(twice, 'lines read more than once').toBe(0);
    }, (SECONDS + 60) * 1000);
  }
});

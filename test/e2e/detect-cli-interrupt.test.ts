/**
 * `driftlock scan` and `driftlock stream` interrupted the way an operator interrupts them: Ctrl-C or
 * SIGTERM in the middle of a long scan, and Ctrl-C while the reader of stdout is slow (`| less`).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, startCli } from '../helpers/cli.js';
import { spawnForTest } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';

/** A log long enough that a scan of it is still running a second or two after it started. */
async function longLog(dir: string, lines = 300_000): Promise<string> {
  const file = path.join(dir, 'app.log');
  let t = Date.parse('2025-01-01T00:00:00Z');
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`${new Date((t += 20)).toISOString()} INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
  await writeFile(file, out.join('\n') + '\n');
  return file;
}

describe('driftlock scan, interrupted', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} mid-scan: stops, saves --state, prints the summary marked interrupted, exits ${code}`, async () => {
      const dir = await tempDir('dl-interrupt-');
      const file = await longLog(dir);
      const state = path.join(dir, 'state.json');
      const running = startCli(['scan', '--no-progress', '--format', 'text', '--output', 'json', '--state', state, file, file]);
      // The header object is written before the first line is read.
      await running.waitFor(/warmup_lines/, 'stdout');
      await new Promise((r) => setTimeout(r, 700));
      running.child.kill(signal);
      const result = await running.exited;
      // Before: killed by the signal, no summary, no state.
      expect(result.signal, result.stderr).toBeNull();
      expect(result.code, result.stderr).toBe(code);
      expect(existsSync(state)).toBe(true);
      expect(result.stderr).toMatch(`Interrupted (${signal})`);
      // The file not reached is not counted as scanned.
      expect(result.stderr).toMatch(/Scanned [01] of 2 files/);
    }, 60_000);
  }
});

/** Lines in six-letter made-up words: after 200 quiet lines, each one a new pattern and an alert. */
function manyAlerts(): string {
  const word = (n: number) => {
    let s = '';
    for (let k = 0; k < 6; k++) {
      s += String.fromCharCode(97 + (n % 26));
      n = Math.floor(n / 26) + k * 7 + 3;
    }
    return s;
  };
  const lines = Array.from({ length: 200 }, (_, i) => `INFO: User logged in user_id=${1000 + i}`);
  for (let i = 0; i < 5000; i++) lines.push(`${word(i * 7919 + 13)} ${word(i * 104729 + 5)} ${word(i * 31 + 1)} failed`);
  return lines.join('\n') + '\n';
}

describe('Ctrl-C while the reader of stdout is slow (| less)', () => {
  for (const command of ['stream', 'scan'] as const) {
    it(`${command}: stops promptly and saves --state, though its alerts wait in a full pipe`, async () => {
      const dir = await tempDir('dl-interrupt-');
      const state = path.join(dir, 'state.json');
      const log = path.join(dir, 'app.log');
      await writeFile(log, manyAlerts());
      const args = command === 'stream' ? ['stream', '--format', 'text', '--state', state] : ['scan', '--no-progress', '--format', 'text', '--output', 'json', '--state', state, log];
      const child = spawnForTest(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      // A reader that reads nothing: about 800 KB of alerts fill the pipe and the writer waits.
      child.stdout.pause();
      if (command === 'stream') child.stdin.write(manyAlerts()); // held open, as from tail -f
      else child.stdin.end();
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // Signalled once it writes alerts (its handlers are set by then: on a loaded machine start-up alone
      // took over 2.5 s, and SIGINT's default action killed it), and the pipe has had time to fill.
      await new Promise((r) => child.stdout.once('readable', r));
      await new Promise((r) => setTimeout(r, 1500));
      const signalledAt = Date.now();
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 8000))]);
      const took = Date.now() - signalledAt;
      child.stdout.resume();
      if (code === 'hung') child.kill('SIGKILL');
      // Before: no exit until the reader drained the pipe (here, never).
      expect(code, err).toBe(command === 'stream' ? 0 : 130);
      expect(took).toBeLessThan(5000);
      expect(existsSync(state)).toBe(true);
    }, 30_000);
  }
});

/**
 * Reads a FIFO put where the state's temporary file goes, without draining it until told: a state bigger
 * than the pipe's 64 KiB keeps the save in flight (the writer waits) once the first bytes have come.
 */
function holdFifo(fifo: string): { started: () => boolean; drain: () => Promise<string> } {
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  const readSome = (): number | 'again' => {
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
      return n;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return 'again';
      throw err;
    }
  };
  let first = false;
  return {
    // The first bytes only: the rest waits in the full pipe.
    started: () => first || (first = chunks.length > 0 || (readSome(), chunks.length > 0)),
    drain: async () => {
      for (;;) {
        const n = readSome();
        if (n === 0) break;
        if (n === 'again') await new Promise((r) => setTimeout(r, 5));
      }
      closeSync(fd);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

describe.skipIf(!existsSync('/usr/bin/mkfifo'))('Ctrl-C while the state is being saved', () => {
  for (const command of ['scan', 'stream'] as const) {
    it(`${command}: the save is finished, not cut short by the signal`, async () => {
      const dir = await tempDir('dl-interrupt-');
      const log = path.join(dir, 'app.jsonl');
      // A thousand streams: a state of some 250 KB, more than a pipe holds.
      await writeFile(log, Array.from({ length: 5000 }, (_, i) => JSON.stringify({ svc: `s${i % 1000}`, msg: `User logged in user_id=${1000 + i}` })).join('\n') + '\n');
      const state = path.join(dir, 'state.json');
      execFileSync('mkfifo', [`${state}.tmp`]);
      const fifo = holdFifo(`${state}.tmp`);
      const common = ['--format', 'json', '--stream-id', '{body.svc}', '--state', state];
      const args = command === 'scan' ? ['scan', '--no-progress', '--output', 'json', ...common, log] : ['stream', ...common];
      const child = spawnForTest(process.execPath, [CLI, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      if (command === 'stream') child.stdin.end(await readFile(log));
      else child.stdin.end();
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
      const started = Date.now();
      while (!fifo.started()) {
        if (Date.now() - started > 20_000) throw new Error(`the save never began\n${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      // The files are read, the save is under way: Ctrl-C now.
      child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 300));
      const saved = await fifo.drain();
      const [code, signal] = await exited;
      // Before: killed by the signal half-way through the save (the state never renamed into place), no summary.
      expect(signal, err).toBeNull();
      expect(code, err).toBe(command === 'scan' ? 130 : 0);
      expect(saved.length).toBeGreaterThan(1 << 16);
      expect(saved.endsWith('\n')).toBe(true);
      expect(err).toMatch(command === 'scan' ? /Interrupted \(SIGINT\)\. Scanned 1 of 1 file: 5,000 events/ : /driftlock: 5,000 events in/);
      // The state is in place (rename moved the FIFO there; its content is what was read above).
      expect(existsSync(state)).toBe(true);
      expect(existsSync(`${state}.tmp`)).toBe(false);
    }, 60_000);
  }
});

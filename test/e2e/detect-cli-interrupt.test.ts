/**
 * `driftlock scan` and `driftlock stream` interrupted the way an operator interrupts them: Ctrl-C or
 * SIGTERM in the middle of a long scan, and Ctrl-C while the reader of stdout is slow (`| less`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'dl-interrupt-'));
}

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
      const dir = await tempDir();
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

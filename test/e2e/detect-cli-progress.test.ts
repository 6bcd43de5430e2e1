/**
 * `driftlock scan`'s progress bar on a terminal (util-linux `script` gives it a pseudo-terminal).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { spawnForTest } from '../helpers/processes.js';
import { tempDir } from '../helpers/temp.js';

/** Runs the CLI on a pseudo-terminal; its stdout to /dev/null unless `stdout` says otherwise (`input`: a shell command piped in). */
function underTerminal(args: string[], options: { env?: NodeJS.ProcessEnv; stdout?: boolean; input?: string; columns?: number } = {}): Promise<{ code: number | null; out: string }> {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = (options.columns ? `stty cols ${options.columns}; ` : '') + (options.input ? `${options.input} | ` : '') + [process.execPath, CLI, ...args].map(q).join(' ') + (options.stdout ? '' : ' > /dev/null');
  return new Promise((resolve) => {
    const child = spawnForTest('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe.skipIf(!existsSync('/usr/bin/script'))('driftlock scan progress bar', () => {
  it('a gzipped rotation: the share shown follows the lines read, not 100% once the compressed size is unpacked', async () => {
    const dir = await tempDir('dl-progress-');
    const total = 400_000;
    let t = Date.parse('2025-01-01T00:00:00Z');
    const lines: string[] = [];
    for (let i = 0; i < total; i++) lines.push(`${new Date((t += 20)).toISOString()} INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
    const file = path.join(dir, 'app.log.2.gz');
    await writeFile(file, gzipSync(lines.join('\n') + '\n'));
    const result = await underTerminal(['scan', '--format', 'text', file]);
    expect(result.code, result.out).toBe(0);
    // Each redraw: "app.log.2.gz ███░░ 37%  148,210 events, 0 anomalies".
    const frames = [...result.out.matchAll(/app\.log\.2\.gz \S+ (\d+)% {2}([\d,]+) events/g)].map((m) => ({ shown: Number(m[1]), events: Number(m[2]!.replace(/,/g, '')) }));
    const before = frames.filter((f) => f.events < total);
    expect(before.length, result.out.slice(0, 2000)).toBeGreaterThan(0);
    // Compressed and decompressed positions differ a little (a chunk unpacked ahead); 15 points of slack.
    for (const f of before) expect(f.shown, JSON.stringify(f)).toBeLessThanOrEqual(Math.round((f.events / total) * 100) + 15);
    expect(frames.at(-1)).toEqual({ shown: 100, events: total });
  }, 60_000);

  it('TERM=dumb: no colors and no line rewritten in place (no escape sequences at all), for scan and stream', async () => {
    const dir = await tempDir('dl-progress-');
    const lines = Array.from({ length: 300 }, (_, i) => `INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
    lines.push('ERROR: Database connection failed');
    const file = path.join(dir, 'app.log');
    await writeFile(file, lines.join('\n') + '\n');
    const scan = await underTerminal(['scan', '--format', 'text', file], { env: { TERM: 'dumb' }, stdout: true });
    expect(scan.code, scan.out).toBe(1);
    expect(scan.out).toMatch(/▲ new_pattern/);
    // Before: "\x1b[33m\x1b[1m▲ new_pattern\x1b[0m" and "\r\x1b[K" progress redraws.
    expect(scan.out).not.toContain('\x1b');
    const stream = await underTerminal(['stream', '--format', 'text'], { env: { TERM: 'dumb' }, stdout: true, input: `(cat '${file}'; sleep 1.2)` });
    expect(stream.code, stream.out).toBe(0);
    expect(stream.out).toMatch(/▲ new_pattern/);
    expect(stream.out).toMatch(/driftlock: 301 events in/);
    expect(stream.out).not.toContain('\x1b');
  }, 60_000);

  it('a narrow terminal: each progress redraw fits its width (the file name gives way first), so none wraps', async () => {
    const dir = await tempDir('dl-progress-');
    const lines = Array.from({ length: 200_000 }, (_, i) => `INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
    const name = 'a-rather-long-name-of-a-rotated-application-log-2025-01-01.log';
    const file = path.join(dir, name);
    await writeFile(file, lines.join('\n') + '\n');
    const result = await underTerminal(['scan', '--format', 'text', file], { columns: 80 });
    expect(result.code, result.out).toBe(0);
    const frames = result.out.split('\r').map((f) => f.replaceAll('\x1b[K', '')).filter((f) => f.includes('%  '));
    expect(frames.length, result.out.slice(0, 2000)).toBeGreaterThan(0);
    // Before: "a-rather-long-name-... ████ 100%  200,000 events, 0 anomalies", 121 columns on an 80-column terminal.
    for (const f of frames) expect([...f].length, f).toBeLessThanOrEqual(79);
    expect(frames.at(-1)).toMatch(/^….*2025-01-01\.log █+ 100% {2}200,000 events, 0 anomalies$/);
  }, 60_000);
});

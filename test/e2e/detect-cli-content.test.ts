/**
 * `driftlock scan` on what an operator finds in /var/log besides plain logs: a gzipped rotation whatever its
 * name, a `.gz` name on plain text, other compressions, binary files (wtmp, journals), directories.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

function appLog(lines = 300): string {
  let t = Date.parse('2025-01-01T00:00:00Z');
  const out = Array.from({ length: lines }, (_, i) => `${new Date((t += 50)).toISOString()} INFO: User logged in user_id=${1000 + ((i * 7919) % 9000)}`);
  return out.join('\n') + '\n';
}

describe('driftlock scan decides how to read a file by what it holds', () => {
  it('a gzipped file without .gz in its name is read decompressed; a .gz name on plain text is read as text', async () => {
    const dir = await tempDir('dl-content-');
    await writeFile(path.join(dir, 'app.log.1'), gzipSync(appLog()));
    await writeFile(path.join(dir, 'app.log.2.gz'), appLog());
    const r = await runCli(['scan', '--output', 'json', '--format', 'text', path.join(dir, 'app.log.1'), path.join(dir, 'app.log.2.gz')]);
    // Before: app.log.1 scanned as binary text (malformed lines, alerts on garbage, exit 1), then
    // "cannot read app.log.2.gz: incorrect header check" (exit 2).
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Scanned 2 of 2 files: 600 events/);
    expect(r.stderr).not.toMatch(/malformed|cannot read/);
  });

  it('binary files, other compressions and directories are refused with what they are and what to do (exit 2)', async () => {
    const dir = await tempDir('dl-content-');
    const wtmp = Buffer.alloc(384 * 20);
    for (let i = 0; i < 20; i++) wtmp.write(`pts/${i}\u0000user${i}\u0000host.example.com`, i * 384);
    await writeFile(path.join(dir, 'wtmp'), wtmp);
    await writeFile(path.join(dir, 'app.log.3.bz2'), Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.from([0x8a, 0x17, 0xf3, 0x02, 0x00, 0x11])]));
    await mkdir(path.join(dir, 'nginx'));
    await writeFile(path.join(dir, 'app.log'), appLog());
    const r = await runCli(['scan', '--output', 'json', '--format', 'text', 'wtmp', 'app.log.3.bz2', 'nginx', 'app.log'], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    // Before: wtmp and the bzip2 file were scanned as text: alerts on binary garbage.
    expect(r.stdout.split('\n').filter((l) => l.includes('"line"'))).toEqual([]);
    expect(r.stderr).toContain('driftlock: cannot read wtmp: a binary file (NUL bytes in its first 4 KiB), not a log; skipped');
    expect(r.stderr).toContain('driftlock: cannot read app.log.3.bz2: compressed with bzip2, which scan does not unpack (gzip only); try: bzcat app.log.3.bz2 | driftlock scan -');
    expect(r.stderr).toContain('driftlock: cannot read nginx: a directory (scan reads files: driftlock scan nginx/*.log)');
    expect(r.stderr).toMatch(/Scanned 1 of 4 files: 300 events/);
  });

  it('standard input (-) and a pipe are judged by what they hold too: gzip is read decompressed, bzip2 refused', async () => {
    const gz = gzipSync(appLog());
    // Before: read as binary text: "0 anomalies, 21 malformed lines", exit 0, as if the log were clean.
    // Through a pipe, and redirected from a file (`< app.log.2.gz`).
    const inputFile = path.join(await tempDir('dl-content-'), 'input');
    for (const input of [{ input: gz }, { input: gz, inputFile }]) {
      const r = await runCli(['scan', '--output', 'json', '--format', 'text', '-'], input);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/Scanned 1 of 1 file: 300 events/);
      expect(r.stderr).not.toMatch(/malformed|cannot read/);
    }
    const bz = await runCli(['scan', '--output', 'json', '--format', 'text', '-'], { input: Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.from([0x8a, 0x17, 0xf3, 0x02, 0x00, 0x11])]) });
    expect(bz.code, bz.stderr).toBe(2);
    expect(bz.stderr).toContain('driftlock: cannot read -: compressed with bzip2, which scan does not unpack (gzip only); try: ... | bzcat | driftlock scan -');
  });
});


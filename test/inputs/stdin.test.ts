/**
 * Standard input as the `stdin` input and `driftlock stream` read it: a regular file on descriptor 0 in
 * 256 KiB reads (each read of process.stdin's 64 KiB is a thread-pool round trip), anything else as it comes.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtModule } from '../helpers/gc-child.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'driftlock-stdin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 1.5 MB of lines, some with multi-byte characters (a chunk may end inside one). */
function content(): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) lines.push(`{"n":${i},"msg":"héllo wörld ${'x'.repeat(i % 50)}"}`);
  return Buffer.from(lines.join('\n') + '\n');
}

/** Reads `standardInput()` in a child whose descriptor 0 is `stdin`; its chunk sizes, byte count and digest. */
function readInChild(stdin: number | 'pipe', input?: Buffer): { largest: number; bytes: number; sha: string; file: boolean } {
  const script = `
    import { createHash } from 'node:crypto';
    import { ReadStream } from 'node:fs';
    const { standardInput } = await import(${builtModule('dist/src/inputs/stdin.js')});
    const stream = standardInput();
    const hash = createHash('sha256');
    let largest = 0, bytes = 0;
    for await (const chunk of stream) { largest = Math.max(largest, chunk.length); bytes += chunk.length; hash.update(chunk); }
    console.log(JSON.stringify({ largest, bytes, sha: hash.digest('hex'), file: stream instanceof ReadStream && stream !== process.stdin }));
  `;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: [stdin, 'pipe', 'inherit'], input, encoding: 'utf8' });
  expect(out.status).toBe(0);
  return JSON.parse(out.stdout) as { largest: number; bytes: number; sha: string; file: boolean };
}

describe('standard input', () => {
  const data = content();
  const sha = createHash('sha256').update(data).digest('hex');

  it('reads a regular file on descriptor 0 in 256 KiB reads, every byte', () => {
    const file = path.join(dir, 'in.jsonl');
    writeFileSync(file, data);
    const fd = openSync(file, 'r');
    try {
      const got = readInChild(fd);
      expect(got.file).toBe(true);
      expect(got.largest).toBe(256 * 1024);
      expect(got.bytes).toBe(data.length);
      expect(got.sha).toBe(sha);
    } finally {
      closeSync(fd);
    }
  });

  it('reads a pipe as process.stdin does, every byte', () => {
    const got = readInChild('pipe', data);
    expect(got.file).toBe(false);
    expect(got.largest).toBeLessThanOrEqual(64 * 1024);
    expect(got.bytes).toBe(data.length);
    expect(got.sha).toBe(sha);
  });
});

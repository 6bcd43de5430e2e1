import { describe, expect, it } from 'vitest';
import { LineSplitter, type LineFlags } from '../../src/inputs/line-splitter.js';
import { countByteWork } from '../helpers/byte-work.js';

interface Got { text: string; flags: LineFlags; start: number; end: number }

function split(chunks: Array<string | Buffer>, max = 1024): Got[] {
  const s = new LineSplitter(max);
  const out: Got[] = [];
  const on = (text: string, flags: LineFlags, start: number, end: number) => out.push({ text, flags: { ...flags }, start, end });
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c, on);
  s.flush(on);
  return out;
}

describe('LineSplitter', () => {
  it('splits on LF and CRLF, across chunk boundaries, with byte offsets', () => {
    const got = split(['alpha\r\nbe', 'ta\ngam', 'ma\r', '\n']);
    expect(got.map((g) => g.text)).toEqual(['alpha', 'beta', 'gamma']);
    expect(got.map((g) => [g.start, g.end])).toEqual([[0, 7], [7, 12], [12, 19]]);
    expect(got.every((g) => !g.flags.truncated && !g.flags.invalidUtf8)).toBe(true);
  });

  it('keeps a last line without newline until flush', () => {
    const s = new LineSplitter(100);
    const out: string[] = [];
    s.push(Buffer.from('one\ntwo'), (t) => out.push(t));
    expect(out).toEqual(['one']);
    expect(s.pendingBytes).toBe(3);
    s.flush((t) => out.push(t));
    expect(out).toEqual(['one', 'two']);
  });

  it('cuts an over-long line, marks it, skips its rest, and leaves the next line intact', () => {
    const long = 'x'.repeat(5000);
    const got = split([`short\n${long.slice(0, 2000)}`, `${long.slice(2000)}\nnext\n`], 100);
    expect(got.map((g) => g.text.length)).toEqual([5, 100, 4]);
    expect(got[1]!.flags.truncated).toBe(true);
    expect(got[2]).toMatchObject({ text: 'next', flags: { truncated: false } });
  });

  it('an over-long line ends (for checkpoints) after its newline, even when it spans many chunks', () => {
    const long = 'x'.repeat(100);
    const got = split([`a\n${long.slice(0, 30)}`, long.slice(30, 70), `${long.slice(70)}\nb\n`], 16);
    expect(got.map((g) => [g.text, g.start, g.end, g.flags.truncated])).toEqual([
      ['a', 0, 2, false],
      ['x'.repeat(16), 2, 103, true],
      ['b', 103, 105, false],
    ]);
    // Cut before its newline arrives (end of stream): it ends where reading stopped.
    const cut = split([`${long}`], 16);
    expect(cut.map((g) => [g.text.length, g.start, g.end, g.flags.truncated])).toEqual([[16, 0, 100, true]]);
  });

  it('does not cut a multi-byte character in half when truncating', () => {
    const got = split(['é'.repeat(60) + '\n'], 101);
    expect(got[0]!.text).toBe('é'.repeat(50));
    expect(got[0]!.flags.truncated).toBe(true);
    expect(got[0]!.flags.invalidUtf8).toBe(false);
  });

  it('replaces invalid UTF-8 and marks only the bad line', () => {
    const got = split([Buffer.concat([Buffer.from('good\nba'), Buffer.from([0xff, 0xfe]), Buffer.from('d\nfine\n')])]);
    expect(got.map((g) => g.flags.invalidUtf8)).toEqual([false, true, false]);
    expect(got[1]!.text).toBe('ba\uFFFD\uFFFDd');
    expect(got[2]!.text).toBe('fine');
  });

  it('handles a multi-byte character split across chunks', () => {
    const bytes = Buffer.from('naïve\n');
    const got = split([bytes.subarray(0, 3), bytes.subarray(3)]);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ text: 'naïve', flags: { invalidUtf8: false } });
  });

  it('a long line in small chunks is copied and searched a bounded number of times, not once per chunk', () => {
    // Counts, not time: they show the quadratic cost on any machine. 1 MiB (the default max_line_bytes) in
    // 1 KiB reads, then its newline and a short line. Joining the line so far with each chunk and searching
    // it all again copied and scanned about 512 MiB each (1,024 chunks, half a MiB held on average); the
    // same line in 256-byte chunks took 0.7 s.
    const size = 1 << 20;
    const line = Buffer.alloc(size, 0x61);
    const s = new LineSplitter(size);
    const got: Array<[number, boolean, number, number]> = [];
    const on = (text: string, flags: LineFlags, start: number, end: number) => got.push([text.length, flags.truncated, start, end]);
    const counts = countByteWork();
    try {
      for (let at = 0; at < size; at += 1024) s.push(line.subarray(at, at + 1024), on);
      s.push(Buffer.from('\nnext\n'), on);
    } finally {
      counts.stop();
    }
    expect(got).toEqual([[size, false, 0, size + 1], [4, false, size + 1, size + 6]]);
    expect(counts.copied).toBeLessThanOrEqual(3 * size);
    expect(counts.searched).toBeLessThanOrEqual(3 * size);
  });
});

import { describe, expect, it } from 'vitest';
import { PendingBytes } from '../../src/inputs/pending-bytes.js';

describe('PendingBytes', () => {
  it('joins pieces of any size, with a tail, in order; empties itself when taken and can be used again', () => {
    const p = new PendingBytes();
    const pieces: Buffer[] = [];
    let n = 0;
    for (const size of [0, 1, 1, 3, 1000, 1, 70_000, 0, 5, 3 << 20, 2, 17]) {
      const piece = Buffer.alloc(size);
      for (let i = 0; i < size; i++) piece[i] = n++ & 0xff;
      pieces.push(piece);
      p.append(piece);
    }
    expect(p.length).toBe(n);
    const tail = Buffer.from('tail');
    expect(p.take(tail).equals(Buffer.concat([...pieces, tail]))).toBe(true);
    expect(p.length).toBe(0);
    expect(p.take().length).toBe(0);
    p.append(Buffer.from('again'));
    expect(p.take().toString()).toBe('again');
  });

  it('copies a piece in: the caller may reuse its buffer', () => {
    const p = new PendingBytes();
    const buf = Buffer.from('abc');
    p.append(buf);
    buf.fill(0x7a);
    p.append(buf);
    expect(p.take().toString()).toBe('abczzz');
  });

  it('a megabyte trickled a byte at a time is held in a few parts, not a million', () => {
    const p = new PendingBytes();
    const one = Buffer.from('x');
    for (let i = 0; i < 1 << 20; i++) p.append(one);
    expect((p as unknown as { parts: Buffer[] }).parts.length).toBeLessThanOrEqual(22);
    expect(p.take().equals(Buffer.alloc(1 << 20, 'x'))).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { median } from '../../src/detector/volume.js';
import { mulberry32 } from './baseline.js';

/** The lower median by sorting a copy: what the volume baseline computed before it selected instead. */
function sortedMedian(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

describe('volume median', () => {
  it('is the lower median of the counts, with or without a last one, and leaves its input as it was', () => {
    const rnd = mulberry32(11);
    for (let trial = 0; trial < 2000; trial++) {
      const n = 1 + Math.floor(rnd() * 700);
      // Per-second counts: mostly small integers with many ties (zeros of quiet seconds), some bursts.
      const spread = [2, 10, 1000][trial % 3]!;
      const values = Array.from({ length: n }, () => (rnd() < 0.3 ? 0 : Math.floor(rnd() * spread) + (rnd() < 0.02 ? 5000 : 0)));
      const copy = values.slice();
      expect(median(values)).toBe(sortedMedian(values));
      const last = Math.floor(rnd() * spread);
      expect(median(values, last)).toBe(sortedMedian([...values, last]));
      expect(values).toEqual(copy);
    }
  });

  it('handles sorted, reversed and constant runs, and one value', () => {
    const up = Array.from({ length: 601 }, (_, i) => i);
    expect(median(up)).toBe(300);
    expect(median(up.slice().reverse())).toBe(300);
    expect(median(Array.from({ length: 600 }, () => 7))).toBe(7);
    expect(median([4])).toBe(4);
    expect(median([], 9)).toBe(9);
    expect(median([1, 2, 3, 4])).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';
import { SortedWindow } from '../../src/detector/sorted-window.js';
import { mulberry32 } from './baseline.js';

/** The window's sorted contents, read through its public accessors. */
function contents(w: SortedWindow): number[] {
  return Array.from({ length: w.size }, (_, i) => w.at(i));
}

describe('SortedWindow', () => {
  it('holds exactly the last `capacity` values, sorted, while filling and while sliding (ties included)', () => {
    const rnd = mulberry32(3);
    const w = new SortedWindow(64);
    const all: number[] = [];
    for (let k = 0; k < 5000; k++) {
      // Few distinct values (many ties), a wide spread, and runs that rise or fall.
      const v = k % 7 === 0 ? Math.floor(rnd() * 5) : k % 11 === 0 ? k : rnd() * 1000 - 500;
      w.add(v);
      all.push(v);
      expect(contents(w)).toEqual(all.slice(-64).sort((a, b) => a - b));
    }
    expect(w.values()).toEqual(all.slice(-64));
  });

  it('ranks, quantiles and max agree with a sorted copy', () => {
    const rnd = mulberry32(5);
    const w = new SortedWindow(100);
    const all: number[] = [];
    for (let k = 0; k < 350; k++) {
      const v = Math.round(rnd() * 50);
      w.add(v);
      all.push(v);
    }
    const sorted = all.slice(-100).sort((a, b) => a - b);
    expect(w.max()).toBe(sorted[99]);
    expect(w.quantile(0.5)).toBe(sorted[49]);
    expect(w.quantile(0.99)).toBe(sorted[98]);
    for (const x of [-1, 0, 10, 25, 50, 51]) {
      expect(w.rank(x)).toBe(sorted.filter((s) => s < x).length);
      expect(w.rank(x, true)).toBe(sorted.filter((s) => s <= x).length);
    }
  });

  it('keeps its values across each growth of its arrays, up to a capacity that is not a power of four', () => {
    // The arrays start at 8 values and grow fourfold (32, 128, 512) to the capacity (1,000 here).
    const rnd = mulberry32(8);
    const w = new SortedWindow(1000);
    const all: number[] = [];
    for (let k = 0; k < 2600; k++) {
      const v = Math.round(rnd() * 300) - 100;
      w.add(v);
      all.push(v);
      if ([7, 8, 9, 31, 32, 33, 127, 128, 129, 511, 512, 513, 999, 1000, 1001, 2599].includes(k)) {
        expect(contents(w), `after ${k + 1} values`).toEqual(all.slice(-1000).sort((a, b) => a - b));
        expect(w.values()).toEqual(all.slice(-1000));
      }
    }
  });

  it('counts NaN as 0', () => {
    const w = new SortedWindow(4);
    for (const v of [3, Number.NaN, -1, 2, Number.NaN]) w.add(v);
    expect(contents(w)).toEqual([-1, 0, 0, 2]);
  });
});

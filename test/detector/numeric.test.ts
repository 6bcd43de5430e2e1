import { describe, expect, it } from 'vitest';
import { NumericBaseline } from '../../src/detector/numeric.js';
import { mulberry32 } from './baseline.js';

describe('NumericBaseline', () => {
  it('judges in log space while every value is positive: 100x the median is far, 1.2x is near', () => {
    const rnd = mulberry32(1);
    const b = new NumericBaseline();
    for (let i = 0; i < 2000; i++) b.add(0.04 + rnd() * 0.02);
    expect(b.median).toBeGreaterThan(0.04);
    expect(b.median).toBeLessThan(0.06);
    expect(b.score(5).score).toBeGreaterThan(20);
    expect(b.score(0.06).score).toBeLessThan(3);
    expect(b.score(5).ratio).toBeGreaterThan(80);
  });

  it('measures center and spread anew at once when a value of 0 or less arrives (no longer log space)', () => {
    const rnd = mulberry32(1);
    const b = new NumericBaseline();
    for (let i = 0; i < 2000; i++) b.add(100 + Math.floor(rnd() * 40));
    b.add(0);
    // Right after: 0 is judged in linear units against values around 120 with a spread of about 10.
    const z = b.score(0).score;
    expect(z).toBeGreaterThan(4);
    expect(z).toBeLessThan(20);
    expect(b.score(119).score).toBeLessThan(1.5);
  });

  it('judges a first 0 in a field of positive values as half its step below its smallest, the same in any unit; a negative as far', () => {
    const rnd = mulberry32(3);
    const ms = new NumericBaseline();
    const seconds = new NumericBaseline();
    const narrow = new NumericBaseline();
    for (let i = 0; i < 2000; i++) {
      const v = 1 + Math.floor(rnd() * 49);
      ms.add(v);
      seconds.add(v / 1000);
      narrow.add(100 + Math.floor(rnd() * 40));
    }
    // Before, 0 ms scored 28 (far beyond the 1 ms that the field shows every fiftieth value), and 0 s 0.03.
    expect(ms.score(0).score).toBeLessThan(ms.score(1).score * 1.5);
    expect(seconds.score(0).score).toBeCloseTo(ms.score(0).score, 1);
    // Where the field never comes near 0, a 0 is still far.
    expect(narrow.score(0).score).toBeGreaterThan(5);
    expect(narrow.score(100).score).toBeLessThan(3);
    // A sign the field never showed is far, in any unit (before: 1.1 in seconds).
    expect(seconds.score(-1).score).toBeGreaterThan(10);
    expect(ms.score(-1).score).toBeGreaterThan(10);
  });

  it('keeps the last values offered, and notices a fraction or a value of 0 at once', () => {
    const b = new NumericBaseline(8);
    for (let v = 1; v <= 14; v++) b.add(v);
    expect(b.toJSON().values).toEqual([7, 8, 9, 10, 11, 12, 13, 14]);
    expect(b.toJSON().integer).toBe(true);
    b.add(17.5);
    expect(b.toJSON().integer).toBe(false);
    b.add(0);
    expect(b.toJSON().values.slice(-2)).toEqual([17.5, 0]);
    expect(b.toJSON().positive).toBe(false);
  });
});

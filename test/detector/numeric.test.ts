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

import { describe, it, expect } from 'vitest';
import { ScoreCalibrator } from '../../src/detector/index.js';
import { mulberry32 } from './baseline.js';

function filled(values: number[], capacity?: number): ScoreCalibrator {
  const c = new ScoreCalibrator(capacity);
  for (const v of values) c.add(v);
  return c;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('ScoreCalibrator', () => {
  it('has no confidence before it has seen any score', () => {
    const c = new ScoreCalibrator();
    expect(c.samples).toBe(0);
    expect(c.confidence(123)).toBe(0);
    expect(c.quantile(0.5)).toBe(0);
  });

  it('gives the share of recent scores below: 1..100, confidence(50.5) is about 0.5', () => {
    const c = filled(range(1, 100));
    expect(c.samples).toBe(100);
    expect(c.confidence(50.5)).toBeCloseTo(0.5, 1);
    // Asking for a quantile first must not change the answer.
    const before = c.confidence(75.5);
    c.quantile(0.5);
    expect(c.confidence(75.5)).toBe(before);
    expect(before).toBeCloseTo(0.75, 1);
  });

  it('gives the share of recent scores below (1..100, every score ranked)', () => {
    // Capacity 128: the sorted copy is rebuilt every 8 insertions once past 64 samples, so at most a few
    // of the newest scores are not yet ranked.
    const c = filled(range(1, 100), 128);
    expect(c.samples).toBe(100);
    expect(c.confidence(50.5)).toBeCloseTo(0.5, 1);
    expect(c.confidence(10.5)).toBeCloseTo(0.1, 1);
    expect(c.confidence(90.5)).toBeGreaterThan(0.8);
    expect(c.confidence(0)).toBe(0);
  });

  it('gives the share of recent scores below once a rebuild has ranked them all (default capacity)', () => {
    // With the default capacity (1024) the sorted copy is rebuilt on every insertion up to 63 samples,
    // then every 64: after 127 insertions it holds them all.
    const c = filled(range(1, 127));
    expect(c.confidence(64)).toBeCloseTo(63 / 128, 6);
    expect(c.confidence(32)).toBeCloseTo(31 / 128, 6);
  });

  it('is exact while young (fewer than 64 scores)', () => {
    const c = filled(range(1, 50));
    expect(c.confidence(25.5)).toBeCloseTo(25 / 51, 6);
    expect(c.confidence(1)).toBe(0);
  });

  it('ranks by value, not by order of arrival', () => {
    const rnd = mulberry32(5);
    const values = range(1, 63).sort(() => rnd() - 0.5);
    const c = filled(values);
    expect(c.confidence(32)).toBeCloseTo(31 / 64, 6);
  });

  it('is monotonic in the score', () => {
    const rnd = mulberry32(9);
    const c = filled(Array.from({ length: 500 }, () => rnd() * 10));
    let last = -1;
    for (let s = -1; s <= 30; s += 0.25) {
      const conf = c.confidence(s);
      expect(conf).toBeGreaterThanOrEqual(last);
      last = conf;
    }
  });

  it('approaches 1 above the maximum, the further above the closer, never reaching past 1', () => {
    const c = filled(range(1, 100), 128);
    const atMax = c.confidence(100);
    const just = c.confidence(101);
    const far = c.confidence(200);
    const farther = c.confidence(1000);
    expect(atMax).toBeLessThan(1);
    expect(just).toBeGreaterThan(atMax);
    expect(far).toBeGreaterThan(just);
    expect(far).toBeGreaterThan(0.99);
    expect(farther).toBeGreaterThan(far);
    expect(farther).toBeLessThanOrEqual(1);
    expect(c.confidence(1e9)).toBeLessThanOrEqual(1);
  });

  it('does not divide by zero when every score is the same', () => {
    const c = filled(new Array<number>(200).fill(0));
    expect(c.confidence(0)).toBe(0);
    const above = c.confidence(0.01);
    expect(above).toBeGreaterThan(0.99);
    expect(above).toBeLessThanOrEqual(1);
  });

  it('forgets scores older than its capacity (keeping one in eight once full)', () => {
    const later = Array.from({ length: 8 }, () => range(1, 64)).flat();
    const c = filled([...new Array<number>(64).fill(1000), ...later], 64);
    expect(c.samples).toBe(64);
    expect(c.quantile(1)).toBe(64);
    expect(c.confidence(500)).toBeGreaterThan(0.99);
    // Not yet replaced: after 64 more scores only 8 of the 64 old ones are gone.
    const partly = filled([...new Array<number>(64).fill(1000), ...range(1, 64)], 64);
    expect(partly.quantile(1)).toBe(1000);
    expect(partly.quantile(0)).toBe(8);
  });

  it('gives quantiles of the recent scores', () => {
    const c = filled(range(1, 101), 128);
    expect(c.quantile(0)).toBe(1);
    expect(c.quantile(0.5)).toBe(51);
    expect(c.quantile(1)).toBe(101);
    expect(c.quantile(0.99)).toBe(100);
  });

  it('round-trips through a snapshot, oldest score first', () => {
    const rnd = mulberry32(13);
    const values = Array.from({ length: 300 }, () => Math.round(rnd() * 1000) / 10);
    const c = filled(values, 128);
    const json = c.toJSON();
    expect(json).toHaveLength(128);
    // The first 128 scores fill the window; after that one in eight is kept, oldest first.
    const kept = [...values.slice(0, 128), ...values.slice(128).filter((_, i) => i % 8 === 7)];
    expect(json).toEqual(kept.slice(-128));
    const restored = ScoreCalibrator.fromJSON(JSON.parse(JSON.stringify(json)) as number[], 128);
    expect(restored.samples).toBe(128);
    expect(restored.toJSON()).toEqual(json);
    for (const q of [0, 0.1, 0.5, 0.9, 0.99, 1]) expect(restored.quantile(q)).toBe(c.quantile(q));
    for (const s of [0, 10, 50, 99.9, 150]) expect(restored.confidence(s)).toBeCloseTo(c.confidence(s), 6);
  });

  it('keeps only the newest `capacity` scores when restoring a longer list', () => {
    const restored = ScoreCalibrator.fromJSON(range(1, 200), 64);
    expect(restored.samples).toBe(64);
    expect(restored.toJSON()).toEqual(range(137, 200));
  });
});

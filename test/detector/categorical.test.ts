import { describe, it, expect } from 'vitest';
import { CategoricalBaseline } from '../../src/detector/categorical.js';

describe('CategoricalBaseline', () => {
  it('counts a long value under a short key of its head and a hash: values that share a head stay apart', () => {
    const b = new CategoricalBaseline();
    const head = 'x'.repeat(4000);
    for (let i = 0; i < 60; i++) b.add(`${head}${i % 3}`);
    const keys = b.toJSON().counts.map(([k]) => k);
    expect(keys).toHaveLength(3);
    for (const k of keys) expect(k.length).toBeLessThanOrEqual(128);
    expect(b.has(`${head}1`)).toBe(true);
    expect(b.has(`${head}7`)).toBe(false);
    expect(b.share(`${head}2`)).toBeCloseTo(1 / 3, 10);
  });

  it('reads a snapshot that holds long values whole (written before they had short keys) under the short keys', () => {
    const agent = (c: string) => `Mozilla/5.0 (${c.repeat(170)})`;
    const old = { counts: [[agent('a'), 40], [agent('b'), 30], [agent('c'), 30]] as Array<[string, number]>, total: 100, overflow: false };
    const b = CategoricalBaseline.fromJSON(old);
    // Before, the whole values were put back as keys that no lookup finds: every known agent was "never seen".
    expect(b.has(agent('a'))).toBe(true);
    expect(b.share(agent('b'))).toBeCloseTo(0.3, 10);
    for (const [k] of b.toJSON().counts) expect(k.length).toBeLessThanOrEqual(128);
  });

  it('finds a new value unlikely in a field whose few values all came early', () => {
    const b = new CategoricalBaseline();
    for (let i = 0; i < 150; i++) b.add(['GET', 'POST', 'HEAD'][i % 3]!);
    // Good-Turing: no value is seen once, so only the smoothing is left: 1 in 152.
    expect(b.newProbability()).toBeCloseTo(1 / 152, 10);
    expect(b.surprisal('PUT')).toBeGreaterThan(7);
  });

  it('finds a new value likely in a field that keeps bringing values seen once', () => {
    const b = new CategoricalBaseline();
    for (let i = 0; i < 20; i++) {
      b.add('common');
      b.add(`rare-${String.fromCharCode(97 + i)}`);
    }
    // 20 of 40 values are singletons.
    expect(b.newProbability()).toBeCloseTo(21 / 42, 10);
    // A singleton seen again is no longer one.
    b.add('rare-a');
    expect(b.newProbability()).toBeCloseTo(20 / 43, 10);
  });

  it('counts singletons after decay and after a restore', () => {
    const b = new CategoricalBaseline(32, 8);
    for (const v of ['a', 'a', 'a', 'a', 'b', 'b', 'c', 'd']) b.add(v);
    // Halved after 8 values: a 2, b 1, c and d 0.5. Singletons: b, c, d.
    expect(b.total).toBe(4);
    expect(b.newProbability()).toBeCloseTo(4 / 6, 10);
    const restored = CategoricalBaseline.fromJSON(JSON.parse(JSON.stringify(b)));
    expect(restored.newProbability()).toBe(b.newProbability());
    // A snapshot of an older version carries newRate and observations: they are ignored.
    const old = CategoricalBaseline.fromJSON({ ...JSON.parse(JSON.stringify(b)), newRate: 0.5, observations: 8 });
    expect(old.newProbability()).toBe(b.newProbability());
  });

  it('a restored baseline halves its counts when the original would have: the cycle is in the snapshot', () => {
    const b = new CategoricalBaseline();
    for (let i = 0; i < 3000; i++) b.add(i % 3 === 0 ? 'a' : 'b');
    const restored = CategoricalBaseline.fromJSON(JSON.parse(JSON.stringify(b)) as ReturnType<CategoricalBaseline['toJSON']>);
    for (let i = 0; i < 1096; i++) {
      b.add('b');
      restored.add('b');
    }
    // 4,096 values since the start: halved once, in both.
    expect(b.total).toBe(2048);
    expect(restored.total).toBe(b.total);
    expect([...restored.counts()]).toEqual([...b.counts()]);
  });

  it('gives up on a field with more distinct values than it keeps', () => {
    const b = new CategoricalBaseline(4);
    for (const v of ['a', 'b', 'c', 'd', 'e']) b.add(v);
    expect(b.overflow).toBe(true);
    expect(b.distinct).toBe(0);
  });

  it('counts more values than its first slots hold, and gives the slots of values a halving forgot to new ones', () => {
    const b = new CategoricalBaseline(32, 64);
    // 20 values (more than the 8 slots it starts with), value i counted i + 1 times: 210 of them.
    for (let i = 0; i < 20; i++) for (let k = 0; k <= i; k++) b.add(`v${i}`);
    // 210 values: halved three times (at 64, 128 and 192), the ones counted once gone at the first.
    expect(b.has('v0')).toBe(false);
    expect(b.top(2).map(([v]) => v)).toEqual(['v19', 'v18']);
    const before = b.toJSON().counts;
    for (let i = 0; i < 5; i++) b.add(`new${i}`);
    const after = new Map(b.toJSON().counts);
    // The old values kept their counts; the new ones count 1 each, listed after them.
    for (const [k, v] of before) expect(after.get(k)).toBe(v);
    expect(b.toJSON().counts.slice(-5)).toEqual([0, 1, 2, 3, 4].map((i) => [`new${i}`, 1]));
    expect(b.distinct).toBe(before.length + 5);
  });

  it('restores the counts of a snapshot whose limit is 0, below 1 or negative, as before the slots', () => {
    for (const maxDistinct of [0, 0.5, -1]) {
      const b = CategoricalBaseline.fromJSON({ counts: [['a', 5], ['b', 2]], total: 7, overflow: false, maxDistinct });
      expect(b.toJSON().counts).toEqual([['a', 5], ['b', 2]]);
      expect(b.top(1)).toEqual([['a', 5 / 7]]);
    }
  });
});

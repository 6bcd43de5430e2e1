/**
 * A spike that lasts: traffic that jumps to a new level and stays there (a new customer, a retry storm
 * that is now the way things are) alerts while it is news, becomes normal once it has lasted `learn_after`
 * without a break (the alert says so, once), and a rate far above the new level alerts again.
 */
import { describe, expect, it } from 'vitest';
import { Detector, type Anomaly } from '../../src/detector/index.js';
import { restoreDetector, snapshotDetector, type DetectorSnapshot } from '../../src/detector/snapshot.js';
import { T0, mulberry32 } from './baseline.js';

const MINUTE = 60_000;

/** Feeds `minutes` of `perSecond` lines a second from `from`; returns the volume spikes, with their time. */
function traffic(detector: Detector, from: number, minutes: number, perSecond: number, seed = 1): Array<{ at: number; a: Anomaly }> {
  const rnd = mulberry32(seed + from);
  const out: Array<{ at: number; a: Anomaly }> = [];
  const step = 1000 / perSecond;
  for (let t = from; t < from + minutes * MINUTE; t += step) {
    const a = detector.observe('svc', { time: Math.floor(t), text: `INFO GET /api/v1/items/${Math.floor(rnd() * 1e5)} 200 ${Math.floor(rnd() * 80)}ms` });
    if (a && a.kind === 'volume_spike') out.push({ at: Math.floor(t), a });
  }
  return out;
}

describe('volume: a spike that lasts becomes the new level', () => {
  it('alerts every second of a 20x step until it has lasted learn_after, says so once, then is quiet; a further 20x alerts again', () => {
    const detector = new Detector({ overrides: { learnAfterMs: 20 * MINUTE } });
    expect(traffic(detector, T0, 20, 2)).toEqual([]);
    const step = T0 + 20 * MINUTE;
    const spikes = traffic(detector, step, 50, 40);
    // Before: every second of the new level, for ever (3,600 an hour).
    const news = spikes.filter((s) => s.at < step + 20 * MINUTE);
    expect(news.length).toBeGreaterThan(19 * 60);
    const accepted = spikes.filter((s) => s.at >= step + 20 * MINUTE);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.at).toBeLessThan(step + 20 * MINUTE + 2_000);
    expect(accepted[0]!.a.why).toMatch(/^volume up to 40 events a second for 20 min since \S+T00:20:00\.\d{3}Z vs typical 2\/s before: lasted long enough, now treated as normal$/);
    // 20x the new level is news again.
    const higher = traffic(detector, step + 50 * MINUTE, 1, 800).filter((s) => !s.a.why.startsWith('volume of pattern'));
    expect(higher.length).toBeGreaterThan(0);
    expect(higher[0]!.a.why).toMatch(/^volume \d+ events in one second so far vs typical 40\/s/);
  });

  it('a spike with breaks (a minute on, then 1 to 5 min off, at random: no rhythm) is not a new level: it keeps alerting', () => {
    const detector = new Detector({ overrides: { learnAfterMs: 20 * MINUTE } });
    traffic(detector, T0, 20, 2);
    const rnd = mulberry32(7);
    let last: Array<{ at: number; a: Anomaly }> = [];
    for (let m = 20; m < 80; ) {
      last = traffic(detector, T0 + m * MINUTE, 1, 40);
      const off = 1 + rnd() * 4;
      traffic(detector, T0 + (m + 1) * MINUTE, off, 2);
      m += 1 + off;
    }
    expect(last.length).toBeGreaterThan(0);
    expect(last.every((s) => !s.a.why.includes('now treated as normal'))).toBe(true);
  });

  it('a restart after the new level was accepted keeps it: no alert after the restore', () => {
    const detector = new Detector({ overrides: { learnAfterMs: 20 * MINUTE } });
    traffic(detector, T0, 20, 2);
    traffic(detector, T0 + 20 * MINUTE, 21, 40);
    const snapshot = JSON.parse(JSON.stringify(snapshotDetector(detector))) as DetectorSnapshot;
    const again = new Detector({ overrides: { learnAfterMs: 20 * MINUTE } });
    restoreDetector(again, snapshot);
    expect(traffic(again, T0 + 41 * MINUTE, 10, 40)).toEqual([]);
  });
});

/** Feeds `minutes` of Poisson-like traffic at `perSecond` (random gaps), from `from`; returns the volume drops. */
function poisson(detector: Detector, from: number, minutes: number, perSecond: number, seed = 3): Array<{ at: number; a: Anomaly }> {
  const rnd = mulberry32(seed + from);
  const out: Array<{ at: number; a: Anomaly }> = [];
  for (let t = from - Math.log(1 - rnd()) * (1000 / perSecond); t < from + minutes * MINUTE; t -= Math.log(1 - rnd()) * (1000 / perSecond)) {
    const a = detector.observe('svc', { time: Math.floor(t), text: `INFO GET /api/v1/items/${Math.floor(rnd() * 1e5)} 200 ${Math.floor(rnd() * 80)}ms` });
    if (a && a.kind === 'volume_drop') out.push({ at: Math.floor(t), a });
  }
  return out;
}

describe('volume: a partial drop', () => {
  it('traffic falling to a tenth is said once, with the rates; again after it came back and fell again', () => {
    const detector = new Detector();
    expect(poisson(detector, T0, 20, 20)).toEqual([]);
    // Before: nothing; only a silence of 30 s was a volume drop.
    const first = poisson(detector, T0 + 20 * MINUTE, 10, 2);
    expect(first).toHaveLength(1);
    expect(first[0]!.at).toBeLessThan(T0 + 21 * MINUTE + 5_000);
    expect(first[0]!.a.why).toMatch(/^volume dropped to \d(\.\d+)?\/s over the last 60 s vs typical (19|20|21)\/s \(\d+% lower\)$/);
    expect(first[0]!.a.confidence).toBeGreaterThan(0.95);
    expect(poisson(detector, T0 + 30 * MINUTE, 20, 20)).toEqual([]);
    expect(poisson(detector, T0 + 50 * MINUTE, 5, 2)).toHaveLength(1);
  });

  it('steady traffic, its chance lulls, and a sparse stream falling quieter are no partial drop', () => {
    const steady = new Detector();
    expect(poisson(steady, T0, 120, 5)).toEqual([]);
    // One event a second: a minute should hold 60, under the 100 that make a shortfall news.
    const sparse = new Detector();
    poisson(sparse, T0, 20, 1);
    expect(poisson(sparse, T0 + 20 * MINUTE, 10, 0.1).filter((d) => d.a.why.startsWith('volume dropped to'))).toEqual([]);
  });
});

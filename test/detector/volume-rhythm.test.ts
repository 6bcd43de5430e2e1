/**
 * Bursts that come back at a regular interval (an hourly cron job's burst of log lines) become normal once
 * they have kept their rhythm for `learn_after`, like a new pattern that keeps recurring; other bursts, and
 * a much bigger burst on the same beat, still alert.
 */
import { describe, expect, it } from 'vitest';
import { Detector, type Anomaly } from '../../src/detector/index.js';
import { restoreDetector, snapshotDetector, type DetectorSnapshot } from '../../src/detector/snapshot.js';
import { VolumeBaseline } from '../../src/detector/volume.js';
import { T0, mulberry32 } from './baseline.js';

const HOUR = 3_600_000;

/**
 * Feeds `hours` of a service logging about 4 lines a second, with a burst of `burst` lines within two
 * seconds at the top of every hour (and at `extra` times, ms from T0), and returns the volume alerts.
 */
function service(detector: Detector, from: number, hours: number, options: { burst?: number; extra?: Array<{ at: number; lines: number; cron?: boolean }> } = {}): Array<{ at: number; a: Anomaly }> {
  const rnd = mulberry32(from + 1);
  const out: Array<{ at: number; a: Anomaly }> = [];
  const events: Array<{ t: number; text: string }> = [];
  const end = from + hours * HOUR;
  for (let t = from; t < end; t += 250) events.push({ t: t + Math.floor(rnd() * 250), text: `INFO GET /api/v1/items/${Math.floor(rnd() * 1e5)} 200 ${Math.floor(rnd() * 80)}ms` });
  for (let h = Math.ceil((from - T0) / HOUR); T0 + h * HOUR < end; h++) {
    if (h === 0) continue;
    for (let i = 0; i < (options.burst ?? 150); i++) events.push({ t: T0 + h * HOUR + Math.floor(rnd() * 2000), text: `INFO cron backup step ${i} done in ${Math.floor(rnd() * 20)}ms` });
  }
  for (const x of options.extra ?? []) for (let i = 0; i < x.lines; i++) events.push({ t: x.at + Math.floor(rnd() * 2000), text: x.cron ? `INFO cron backup step ${i} done in ${Math.floor(rnd() * 20)}ms` : `INFO GET /api/v1/items/${Math.floor(rnd() * 1e5)} 200 ${Math.floor(rnd() * 80)}ms` });
  events.sort((a, b) => a.t - b.t);
  for (const e of events) {
    const a = detector.observe('svc', { time: e.t, text: e.text });
    if (a && a.kind === 'volume_spike') out.push({ at: e.t, a });
  }
  return out;
}

const hourOf = (t: number) => Math.floor((t - T0) / HOUR);

describe('volume: bursts with a rhythm', () => {
  it('an hourly burst alerts until it has kept its rhythm for learn_after, says so once, then is normal', () => {
    const detector = new Detector();
    const spikes = service(detector, T0, 8.5);
    const hours = [...new Set(spikes.map((s) => hourOf(s.at)))];
    // Before: every hour, 1 to 2 alerts each, for ever (72 in two days of a simulated service).
    expect(hours).toEqual([1, 2, 3, 4]);
    const last = spikes.filter((s) => hourOf(s.at) === 4);
    expect(last).toHaveLength(1);
    expect(last[0]!.a.why).toMatch(/; a burst every 60 min since \d{4}-\d\d-\d\dT01:00:0\d\.\d{3}Z \(4 times\): now treated as normal$/);
  });

  it('still alerts a burst off the beat, and one on the beat far bigger than the usual bursts', () => {
    const detector = new Detector();
    service(detector, T0, 5.5);
    const spikes = service(detector, T0 + 5.5 * HOUR, 3, {
      extra: [
        { at: T0 + 6.5 * HOUR, lines: 150 }, // half past: not the cron job
        { at: T0 + 8 * HOUR, lines: 600 }, // on the hour, four times the job's lines more
      ],
    });
    const at = spikes.map((s) => (s.at - T0) / HOUR);
    expect(at.some((h) => h >= 6.5 && h < 6.51)).toBe(true);
    expect(at.some((h) => h >= 8 && h < 8.01)).toBe(true);
    // The usual burst at 7:00 is not news.
    expect(at.some((h) => h >= 7 && h < 7.01)).toBe(false);
  });

  it('a restart keeps the rhythm: the burst after a restore is not news', () => {
    const detector = new Detector();
    service(detector, T0, 5.5);
    const snapshot = JSON.parse(JSON.stringify(snapshotDetector(detector))) as DetectorSnapshot;
    const again = new Detector();
    restoreDetector(again, snapshot);
    expect(service(again, T0 + 5.5 * HOUR, 2)).toEqual([]);
  });

  it('follows learn_after: with 4 h, the fifth hourly burst is the one that becomes normal', () => {
    const detector = new Detector({ overrides: { learnAfterMs: 4 * HOUR } });
    const spikes = service(detector, T0, 7.5);
    expect([...new Set(spikes.map((s) => hourOf(s.at)))]).toEqual([1, 2, 3, 4, 5]);
    expect(spikes.at(-1)!.a.why).toMatch(/; a burst every 60 min since \S+ \(5 times\): now treated as normal$/);
  });

  it('a burst an hour after an off-beat one is not taken for the learned rhythm: only bursts on its beat count', () => {
    // The job run by hand at 5:24 (its own lines, so no pattern's rate tells it), and again at 6:24: an
    // hour after a burst, but off the cron job's beat. It was quiet: any remembered burst set a beat.
    const detector = new Detector();
    const spikes = service(detector, T0, 9, {
      extra: [5.4, 6.4, 7.4, 8.4].map((h) => ({ at: T0 + h * HOUR, lines: 150, cron: true })),
    });
    const at = (h: number) => spikes.filter((s) => s.at >= T0 + h * HOUR && s.at < T0 + (h + 0.01) * HOUR);
    expect(at(5.4)).not.toEqual([]);
    expect(at(6.4)).not.toEqual([]);
    expect(at(7.4)).not.toEqual([]);
    // Its fourth time, three hours after the first, is a rhythm of its own, and says so.
    expect(at(8.4).at(-1)!.a.why).toMatch(/; a burst every 60 min since \S+T05:24:0\d\.\d{3}Z \(4 times\): now treated as normal$/);
    expect(at(7)).toEqual([]);
  });

  it('one incident between two cron bursts does not make a rhythm of half the period', () => {
    // Cron bursts on the hour; one burst of its lines at 1:30 (the job run by hand). Before, the 2:00 burst
    // said "a burst every 30 min ... (3 times): now treated as normal", and later bursts at half past
    // were quiet.
    const detector = new Detector();
    const spikes = service(detector, T0, 5, { extra: [1.5, 3.5].map((h) => ({ at: T0 + h * HOUR, lines: 150, cron: true })) });
    expect(spikes.some((s) => /every 30 min/.test(s.a.why))).toBe(false);
    expect(spikes.some((s) => s.at >= T0 + 3.5 * HOUR && s.at < T0 + 3.51 * HOUR)).toBe(true);
  });

  it('a snapshot with more bursts than are kept, or broken entries, restores what is whole and at most 64', () => {
    const bursts = Array.from({ length: 500 }, (_, i) => [i * 3600, i * 3600 + 1, 100, 1] as [number, number, number, number]);
    const broken = [[null, 1, 2], 'x', [1, 2]] as unknown as Array<[number, number, number]>;
    const v = VolumeBaseline.fromJSON({ history: [1, 2, 3], bucket: 10, count: 0, bursts: [...broken, ...bursts], normalPeriod: Number.NaN });
    const saved = v.toJSON();
    expect(saved.bursts).toHaveLength(64);
    expect(saved.bursts![0]![0]).toBe(436 * 3600);
    expect(saved.normalPeriod).toBe(0);
  });
});

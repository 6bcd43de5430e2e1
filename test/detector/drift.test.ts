import { describe, it, expect } from 'vitest';
import { Detector, type Anomaly } from '../../src/detector/index.js';
import { restoreDetector, snapshotDetector, type DetectorSnapshot } from '../../src/detector/snapshot.js';
import { NginxTraffic, T0, gaussian, mulberry32 } from './baseline.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** One event every 2 s of event time: 30 a minute. */
const STEP = 2000;

interface Flag {
  /** Minutes since T0. */
  at: number;
  a: Anomaly;
}

/**
 * Feeds nginx-like events from `fromMs` to `toMs` (event time since T0), their response_time given by
 * `level(t)` (t in minutes since T0) times log-normal noise (sigma 0.3), and returns every anomaly.
 */
function feed(d: Detector, traffic: NginxTraffic, toMs: number, level: (t: number) => number, noise = mulberry32(99), fields: (t: number) => Record<string, unknown> = () => ({})): Flag[] {
  const out: Flag[] = [];
  while (traffic.time < T0 + toMs) {
    const t = (traffic.time + STEP - T0) / MINUTE;
    const rt = Number((level(t) * Math.exp(0.3 * gaussian(noise))).toFixed(4));
    const a = d.observe('nginx', traffic.next({ response_time: rt, ...fields(t) }, STEP));
    if (a) out.push({ at: t, a });
  }
  return out;
}

const drifts = (flags: Flag[]): Flag[] => flags.filter((f) => f.a.kind === 'field_drift');

/**
 * The minutes a field's drift tracker has judged without finding a drift (its calibration, in a snapshot):
 * a test that expects nothing checks that the field was judged all along, not merely never looked at.
 */
function judgedMinutes(d: Detector, field: string): number {
  const f = d.peek('nginx')!.toJSON().fields.find((x) => x.name === field);
  return f?.drift?.calibration.length ?? 0;
}

/** 3 h steady at 0.05 s, then a linear ramp to 0.5 s over an hour, then 0.5 s. */
const ramp = (t: number): number => (t < 180 ? 0.05 : t < 240 ? 0.05 + (0.45 * (t - 180)) / 60 : 0.5);

describe('field_drift: a numeric field that moves slowly', () => {
  it('flags a ramp from 0.05 s to 0.5 s over an hour once, naming the field and both levels', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    const flags = feed(d, traffic, 5 * HOUR, ramp);
    const found = drifts(flags);
    expect(found).toHaveLength(1);
    const { at, a } = found[0]!;
    // Within the ramp, once the level has been some 3x for most of ten minutes.
    expect(at).toBeGreaterThan(190);
    expect(at).toBeLessThan(215);
    expect(a.field).toBe('response_time');
    expect(a.why).toMatch(/^response_time has risen gradually since 2024-05-01T03:\d\d:00\.000Z: median 0\.1\d over the last 10 min vs 0\.0(49|5|50|51) 1-3 h before \(\d(\.\d+)?x\); p99 now 0\.\d+$/);
    expect(a.confidence).toBeGreaterThanOrEqual(0.9);
    expect(a.baseline).toMatchObject({ reference_median: expect.closeTo(0.05, 2) as number });
    // The event it was found on is an ordinary one of the stream: its template is the event's.
    expect(a.template.length).toBeGreaterThan(0);
  });

  it('flags a staircase 0.05 -> 0.1 -> 0.2 -> 0.4 (15 min a step) once, on the step that makes it 3x', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    const stairs = (t: number): number => (t < 180 ? 0.05 : t < 195 ? 0.1 : t < 210 ? 0.2 : t < 225 ? 0.4 : 0.4);
    const found = drifts(feed(d, traffic, 5 * HOUR, stairs));
    expect(found).toHaveLength(1);
    expect(found[0]!.at).toBeGreaterThan(195);
    expect(found[0]!.at).toBeLessThan(210);
    expect(found[0]!.a.why).toMatch(/^response_time has risen gradually since 2024-05-01T03:\d\d:00\.000Z: median 0\.(1[89]|2|2[01]) over the last 10 min vs 0\.0(49|5|50|51) 1-3 h before/);
  });

  it('flags a slow fall of a size towards 0', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    const size = mulberry32(5);
    // body_bytes_sent: ~20,000 for 3 h, then falling linearly to 1,000 over an hour.
    const bytes = (t: number): number => (t < 180 ? 20_000 : t < 240 ? 20_000 - (19_000 * (t - 180)) / 60 : 1000);
    const flags = feed(d, traffic, 5 * HOUR, () => 0.05, mulberry32(99), (t) => ({ body_bytes_sent: Math.round(bytes(t) * Math.exp(0.3 * gaussian(size))) }));
    const found = drifts(flags);
    expect(found).toHaveLength(1);
    expect(found[0]!.a.field).toBe('body_bytes_sent');
    expect(found[0]!.a.why).toMatch(/^body_bytes_sent has fallen gradually since .*: median [\d,]+ over the last 10 min vs (19|20),\d{3} 1-3 h before \(1\/\d/);
  });

  it('flags nothing in 6 hours of steady log-normal noise', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    // Heavier noise than the other cases: sigma 0.3 on top of the level's own.
    const wide = mulberry32(3);
    expect(drifts(feed(d, traffic, 6 * HOUR, () => 0.05 * Math.exp(0.5 * gaussian(wide))))).toEqual([]);
    // Judged from some two hours in: every minute since (the calibration keeps them all up to 128).
    expect(judgedMinutes(d, 'response_time')).toBeGreaterThanOrEqual(128);
  });

  it('flags nothing in a diurnal swing of ±50% over 30 hours', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: 4000 });
    const daily = (t: number): number => 0.05 * (1 + 0.5 * Math.sin((2 * Math.PI * t) / (24 * 60)));
    const flags: Flag[] = [];
    const noise = mulberry32(11);
    while (traffic.time < T0 + 30 * HOUR) {
      const t = (traffic.time + 4000 - T0) / MINUTE;
      const a = d.observe('nginx', traffic.next({ response_time: Number((daily(t) * Math.exp(0.3 * gaussian(noise))).toFixed(4)) }, 4000));
      if (a) flags.push({ at: t, a });
    }
    expect(drifts(flags)).toEqual([]);
    expect(judgedMinutes(d, 'response_time')).toBeGreaterThanOrEqual(128);
  });

  it('needs at least 5 values a minute: 4 a minute never drift, 6 do', () => {
    const sparse = (stepMs: number): Flag[] => {
      const d = new Detector();
      const traffic = new NginxTraffic({ start: T0, stepMs });
      const noise = mulberry32(99);
      const out: Flag[] = [];
      while (traffic.time < T0 + 5 * HOUR) {
        const t = (traffic.time + stepMs - T0) / MINUTE;
        const a = d.observe('nginx', traffic.next({ response_time: Number((ramp(t) * Math.exp(0.3 * gaussian(noise))).toFixed(4)) }, stepMs));
        if (a) out.push({ at: t, a });
      }
      return drifts(out);
    };
    expect(sparse(15_000)).toEqual([]);
    expect(sparse(10_000)).toHaveLength(1);
  });

  it('judges a field that several messages carry per message: their mix moving is no drift, a message slowing down is', () => {
    // duration_ms of "request completed" (~40) and "slow upstream" (~600); `share` of the latter, `scale` of both.
    const app = (share: (t: number) => number, scale: (t: number) => number): Flag[] => {
      const d = new Detector();
      const r = mulberry32(5);
      const out: Flag[] = [];
      for (let time = T0 + STEP; time < T0 + 6 * HOUR; time += STEP) {
        const t = (time - T0) / MINUTE;
        const slow = r() < share(t);
        const fields = { level: 'info', msg: slow ? 'slow upstream' : 'request completed', duration_ms: Math.round((slow ? 600 : 40) * scale(t) * Math.exp(0.3 * gaussian(r))) + 0.5 };
        const a = d.observe('app', { time, text: JSON.stringify(fields), fields });
        if (a) out.push({ at: t, a });
      }
      return drifts(out);
    };
    // "slow upstream" from 5% to 60% of the lines over an hour: the field's median goes from ~40 to ~400.
    expect(app((t) => (t < 180 ? 0.05 : t < 240 ? 0.05 + (0.55 * (t - 180)) / 60 : 0.6), () => 1)).toEqual([]);
    // Every line ten times slower over an hour: told on the message that has the values to tell it.
    const found = app(() => 0.1, (t) => (t < 180 ? 1 : t < 240 ? 1 + (9 * (t - 180)) / 60 : 10));
    expect(found).toHaveLength(1);
    expect(found[0]!.a.why).toMatch(/^duration_ms has risen gradually since .*: median \d+ over the last 10 min vs (39|40|41) 1-3 h before \(\d.*x\); p99 now \d+ on "request completed"$/);
  });

  it('needs event times: a stream without them never drifts, while its twin with times does', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    const noise = mulberry32(99);
    const untimed: Anomaly[] = [];
    const timed: Anomaly[] = [];
    while (traffic.time < T0 + 5 * HOUR) {
      const t = (traffic.time + STEP - T0) / MINUTE;
      const e = traffic.next({ response_time: Number((ramp(t) * Math.exp(0.3 * gaussian(noise))).toFixed(4)) }, STEP);
      const a = d.observe('untimed', { text: e.text, fields: e.fields! });
      if (a?.kind === 'field_drift') untimed.push(a);
      const b = d.observe('timed', e);
      if (b?.kind === 'field_drift') timed.push(b);
    }
    expect(untimed).toEqual([]);
    expect(timed).toHaveLength(1);
  });

  it('re-arms when the level returns to the reference, and flags a second drift', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    // Up to 0.3 for 40 minutes, back to 0.05 for 2 h, then up again.
    const twice = (t: number): number => (t < 180 ? 0.05 : t < 220 ? 0.3 : t < 340 ? 0.05 : 0.3);
    const found = drifts(feed(d, traffic, 6.5 * HOUR, twice));
    expect(found.map((f) => Math.floor(f.at / 60))).toEqual([3, 5]);
  });

  it('takes a return to the level before a drift that became the normal for a recovery: nothing said, and a new rise is news again', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    // 0.05 for 3 h, 0.3 for 2 h 20 min (the normal after learn_after, 1 h), back to 0.05, up again at 7 h 20.
    const level = (t: number): number => (t < 180 ? 0.05 : t < 320 ? 0.3 : t < 440 ? 0.05 : 0.3);
    const flags = feed(d, traffic, 8 * HOUR, level);
    // The rise is said; its return, nothing; the second rise, as the first (field_value, then field_drift).
    expect(drifts(flags).map((f) => (f.at < 320 ? 'rise' : f.at < 440 ? 'return' : 'again'))).toEqual(['rise', 'again']);
    expect(flags.filter((f) => f.at >= 320 && f.at < 440)).toEqual([]);
    const again = flags.filter((f) => f.at >= 440);
    expect(again[0]!.a).toMatchObject({ kind: 'field_value', field: 'response_time' });
    expect(again[0]!.a.why).toMatch(/x its typical 0\.0[45]/);
    expect(drifts(again)[0]!.a.why).toMatch(/has risen since .* vs 0\.0(49|5|50|51) 1-3 h before/);
  });

  it('keeps the level before a drift that became the normal across a restore: the return is still a recovery', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    const level = (t: number): number => (t < 180 ? 0.05 : t < 320 ? 0.3 : 0.05);
    expect(drifts(feed(d, traffic, 5 * HOUR, level))).toHaveLength(1);
    const snapshot = JSON.parse(JSON.stringify(snapshotDetector(d))) as DetectorSnapshot;
    expect(snapshot.streams[0]!.fields.find((f) => f.name === 'response_time')!.drift).toMatchObject({ prior: expect.closeTo(0.05, 1) as number });
    const again = new Detector();
    restoreDetector(again, snapshot);
    expect(feed(again, traffic, 7 * HOUR, level, mulberry32(7))).toEqual([]);
  });

  it('takes a level that lasts learn_after as the new normal: no alert again while it holds', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    const found = drifts(feed(d, traffic, 9 * HOUR, (t) => (t < 180 ? 0.05 : 0.3)));
    expect(found).toHaveLength(1);
  });
});

describe('field_drift state in snapshots', () => {
  const viaJson = (d: Detector): DetectorSnapshot => JSON.parse(JSON.stringify(snapshotDetector(d))) as DetectorSnapshot;
  const restored = (s: DetectorSnapshot): Detector => {
    const d = new Detector();
    restoreDetector(d, s);
    return d;
  };

  it('keeps a drift under way across a restore: found after it, once, as without the restore', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    // Stopped and restored in the middle of the ramp, before it is told.
    expect(drifts(feed(d, traffic, 3 * HOUR + 5 * MINUTE, ramp))).toEqual([]);
    const again = restored(viaJson(d));
    const found = drifts(feed(again, traffic, 5 * HOUR, ramp, mulberry32(7)));
    expect(found).toHaveLength(1);
    expect(found[0]!.a.why).toMatch(/vs 0\.0(49|5|50|51) 1-3 h before/);
  });

  it('does not tell a drift again after a restore once it was told', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    expect(drifts(feed(d, traffic, 3 * HOUR + 40 * MINUTE, ramp))).toHaveLength(1);
    const again = restored(viaJson(d));
    expect(drifts(feed(again, traffic, 5 * HOUR, ramp, mulberry32(7)))).toEqual([]);
  });

  it('reads a snapshot without drift state (an older one): the field starts a new history', () => {
    const d = new Detector();
    const traffic = new NginxTraffic({ start: T0, stepMs: STEP });
    feed(d, traffic, 3 * HOUR + 5 * MINUTE, ramp);
    const snapshot = viaJson(d);
    for (const s of snapshot.streams) for (const f of s.fields) delete f.drift;
    const again = restored(snapshot);
    // Two hours of new history are needed before it judges: the ramp, 55 minutes on, is not told.
    expect(drifts(feed(again, traffic, 5 * HOUR, ramp, mulberry32(7)))).toEqual([]);
    expect(again.peek('nginx')!.toJSON().fields.find((f) => f.name === 'response_time')!.drift).toBeDefined();
  });
});

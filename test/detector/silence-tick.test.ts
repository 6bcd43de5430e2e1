/**
 * A stream's silence told while it lasts: `Detector.checkSilence(now)` with the caller's clock given
 * explicitly (no timers, no sleeping). Events carry `receivedAt`, the caller's clock when they came.
 */
import { describe, expect, it } from 'vitest';
import { Detector, type Anomaly, type DetectorInput } from '../../src/detector/index.js';
import { restoreDetector, snapshotDetector, type DetectorSnapshot } from '../../src/detector/snapshot.js';
import { NginxTraffic, T0 } from './baseline.js';
import { backAnomaly } from '../../src/transforms/anomaly-detect.js';

/** Feeds `n` events, each received `lagMs` after its own time (or at `receivedAt(input)`). */
function feed(detector: Detector, id: string, n: number, next: () => DetectorInput, receivedAt: (input: DetectorInput) => number): Anomaly[] {
  const out: Anomaly[] = [];
  for (let i = 0; i < n; i++) {
    const input = next();
    input.receivedAt = receivedAt(input);
    const a = detector.observe(id, input);
    if (a) out.push(a);
  }
  return out;
}

/** Ticks once a second of the caller's clock from `from` (exclusive) to `to` (inclusive): what they report, and when. */
function tickEachSecond(detector: Detector, from: number, to: number): Array<{ at: number; anomaly: Anomaly }> {
  const out: Array<{ at: number; anomaly: Anomaly }> = [];
  for (let at = from + 1000; at <= to; at += 1000) for (const anomaly of detector.checkSilence(at)) out.push({ at, anomaly });
  return out;
}

/** A live stream: 20 events a second for two minutes, each received 200 ms after its time. */
function liveNginx(options: ConstructorParameters<typeof Detector>[0] = {}): { detector: Detector; traffic: NginxTraffic } {
  const detector = new Detector(options);
  const traffic = new NginxTraffic();
  const flagged = feed(detector, 'nginx', 2400, () => traffic.next(), (e) => e.time! + 200);
  expect(flagged.filter((a) => a.kind === 'volume_drop')).toEqual([]);
  return { detector, traffic };
}

describe('a silence told while it lasts (checkSilence)', () => {
  it('a live stream at 20/s that stops: one volume_drop at the tick 30 s in, none after, none when the events come back', () => {
    const { detector, traffic } = liveNginx();
    const last = traffic.time;
    const reported = tickEachSecond(detector, last + 200, last + 600_000);
    expect(reported).toHaveLength(1);
    const { at, anomaly } = reported[0]!;
    expect(anomaly.kind).toBe('volume_drop');
    expect(anomaly.stream_id).toBe('nginx');
    expect(anomaly.why).toBe('volume dropped: no events for 30 s so far vs typical 20/s (still silent)');
    expect(anomaly.confidence).toBeGreaterThanOrEqual(0.9);
    expect(anomaly.baseline).toMatchObject({ typical_per_second: 20, silent_seconds: 30 });
    // The same rule as the next event's: 30 whole seconds without events after the last one's second.
    expect(Math.floor((at - 200) / 1000) - Math.floor(last / 1000) - 1).toBe(30);
    // Ten minutes later the events come back: the silence is not reported again, by them or by a tick.
    traffic.advance(600_000 - 50);
    const back = feed(detector, 'nginx', 400, () => traffic.next(), (e) => e.time! + 200);
    expect(back.filter((a) => a.kind === 'volume_drop' || a.kind === 'volume_spike')).toEqual([]);
    expect(tickEachSecond(detector, traffic.time, traffic.time + 10_000)).toEqual([]);
  });

  it('a silence is surer the busier the stream: nginx at 20/s silent 30 s reaches 0.99 (a Slack mention), a 1/s stream does not', () => {
    const { detector, traffic } = liveNginx();
    const [busy] = tickEachSecond(detector, traffic.time + 200, traffic.time + 60_000);
    // 600 events missing. Before: 1 - 1/(1 + 30 s) = 0.968 whatever the rate, so a dead nginx never paged.
    expect(busy!.anomaly.confidence).toBeGreaterThanOrEqual(0.998);
    const sparse = new Detector();
    let t = T0;
    for (let i = 0; i < 600; i++) {
      t += 1000;
      sparse.observe('ticker', { text: `heartbeat ok seq=${i}`, time: t, receivedAt: t + 50 });
    }
    const [slow] = tickEachSecond(sparse, t + 50, t + 120_000);
    expect(slow!.anomaly.kind).toBe('volume_drop');
    expect(slow!.anomaly.confidence).toBeGreaterThanOrEqual(0.9);
    expect(slow!.anomaly.confidence).toBeLessThan(0.99);
  });

  it('the event that ends a silence told while it lasted leaves its end to take once (how long, since when, the confidence); an untold silence leaves none', () => {
    const { detector, traffic } = liveNginx();
    const last = traffic.time;
    const [told] = tickEachSecond(detector, last + 200, last + 120_000);
    expect(detector.takeSilenceEnd('nginx')).toBeUndefined();
    traffic.advance(300_000);
    feed(detector, 'nginx', 1, () => traffic.next(), (e) => e.time! + 200);
    const end = detector.takeSilenceEnd('nginx')!;
    expect(end.silentSeconds).toBeGreaterThan(300);
    expect(end.silentSeconds).toBeLessThan(301);
    expect(end.since).toBe(last);
    expect(end.confidence).toBe(told!.anomaly.confidence);
    expect(detector.takeSilenceEnd('nginx')).toBeUndefined();
    feed(detector, 'nginx', 100, () => traffic.next(), (e) => e.time! + 200);
    expect(detector.takeSilenceEnd('nginx')).toBeUndefined();
    // A gap no tick told (the ticks stopped: a scan, or a blocked pipeline): its end is no news.
    traffic.advance(300_000);
    feed(detector, 'nginx', 10, () => traffic.next(), (e) => e.time! + 200);
    expect(detector.takeSilenceEnd('nginx')).toBeUndefined();
  });

  it('a second silence after the stream came back is reported too', () => {
    const { detector, traffic } = liveNginx();
    expect(tickEachSecond(detector, traffic.time, traffic.time + 60_000)).toHaveLength(1);
    traffic.advance(60_000);
    feed(detector, 'nginx', 1200, () => traffic.next(), (e) => e.time! + 200);
    const again = tickEachSecond(detector, traffic.time, traffic.time + 60_000);
    expect(again.map((r) => r.anomaly.kind)).toEqual(['volume_drop']);
  });

  it('min silence follows minSilenceSeconds, as the next event does (and the confidence threshold, 1 - 1/(1 + seconds))', () => {
    const { detector, traffic } = liveNginx({ overrides: { minSilenceSeconds: 5, threshold: 0.8 } });
    const reported = tickEachSecond(detector, traffic.time, traffic.time + 60_000);
    expect(reported).toHaveLength(1);
    expect(reported[0]!.anomaly.why).toMatch(/^volume dropped: no events for 5 s so far/);
  });

  it('a silence the ticks could not judge (the stream came 10 min behind the clock) is reported by the next event, as before', () => {
    const detector = new Detector();
    const traffic = new NginxTraffic();
    const lag = 600_000;
    feed(detector, 'behind', 2400, () => traffic.next(), (e) => e.time! + lag);
    expect(tickEachSecond(detector, traffic.time + lag, traffic.time + lag + 120_000)).toEqual([]);
    traffic.advance(120_000);
    const next = feed(detector, 'behind', 1, () => traffic.next(), (e) => e.time! + lag);
    expect(next.map((a) => a.why)).toEqual(['volume dropped: no events for 119 s vs typical 20/s']);
  });

  it('a file of last week read from its beginning in a burst is not silent when it ends', () => {
    const detector = new Detector();
    const weekAgo = Date.UTC(2024, 4, 1);
    const traffic = new NginxTraffic({ start: weekAgo });
    // Two minutes of events read in about a second and a quarter of the caller's clock, a week later.
    const readAt = weekAgo + 7 * 86_400_000;
    let read = 0;
    feed(detector, 'old', 2400, () => traffic.next(), () => readAt + (read += 0.5));
    expect(tickEachSecond(detector, readAt + read, readAt + 3600_000)).toEqual([]);
  });

  it('a backlog of minutes read in a catch-up burst is not silent while it is read, and is once it caught up and stopped', () => {
    const detector = new Detector();
    const traffic = new NginxTraffic();
    // Five minutes of events, read at 100 events per 100 ms of the caller's clock (50x), the last on time.
    const end = T0 + 6000 * 50;
    let now = end - 6000;
    const ticks: Anomaly[] = [];
    for (let i = 0; i < 60; i++) {
      feed(detector, 'backlog', 100, () => traffic.next(), () => now);
      now += 100;
      ticks.push(...detector.checkSilence(now));
    }
    expect(ticks).toEqual([]);
    expect(traffic.time).toBe(end);
    const reported = tickEachSecond(detector, now, now + 60_000);
    expect(reported.map((r) => r.anomaly.kind)).toEqual(['volume_drop']);
  });

  it('a stream stamped two hours ahead of the caller\'s clock (local time read as UTC) is live once its lag held for five minutes', () => {
    const ahead = 2 * 3600_000;
    const short = new Detector();
    const a = new NginxTraffic();
    feed(short, 'tz', 2400, () => a.next(), (e) => e.time! - ahead);
    // Two minutes of it: not enough to tell it from a replay.
    expect(tickEachSecond(short, a.time - ahead, a.time - ahead + 120_000)).toEqual([]);
    const long = new Detector();
    const b = new NginxTraffic();
    feed(long, 'tz', 7200, () => b.next(), (e) => e.time! - ahead);
    expect(tickEachSecond(long, b.time - ahead, b.time - ahead + 120_000).map((r) => r.anomaly.kind)).toEqual(['volume_drop']);
  });

  it('events without receivedAt (a scan of files) are never judged by the clock', () => {
    const detector = new Detector();
    const traffic = new NginxTraffic();
    for (let i = 0; i < 2400; i++) detector.observe('scan', traffic.next());
    expect(tickEachSecond(detector, traffic.time, traffic.time + 600_000)).toEqual([]);
  });

  it('a stream not warmed up yet, or evicted, is not reported', () => {
    const detector = new Detector({ maxStreams: 2 });
    const a = new NginxTraffic();
    // 60 events at 20/s: warm-up (100) not over.
    feed(detector, 'young', 60, () => a.next(), (e) => e.time!);
    const b = new NginxTraffic({ seed: 2 });
    feed(detector, 'gone', 2400, () => b.next(), (e) => e.time!);
    const c = new NginxTraffic({ seed: 3 });
    // Two more streams: `young` and `gone` are evicted (the least recently seen first).
    feed(detector, 'x', 1, () => c.next(), (e) => e.time!);
    feed(detector, 'y', 1, () => c.next(), (e) => e.time!);
    expect(detector.streamIds()).toEqual(['x', 'y']);
    expect(tickEachSecond(detector, b.time, b.time + 600_000)).toEqual([]);
    const d = new Detector();
    const e = new NginxTraffic();
    feed(d, 'young', 60, () => e.next(), (ev) => ev.time!);
    expect(tickEachSecond(d, e.time, e.time + 600_000)).toEqual([]);
  });

  it('after a restore, the daemon\'s own downtime is no silence: nothing until an event came, and not at it', () => {
    const { detector, traffic } = liveNginx();
    const snapshot = JSON.parse(JSON.stringify(snapshotDetector(detector))) as DetectorSnapshot;
    const restored = new Detector();
    restoreDetector(restored, snapshot);
    // Down for an hour: no tick reports anything before the first event after the restart...
    expect(tickEachSecond(restored, traffic.time, traffic.time + 3600_000)).toEqual([]);
    traffic.advance(3600_000);
    // ...nor that event, nor the ticks while the stream goes on.
    const after = feed(restored, 'nginx', 1200, () => traffic.next(), (e) => e.time! + 200);
    expect(after.filter((a) => a.kind === 'volume_drop')).toEqual([]);
    expect(restored.checkSilence(traffic.time + 1000)).toEqual([]);
  });

  it('a silence told before a restart is told back at the first event after it (the snapshot keeps that it was told), once', () => {
    const { detector, traffic } = liveNginx();
    const last = traffic.time;
    const [told] = tickEachSecond(detector, last + 200, last + 60_000);
    expect(told?.anomaly.kind).toBe('volume_drop');
    // Stopped (SIGTERM, a deploy) while the stream is still silent, then started again.
    const snapshot = JSON.parse(JSON.stringify(snapshotDetector(detector))) as DetectorSnapshot;
    const restored = new Detector();
    restoreDetector(restored, snapshot);
    expect(tickEachSecond(restored, last + 60_000, last + 120_000)).toEqual([]);
    traffic.advance(300_000);
    const after = feed(restored, 'nginx', 1, () => traffic.next(), (e) => e.time! + 200);
    expect(after).toEqual([]);
    const end = restored.takeSilenceEnd('nginx')!;
    expect(end).toBeDefined();
    expect(end.silentSeconds).toBeGreaterThan(300);
    expect(end.silentSeconds).toBeLessThan(301);
    expect(end.since).toBe(last);
    expect(end.confidence).toBe(told!.anomaly.confidence);
    feed(restored, 'nginx', 1200, () => traffic.next(), (e) => e.time! + 200);
    expect(restored.takeSilenceEnd('nginx')).toBeUndefined();
    // And the stream goes on being judged: a new silence is told again.
    expect(tickEachSecond(restored, traffic.time, traffic.time + 60_000).map((r) => r.anomaly.kind)).toEqual(['volume_drop']);
  });

  it('a silence told in one alert for many streams ends marked so (to be told with theirs), after a restart too', () => {
    const { detector, traffic } = liveNginx();
    const last = traffic.time;
    expect(tickEachSecond(detector, last + 200, last + 60_000)).toHaveLength(1);
    detector.markSilenceGrouped(['nginx', 'not-a-stream']);
    const restored = new Detector();
    restoreDetector(restored, JSON.parse(JSON.stringify(snapshotDetector(detector))) as DetectorSnapshot);
    traffic.advance(120_000);
    feed(restored, 'nginx', 1, () => traffic.next(), (e) => e.time! + 200);
    expect(restored.takeSilenceEnd('nginx')).toMatchObject({ grouped: true, since: last });
    // The next silence is its own again, until it is marked.
    feed(restored, 'nginx', 1200, () => traffic.next(), (e) => e.time! + 200);
    expect(tickEachSecond(restored, traffic.time, traffic.time + 60_000)).toHaveLength(1);
    traffic.advance(60_000);
    feed(restored, 'nginx', 1, () => traffic.next(), (e) => e.time! + 200);
    expect(restored.takeSilenceEnd('nginx')?.grouped).toBeUndefined();
  });

  it('a heartbeat-only stream (under 1 event a second) that stops: its pattern, once, while the stream is silent; not again when it comes back', () => {
    const detector = new Detector();
    let t = T0;
    const beat = (): DetectorInput => ({ time: (t += 10_000), text: 'INFO heartbeat ok from worker-3' });
    // Half an hour of a heartbeat every 10 s, live.
    feed(detector, 'hb', 180, beat, (e) => e.time! + 100);
    const last = t;
    const reported = tickEachSecond(detector, last + 100, last + 600_000);
    expect(reported).toHaveLength(1);
    const a = reported[0]!.anomaly;
    expect(a.kind).toBe('volume_drop');
    expect(a.template).toBe('INFO heartbeat ok from worker-<num>');
    expect(a.why).toMatch(/^pattern "INFO heartbeat ok from worker-<num>" stopped: not seen for 31 s, after coming every 10 s .*; no events for 30 s so far \(still silent\)$/);
    t += 600_000 - 10_000;
    // Its end carries the pattern it was told of, as the silence's alert did: the notice that closes it is
    // then of the same stream, kind and pattern (one incident for Slack's groups and a webhook's `{group}`).
    const restored = new Detector();
    restoreDetector(restored, JSON.parse(JSON.stringify(snapshotDetector(detector))) as DetectorSnapshot);
    const back = feed(detector, 'hb', 30, beat, (e) => e.time! + 100);
    expect(back).toEqual([]);
    expect(detector.takeSilenceEnd('hb')).toMatchObject({ template: a.template });
    // Told before a stop, ended after the restart: the snapshot keeps the pattern too.
    feed(restored, 'hb', 1, beat, (e) => e.time! + 100);
    const end = restored.takeSilenceEnd('hb');
    expect(end).toMatchObject({ template: a.template });
    expect(backAnomaly([{ streamId: 'hb', end: end! }])).toMatchObject({ resolved: true, kind: a.kind, template: a.template });
  });
});

/**
 * Text messages that keep coming back: a warning that recurs on separate occasions becomes normal without
 * a hundred alerts, and a message accepted as normal is not news again when the content window has
 * forgotten its text.
 */
import { describe, it, expect } from 'vitest';
import { Detector, type Anomaly } from '../../src/detector/index.js';
import { T0, mulberry32, pick } from './baseline.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
const PATHS = ['/api/orders', '/api/cart', '/api/users/me', '/api/items', '/api/search', '/health'];

/** Ordinary INFO lines of a web service, two a second; `extra(t)` may add lines at a time. */
function run(hours: number, extra: (t: number, minuteOfCycle: number) => string[]): Array<{ t: number; a: Anomaly }> {
  const detector = new Detector();
  const random = mulberry32(5);
  const out: Array<{ t: number; a: Anomaly }> = [];
  const stamp = (t: number) => new Date(t).toISOString();
  for (let t = T0; t < T0 + hours * HOUR; t += 500) {
    const lines = [
      `${stamp(t)} INFO [http-${Math.floor(random() * 16)}] request ${Math.floor(random() * 1e6)} ${pick(random, PATHS)} by ${pick(random, USERS)} took ${Math.floor(random() * 90) + 5}ms`,
      ...extra(t, (t - T0) % HOUR).map((l) => `${stamp(t)} ${l}`),
    ];
    for (const text of lines) {
      const a = detector.observe('app', { time: t, text });
      if (a) out.push({ t, a });
    }
  }
  return out;
}

describe('a text message that keeps coming back', () => {
  it('takes a warning that comes every ten minutes as normal after an hour of separate occasions, not after 100 alerts', () => {
    const warning = 'WARN [scheduler] cache refresh slow, falling back to stale entries for catalogue';
    const out = run(4, (t) => ((t - T0) % (10 * MINUTE) === 5 * MINUTE ? [warning] : []));
    const alerts = out.filter(({ a }) => a.why.includes('cache refresh') || a.why.includes('catalogue'));
    expect(alerts.length).toBeGreaterThan(0);
    // Before: every one of the 24 alerted ("again: N alerts ..., not normal yet"), and would for 17 hours.
    const last = alerts[alerts.length - 1]!;
    expect(last.t).toBeLessThan(T0 + 90 * MINUTE);
    expect(last.a.why).toContain('now treated as normal');
  });

  it('does not alert again on a flapping error accepted as normal once its text has left the content window', () => {
    // From 30 minutes on, a burst of 40 identical error lines (20 s) every 12 minutes: its text is out of
    // the content window (64 KiB, some 11 minutes of these lines) by the next burst.
    const error = 'ERROR [pool] upstream redis timeout after 2000 ms, giving up on request';
    const out = run(4, (t, m) => (t - T0 >= 30 * MINUTE && m % (12 * MINUTE) < 20_000 ? [error] : []));
    const alerts = out.filter(({ a }) => a.why.includes('redis') || a.template.includes('redis'));
    const accepted = alerts.findIndex(({ a }) => a.why.includes('now treated as normal'));
    expect(accepted).toBeGreaterThanOrEqual(0);
    expect(alerts[accepted]!.t).toBeLessThan(T0 + 3 * HOUR);
    // Before: the next burst alerted as "unusual text", which remembered the message as alerted again,
    // and every burst of the next hour alerted, then the next hour's (some 20 alerts a burst).
    expect(alerts.slice(accepted + 1)).toEqual([]);
  });

  it('makes a continuation line without a timestamp normal by the time of the line before it', () => {
    const detector = new Detector();
    const random = mulberry32(9);
    const stamp = (t: number) => new Date(t).toISOString();
    const caused = 'Caused by: java.net.SocketTimeoutException: Read timed out';
    const alerts: Array<{ t: number; a: Anomaly }> = [];
    for (let t = T0; t < T0 + 4 * HOUR; t += 500) {
      const lines: Array<{ time?: number; text: string }> = [
        { time: t, text: `${stamp(t)} INFO [http-${Math.floor(random() * 16)}] request ${Math.floor(random() * 1e6)} ${pick(random, PATHS)} by ${pick(random, USERS)} took ${Math.floor(random() * 90) + 5}ms` },
      ];
      // From 30 minutes on, every 10 minutes: a warning with a "Caused by:" line that has no time of its own.
      if (t - T0 >= 30 * MINUTE && (t - T0) % (10 * MINUTE) === 0) {
        lines.push({ time: t, text: `${stamp(t)} WARN [pool] upstream call to inventory failed, retrying` }, { text: caused });
      }
      for (const line of lines) {
        const a = detector.observe('app', line);
        if (a && line.time === undefined) alerts.push({ t, a });
      }
    }
    expect(alerts.length).toBeGreaterThan(0);
    // Before: untimed, it could never recur long enough, and alerted with every warning (21 of them).
    const last = alerts[alerts.length - 1]!;
    expect(last.t).toBeLessThan(T0 + 2 * HOUR);
    expect(last.a.why).toContain('now treated as normal');
  });
});

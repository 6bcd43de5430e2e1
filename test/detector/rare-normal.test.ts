/**
 * Values and messages that are rare but normal: they come on many separate occasions (a health check
 * every few minutes, a warning now and then, a nightly job), so their small share is no news once they
 * have a long, spread-out history.
 */
import { describe, it, expect } from 'vitest';
import { Detector, type Anomaly, type DetectorInput } from '../../src/detector/index.js';
import { CategoricalBaseline } from '../../src/detector/categorical.js';
import { T0, mulberry32, pick } from './baseline.js';

const HOUR = 3_600_000;
const PATHS = ['/api/orders', '/api/cart', '/api/users/me', '/api/items'];

describe('a categorical value that is rare but normal', () => {
  it('stops flagging a warning level that comes now and then once it has come on separate occasions over an hour', () => {
    const detector = new Detector();
    const random = mulberry32(7);
    const byHour: number[] = [0, 0, 0];
    let last = 0;
    // 10 events a second for 3 hours; one in 2,000 is a warning (0.05%, under the 0.2% rare share).
    for (let i = 0, t = T0; t < T0 + 3 * HOUR; i++, t += 100) {
      const warn = i % 2000 === 1999;
      const event: DetectorInput = { time: t, text: '', fields: { message: 'request completed', level: warn ? 'warn' : 'info', path: pick(random, PATHS) } };
      const a = detector.observe('svc', event);
      if (a && a.field === 'level') {
        byHour[Math.floor((t - T0) / HOUR)]! += 1;
        last = t;
      }
    }
    // It is news at first (the first one is never seen, the next ones rare)...
    expect(byHour[0]).toBeGreaterThan(0);
    // ...not once it has come back on three occasions over an hour (the first at 00:03:20): before, every
    // warning of the 3 hours alerted (18 an hour).
    expect(last).toBeLessThanOrEqual(T0 + HOUR + 200_000);
    expect(byHour[2]).toBe(0);
  });

  it('does not call a value of a nightly job "never seen" on its second night, and takes it as normal by its third', () => {
    const detector = new Detector();
    const random = mulberry32(11);
    const whys: Anomaly[][] = [[], [], []];
    // One event every 2 s for three days (43,200 a day: the counts are halved ten times a day); a job
    // logs 20 lines at 02:00 each night.
    for (let t = T0; t < T0 + 72 * HOUR; t += 2000) {
      const day = Math.floor((t - T0) / (24 * HOUR));
      const sinceTwo = t - T0 - day * 24 * HOUR - 2 * HOUR;
      const job = sinceTwo >= 0 && sinceTwo < 100_000;
      const event: DetectorInput = { time: t, text: '', fields: { message: 'tick', source: job ? 'cron' : pick(random, ['web', 'api']) } };
      const a = detector.observe('svc', event);
      if (a && a.field === 'source') whys[day]!.push(a);
    }
    expect(whys[0]!.length).toBeGreaterThan(0);
    expect(whys[0]![0]!.why).toMatch(/^source "cron" never seen before in this stream/);
    // Before, it was "never seen before" every night: the halvings had dropped its count.
    expect(whys[1]!.length).toBeGreaterThan(0);
    for (const a of whys[1]!) expect(a.why).not.toContain('never seen before');
    expect(whys[1]![0]!.why).toMatch(/^source "cron" not seen recently \(seen on 1 occasion since 2024-05-01T02:00:00/);
    expect(whys[2]).toEqual([]);
  });

  it('keeps the lifetime records of forgotten values, bounded, through a snapshot', () => {
    const b = new CategoricalBaseline(4, 16);
    b.add('rare', 1000, 10);
    b.add('rare', 1005, 10);
    b.add('rare', 1020, 10);
    // Enough other values for the halvings to drop "rare".
    for (let i = 0; i < 200; i++) b.add(i % 2 ? 'a' : 'b', 2000 + i, 10);
    expect(b.share('rare')).toBe(0);
    expect(b.history('rare')).toEqual({ first: 1000, occasion: 1020, occasions: 2 });
    const c = CategoricalBaseline.fromJSON(JSON.parse(JSON.stringify(b.toJSON())) as ReturnType<CategoricalBaseline['toJSON']>);
    expect(c.history('rare')).toEqual({ first: 1000, occasion: 1020, occasions: 2 });
    // Back again: its record goes on.
    c.add('rare', 5000, 10);
    expect(c.history('rare')).toEqual({ first: 1000, occasion: 5000, occasions: 3 });
    // An untimed sighting is a record without time; a value never counted has none.
    c.add('plain');
    expect(c.history('plain')?.occasions).toBe(0);
    expect(c.history('other')).toBeUndefined();
    // Forgotten records are bounded: twice the distinct values a field may hold.
    const d = new CategoricalBaseline(4, 8);
    for (let i = 0; i < 100; i++) for (let k = 0; k < 8; k++) d.add(k === 0 ? `v${i}` : 'x', i);
    expect(d.toJSON().history.length).toBeLessThanOrEqual(4 + 8);
  });
});

describe('the why of a category value', () => {
  it('quotes the value as the event has it, and the form it is counted under when masking changed it', () => {
    const detector = new Detector();
    const random = mulberry32(3);
    const pods = ['checkout-7d9f5c6b8-2k4lm', 'checkout-7d9f5c6b8-9x7qz', 'checkout-7d9f5c6b8-p3r8t'];
    for (let i = 0, t = T0; i < 3000; i++, t += 100) {
      detector.observe('svc', { time: t, text: '', fields: { message: 'request completed', pod: pick(random, pods), path: pick(random, PATHS) } });
    }
    const a = detector.observe('svc', { time: T0 + 300_100, text: '', fields: { message: 'request completed', pod: 'checkout-5c7b9d2f1-c3b7c', path: '/api/cart' } });
    expect(a?.field).toBe('pod');
    // Before: pod "checkout-<id>-c<num>b<num>c" never seen before ..., a name no one can look for.
    expect(a!.why).toMatch(/^pod "checkout-5c7b9d2f1-c3b7c" \(as "checkout-<id>-c<num>b<num>c"\) never seen before in this stream/);
    // A value masking leaves as it is is quoted once.
    const b = detector.observe('svc', { time: T0 + 300_200, text: '', fields: { message: 'request completed', pod: 'checkout-7d9f5c6b8-2k4lm', path: '/api/none-such' } });
    expect(b?.field).toBe('path');
    expect(b!.why).toMatch(/^path "\/api\/none-such" never seen before/);
  });
});

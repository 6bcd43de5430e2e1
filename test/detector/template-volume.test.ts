import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detector/index.js';
import { TemplateRates, poissonTailBound } from '../../src/detector/template-volume.js';
import { mulberry32, T0 } from './baseline.js';

const OPTIONS = { minCount: 10, factor: 5, minAgeSeconds: 600 };

describe('poissonTailBound', () => {
  it('is 1 at or below the mean and falls fast above it', () => {
    expect(poissonTailBound(5, 5)).toBe(1);
    expect(poissonTailBound(5, 3)).toBe(1);
    expect(poissonTailBound(1, 10)).toBeLessThan(1e-4);
    expect(poissonTailBound(2, 10)).toBeGreaterThan(poissonTailBound(1, 10));
  });
});

describe('TemplateRates', () => {
  /** One event of template 1 every `everyMs`, from T0 for `seconds`. */
  function steady(rates: TemplateRates, seconds: number, everyMs: number): number {
    let t = T0;
    for (; t < T0 + seconds * 1000; t += everyMs) expect(rates.observe(1, t, OPTIONS)).toBeUndefined();
    return t;
  }

  it('flags a pattern that usually comes every 5 s arriving 30 times in one second, once for that second', () => {
    const rates = new TemplateRates();
    const t = steady(rates, 1800, 5000);
    const verdicts = Array.from({ length: 30 }, (_, i) => rates.observe(1, t + i * 10, OPTIONS)).filter(Boolean);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]!.count).toBe(10);
    expect(verdicts[0]!.typical).toBeGreaterThan(0.1);
    expect(verdicts[0]!.typical).toBeLessThan(0.3);
    expect(verdicts[0]!.confidence).toBeGreaterThan(0.9999);
  });

  it('says nothing about a young pattern, nor about bursts like those it has had before', () => {
    const young = new TemplateRates();
    const t = steady(young, 300, 5000);
    expect(Array.from({ length: 30 }, (_, i) => young.observe(1, t + i * 10, OPTIONS)).filter(Boolean)).toEqual([]);

    // Page loads: now and then 12 events in one second. A burst of 20 is not "more than twice the busiest".
    const bursty = new TemplateRates();
    const rnd = mulberry32(3);
    let s = T0;
    for (let second = 0; second < 1800; second++, s += 1000) {
      const n = rnd() < 0.05 ? 12 : rnd() < 0.5 ? 1 : 0;
      for (let i = 0; i < n; i++) bursty.observe(1, s + i * 20, OPTIONS);
    }
    expect(Array.from({ length: 20 }, (_, i) => bursty.observe(1, s + i * 20, OPTIONS)).filter(Boolean)).toEqual([]);
    // The burst of 20 just seen raised the busiest second to 20: 41 in a second is more than twice that.
    expect(Array.from({ length: 45 }, (_, i) => bursty.observe(1, s + 1000 + i * 20, OPTIONS)).filter(Boolean)).toHaveLength(1);
  });

  it('remembers the bursts of a pattern that is idle for hours between them (the busiest second fades with its own activity, not with the clock)', () => {
    // An FTP server's connection lines: a trickle, and every six hours a client opening 10 in one second.
    const rates = new TemplateRates();
    let t = T0;
    const flagged: number[] = [];
    const burst = (n: number, at: number) => {
      for (let i = 0; i < n; i++) if (rates.observe(1, at + i * 20, OPTIONS)) flagged.push(at);
    };
    for (let hour = 0; hour < 48; hour++) {
      // A line every 3 minutes: 20 busy seconds an hour.
      for (let k = 0; k < 20; k++) rates.observe(1, t + k * 180_000, OPTIONS);
      if (hour % 6 === 5) burst(10, t + 3_599_000);
      t += 3_600_000;
    }
    // The first burst is news; the seven after it, as large and hours apart, are this pattern's normal.
    expect(flagged.map((at) => Math.round((at - T0) / 3_600_000))).toEqual([6]);
    // A flood three times the usual burst is still news.
    const before = flagged.length;
    burst(30, t + 1000);
    expect(flagged.length).toBe(before + 1);
  });

  it('reports a flood of a sparse pattern again a day or two later, though not an hour later', () => {
    // An error that comes every 3 minutes floods at 100/s for a minute; the same flood again later.
    const run = (hoursLater: number): boolean => {
      const rates = new TemplateRates();
      let t = T0;
      const trickle = (hours: number) => {
        for (const end = t + hours * 3_600_000; t < end; t += 180_000) rates.observe(1, t, OPTIONS);
      };
      const flood = (seconds: number): number => {
        let flagged = 0;
        for (let s = 0; s < seconds; s++, t += 1000) for (let i = 0; i < 100; i++) if (rates.observe(1, t + i * 5, OPTIONS)) flagged += 1;
        return flagged;
      };
      trickle(48);
      expect(flood(60)).toBe(1);
      trickle(hoursLater);
      return flood(1) === 1;
    };
    expect(run(1)).toBe(false);
    expect(run(48)).toBe(true);
  });

  it('does not count late events (older timestamps) in the current second', () => {
    const rates = new TemplateRates();
    const t = steady(rates, 1800, 5000);
    rates.observe(1, t + 20_000, OPTIONS);
    const late = Array.from({ length: 30 }, (_, i) => rates.observe(1, t + i * 500, OPTIONS)).filter(Boolean);
    expect(late).toEqual([]);
  });
});

describe('TemplateRates.silent', () => {
  const QUIET = { minCount: Infinity, factor: Infinity, minAgeSeconds: Infinity };
  const ANY = () => true;

  it('reports a pattern that came every 5 s and stopped while the stream went on, once, after three intervals', () => {
    const rates = new TemplateRates();
    let t = T0;
    // Template 1 every 5 s, template 2 (the rest of the stream) every second, for 30 minutes.
    for (let s = 0; s < 1800; s++, t += 1000) {
      if (s % 5 === 0) rates.observe(1, t, QUIET);
      rates.observe(2, t + 500, QUIET);
    }
    expect(rates.silent(t, 600, ANY)).toBeUndefined();
    // Template 1 stops; the stream goes on.
    const reports = [];
    for (let s = 0; s < 60; s++, t += 1000) {
      rates.observe(2, t, QUIET);
      const silence = rates.silent(t, 600, ANY);
      if (silence) {
        reports.push({ s, ...silence });
        rates.reported(silence.template);
      }
    }
    expect(reports).toHaveLength(1);
    expect(reports[0]!.template).toBe(1);
    expect(reports[0]!.interval).toBeCloseTo(5, 1);
    // Its last event was 5 s before the stop: reported once more than 15 s (3 intervals) had passed.
    expect(reports[0]!.seconds).toBeGreaterThan(15);
    expect(reports[0]!.seconds).toBeLessThanOrEqual(17);
    // Back again, then silent again: a new silence, reported again.
    rates.observe(1, t, QUIET);
    let again;
    for (let s = 0; s < 30 && !again; s++, t += 1000) {
      rates.observe(2, t, QUIET);
      again = rates.silent(t, 600, ANY);
    }
    expect(again?.template).toBe(1);
    // Found until reported; never for a pattern not eligible (one that was never normal).
    expect(rates.silent(t, 600, ANY)?.template).toBe(1);
    expect(rates.silent(t, 600, (id) => id !== 1)).toBeUndefined();
  });

  it('a pattern at random in nearly every second is not "stopped" by a chance gap of a few seconds; a steady 1/s line is, after some 21 s', () => {
    const rnd = mulberry32(3);
    const rates = new TemplateRates();
    let t = T0;
    // Template 1 at 3.6 events a second at random (its gaps, in whole seconds, are 1 s 97% of the time),
    // template 2 a steady line every second; an hour of them.
    const poisson = (lambda: number) => {
      let n = 0;
      for (let p = rnd(); p > Math.exp(-lambda); p *= rnd()) n++;
      return n;
    };
    for (let s = 0; s < 3600; s++, t += 1000) {
      for (let k = poisson(3.6); k > 0; k--) rates.observe(1, t + Math.floor(rnd() * 1000), QUIET);
      rates.observe(2, t + 500, QUIET);
    }
    // Template 1 misses 5 s (a chance gap: once in some 10^8 seconds at that rate, yet a day of such patterns
    // has many): before, "stopped: not seen for 4 s, after coming every 1.03 s".
    for (let s = 0; s < 5; s++, t += 1000) {
      rates.observe(2, t + 500, QUIET);
      expect(rates.silent(t + 999, 600, ANY)).toBeUndefined();
    }
    // Both stop for good (the stream goes on with another line): each is told once it is improbable.
    const told = new Map<number, number>();
    for (let s = 0; s < 40; s++, t += 1000) {
      rates.observe(3, t + 500, QUIET);
      const silence = rates.silent(t + 999, 600, ANY);
      if (silence && !told.has(silence.template)) {
        told.set(silence.template, silence.seconds);
        rates.reported(silence.template);
      }
    }
    expect(told.get(2)).toBeGreaterThanOrEqual(20);
    expect(told.get(2)).toBeLessThanOrEqual(23);
    expect(told.get(1)).toBeGreaterThanOrEqual(6);
    expect(told.get(1)).toBeLessThanOrEqual(12);
  });

  it('keeps a pattern that still comes when more than maxTemplates new ones churn past it', () => {
    const rates = new TemplateRates(300, 64);
    let t = T0;
    // Template 1 every 5 s for 30 minutes, while 2 new templates a second come and go.
    let next = 100;
    for (let s = 0; s < 1800; s++, t += 1000) {
      if (s % 5 === 0) rates.observe(1, t, QUIET);
      rates.observe(next++, t + 200, QUIET);
      rates.observe(next++, t + 600, QUIET);
    }
    // Its statistics survived the churn: its stop is reported.
    let silence;
    for (let s = 0; s < 30 && !silence; s++, t += 1000) {
      rates.observe(next++, t, QUIET);
      silence = rates.silent(t, 600, ANY);
    }
    expect(silence?.template).toBe(1);
  });

  it('never reports an irregular pattern (requests, errors: they come and go with the workload), nor a young one', () => {
    const rates = new TemplateRates();
    const rnd = mulberry32(4);
    let t = T0;
    for (let s = 0; s < 3600; s++, t += 1000) {
      if (rnd() < 0.2) rates.observe(1, t, QUIET);
      rates.observe(2, t + 500, QUIET);
    }
    for (let s = 0; s < 600; s++, t += 1000) {
      rates.observe(2, t, QUIET);
      expect(rates.silent(t, 600, ANY)).toBeUndefined();
    }
    const young = new TemplateRates();
    t = T0;
    for (let s = 0; s < 300; s++, t += 1000) young.observe(1, t, QUIET);
    expect(young.silent(t + 60_000, 600, ANY)).toBeUndefined();
  });
});

describe('per-template volume in the detector', () => {
  /** 30 minutes at 10 lines/s with a heartbeat every 10 s; returns the detector and the time after. */
  function heartbeatBaseline(): { d: Detector; t: number; request: () => string } {
    const d = new Detector({ profile: 'balanced' });
    const rnd = mulberry32(5);
    const request = () => `INFO request served in ${Math.floor(rnd() * 90) + 10}ms`;
    let t = T0;
    for (let n = 0; t < T0 + 30 * 60_000; t += 100, n++) {
      expect(d.observe('app', { time: t, text: n % 100 === 0 ? 'INFO heartbeat ok from worker-7' : request() })).toBeUndefined();
    }
    return { d, t, request };
  }

  it('reports a stopped heartbeat even when an alerting line comes first in every second after it', () => {
    const { d, t: start, request } = heartbeatBaseline();
    let t = start;
    const kinds: string[] = [];
    for (let i = 0; i < 600; i++, t += 100) {
      // From 20 s on, each second opens with a crash line (which alerts, and is looked at first).
      const sec = Math.floor((t - start) / 1000);
      const text = i % 10 === 0 && sec >= 20 ? `FATAL worker-7 crashed: segmentation fault at 0x7f3a${sec}` : request();
      const a = d.observe('app', { time: t, text });
      if (a) kinds.push(a.kind);
    }
    expect(kinds).toContain('new_pattern');
    expect(kinds.filter((k) => k === 'volume_drop')).toHaveLength(1);
  });

  it('does not report an alerting error that stops, nor patterns of random traffic', () => {
    const { d, t: start, request } = heartbeatBaseline();
    let t = start;
    // An error every 10 s for 20 minutes (it alerts: it is never normal), then it stops.
    for (let n = 0; t < start + 20 * 60_000; t += 100, n++) d.observe('app', { time: t, text: n % 100 === 0 ? 'ERROR connection refused by db-3' : n % 100 === 50 ? 'INFO heartbeat ok from worker-7' : request() });
    for (let i = 0; i < 600; i++, t += 100) {
      const a = d.observe('app', { time: t, text: i % 100 === 0 ? 'INFO heartbeat ok from worker-7' : request() });
      expect(a?.kind).not.toBe('volume_drop');
    }
    // Three paths drawn at random, an event every 300 ms, for two hours: each is in most seconds, never
    // regular, and none ever stops.
    const random = new Detector({ profile: 'balanced' });
    const rnd = mulberry32(1);
    t = T0;
    for (let i = 0; i < 24_000; i++) {
      const path = ['/api/cart', '/api/login', '/api/search'][Math.floor(rnd() * 3)]!;
      const a = random.observe('web', { time: (t += 300), text: '', fields: { path, status: 200, bytes: 100 + Math.floor(rnd() * 50) } });
      expect(a?.kind).not.toBe('volume_drop');
    }
  });

  it('flags a heartbeat line that stops while the rest of the stream goes on, naming the pattern', () => {
    const d = new Detector({ profile: 'balanced' });
    let t = T0;
    const rnd = mulberry32(5);
    const request = () => `INFO request served in ${Math.floor(rnd() * 90) + 10}ms`;
    // 30 minutes at 10 lines/s, with a heartbeat every 10 s.
    for (let n = 0; t < T0 + 30 * 60_000; t += 100, n++) {
      expect(d.observe('app', { time: t, text: n % 100 === 0 ? 'INFO heartbeat ok from worker-7' : request() })).toBeUndefined();
    }
    // The heartbeat stops.
    const flagged = [];
    for (let i = 0; i < 600; i++, t += 100) {
      const a = d.observe('app', { time: t, text: request() });
      if (a) flagged.push(a);
    }
    expect(flagged.map((a) => a.kind)).toEqual(['volume_drop']);
    expect(flagged[0]!.template).toBe('INFO heartbeat ok from worker-<num>');
    expect(flagged[0]!.why).toMatch(/^pattern "INFO heartbeat ok from worker-<num>" stopped: not seen for 3\d s, after coming every 10 s \(longest gap 10 s\)$/);
    expect(flagged[0]!.confidence).toBeGreaterThan(0.9);
  });

  it('says how long a slow heartbeat has been missing in minutes, not thousands of seconds', () => {
    const d = new Detector({ profile: 'balanced' });
    let t = T0;
    const rnd = mulberry32(6);
    const request = () => `INFO request served in ${Math.floor(rnd() * 90) + 10}ms`;
    // 8 hours at 1 line a second, with a sync line every 3 minutes; then the sync stops.
    for (let n = 0; t < T0 + 8 * 3_600_000; t += 1000, n++) d.observe('app', { time: t, text: n % 180 === 0 ? 'INFO sync done for shard-3' : request() });
    const flagged = [];
    for (let i = 0; i < 3600; i++, t += 1000) {
      const a = d.observe('app', { time: t, text: request() });
      if (a?.kind === 'volume_drop') flagged.push(a);
    }
    expect(flagged).toHaveLength(1);
    // Before: "not seen for 540 s, after coming every 180 s (longest gap 180 s)".
    expect(flagged[0]!.why).toMatch(/^pattern "INFO sync done for shard-<num>" stopped: not seen for \d+ min, after coming every 3 min \(longest gap 3 min\)$/);
  });

  it('flags an existing error pattern that floods while the stream volume stays ordinary', () => {
    const d = new Detector({ profile: 'balanced' });
    let t = T0;
    let n = 0;
    const rnd = mulberry32(9);
    // 30 minutes of INFO lines at 20/s, with a timeout warning about every 10 s (one during the warm-up,
    // so that the warning is a known pattern).
    for (; t < T0 + 30 * 60_000; t += 50) {
      const text = n === 10 || rnd() < 0.005 ? `WARN upstream timeout after 30s host=db${n % 3}` : `INFO request served in ${Math.floor(rnd() * 90) + 10}ms id=${n}`;
      n++;
      d.observe('app', { time: t, text });
    }
    // The warning now replaces the INFO lines for 3 s: the stream's rate stays 20/s.
    const flagged = [];
    for (let i = 0; i < 60; i++, t += 50) {
      const a = d.observe('app', { time: t, text: `WARN upstream timeout after 30s host=db${i % 3}` });
      if (a) flagged.push(a);
    }
    const burst = flagged.find((a) => a.kind === 'volume_spike');
    expect(burst, JSON.stringify(flagged.map((a) => a.why))).toBeDefined();
    expect(burst!.why).toMatch(/^volume of pattern "WARN upstream timeout after <num>s host=db<num>": \d+\/s vs typical [\d.]+\/s/);
  });
});

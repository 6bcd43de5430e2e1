import { describe, it, expect } from 'vitest';
import { leadingTimestamp } from '../../src/formats/leading-timestamp.js';
import { parseTimeLocal } from '../../src/formats/nginx.js';
import { parseSyslog } from '../../src/formats/syslog.js';

/** Epoch ms of a UTC date whose year may be below 100 (Date.UTC would read 50 as 1950). */
function utcFull(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d);
  t.setUTCHours(h, mi, s, 0);
  return t.getTime();
}

describe('years 0 to 99 (found by fuzzing: they were read as 1900 to 1999)', () => {
  it('leadingTimestamp keeps a four-digit year below 100', () => {
    expect(leadingTimestamp('0050-06-01T00:00:00Z x')).toBe(utcFull(50, 5, 1));
    expect(leadingTimestamp('0000-02-29T12:00:00Z x')).toBe(utcFull(0, 1, 29, 12)); // year 0 is a leap year, 1900 is not
    expect(leadingTimestamp('Sun Jan 01 00:00:00 0099 x')).toBe(utcFull(99, 0, 1));
  });

  it('parseTimeLocal keeps a year below 100', () => {
    expect(parseTimeLocal('01/Jan/0050:00:00:00 +0000')).toBe(utcFull(50, 0, 1));
    expect(parseTimeLocal('01/Jan/0000:00:00:00 +0100')).toBe(utcFull(0, 0, 1) - 3_600_000);
  });

  it('parseSyslog keeps the year of a BSD time below 100', () => {
    const r = parseSyslog('<13>Jun 14 0050 15:16:01 host app: x', Date.UTC(2025, 5, 20));
    if (!r.ok) throw new Error(r.error);
    expect(new Date(r.value.timestamp!).getFullYear()).toBe(50);
    expect(new Date(r.value.timestamp!).getMonth()).toBe(5);
    expect(new Date(r.value.timestamp!).getDate()).toBe(14);
  });
});

describe('impossible days (found by fuzzing: February 30 became March 2)', () => {
  it('parseTimestamp refuses them', async () => {
    const { parseTimestamp } = await import('../../src/formats/json.js');
    expect(parseTimestamp('2025-02-30T00:00:00Z')).toBeUndefined();
    expect(parseTimestamp('2025-04-31 12:00:00')).toBeUndefined();
    expect(parseTimestamp('2025-02-29')).toBeUndefined();
    expect(parseTimestamp('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
  });

  it('parseTimeLocal refuses them', () => {
    expect(parseTimeLocal('31/Feb/2025:00:00:00 +0000')).toBeUndefined();
    expect(parseTimeLocal('31/Apr/2025:00:00:00 +0000')).toBeUndefined();
    expect(parseTimeLocal('29/Feb/2024:00:00:00 +0000')).toBe(Date.UTC(2024, 1, 29));
  });

  it('leadingTimestamp refuses them with a leap second too', () => {
    expect(leadingTimestamp('2025-02-30T00:00:60Z x')).toBeUndefined();
    expect(leadingTimestamp('2016-12-31T23:59:60Z x')).toBe(Date.UTC(2017, 0, 1));
  });

  it('parseSyslog refuses them in BSD, ISO and RFC 5424 times', () => {
    const now = Date.UTC(2025, 5, 20);
    expect(parseSyslog('<13>Feb 30 15:16:01 host app: x', now)).toMatchObject({ ok: false });
    expect(parseSyslog('<13>Feb 31 2024 15:16:01 host app: x', now)).toMatchObject({ ok: false });
    expect(parseSyslog('<13>2025-02-30T15:16:01Z host app: x', now)).toMatchObject({ ok: false });
    expect(parseSyslog('<34>1 2025-02-30T15:16:01Z h a p m - x', now)).toMatchObject({ ok: false });
    expect(parseSyslog('<13>Feb 29 15:16:01 host app: x', Date.UTC(2024, 5, 20))).toMatchObject({ ok: true });
    expect(parseSyslog('<34>1 2024-02-29T15:16:01Z h a p m - x', now)).toMatchObject({ ok: true });
  });
});

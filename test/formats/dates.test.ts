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

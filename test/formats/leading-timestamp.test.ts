import { describe, it, expect } from 'vitest';
import { leadingTimestamp } from '../../src/formats/leading-timestamp.js';

describe('leadingTimestamp', () => {
  it('reads ISO 8601 with a zone', () => {
    expect(leadingTimestamp('2024-05-01T12:00:00.123Z INFO started')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0, 123));
    expect(leadingTimestamp('2024-05-01T12:00:00+02:00 INFO started')).toBe(Date.UTC(2024, 4, 1, 10, 0, 0));
    expect(leadingTimestamp('2024-05-01T12:00:00.5-0530 INFO started')).toBe(Date.UTC(2024, 4, 1, 17, 30, 0, 500));
    expect(leadingTimestamp('[2024-05-01T12:00:00Z] INFO started')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0));
  });

  it('reads a space before the time and a comma before the fraction, as UTC', () => {
    expect(leadingTimestamp('2024-05-01 12:00:00,123 INFO [main] started')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0, 123));
    expect(leadingTimestamp('2024-05-01 12:00:00')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0));
  });

  it('reads a BGL-style date-time to the millisecond', () => {
    expect(leadingTimestamp('2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected'))
      .toBe(Date.UTC(2005, 5, 3, 15, 42, 50, 675));
  });

  it('reads epoch seconds and milliseconds', () => {
    expect(leadingTimestamp('1117838570 2005.06.03 R02-M1-N0-C:J12-U11 RAS KERNEL INFO')).toBe(1117838570 * 1000);
    expect(leadingTimestamp('1117838570123 event')).toBe(1117838570123);
  });

  it('reads a BSD syslog time in the reference year', () => {
    const line = 'Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4';
    expect(leadingTimestamp(line, 2005)).toBe(Date.UTC(2005, 5, 14, 15, 16, 1));
    expect(leadingTimestamp(line, 2024)).toBe(Date.UTC(2024, 5, 14, 15, 16, 1));
    expect(leadingTimestamp('Jun  4 15:16:01 combo sshd', 2005)).toBe(Date.UTC(2005, 5, 4, 15, 16, 1));
  });

  it('defaults the syslog year to the current one', () => {
    const before = new Date().getUTCFullYear();
    const t = leadingTimestamp('Jan  1 00:00:00 host app: hello');
    const after = new Date().getUTCFullYear();
    expect([Date.UTC(before, 0, 1), Date.UTC(after, 0, 1)]).toContain(t);
  });

  it('reads the Apache error log time', () => {
    const line = '[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6';
    expect(leadingTimestamp(line)).toBe(Date.UTC(2005, 11, 4, 4, 47, 44));
    expect(leadingTimestamp('Sun Dec  4 04:47:44 2005 something')).toBe(Date.UTC(2005, 11, 4, 4, 47, 44));
  });

  it('reads the compact Hadoop form yyMMdd HHmmss', () => {
    const line = '081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating';
    expect(leadingTimestamp(line)).toBe(Date.UTC(2008, 10, 9, 20, 36, 15));
  });

  it('reads Spark yy/MM/dd, klog and Android logcat times (the last two in the reference year)', () => {
    expect(leadingTimestamp('17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers')).toBe(Date.UTC(2017, 5, 9, 20, 10, 40));
    expect(leadingTimestamp('E1125 21:54:40.123456   12345 reflector.go:138] failed to list', 2026)).toBe(Date.UTC(2026, 10, 25, 21, 54, 40, 123));
    expect(leadingTimestamp('I0102 03:04:05.000001       1 main.go:1] up', 2025)).toBe(Date.UTC(2025, 0, 2, 3, 4, 5, 0));
    expect(leadingTimestamp('03-17 16:13:46.764  2227  2794 E KeyguardUpdateMonitor: null', 2017)).toBe(Date.UTC(2017, 2, 17, 16, 13, 46, 764));
    // Look-alikes are not times.
    expect(leadingTimestamp('E1125 is a part number')).toBeUndefined();
    expect(leadingTimestamp('13-45 16:13:46.764 x', 2017)).toBeUndefined();
  });

  it('finds an access-log time near the start of the line, with its zone', () => {
    const line = '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326';
    expect(leadingTimestamp(line)).toBe(Date.UTC(2000, 9, 10, 20, 55, 36));
    expect(leadingTimestamp('83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 203023')).toBe(Date.UTC(2015, 4, 17, 10, 5, 3));
  });

  it('does not look for an access-log time past the first 120 characters', () => {
    const line = `${'x'.repeat(130)} [10/Oct/2000:13:55:36 -0700]`;
    expect(leadingTimestamp(line)).toBeUndefined();
  });

  it('is undefined for a line without a leading timestamp', () => {
    expect(leadingTimestamp('hello world')).toBeUndefined();
    expect(leadingTimestamp('Hello world')).toBeUndefined();
    expect(leadingTimestamp('')).toBeUndefined();
    expect(leadingTimestamp('42 apples')).toBeUndefined();
    expect(leadingTimestamp('user logged in at 2024-05-01T12:00:00Z')).toBeUndefined();
  });

  it('is undefined for an invalid date or time', () => {
    expect(leadingTimestamp('2024-13-45 99:00:00 ERROR bad')).toBeUndefined();
    expect(leadingTimestamp('2024-05-01 24:00:00 x')).toBeUndefined();
    expect(leadingTimestamp('2024-05-01 12:60:00 x')).toBeUndefined();
    expect(leadingTimestamp('2024-00-10 12:00:00 x')).toBeUndefined();
    expect(leadingTimestamp('Foo 14 15:16:01 host x', 2005)).toBeUndefined();
    expect(leadingTimestamp('081309 203615 x')).toBeUndefined();
  });

  it('is undefined for a day past the end of its month', () => {
    expect(leadingTimestamp('2024-02-30 12:00:00 x')).toBeUndefined();
  });

  it('reads an hour-only zone offset', () => {
    expect(leadingTimestamp('2024-05-01T12:00:00+05 started')).toBe(Date.UTC(2024, 4, 1, 7, 0, 0));
    expect(leadingTimestamp('2024-05-01T12:00:00-0230 started')).toBe(Date.UTC(2024, 4, 1, 14, 30, 0));
  });

  it('keeps the spacing of consecutive lines', () => {
    const a = leadingTimestamp('2024-05-01 23:59:59,900 a')!;
    const b = leadingTimestamp('2024-05-02 00:00:00,150 b')!;
    expect(b - a).toBe(250);
  });
});
